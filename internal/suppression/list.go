package suppression

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/db"
)

// Page sizes of List (ListSuppressedDestinations). SES documents no
// bounds for this operation; these are those of its other v2 lists with
// the largest pages (ListEmailIdentities: at most 1000).
const (
	DefaultPageSize = 1000
	MaxPageSize     = 1000
)

// ListOptions selects and pages the entries List returns.
type ListOptions struct {
	// Reasons keeps the entries listed for one of these reasons; empty:
	// all.
	Reasons []Reason
	// Start and End keep the entries last updated at or after Start and
	// before End (SES's StartDate and EndDate); the zero time leaves that
	// side open.
	Start, End time.Time
	// PageSize is the most entries to return, 1 to MaxPageSize; 0 means
	// DefaultPageSize.
	PageSize int
	// Token is "" for the first page, or the nextToken List returned for
	// the page before.
	Token string
}

// tokenPrefix versions the tokens List makes.
const tokenPrefix = "k1:"

// encodeToken makes the opaque token that resumes after key.
func encodeToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + key))
}

// decodeToken reverses encodeToken; anything it did not make is refused.
func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	key, ok := strings.CutPrefix(string(b), tokenPrefix)
	if err != nil || !ok || key == "" || !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return "", invalid("NextToken", "NextToken is not valid: pass the NextToken of the previous page unchanged.")
	}
	return key, nil
}

// List returns a page of the account's entries matching o, and the token
// of the next page ("" on the last page).
//
// Entries are ordered by their key (see Key), in the database's collation,
// and a token holds the key of the last entry of its page: the next page
// starts after it. So paging is unaffected by entries added, updated or
// removed meanwhile: every entry listed for the whole walk is returned
// exactly once, entries added behind the position are not returned, and
// entries added ahead of it are.
func (s *Store) List(ctx context.Context, accountID string, o ListOptions) ([]Entry, string, error) {
	size := o.PageSize
	switch {
	case size == 0:
		size = DefaultPageSize
	case size < 0 || size > MaxPageSize:
		return nil, "", invalid("PageSize", "PageSize %d is not valid: it must be from 1 to %d.", o.PageSize, MaxPageSize)
	}
	if !o.Start.IsZero() && !o.End.IsZero() && o.End.Before(o.Start) {
		return nil, "", invalid("EndDate", "EndDate %s is before StartDate %s.", o.End.UTC().Format(time.RFC3339), o.Start.UTC().Format(time.RFC3339))
	}
	where := []string{"account_id = ?"}
	args := []any{accountID}
	if o.Token != "" {
		after, err := decodeToken(o.Token)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "address_key > ?")
		args = append(args, after)
	}
	if len(o.Reasons) > 0 {
		for _, r := range o.Reasons {
			if err := checkReason("Reason", r); err != nil {
				return nil, "", err
			}
			args = append(args, string(r))
		}
		where = append(where, "reason IN ("+marks(len(o.Reasons))+")")
	}
	if !o.Start.IsZero() {
		where = append(where, "updated_at >= ?")
		args = append(args, db.Millis(o.Start))
	}
	if !o.End.IsZero() {
		where = append(where, "updated_at < ?")
		args = append(args, db.Millis(o.End))
	}
	args = append(args, size+1) // one more says whether there is a next page
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM suppressed_destinations WHERE `+strings.Join(where, " AND ")+`
		ORDER BY address_key LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("suppression: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, "", fmt.Errorf("suppression: list: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("suppression: list: %w", err)
	}
	if len(out) > size {
		out = out[:size]
		return out, encodeToken(out[size-1].Key), nil
	}
	return out, "", nil
}
