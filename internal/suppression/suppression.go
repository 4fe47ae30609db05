// Package suppression owns the account-level suppression list of SES v2:
// for each account, the addresses Sesame does not send to, each with the
// reason it is listed (BOUNCE or COMPLAINT), when it was last updated and,
// when bounce or complaint processing listed it, the message and the
// feedback that did; and the account's SuppressedReasons, which say which
// of bounces and complaints add an address automatically.
//
// The list is case-insensitive, as SES's is: every address is looked up by
// its key (see Key), the whole address lower-cased with the domain in
// A-labels, while the address as it was given is kept for display.
//
// Three parts of Sesame use the list: the send path asks which recipients
// are listed (Suppressed, the send.Options.Suppressed hook), bounce and
// complaint processing add to it inside their own transaction (Record),
// and the SES v2 API manages it (Put, Get, Delete, List, Attributes,
// SetAttributes).
package suppression

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/db"
)

// Reason is why an address is on the list, in SES's spelling
// (SuppressionListReason).
type Reason string

// The reasons.
const (
	Bounce    Reason = "BOUNCE"
	Complaint Reason = "COMPLAINT"
)

// Valid reports whether r is one of the reasons.
func (r Reason) Valid() bool { return r == Bounce || r == Complaint }

// DefaultReasons returns the SuppressedReasons of an account that never
// set them: both, as SES has for accounts created since November 2019.
func DefaultReasons() []Reason { return []Reason{Bounce, Complaint} }

// MaxAddressLength is the longest address accepted, in octets.
const MaxAddressLength = 320

// Errors returned by the store.
var (
	ErrNotFound = errors.New("suppression: not found")
	ErrInvalid  = errors.New("suppression: invalid parameter")
	// ErrInvalidToken is a NextToken this package did not make (SES's
	// InvalidNextTokenException). Errors that match it match ErrInvalid too.
	ErrInvalidToken = errors.New("suppression: invalid NextToken")
)

// InvalidError is a rejected parameter: Field names it as the API spells
// it, and Msg is a sentence for the client that names the field and the
// rule broken. It matches ErrInvalid, and ErrInvalidToken when Field is
// NextToken.
type InvalidError struct {
	Field string
	Msg   string
}

