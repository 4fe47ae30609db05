package feedback

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/queue"
)

// Received is a report as the feedback MX took it: what Apply needs to
// decide whether it may change anything, and to keep it for operators.
type Received struct {
	// Raw is the report's first bytes (at most the server's
	// MaxPrefixBytes); Size is its whole size.
	Raw  []byte
	Size int64
	// Report is what bounce.Parse made of Raw; required.
	Report *bounce.Report
	// Evidence is where the report came from: client address, HELO name,
	// envelope sender, DKIM results. Apply adds the SenderDomains of each
	// message it is applied to, Complaint (from Report.Kind) and
	// HeaderFrom (the addresses of Raw's From field).
	Evidence origin.Evidence
	// Check decides whether the report comes from the side of a
	// recipient's domain (origin.Checker.Check). Nil: nothing is verified,
	// so the report changes nothing.
	Check func(ctx context.Context, ev origin.Evidence, recipientDomain string) origin.Verdict
}

// Checked is the verdict about one recipient a report named.
type Checked struct {
	Address   string `json:"address"`
	Verified  bool   `json:"verified"`
	How       string `json:"how,omitempty"`    // which rule passed
	Reason    string `json:"reason,omitempty"` // why not
	Temporary bool   `json:"temporary,omitempty"`
}

// The outcomes of a stored report.
const (
	OutcomeApplied    = "applied"    // events were stored
	OutcomeDuplicate  = "duplicate"  // all it said was applied before
	OutcomeUnverified = "unverified" // it named recipients, none verified
	OutcomeTemporary  = "temporary"  // nothing applied; a recipient's verdict was temporary (answered 451, to be retried)
	OutcomeIgnored    = "ignored"    // nothing to apply (auto-reply, delay, no recipient of the message, Sesame's own mail...)
)

// MaxStoredPerMessage bounds the reports kept per message; more are
// applied (or not) as usual, and only logged.
const MaxStoredPerMessage = 100

// maxStoredRaw bounds the bytes of a report kept.
const maxStoredRaw = 64 << 10

// Stored is a report the feedback MX took, as kept for operators.
type Stored struct {
	ID         int64
	MessageID  string
	AccountID  string
	ReceivedAt time.Time
	RemoteIP   string
	HELO       string
	MailFrom   string // "" for the null sender
	Kind       bounce.Kind
	Format     string
	Outcome    string
	Unverified bool      // some recipient it named was not verified
	Recipients []Checked // the message's recipients it named, with their verdicts
	Size       int64     // the whole report's size
	Raw        []byte    // its first 64 KiB
}

// outcome sums up r for Stored.Outcome.
func (r *Result) outcome() string {
	verified := false
	for _, c := range r.Checked {
		verified = verified || c.Verified
	}
	switch {
	case len(r.Events) > 0:
		return OutcomeApplied
	case r.Temporary:
		return OutcomeTemporary
	case r.Duplicate:
		return OutcomeDuplicate
	case len(r.Checked) > 0 && !verified:
		return OutcomeUnverified
	}
	return OutcomeIgnored
}

// store keeps in, as applied to sent with result r, inside tx; unless the
// message has MaxStoredPerMessage reports already.
func (p *Processor) store(ctx context.Context, tx *db.Tx, in *Received, sent *queue.Sent, r *Result, now time.Time) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM feedback_received WHERE message_id = ?`, sent.ID).Scan(&n); err != nil {
		return fmt.Errorf("feedback: count stored reports: %w", err)
	}
	if n >= MaxStoredPerMessage {
		return nil
	}
	rcpts, err := json.Marshal(r.Checked)
	if err != nil {
		return fmt.Errorf("feedback: store report: %w", err)
	}
	unverified := false
	for _, c := range r.Checked {
		unverified = unverified || !c.Verified
	}
	ev := in.Evidence
	ip := ""
	if ev.RemoteIP.IsValid() {
		ip = ev.RemoteIP.String()
	}
	raw := in.Raw[:min(len(in.Raw), maxStoredRaw)]
	if raw == nil {
		raw = []byte{}
	}
	err = tx.QueryRow(ctx, `INSERT INTO feedback_received (message_id, account_id, received_at, remote_ip, helo, mail_from, kind, format, outcome, unverified, recipients, size, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		sent.ID, sent.AccountID, db.Millis(now), ip, truncate(ev.HELO, 255), truncate(ev.MailFrom, 320), string(in.Report.Kind), in.Report.Format,
		r.outcome(), unverified, string(rcpts), max(in.Size, int64(len(in.Raw))), raw).Scan(&r.StoredID)
	if err != nil {
		return fmt.Errorf("feedback: store report: %w", err)
	}
	return nil
}

// ErrNoSuchReport is returned by GetReport for an unknown id (or one of
// another account).
var ErrNoSuchReport = errors.New("feedback: no such report")

// ListOptions selects stored reports.
type ListOptions struct {
	AccountID  string    // only this account's; "" for all (operators)
	Since      time.Time // received at or after; zero for all
	Unverified bool      // only reports with a recipient not verified
	Limit      int       // at most this many, newest first; 0: 1000
}

const storedColumns = `id, message_id, account_id, received_at, remote_ip, helo, mail_from, kind, format, outcome, unverified, recipients, size`

// ListReports returns stored reports, newest first, without their bytes.
func ListReports(ctx context.Context, q db.Querier, o ListOptions) ([]*Stored, error) {
	where, args := []string{"received_at >= ?"}, []any{db.Millis(o.Since)}
	if o.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, o.AccountID)
	}
	if o.Unverified {
		where, args = append(where, "unverified = ?"), append(args, true)
	}
	limit := o.Limit
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.Query(ctx, `SELECT `+storedColumns+` FROM feedback_received WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("feedback: list reports: %w", err)
	}
	defer rows.Close()
	var out []*Stored
	for rows.Next() {
		s, err := scanStored(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feedback: list reports: %w", err)
	}
	return out, nil
}

// GetReport returns the stored report id with its bytes; with accountID
// not "", only if it is that account's.
func GetReport(ctx context.Context, q db.Querier, id int64, accountID string) (*Stored, error) {
	var raw []byte
	s, err := scanStored(func(dest ...any) error {
		return q.QueryRow(ctx, `SELECT `+storedColumns+`, raw FROM feedback_received WHERE id = ? AND (account_id = ? OR ? = '')`,
			id, accountID, accountID).Scan(append(dest, &raw)...)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrNoSuchReport, id)
	}
	if err != nil {
		return nil, err
	}
	s.Raw = raw
	return s, nil
}

func scanStored(scan func(dest ...any) error) (*Stored, error) {
	s := &Stored{}
	var at int64
	var kind, rcpts string
	if err := scan(&s.ID, &s.MessageID, &s.AccountID, &at, &s.RemoteIP, &s.HELO, &s.MailFrom, &kind, &s.Format, &s.Outcome, &s.Unverified, &rcpts, &s.Size); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("feedback: read report: %w", err)
	}
	s.ReceivedAt, s.Kind = db.Time(at), bounce.Kind(kind)
	if err := json.Unmarshal([]byte(rcpts), &s.Recipients); err != nil {
		return nil, fmt.Errorf("feedback: read report %d: %w", s.ID, err)
	}
	return s, nil
}
