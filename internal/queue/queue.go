// Package queue is Sesame's durable outbound queue, kept in the database
// so that nothing accepted is ever lost and several delivery nodes can
// share one PostgreSQL database.
//
// A message is stored once (its signed bytes and the SES "mail" object its
// events describe) with one row per recipient. Enqueue writes the message,
// its recipients and its Send event in one transaction. Workers Claim due
// recipient rows under a lease (PostgreSQL: FOR UPDATE SKIP LOCKED;
// SQLite's writer is exclusive already); a worker that crashes simply lets
// its lease expire and another claims the rows again, so a delivery in
// flight at a crash may happen twice but never zero times. Finish and
// Retry record an outcome together with its event, and only while the
// caller still holds the lease. Enqueue and the outcomes are group commits
// (db.InGroupTx): concurrent callers share a COMMIT, and each returns once
// the COMMIT holding its own writes has succeeded.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
)

// State is a recipient row's delivery state.
type State string

// The states of a recipient.
const (
	Queued    State = "queued"    // waiting for (another) attempt
	Delivered State = "delivered" // the recipient's MX accepted it
	Bounced   State = "bounced"   // failed permanently, or the retry window ended
)

// Errors.
var (
	ErrLeaseLost = errors.New("queue: lease lost: another worker holds this recipient now")
	ErrNotFound  = errors.New("queue: no such message")
	ErrInvalid   = errors.New("queue: invalid message")
)

// Message is an accepted message to deliver.
type Message struct {
	ID               string // the SES MessageId
	AccountID        string
	Source           string // the From address the message was sent as
	SourceArn        string
	MailFrom         string // the envelope sender (MAIL FROM)
	ConfigurationSet string
	Mail             event.Mail // what events about this message say of it
	Body             []byte     // the message as it goes out (signed)
	Recipients       []string   // envelope recipients
	// System marks Sesame's own mail to the account (verification and
	// notification messages): delivered like any other.
	System bool
	// Counted is how many recipients count against the account's daily
	// quota (SentLast24Hours): mailbox-simulator recipients and system mail
	// do not (ses-api.md §14.1).
	Counted int
	// Suppressed are recipients (also in Recipients) that must not be
	// delivered, each with its Bounce event: they are stored as Bounced and
	// their events written after the Send event, in the same transaction.
	Suppressed map[string]*event.Event
}

// countBucket is the send_counts bucket of t: Unix minutes / 5.
func countBucket(t time.Time) int64 { return t.Unix() / 300 }