func (e *InvalidError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalid) true, and errors.Is(err,
// ErrInvalidToken) for a bad NextToken.
func (e *InvalidError) Is(target error) bool {
	return target == ErrInvalid || (target == ErrInvalidToken && e.Field == "NextToken")
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Entry is one suppressed address of an account.
type Entry struct {
	AccountID      string
	Address        string // as given when it was last put or recorded
	Key            string // the lookup key; see Key
	Reason         Reason
	LastUpdateTime time.Time // UTC, millisecond precision
	// MessageID and FeedbackID are SES's SuppressedDestinationAttributes:
	// the message whose bounce or complaint listed the address, and that
	// bounce's or complaint's feedback ID. Both are empty for an address
	// put through the API.
	MessageID  string
	FeedbackID string
}

// Options configures a Store.
type Options struct {
	DB  *db.DB           // required
	Now func() time.Time // nil: time.Now
}

// Store is the suppression lists of all accounts over a database. It is
// safe for concurrent use.
type Store struct {
	db  *db.DB
	now func() time.Time
	// cache holds Suppressed's answers: whether an address key is listed
	// and for which reason, by account and key, filed under the account's
	// cachever.Suppression.
	cache *cachever.Cache[entryKey, listing]
}

type entryKey struct{ accountID, key string }

// listing is an address key's place on a list: on it or not, and why.
type listing struct {
	on     bool
	reason string
}

// maxCached bounds the cache of Suppressed's answers.
const maxCached = 100000

// New returns a Store.
func New(opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("suppression: Options.DB is required")
	}
	s := &Store{db: opts.DB, now: opts.Now, cache: cachever.NewCache[entryKey, listing](maxCached)}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Key returns the lookup key of an email address: the address parsed as
// internal/addr does (surrounding space removed, the domain normalised to
// lower-case A-labels), then lower-cased whole. Two addresses with the
// same key are the same entry on the list.
func Key(address string) (string, error) {
	_, key, err := parse(address)
	return key, err
}

// parse validates an address and returns it as given (trimmed) and its key.
func parse(address string) (display, key string, err error) {
	display = strings.TrimSpace(address)
	if display == "" {
		return "", "", invalid("EmailAddress", "EmailAddress is required.")
	}
	if len(display) > MaxAddressLength {
		return "", "", invalid("EmailAddress", "EmailAddress must be at most %d characters long (this one has %d).", MaxAddressLength, len(display))
	}
	a, err := addr.ParseAddress(display)
	if err != nil {
		var ae *addr.Error
		if errors.As(err, &ae) {
			return "", "", invalid("EmailAddress", "EmailAddress %q is not a valid email address: %s.", display, ae.Rule)
		}
		return "", "", invalid("EmailAddress", "EmailAddress %q is not a valid email address.", display)
	}
	return display, strings.ToLower(a.Local) + "@" + a.Domain, nil
}

func checkReason(field string, r Reason) error {
	if !r.Valid() {
		return invalid(field, "%s %q is not valid: it must be BOUNCE or COMPLAINT.", field, string(r))
	}
	return nil
}

// upsert adds an entry or replaces the one with the same key.
const upsert = `INSERT INTO suppressed_destinations (account_id, address_key, address, reason, message_id, feedback_id, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (account_id, address_key) DO UPDATE SET address = excluded.address, reason = excluded.reason,
		message_id = excluded.message_id, feedback_id = excluded.feedback_id, updated_at = excluded.updated_at`

// Put adds address to the account's list with reason, or, when it is
// already listed (in any case), replaces its reason, sets its last update
// time to now and clears its attributes (PutSuppressedDestination).
func (s *Store) Put(ctx context.Context, accountID, address string, reason Reason) error {
	display, key, err := parse(address)
	if err != nil {
		return err
	}
	if err := checkReason("Reason", reason); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, upsert, accountID, key, display, string(reason), "", "", db.Millis(s.now())); err != nil {
		return fmt.Errorf("suppression: put %s: %w", display, err)
	}
	return nil
}

const columns = `account_id, address_key, address, reason, message_id, feedback_id, updated_at`

func scanEntry(sc interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var reason string
	var updated int64
	if err := sc.Scan(&e.AccountID, &e.Key, &e.Address, &reason, &e.MessageID, &e.FeedbackID, &updated); err != nil {
		return Entry{}, err
	}
	e.Reason, e.LastUpdateTime = Reason(reason), db.Time(updated)
	return e, nil
}

// Get returns the account's entry for address (in any case), or an error
// matching ErrNotFound.
func (s *Store) Get(ctx context.Context, accountID, address string) (Entry, error) {
	display, key, err := parse(address)
	if err != nil {
		return Entry{}, err
	}
	e, err := scanEntry(s.db.QueryRow(ctx, `SELECT `+columns+` FROM suppressed_destinations WHERE account_id = ? AND address_key = ?`, accountID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, display)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("suppression: get %s: %w", display, err)
	}
	return e, nil
}

// Delete removes address (in any case) from the account's list; an
// address that is not listed is an error matching ErrNotFound.
func (s *Store) Delete(ctx context.Context, accountID, address string) error {
	display, key, err := parse(address)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `DELETE FROM suppressed_destinations WHERE account_id = ? AND address_key = ?`, accountID, key)
	if err != nil {
		return fmt.Errorf("suppression: delete %s: %w", display, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("suppression: delete %s: %w", display, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, display)
	}
	return nil
}

// suppressedBatch is how many keys one query of Suppressed looks up; a
// message has at most 50 recipients in SES, so one query is the rule.
const suppressedBatch = 500

// Suppressed reports which of addresses are on the account's list (the
// send.Options.Suppressed hook): the map holds true for each listed
// address, keyed by the address exactly as given; addresses not listed
// are absent. An address that does not parse is looked up by its
// lower-cased form. It runs one query per 500 distinct addresses.
//
// reasons nil is the account's list as it is: every listed address is
// suppressed, whatever its reason (the account's SuppressedReasons say
// which bounces and complaints add addresses, not which entries count).
// A configuration set's SuppressionOptions override that for its mail:
// reasons non-nil counts only entries listed for one of them, and an
// empty list suppresses nothing (SES's "override the account's
// suppression list" with no reasons).
func (s *Store) Suppressed(ctx context.Context, accountID string, reasons, addresses []string) (map[string]bool, error) {
	out := map[string]bool{}
	if reasons != nil && len(reasons) == 0 {
		return out, nil
	}
	given := map[string][]string{} // key → the addresses given with that key
	var keys []string
	for _, a := range addresses {
		k, err := Key(a)
		if err != nil {
			k = strings.ToLower(strings.TrimSpace(a))
		}
		if _, ok := given[k]; !ok {
			keys = append(keys, k)
		}
		given[k] = append(given[k], a)
	}
	// Each key's listing: from memory while the account's
	// list is unchanged (package cachever), else from the database.
	v, err := cachever.Read(ctx, s.db, accountID)
	if err != nil {
		return nil, fmt.Errorf("suppression: %w", err)
	}
	ver := v[cachever.Suppression]
	listed := make(map[string]listing, len(keys))
	var missing []string
	for _, k := range keys {
		if r, ok := s.cache.Get(entryKey{accountID, k}, ver); ok {
			listed[k] = r
		} else {
			missing = append(missing, k)
		}
	}
	for len(missing) > 0 {
		batch := missing[:min(len(missing), suppressedBatch)]
		missing = missing[len(batch):]
		if err := s.lookup(ctx, accountID, batch, listed); err != nil {
			return nil, err
		}
		for _, k := range batch {
			s.cache.Put(entryKey{accountID, k}, ver, listed[k])
		}
	}
	for k, r := range listed {
		if r.on && (reasons == nil || slices.Contains(reasons, r.reason)) {
			for _, a := range given[k] {
				out[a] = true
			}
		}
	}
	return out, nil
}

// lookup sets listed[k] for each of keys on the account's list, in one
// query.
func (s *Store) lookup(ctx context.Context, accountID string, keys []string, listed map[string]listing) error {
	args := make([]any, 0, len(keys)+1)
	args = append(args, accountID)
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := s.db.Query(ctx, `SELECT address_key, reason FROM suppressed_destinations WHERE account_id = ? AND address_key IN (`+marks(len(keys))+`)`, args...)
	if err != nil {
		return fmt.Errorf("suppression: look up %d addresses: %w", len(keys), err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, r string
		if err := rows.Scan(&k, &r); err != nil {
			return fmt.Errorf("suppression: look up addresses: %w", err)
		}
		listed[k] = listing{on: true, reason: r}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("suppression: look up addresses: %w", err)
	}
	return nil
}

// marks returns n comma-separated placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Attributes returns the account's SuppressedReasons, in the order BOUNCE,
// COMPLAINT: DefaultReasons when it never set them, an empty (not nil)
// slice when it turned automatic suppression off.
func (s *Store) Attributes(ctx context.Context, accountID string) ([]Reason, error) {
	return attributes(ctx, s.db, accountID)
}

func attributes(ctx context.Context, q db.Querier, accountID string) ([]Reason, error) {
	var text string
	err := q.QueryRow(ctx, `SELECT reasons FROM suppression_attributes WHERE account_id = ?`, accountID).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultReasons(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("suppression: attributes of %s: %w", accountID, err)
	}
	out := []Reason{}
	for r := range strings.SplitSeq(text, ",") {
		if r != "" {
			out = append(out, Reason(r))
		}
	}
	return out, nil
}

// SetAttributes sets the account's SuppressedReasons
// (PutAccountSuppressionAttributes). Duplicates are ignored; an empty list
// turns automatic suppression off (the list itself stays and is still
// applied when sending).
func (s *Store) SetAttributes(ctx context.Context, accountID string, reasons []Reason) error {
	var set []Reason
	for _, r := range reasons {
		if err := checkReason("SuppressedReasons", r); err != nil {
			return err
		}
		if !slices.Contains(set, r) {
			set = append(set, r)
		}
	}
	slices.Sort(set) // BOUNCE, COMPLAINT
	text := make([]string, len(set))
	for i, r := range set {
		text[i] = string(r)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO suppression_attributes (account_id, reasons, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET reasons = excluded.reasons, updated_at = excluded.updated_at`,
		accountID, strings.Join(text, ","), db.Millis(s.now()))
	if err != nil {
		return fmt.Errorf("suppression: set attributes of %s: %w", accountID, err)
	}
	return nil
}

// Record is automatic suppression, for bounce and complaint processing: in
// the caller's transaction tx (which also appends the Bounce or Complaint
// event), it adds address to the account's list with reason, messageID
// and feedbackID, or updates the entry already there, provided the
// account's SuppressedReasons (read in tx) include reason. It reports
// whether it did. The caller decides which outcomes count (SES lists
// addresses after a hard bounce or a complaint).
//
// Configuration sets: SES lets a configuration set override the account's
// SuppressedReasons (SuppressionOptions): setReasons, when not nil, are
// the reasons of the set the message was sent with, and replace the
// account's (an empty non-nil list: the set suppresses nothing).
func (s *Store) Record(ctx context.Context, tx *db.Tx, accountID, address string, reason Reason, messageID, feedbackID string, setReasons []string) (added bool, err error) {
	if tx == nil {
		return false, errors.New("suppression: Record needs a transaction")
	}
	display, key, err := parse(address)
	if err != nil {
		return false, err
	}
	if err := checkReason("Reason", reason); err != nil {
		return false, err
	}
	var reasons []Reason
	if setReasons != nil {
		for _, r := range setReasons {
			reasons = append(reasons, Reason(r))
		}
	} else if reasons, err = attributes(ctx, tx, accountID); err != nil {
		return false, err
	}
	if !slices.Contains(reasons, reason) {
		return false, nil
	}
	if _, err := tx.Exec(ctx, upsert, accountID, key, display, string(reason), messageID, feedbackID, db.Millis(s.now())); err != nil {
		return false, fmt.Errorf("suppression: record %s: %w", display, err)
	}
	return true, nil
}
