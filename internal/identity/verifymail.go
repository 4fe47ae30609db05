package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// Mail is a message Sesame sends on an account's behalf to one address:
// the address verification mail. It counts against the account's daily
// quota like the account's own mail.
type Mail struct {
	AccountID string
	To        string
	Subject   string
	Body      string
}

// The limits on verification mail (ses-api.md is silent on them; see
// README "Behaviour where SES is silent"); Options may change them.
const (
	DefaultVerificationCooldown    = 5 * time.Minute
	DefaultVerificationMailsPerDay = 50
)

// The verification-mail refusals, matched with errors.Is through a
// *LimitError.
var (
	// ErrThrottled: a verification mail went to this address less than
	// the cooldown ago (v1 Throttling, v2 TooManyRequestsException).
	ErrThrottled = errors.New("identity: verification mail throttled")
	// ErrLimitExceeded: the account's verification mails in the last 24
	// hours reached the cap (v1 LimitExceeded, v2 LimitExceededException).
	ErrLimitExceeded = errors.New("identity: verification mail limit exceeded")
)

// LimitError is a refused verification mail: Msg is the sentence for the
// client (it names the field and the rule); it wraps ErrThrottled or
// ErrLimitExceeded.
type LimitError struct {
	Err error
	Msg string
}

func (e *LimitError) Error() string { return e.Msg }

// Unwrap returns ErrThrottled or ErrLimitExceeded.
func (e *LimitError) Unwrap() error { return e.Err }

// newAddressToken returns a new address verification link's secret and
// what is stored of it: its SHA-256.
func newAddressToken() (secret, stored string) {
	secret = hex.EncodeToString(randomToken(24))
	return secret, tokenHash(secret)
}

// tokenHash is the stored form of a link secret: SHA-256, in hex. The
// secret is 192 random bits, so no salt or slow hash is needed.
func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// admitVerification applies, before the transaction that queues it, the
// limits on one more verification mail of accountID to address: the
// resend cooldown and the daily cap (both checked again inside that
// transaction, see queueVerificationMail), then the account's daily quota
// and sending rate (Options.Admit). It returns the function to call once,
// with whether the mail was queued. Without Options.Mail no mail is sent,
// and nothing is limited.
func (s *Store) admitVerification(ctx context.Context, accountID, address string) (func(queued bool), error) {
	none := func(bool) {}
	if s.opts.Mail == nil {
		return none, nil
	}
	if err := s.checkVerificationLimits(ctx, s.db, accountID, address, s.now()); err != nil {
		return nil, err
	}
	if s.opts.Admit == nil {
		return none, nil
	}
	done, err := s.opts.Admit(ctx, accountID, 1)
	if err != nil {
		return nil, fmt.Errorf("identity: verification mail to %s: %w", address, err)
	}
	return done, nil
}

// checkVerificationLimits refuses a verification mail of accountID to
// address at now when one went to the same address (compared without
// case: local parts that differ only in case reach one mailbox almost
// everywhere) less than the cooldown ago, or when the account's mails in
// the last 24 hours reached the cap.
func (s *Store) checkVerificationLimits(ctx context.Context, q db.Querier, accountID, address string, now time.Time) error {
	var last int64
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(sent_at), 0) FROM verification_mails WHERE account_id = ? AND recipient = ?`,
		accountID, strings.ToLower(address)).Scan(&last)
	if err != nil {
		return fmt.Errorf("identity: verification mails: %w", err)
	}
	cool := s.opts.VerificationCooldown
	if last > 0 && now.Sub(db.Time(last)) < cool {
		// Only what is true whatever happened since: the link of that
		// mail may be dead (the identity deleted, or failed by an upgrade).
		return &LimitError{Err: ErrThrottled, Msg: fmt.Sprintf("Rate exceeded: a verification email was sent to %s less than %s ago; ask again after %s (EmailAddress: at most one verification email to an address every %s).",
			address, cool, db.Time(last).Add(cool).Format(time.RFC3339), cool)}
	}
	var n int
	err = q.QueryRow(ctx, `SELECT COUNT(*) FROM verification_mails WHERE account_id = ? AND sent_at > ?`,
		accountID, db.Millis(now.Add(-24*time.Hour))).Scan(&n)
	if err != nil {
		return fmt.Errorf("identity: verification mails: %w", err)
	}
	if limit := s.opts.VerificationMailsPerDay; n >= limit {
		return &LimitError{Err: ErrLimitExceeded, Msg: fmt.Sprintf("Daily limit exceeded: %d verification emails were sent for this account in the last 24 hours (EmailAddress: at most %d verification emails per account in any 24 hours).",
			n, limit)}
	}
	return nil
}

// queueVerificationMail queues, in tx, the verification mail of address
// identity i with the link carrying secret, and records it for the
// limits, which it checks again first under a lock of the account's row
// (PostgreSQL; SQLite's writers exclude each other already), so that
// concurrent requests cannot pass them together. The lock is FOR NO KEY
// UPDATE: tx has already written rows that reference the account (the
// identity, its transition), whose foreign-key checks hold FOR KEY SHARE
// on the account row, and FOR UPDATE would wait for every other such
// transaction's share while they wait for its own — a deadlock. NO KEY
// UPDATE excludes only its like (and writers of the row), not those
// shares. Without Options.Mail it does nothing.
func (s *Store) queueVerificationMail(ctx context.Context, tx *db.Tx, i *Identity, secret string) error {
	if s.opts.Mail == nil {
		return nil
	}
	now := s.now()
	if err := tx.LockAccount(ctx, i.AccountID); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := s.checkVerificationLimits(ctx, tx, i.AccountID, i.Name, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO verification_mails (account_id, recipient, sent_at) VALUES (?, ?, ?)`,
		i.AccountID, strings.ToLower(i.Name), db.Millis(now)); err != nil {
		return fmt.Errorf("identity: record verification mail: %w", err)
	}
	keep := max(24*time.Hour, s.opts.VerificationCooldown)
	if _, err := tx.Exec(ctx, `DELETE FROM verification_mails WHERE account_id = ? AND sent_at < ?`, i.AccountID, db.Millis(now.Add(-keep))); err != nil {
		return fmt.Errorf("identity: forget old verification mails: %w", err)
	}
	link := s.verifyLink(secret)
	region := strings.ToUpper(s.opts.Region)
	m := Mail{AccountID: i.AccountID, To: i.Name,
		Subject: fmt.Sprintf("Sesame - Email Address Verification Request in region %s", region),
		Body: fmt.Sprintf(`Dear Sesame customer,

We have received a request to authorize this email address for use with Sesame (an Amazon SES-compatible service) in region %s. If you requested this verification, please go to the following URL to confirm that you are authorized to use this email address:

%s

Your request will not be processed unless you confirm the address using this URL. This link expires %s after your original verification request.

If you did NOT request to verify this email address, do not click on the link.
`, region, link, validity(s.opts.AddressLinkValidity))}
	if err := s.opts.Mail(ctx, tx, m); err != nil {
		return fmt.Errorf("identity: queue verification mail to %s: %w", i.Name, err)
	}
	return nil
}

// validity words a link's lifetime for the mail: "24 hours", not
// "24h0m0s".
func validity(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// verifyLink is the URL of the /verify page for a link secret.
func (s *Store) verifyLink(secret string) string {
	return strings.TrimSuffix(s.opts.VerifyURL, "/") + "/verify?token=" + secret
}
