package capture

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// ErrNotFound is returned by Store.Get for a message that does not exist
// or is another account's.
var ErrNotFound = errors.New("capture: no such message")

// Message is one captured message.
type Message struct {
	ID         int64
	AccountID  string // "" when the message was not recognised as Sesame's
	MessageID  string // the SES MessageId, "" when unknown
	MailFrom   string // the envelope sender
	From       string // the From header, as written
	Recipients []string
	Subject    string // decoded (RFC 2047)
	Verdicts   Verdicts
	Raw        []byte // the message as received; nil from List
	ReceivedAt time.Time
}

// Defaults of StoreOptions.
const (
	DefaultMaxAge      = 7 * 24 * time.Hour
	DefaultMaxMessages = 10000
)

// StoreOptions configure a Store.
type StoreOptions struct {
	DB *db.DB // required
	// MaxAge is how long a message is kept; 0: DefaultMaxAge.
	MaxAge time.Duration
	// MaxMessages is how many messages are kept, the newest; 0:
	// DefaultMaxMessages.
	MaxMessages int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Store keeps captured messages.
type Store struct {
	db   *db.DB
	opts StoreOptions
}

// NewStore returns a Store.
func NewStore(o StoreOptions) (*Store, error) {
	if o.DB == nil {
		return nil, errors.New("capture: StoreOptions.DB is required")
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{db: o.DB, opts: o}, nil
}

// Add stores m (its ID and, when zero, its ReceivedAt are set).
func (s *Store) Add(ctx context.Context, m *Message) error {
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = s.opts.Now().UTC().Truncate(time.Millisecond)
	}
	rcpts, err := json.Marshal(m.Recipients)
	if err != nil {
		return fmt.Errorf("capture: add: %w", err)
	}
	v, err := json.Marshal(m.Verdicts)
	if err != nil {
		return fmt.Errorf("capture: add: %w", err)
	}
	raw := m.Raw
	if raw == nil {
		raw = []byte{}
	}
	err = s.db.QueryRow(ctx, `INSERT INTO captured_messages (account_id, message_id, mail_from, header_from, recipients, subject, dkim, spf, dmarc, verdicts, raw, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.AccountID, m.MessageID, m.MailFrom, m.From, string(rcpts), m.Subject, m.Verdicts.DKIM, m.Verdicts.SPF, m.Verdicts.DMARC, string(v), raw, db.Millis(m.ReceivedAt)).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("capture: add: %w", err)
	}
	return nil
}

// Filter selects captured messages of one account for List.
type Filter struct {
	MessageID string // exactly this SES MessageId
	Recipient string // an envelope recipient containing this (case-insensitive)
	Sender    string // the envelope sender or From header containing this (case-insensitive)
	Before    int64  // only IDs below this (the NextBefore of the previous page); 0: from the newest
	Limit     int    // page size; 0 or more than 1000: 100
}

// List returns the account's captured messages, newest first, without
// their raw bytes, and the Before of the next page (0 when this is the
// last).
func (s *Store) List(ctx context.Context, accountID string, f Filter) ([]*Message, int64, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + listColumns + ` FROM captured_messages WHERE account_id = ?`
	args := []any{accountID}
	if f.Before > 0 {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	if f.MessageID != "" {
		q += ` AND message_id = ?`
		args = append(args, f.MessageID)
	}
	if f.Recipient != "" {
		q += ` AND LOWER(recipients) LIKE ? ESCAPE '\'`
		args = append(args, like(f.Recipient))
	}
	if f.Sender != "" {
		q += ` AND (LOWER(mail_from) LIKE ? ESCAPE '\' OR LOWER(header_from) LIKE ? ESCAPE '\')`
		args = append(args, like(f.Sender), like(f.Sender))
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: list: %w", err)
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		m, err := scan(rows, false)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("capture: list: %w", err)
	}
	var next int64
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// like is a LIKE pattern matching s anywhere, lower-cased, its wildcards
// escaped.
func like(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(s)) + "%"
}

// Get returns the account's captured message id, raw bytes included.
func (s *Store) Get(ctx context.Context, accountID string, id int64) (*Message, error) {
	row := s.db.QueryRow(ctx, `SELECT `+listColumns+`, raw FROM captured_messages WHERE id = ? AND account_id = ?`, id, accountID)
	m, err := scan(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return m, err
}

const listColumns = `id, account_id, message_id, mail_from, header_from, recipients, subject, verdicts, received_at`

func scan(r interface{ Scan(...any) error }, withRaw bool) (*Message, error) {
	var m Message
	var rcpts, v string
	var at int64
	dest := []any{&m.ID, &m.AccountID, &m.MessageID, &m.MailFrom, &m.From, &rcpts, &m.Subject, &v, &at}
	if withRaw {
		dest = append(dest, &m.Raw)
	}
	if err := r.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("capture: read: %w", err)
	}
	if err := json.Unmarshal([]byte(rcpts), &m.Recipients); err != nil {
		return nil, fmt.Errorf("capture: message %d recipients: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(v), &m.Verdicts); err != nil {
		return nil, fmt.Errorf("capture: message %d verdicts: %w", m.ID, err)
	}
	m.ReceivedAt = db.Time(at)
	return &m, nil
}

// Prune forgets messages received more than MaxAge ago and all but the
// newest MaxMessages, and returns how many it removed.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	cutoff := s.opts.Now().Add(-s.opts.MaxAge)
	res, err := s.db.Exec(ctx, `DELETE FROM captured_messages WHERE received_at < ?`, db.Millis(cutoff))
	if err != nil {
		return 0, fmt.Errorf("capture: prune: %w", err)
	}
	n, _ := res.RowsAffected()
	var keepFrom int64
	err = s.db.QueryRow(ctx, `SELECT id FROM captured_messages ORDER BY id DESC LIMIT 1 OFFSET ?`, s.opts.MaxMessages-1).Scan(&keepFrom)
	if errors.Is(err, sql.ErrNoRows) {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("capture: prune: %w", err)
	}
	res, err = s.db.Exec(ctx, `DELETE FROM captured_messages WHERE id < ?`, keepFrom)
	if err != nil {
		return n, fmt.Errorf("capture: prune: %w", err)
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}
