package template

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
)

// Store is the templates of all accounts (migration 0013). It is safe for
// concurrent use; every call is scoped to one account.
type Store struct {
	db     *db.DB
	now    func() time.Time
	limit  int   // templates per account (MaxTemplates; tests lower it)
	cache  cache // stored templates' content
	inline cache // inline content of sends
	// parsing bounds the inline source being parsed at once
	// (CompileInline).
	parsing *semaphore.Weighted
}

// NewStore returns a Store; now nil is time.Now.
func NewStore(d *db.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, now: now, limit: MaxTemplates, parsing: semaphore.NewWeighted(MaxInlineTemplateBytes)}
}

// validate checks what Create and Update store: a text or HTML part, at
// most MaxTemplateBytes, tags by SES's rules (*ParamError), and parts that
// compile (*InvalidError).
func (s *Store) validate(c Content, tags []Tag) error {
	if c.Text == "" && c.HTML == "" {
		return paramError("TemplateContent", "The template must have a text part or an HTML part (v1 TextPart or HtmlPart, v2 Text or Html).")
	}
	if c.Size() > MaxTemplateBytes {
		return paramError("TemplateContent", "Template is too large: %d bytes (at most %d).", c.Size(), MaxTemplateBytes)
	}
	if _, err := s.cache.compile(c); err != nil {
		return err
	}
	if err := configset.ValidateTags(tags); err != nil {
		return &ParamError{Field: "Tags", Msg: err.Error()}
	}
	return nil
}

// Create stores a new template, Created now. A name in use is
// ErrAlreadyExists, one more than MaxTemplates ErrLimitExceeded; a
// bad name is a *ParamError, content that does not compile an
// *InvalidError. Nothing is written on error.
func (s *Store) Create(ctx context.Context, accountID string, t Template) error {
	if err := ValidateName(t.Name); err != nil {
		return err
	}
	if err := s.validate(t.Content, t.Tags); err != nil {
		return err
	}
	tags := t.Tags
	if tags == nil {
		tags = []Tag{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("template: encode tags: %w", err)
	}
	now := s.now()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := tx.LockAccount(ctx, accountID); err != nil { // count and insert as one, against concurrent creates
			return fmt.Errorf("template: %w", err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM templates WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return fmt.Errorf("template: count: %w", err)
		}
		if n >= int64(s.limit) {
			return fmt.Errorf("%w: at most %d templates per account", ErrLimitExceeded, s.limit)
		}
		_, err := tx.Exec(ctx, `INSERT INTO templates (account_id, name, subject_part, text_part, html_part, tags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			accountID, t.Name, t.Content.Subject, t.Content.Text, t.Content.HTML, string(tagsJSON), db.Millis(now))
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("%w: %s", ErrAlreadyExists, t.Name)
		}
		if err != nil {
			return fmt.Errorf("template: create %s: %w", t.Name, err)
		}
		return nil
	})
}

// Get returns the account's template of that name, or ErrNotFound.
func (s *Store) Get(ctx context.Context, accountID, name string) (*Template, error) {
	var (
		t       Template
		tags    string
		created int64
	)
	err := s.db.QueryRow(ctx, `SELECT name, subject_part, text_part, html_part, tags, created_at FROM templates WHERE account_id = ? AND name = ?`, accountID, name).
		Scan(&t.Name, &t.Content.Subject, &t.Content.Text, &t.Content.HTML, &tags, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("template: get %s: %w", name, err)
	}
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return nil, fmt.Errorf("template: tags of %s: %w", name, err)
	}
	t.Created = db.Time(created)
	return &t, nil
}

// Update replaces the template's content (its name, tags and Created
// stay): ErrNotFound for an unknown template, *InvalidError for content
// that does not compile.
func (s *Store) Update(ctx context.Context, accountID, name string, c Content) error {
	if err := s.validate(c, nil); err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `UPDATE templates SET subject_part = ?, text_part = ?, html_part = ? WHERE account_id = ? AND name = ?`,
		c.Subject, c.Text, c.HTML, accountID, name)
	return affected(res, err, "update", name)
}

// Delete removes the template, or returns ErrNotFound (v1 DeleteTemplate
// ignores that, v2 DeleteEmailTemplate reports it).
func (s *Store) Delete(ctx context.Context, accountID, name string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM templates WHERE account_id = ? AND name = ?`, accountID, name)
	return affected(res, err, "delete", name)
}

// affected turns a one-row statement's result into ErrNotFound when no
// row matched.
func affected(res sql.Result, err error, op, name string) error {
	if err != nil {
		return fmt.Errorf("template: %s %s: %w", op, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("template: %s %s: %w", op, name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return nil
}

const tokenPrefix = "tpl:"

// List returns one page of the account's templates in name order: at
// most limit (at least 1) after the position the opaque token after
// encodes ("" for the start), and the token of the next page ("" on the
// last). Only Name and Created are filled. A token List did not make is
// a *ParamError for NextToken.
func (s *Store) List(ctx context.Context, accountID, after string, limit int) ([]Template, string, error) {
	from := ""
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		if err != nil || !strings.HasPrefix(string(b), tokenPrefix) || len(b) == len(tokenPrefix) {
			return nil, "", paramError("NextToken", "Invalid NextToken: it was not returned by a previous call.")
		}
		from = string(b[len(tokenPrefix):])
	}
	limit = max(limit, 1)
	rows, err := s.db.Query(ctx, `SELECT name, created_at FROM templates WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`, accountID, from, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("template: list: %w", err)
	}
	defer rows.Close()
	var ts []Template
	for rows.Next() {
		var (
			t       Template
			created int64
		)
		if err := rows.Scan(&t.Name, &created); err != nil {
			return nil, "", fmt.Errorf("template: list: %w", err)
		}
		t.Created = db.Time(created)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("template: list: %w", err)
	}
	next := ""
	if len(ts) > limit {
		ts = ts[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + ts[limit-1].Name))
	}
	return ts, next, nil
}

// SetLimit sets the number of templates one account may keep (MaxTemplates
// unless set); tests lower it. Call it before the store is used.
func (s *Store) SetLimit(n int) { s.limit = n }
