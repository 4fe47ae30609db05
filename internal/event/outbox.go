package event

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// Append writes e to the outbox in tx (the transaction of the change that
// caused it), so the event is stored if and only if that change commits.
// It validates e first and stores the bytes of e.MarshalJSON, with now as
// the row's creation time. It returns the row's id: ids grow in the order
// rows are appended (on PostgreSQL, in the order their inserts ran, which
// for concurrent transactions need not be the order they commit). It
// writes none of the columns migration 0016 added (AppendRef does), so it
// works on a schema of any version: the upgrade tests write their old
// rows with it.
func Append(ctx context.Context, tx *db.Tx, e *Event, now time.Time) (id int64, err error) {
	if tx == nil {
		return 0, errors.New("event: Append needs a transaction")
	}
	if now.IsZero() {
		return 0, errors.New("event: Append needs the current time")
	}
	payload, err := e.MarshalJSON()
	if err != nil {
		return 0, err
	}
	err = tx.QueryRow(ctx, `INSERT INTO events (account_id, message_id, configuration_set, event_type, payload, created_at, published_at)
		VALUES (?, ?, ?, ?, ?, ?, 0) RETURNING id`,
		e.AccountID, e.Mail.MessageID, e.ConfigurationSet, string(e.Type), string(payload), db.Millis(now)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("event: append %s event of %s: %w", e.Type, e.Mail.MessageID, err)
	}
	return id, nil
}

// Stored is an outbox row.
type Stored struct {
	ID               int64
	AccountID        string
	MessageID        string
	ConfigurationSet string // "" for none
	Type             Type
	// Payload is the event in SES's JSON, as Event.MarshalJSON wrote it:
	// what a publisher sends as is.
	Payload []byte
	// CreatedAt is when the row was appended; PublishedAt is when it was
	// published, the zero time while it is not.
	CreatedAt, PublishedAt time.Time
}

// Event decodes the row's Payload, with the row's AccountID and
// ConfigurationSet.
func (s *Stored) Event() (*Event, error) {
	var e Event
	if err := e.UnmarshalJSON(s.Payload); err != nil {
		return nil, fmt.Errorf("event %d: %w", s.ID, err)
	}
	e.AccountID, e.ConfigurationSet = s.AccountID, s.ConfigurationSet
	return &e, nil
}

// List returns outbox rows with id > after, oldest first, at most limit
// (which must be positive); accountID "" means all accounts, messageID ""
// all messages. Passing the last ID returned as the next after pages
// through the outbox.
func List(ctx context.Context, q db.Querier, after int64, limit int, accountID, messageID string) ([]Stored, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("event: list: limit %d is not positive", limit)
	}
	var where strings.Builder
	args := []any{after}
	where.WriteString("e.id > ?")
	if accountID != "" {
		where.WriteString(" AND e.account_id = ?")
		args = append(args, accountID)
	}
	if messageID != "" {
		where.WriteString(" AND e.message_id = ?")
		args = append(args, messageID)
	}
	out, err := Read(ctx, q, where.String(), append(args, limit), `ORDER BY e.id LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("event: list: %w", err)
	}
	return out, nil
}

// pruneBatch bounds the rows one statement of Prune deletes, so that no
// transaction holds the database for long.
const pruneBatch = 500

// Prune deletes, in statements of at most 500 rows, the outbox
// rows created before before that are published (published_at > 0), and
// returns how many it deleted. An unpublished row is never deleted,
// however old: it is still the outbox. Rows are in the outbox only until
// published; what stays after is history (`sesame events tail`).
func Prune(ctx context.Context, d *db.DB, before time.Time) (int64, error) {
	var n int64
	for {
		res, err := d.Exec(ctx, `DELETE FROM events WHERE id IN
			(SELECT id FROM events WHERE published_at > 0 AND created_at < ? LIMIT ?)`, db.Millis(before), pruneBatch)
		if err != nil {
			return n, fmt.Errorf("event: prune: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("event: prune: %w", err)
		}
		n += k
		if k < pruneBatch {
			return n, nil
		}
	}
}