// Options configures a Queue.
type Options struct {
	DB *db.DB // required
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notify, when set, is called after a commit that made rows due (new
	// messages), so idle workers wake up. Missing a call only delays work
	// until the workers' next poll.
	Notify func()
}

// Queue is the outbound queue.
type Queue struct {
	db     *db.DB
	now    func() time.Time
	notify func()
}

// New returns a Queue.
func New(opts Options) (*Queue, error) {
	if opts.DB == nil {
		return nil, errors.New("queue: DB is required")
	}
	q := &Queue{db: opts.DB, now: opts.Now, notify: opts.Notify}
	if q.now == nil {
		q.now = time.Now
	}
	if q.notify == nil {
		q.notify = func() {}
	}
	return q, nil
}

// Enqueue stores m with one row per recipient, due now, and its Send event,
// in one transaction: either all of it is stored or nothing is.
func (q *Queue) Enqueue(ctx context.Context, m *Message, send *event.Event) error {
	return q.EnqueueWith(ctx, m, send, nil)
}

// EnqueueWith is Enqueue with also run in the same transaction, for a
// caller that records in its own tables that the message was queued.
//
// The transaction is a group commit (db.InGroupTx): it returns once the
// message is durable, its COMMIT shared with other callers'.
func (q *Queue) EnqueueWith(ctx context.Context, m *Message, send *event.Event, also func(ctx context.Context, tx *db.Tx) error) error {
	tctx, cancel := detach(ctx)
	defer cancel()
	err := q.db.InGroupTx(ctx, func(tx *db.Tx) error {
		if err := q.EnqueueTx(tctx, tx, m, send); err != nil {
			return err
		}
		if also != nil {
			return also(tctx, tx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.notify()
	return nil
}

// detach returns ctx for the statements of a group transaction (see
// db.InGroupTx): not cancelled when the caller goes away, which on
// PostgreSQL would fail the whole batch, but still ended at ctx's
// deadline. Without it a statement waiting for a row lock that another
// session keeps (a node whose connection hangs) would hold its batch, and
// every caller in it, past their deadlines (deliver's recordTimeout) for
// as long as the lock is held.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, dl)
	}
	return d, func() {}
}

// EnqueueTx is Enqueue inside the caller's transaction, for a message
// queued as part of another change (a bounce notification forwarded in the
// transaction that records the bounce). Call Wake after the commit so idle
// workers see the new rows at once.
func (q *Queue) EnqueueTx(ctx context.Context, tx *db.Tx, m *Message, send *event.Event) error {
	switch {
	case m.ID == "" || m.AccountID == "" || m.MailFrom == "":
		return fmt.Errorf("%w: ID, AccountID and MailFrom are required", ErrInvalid)
	case len(m.Recipients) == 0:
		return fmt.Errorf("%w: no recipients", ErrInvalid)
	case len(m.Body) == 0:
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	mail, err := event.MailJSON(&m.Mail, m.ConfigurationSet)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	now := q.now()
	_, err = tx.Exec(ctx, `INSERT INTO messages (id, account_id, source, source_arn, mail_from, configuration_set, mail_json, size, system, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.AccountID, m.Source, m.SourceArn, m.MailFrom, m.ConfigurationSet, string(mail), len(m.Body), m.System, db.Millis(now))
	if err != nil {
		return fmt.Errorf("queue: store message %s: %w", m.ID, err)
	}
	// With nobody to send it to (every recipient suppressed) the body is
	// not kept, as a finished message's.
	if slices.ContainsFunc(m.Recipients, func(r string) bool { _, sup := m.Suppressed[r]; return !sup }) {
		if _, err := tx.Exec(ctx, `INSERT INTO message_bodies (message_id, body) VALUES (?, ?)`, m.ID, m.Body); err != nil {
			return fmt.Errorf("queue: store the body of %s: %w", m.ID, err)
		}
	}
	for _, r := range m.Recipients {
		_, dom, ok := strings.Cut(r, "@")
		if !ok || dom == "" {
			return fmt.Errorf("%w: recipient %q has no domain", ErrInvalid, r)
		}
		state, reply := Queued, ""
		if _, sup := m.Suppressed[r]; sup {
			state, reply = Bounced, "suppressed: on the account's suppression list"
		}
		_, err := tx.Exec(ctx, `INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, last_reply, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, r, strings.ToLower(dom), string(state), db.Millis(now), reply, db.Millis(now), db.Millis(now))
		if err != nil {
			return fmt.Errorf("queue: store recipient: %w", err)
		}
	}
	// The events refer to the mail object just stored rather than copy it.
	if send != nil {
		if _, err := event.AppendRef(ctx, tx, send, &m.Mail, m.ConfigurationSet, now); err != nil {
			return err
		}
	}
	for _, r := range m.Recipients {
		if ev := m.Suppressed[r]; ev != nil {
			if _, err := event.AppendRef(ctx, tx, ev, &m.Mail, m.ConfigurationSet, now); err != nil {
				return err
			}
		}
	}
	if m.Counted > 0 {
		// On PostgreSQL the row stays locked until COMMIT: one row per
		// group-commit lane lets the lanes' admissions of one account run
		// side by side. SQLite's one writer needs only one.
		shard := 0
		if tx.Dialect() == db.Postgres {
			shard = tx.Lane()
		}
		_, err := tx.Exec(ctx, `INSERT INTO send_counts (account_id, bucket, shard, recipients) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, bucket, shard) DO UPDATE SET recipients = send_counts.recipients + excluded.recipients`,
			m.AccountID, countBucket(now), shard, m.Counted)
		if err != nil {
			return fmt.Errorf("queue: count recipients: %w", err)
		}
	}
	return nil
}

// AppendEvent writes an event about a message that was not queued — the
// Rendering Failure of a templated message — to the event outbox in a
// transaction of its own.
func (q *Queue) AppendEvent(ctx context.Context, ev *event.Event) error {
	return q.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := event.Append(ctx, tx, ev, q.now())
		return err
	})
}

// Wake tells idle delivery workers that rows may be due (after a commit
// that queued messages with EnqueueTx).
func (q *Queue) Wake() { q.notify() }

// Claimed is a recipient row a worker holds under a lease.
type Claimed struct {
	ID               int64
	MessageID        string
	AccountID        string
	Address          string
	Domain           string
	MailFrom         string
	ConfigurationSet string
	System           bool // Sesame's own mail (Message.System)
	Attempts         int  // including this one
	QueuedAt         time.Time
	Owner            string
	LeaseUntil       time.Time
}

// Claim takes up to limit due recipients — queued, due by now, not leased
// by anyone (or their lease expired) — for owner until now+lease, oldest
// first. Each claim counts as an attempt.
func (q *Queue) Claim(ctx context.Context, owner string, limit int, lease time.Duration) ([]Claimed, error) {
	if owner == "" || limit < 1 || lease <= 0 {
		return nil, errors.New("queue: claim needs an owner, a positive limit and a positive lease")
	}
	now := q.now()
	until := now.Add(lease)
	var out []Claimed
	err := q.db.InTx(ctx, func(tx *db.Tx) error {
		pick := `SELECT id FROM recipients WHERE state = ? AND next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at, id LIMIT ?`
		if tx.Dialect() == db.Postgres {
			pick += ` FOR UPDATE SKIP LOCKED`
		}
		rows, err := tx.Query(ctx, `UPDATE recipients SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id IN (`+pick+`) RETURNING id`,
			owner, db.Millis(until), db.Millis(now), string(Queued), db.Millis(now), db.Millis(now), limit)
		if err != nil {
			return fmt.Errorf("queue: claim: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("queue: claim: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("queue: claim: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT r.id, r.message_id, m.account_id, r.address, r.domain, m.mail_from, m.configuration_set, m.system, r.attempts, r.created_at
			FROM recipients r JOIN messages m ON m.id = r.message_id
			WHERE r.id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY r.next_attempt_at, r.id`, ids...)
		if err != nil {
			return fmt.Errorf("queue: claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c := Claimed{Owner: owner, LeaseUntil: until.UTC().Truncate(time.Millisecond)}
			var queued int64
			if err := rows.Scan(&c.ID, &c.MessageID, &c.AccountID, &c.Address, &c.Domain, &c.MailFrom, &c.ConfigurationSet, &c.System, &c.Attempts, &queued); err != nil {
				return fmt.Errorf("queue: claim: %w", err)
			}
			c.QueuedAt = db.Time(queued)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Body returns a message's bytes as they go out; empty once its last
// recipient finished (the body is gone).
func (q *Queue) Body(ctx context.Context, messageID string) ([]byte, error) {
	_, b, err := q.load(ctx, messageID, false, true)
	return b, err
}

// Mail returns the stored "mail" object of a message, for its events.
func (q *Queue) Mail(ctx context.Context, messageID string) (event.Mail, error) {
	m, _, err := q.load(ctx, messageID, true, false)
	return m, err
}

// Load returns both, with one query: what delivering a message needs.
func (q *Queue) Load(ctx context.Context, messageID string) (event.Mail, []byte, error) {
	return q.load(ctx, messageID, true, true)
}

// load reads a message's mail object, its body, or both. A message whose
// body is gone reads with an empty body.
func (q *Queue) load(ctx context.Context, messageID string, withMail, withBody bool) (event.Mail, []byte, error) {
	var m event.Mail
	var mail string
	var body []byte
	var query string
	var dest []any
	switch {
	case withMail && withBody:
		query = `SELECT m.mail_json, b.body FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.id = ?`
		dest = []any{&mail, &body}
	case withMail:
		query = `SELECT mail_json FROM messages WHERE id = ?`
		dest = []any{&mail}
	default:
		query = `SELECT b.body FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.id = ?`
		dest = []any{&body}
	}
	err := q.db.QueryRow(ctx, query, messageID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil, fmt.Errorf("%w: %s", ErrNotFound, messageID)
	}
	if err != nil {
		return m, nil, fmt.Errorf("queue: read message %s: %w", messageID, err)
	}
	if mail != "" {
		if m, err = event.DecodeMail([]byte(mail)); err != nil {
			return m, nil, fmt.Errorf("queue: decode mail of %s: %w", messageID, err)
		}
	}
	return m, body, nil
}

// Sent is an accepted message as feedback processing needs it: who sent
// it, with which envelope sender, to whom.
type Sent struct {
	ID               string
	AccountID        string
	MailFrom         string // the envelope sender bounces come back to
	ConfigurationSet string
	System           bool
	AcceptedAt       time.Time
	Mail             event.Mail
	Recipients       []string // the envelope recipients, in the order given
}

// Lookup returns the message with SES MessageId id, or ErrNotFound.
func (q *Queue) Lookup(ctx context.Context, id string) (*Sent, error) {
	m := &Sent{ID: id}
	var mail string
	var created int64
	err := q.db.QueryRow(ctx, `SELECT account_id, mail_from, configuration_set, system, created_at, mail_json FROM messages WHERE id = ?`, id).
		Scan(&m.AccountID, &m.MailFrom, &m.ConfigurationSet, &m.System, &created, &mail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: look up %s: %w", id, err)
	}
	m.AcceptedAt = db.Time(created)
	if m.Mail, err = event.DecodeMail([]byte(mail)); err != nil {
		return nil, fmt.Errorf("queue: decode mail of %s: %w", id, err)
	}
	rows, err := q.db.Query(ctx, `SELECT address FROM recipients WHERE message_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("queue: recipients of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("queue: recipients of %s: %w", id, err)
		}
		m.Recipients = append(m.Recipients, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: recipients of %s: %w", id, err)
	}
	return m, nil
}

// Finish records a final outcome (Delivered or Bounced) for a claimed
// recipient, with its event (Delivery or Bounce), in one transaction —
// provided c's owner still holds the lease; otherwise ErrLeaseLost and
// nothing is written. When it finishes a message's last queued
// recipient, the message's body is dropped: it is never sent again.
func (q *Queue) Finish(ctx context.Context, c Claimed, state State, reply string, ev *event.Event) error {
	return q.FinishWith(ctx, c, state, reply, nil, ev)
}

// FinishWith is Finish with any number of events, appended to the outbox
// in the order given (a nil event is skipped), and also run in the same
// transaction after them, for what the outcome causes elsewhere (a
// permanent bounce's suppression-list entry and forwarded notification).
// An error from also rolls everything back.
func (q *Queue) FinishWith(ctx context.Context, c Claimed, state State, reply string, also func(ctx context.Context, tx *db.Tx) error, evs ...*event.Event) error {
	if state != Delivered && state != Bounced {
		return fmt.Errorf("queue: %q is not a final state", state)
	}
	return q.transition(ctx, c, state, c.QueuedAt, reply, also, evs...)
}

// Retry schedules another attempt for a claimed recipient at next, with
// its event if any (DeliveryDelay), under the same lease rule as Finish.
func (q *Queue) Retry(ctx context.Context, c Claimed, next time.Time, reply string, ev *event.Event) error {
	return q.transition(ctx, c, Queued, next, reply, nil, ev)
}

func (q *Queue) transition(ctx context.Context, c Claimed, state State, next time.Time, reply string, also func(ctx context.Context, tx *db.Tx) error, evs ...*event.Event) error {
	return q.Record(ctx, nil, []Outcome{{Claimed: c, State: state, Next: next, Reply: reply, Also: also, Events: evs}})[0]
}

// Outcome is what an attempt decided for one claimed recipient, for
// Record.
type Outcome struct {
	Claimed Claimed
	// State is Delivered or Bounced (final), or Queued: another attempt at
	// Next.
	State State
	Next  time.Time
	Reply string
	// Events are appended in the order given (nil ones skipped; none for
	// Sesame's own mail, which is not the account's sending), then Also
	// runs, in the same transaction.
	Events []*event.Event
	Also   func(ctx context.Context, tx *db.Tx) error
}

// outcomeKey groups the outcomes one UPDATE records: the same new state,
// next attempt and reply, under the same lease.
type outcomeKey struct {
	state       State
	next, until int64
	reply       string
	owner       string
}

// Record records the outcomes of claimed recipients of one message (all
// with the same MessageID), with their events, in one group transaction:
// one UPDATE for the recipients that share an outcome, the body deleted
// once when the last queued recipient finishes. mail, when not nil, is the
// message's stored mail object (Load's) the events' mail objects were made
// from: the events then refer to it instead of copying it.
//
// Each outcome is recorded only while its owner still holds the lease:
// the error at its index is ErrLeaseLost for one whose lease was lost
// (nothing of it is written; the others are recorded), nil for one
// recorded, and the transaction's error for all when it failed. An
// outcome whose event or Also fails gets that error and nothing of it is
// written, as when each recipient was recorded alone: the others are
// recorded without it (in a second transaction), so that a recipient the
// message was delivered to is not left queued, to be sent it again, for
// a sibling's failure.
func (q *Queue) Record(ctx context.Context, mail *event.Mail, outs []Outcome) []error {
	errs := make([]error, len(outs))
	if len(outs) == 0 {
		return errs
	}
	mid := outs[0].Claimed.MessageID
	final, also := false, false
	for i, o := range outs {
		switch {
		case o.Claimed.MessageID != mid:
			errs[i] = fmt.Errorf("queue: record: outcomes of messages %s and %s together", mid, o.Claimed.MessageID)
		case o.State == Delivered || o.State == Bounced:
			final = true
		case o.State == Queued:
		default:
			errs[i] = fmt.Errorf("queue: %q is not an outcome", o.State)
		}
		also = also || o.Also != nil
	}
	for _, err := range errs {
		if err != nil {
			return fill(errs, err)
		}
	}
	// The outcomes one UPDATE records, in the order they first appear.
	groups := map[outcomeKey][]int{}
	var keys []outcomeKey
	for i, o := range outs {
		next := o.Next
		if o.State != Queued {
			next = o.Claimed.QueuedAt
		}
		k := outcomeKey{o.State, db.Millis(next), db.Millis(o.Claimed.LeaseUntil), o.Reply, o.Claimed.Owner}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	now := q.now()
	wait := ctx
	ctx, cancel := detach(ctx)
	defer cancel()
	failed := -1 // the outcome whose event or Also failed the transaction
	err := q.db.InGroupTx(wait, func(tx *db.Tx) error {
		clear(errs) // a retried batch starts again
		failed = -1
		if final && tx.Dialect() == db.Postgres {
			// Finishing recipients of one message one after the other, so
			// that the last one sees the others finished and drops the
			// body (under READ COMMITTED two concurrent finishes would each
			// see the other still queued). SQLite has one writer anyway.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM messages WHERE id = ? FOR UPDATE`, mid); err != nil {
				return fmt.Errorf("queue: record outcome: %w", err)
			}
		}
		for _, k := range keys {
			idx := groups[k]
			args := []any{string(k.state), k.next, k.reply, db.Millis(now), string(Queued), k.owner, k.until}
			for _, i := range idx {
				args = append(args, outs[i].Claimed.ID)
			}
			rows, err := tx.Query(ctx, `UPDATE recipients SET state = ?, next_attempt_at = ?, last_reply = ?, lease_owner = '', lease_until = 0, updated_at = ?
				WHERE state = ? AND lease_owner = ? AND lease_until = ? AND id IN (?`+strings.Repeat(", ?", len(idx)-1)+`) RETURNING id`, args...)
			if err != nil {
				return fmt.Errorf("queue: record outcome: %w", err)
			}
			done := map[int64]bool{}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("queue: record outcome: %w", err)
				}
				done[id] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("queue: record outcome: %w", err)
			}
			for _, i := range idx {
				if !done[outs[i].Claimed.ID] {
					errs[i] = ErrLeaseLost
				}
			}
		}
		if final {
			// The last recipient finished: the body is never sent again
			// (events and feedback need only the mail object).
			_, err := tx.Exec(ctx, `DELETE FROM message_bodies WHERE message_id = ? AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = ? AND state = ?)`,
				mid, mid, string(Queued))
			if err != nil {
				return fmt.Errorf("queue: drop the body of %s: %w", mid, err)
			}
		}
		for i, o := range outs {
			if errs[i] != nil {
				continue
			}
			for _, ev := range o.Events {
				if ev == nil || o.Claimed.System {
					// Sesame's own mail is not the account's sending: its
					// outcomes are not in the account's event stream.
					continue
				}
				if _, err := event.AppendRef(ctx, tx, ev, mail, o.Claimed.ConfigurationSet, now); err != nil {
					failed = i
					return err
				}
			}
			if o.Also != nil {
				if err := o.Also(ctx, tx); err != nil {
					failed = i
					return err
				}
			}
		}
		return nil
	})
	if err != nil && failed >= 0 && len(outs) > 1 {
		// Only the failed outcome is lost; the rest are recorded again
		// without it (and, should another fail, without that one too).
		rest := make([]Outcome, 0, len(outs)-1)
		at := make([]int, 0, len(outs)-1)
		for i, o := range outs {
			if i != failed {
				rest = append(rest, o)
				at = append(at, i)
			}
		}
		for j, e := range q.Record(wait, mail, rest) {
			errs[at[j]] = e
		}
		errs[failed] = err
		return errs
	}
	if err != nil {
		return fill(errs, err)
	}
	if also {
		q.notify() // an Also may have queued mail
	}
	return errs
}

// fill sets every entry of errs to err and returns errs.
func fill(errs []error, err error) []error {
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// Counts reports how many recipient rows are in each state (for the
// operator and for tests).
func (q *Queue) Counts(ctx context.Context) (map[State]int, error) {
	rows, err := q.db.Query(ctx, `SELECT state, COUNT(*) FROM recipients GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("queue: counts: %w", err)
	}
	defer rows.Close()
	out := map[State]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("queue: counts: %w", err)
		}
		out[State(s)] = n
	}
	return out, rows.Err()
}

// Depth returns how many recipients are still queued (not finished) and
// when the oldest of them was queued (zero when none is), for the
// operator's metrics.
func (q *Queue) Depth(ctx context.Context) (n int64, oldest time.Time, err error) {
	var first sql.NullInt64
	err = q.db.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM recipients WHERE state = ?`, string(Queued)).Scan(&n, &first)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue: depth: %w", err)
	}
	if first.Valid {
		oldest = db.Time(first.Int64)
	}
	return n, oldest, nil
}

// SentSince returns how many recipients of the account's messages count
// against its daily quota since since — SES's SentLast24Hours. It sums
// 5-minute buckets (each in a row per shard: see EnqueueTx), so up to five minutes before since may be counted too
// (the quota errs on the safe side).
func (q *Queue) SentSince(ctx context.Context, accountID string, since time.Time) (int, error) {
	var n int64
	err := q.db.QueryRow(ctx, `SELECT COALESCE(SUM(recipients), 0) FROM send_counts WHERE account_id = ? AND bucket >= ?`, accountID, countBucket(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue: sent since: %w", err)
	}
	return int(n), nil
}

// pruneBatch deletes up to pruneBatch messages accepted before forget
// with no recipient queued, in one transaction that first writes their
// mail object into the events that refer to it (event.Inline): an event
// outlives its message when unpublished, or published later than the
// message was accepted.
func (q *Queue) pruneBatch(ctx context.Context, forget time.Time) (int, error) {
	var n int
	err := q.db.InTx(ctx, func(tx *db.Tx) error {
		pick := `SELECT m.id FROM messages m WHERE m.created_at < ?
			AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.state = ?) LIMIT ?`
		if tx.Dialect() == db.Postgres {
			// Held until the delete: an event that refers to one of these
			// is written by a transaction that locks the row (an outcome)
			// or references it (feedback), so none slips in after Inline.
			pick += ` FOR UPDATE OF m SKIP LOCKED`
		}
		rows, err := tx.Query(ctx, pick, db.Millis(forget), string(Queued), pruneBatch)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := event.Inline(ctx, tx, ids); err != nil {
			return err
		}
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		res, err := tx.Exec(ctx, `DELETE FROM messages WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		n = int(k)
		return nil
	})
	return n, err
}

// Pruned counts what Prune deleted.
type Pruned struct {
	Messages   int // messages (with their recipients) forgotten
	SendCounts int // daily-quota buckets older than a day
}

// pruneBatch bounds the rows one Prune statement deletes, so that no
// transaction holds the database for long.
const pruneBatch = 500

// Prune deletes what the queue no longer needs, in batches: messages
// accepted before forget (feedback about them is no longer taken: the
// feedback retention window), with their recipients, unless one is still
// queued; and send_counts buckets older than 25 hours (the daily quota
// looks back 24). Bodies go earlier, when a message's last recipient is
// finished (see Finish). Events are pruned apart (event.Prune): unpublished ones are the outbox.
func (q *Queue) Prune(ctx context.Context, forget time.Time) (Pruned, error) {
	var p Pruned
	for {
		n, err := q.pruneBatch(ctx, forget)
		p.Messages += n
		if err != nil {
			return p, fmt.Errorf("queue: prune messages: %w", err)
		}
		if n < pruneBatch {
			break
		}
	}
	res, err := q.db.Exec(ctx, `DELETE FROM send_counts WHERE bucket < ?`, countBucket(q.now().Add(-25*time.Hour)))
	if err != nil {
		return p, fmt.Errorf("queue: prune send counts: %w", err)
	}
	n, _ := res.RowsAffected()
	p.SendCounts = int(n)
	return p, nil
}

// StoredMail reads through q (a transaction the caller holds, or the
// database) the account, configuration set and mail object of the
// message with SES MessageId id, for an event about it recorded later
// (open and click tracking); a message not or no longer stored is
// ErrNotFound.
func StoredMail(ctx context.Context, q db.Querier, id string) (accountID, configurationSet string, mail event.Mail, err error) {
	var raw string
	err = q.QueryRow(ctx, `SELECT account_id, configuration_set, mail_json FROM messages WHERE id = ?`, id).Scan(&accountID, &configurationSet, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", mail, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return "", "", mail, fmt.Errorf("queue: read message %s: %w", id, err)
	}
	if mail, err = event.DecodeMail([]byte(raw)); err != nil {
		return "", "", mail, fmt.Errorf("queue: decode mail of %s: %w", id, err)
	}
	return accountID, configurationSet, mail, nil
}
