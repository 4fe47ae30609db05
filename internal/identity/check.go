package identity

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// ErrStale reports that an identity changed (or vanished) while it was
// being checked; the result was discarded and the identity stays due.
var ErrStale = errors.New("identity: changed during the check")

// Due returns up to limit identities whose next check time has come,
// the longest-waiting first.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]*Identity, error) {
	return s.query(ctx, `SELECT `+columns+` FROM identities WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, id LIMIT ?`, db.Millis(now), limit)
}

// CheckResult is what the DNS checker found for one identity at one time.
// Observations left at NoEvidence move nothing.
type CheckResult struct {
	IdentityID int64
	Version    int64 // the Version of the identity that was checked
	At         time.Time

	Verification       Observation
	VerificationDetail string
	VerificationError  string // SES v2 VerificationError, "" when none

	DKIM       Observation
	DKIMDetail string
	// Ed25519 is whether the Easy DKIM Ed25519 token's CNAME is published
	// (it does not decide the DKIM status: it is optional).
	Ed25519 Observation

	MailFromDomain string // the MAIL FROM domain that was checked
	MailFrom       Observation
	MailFromDetail string

	Window   time.Duration // how long Pending/TemporaryFailure may last before Failed
	Interval time.Duration // when to check again
}

// Record applies a check result: steps each status machine, records every
// transition with its time and reason, stores what was found, and
// schedules the next check — all in one transaction. A domain whose
// verification reaches Success takes, in that transaction, the custom MAIL
// FROM domains other accounts set under it (see failBorrowed). It returns
// the transitions made, those of other identities included. A result for
// an older version of the identity is discarded with ErrStale, and so is
// one that would verify a domain while another transaction holds the
// ownership lock (the check is made again).
func (s *Store) Record(ctx context.Context, r CheckResult) ([]Transition, error) {
	var out []Transition
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		out = out[:0]
		i, err := getForUpdate(ctx, tx, `id = ?`, r.IdentityID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrStale
		}
		if err != nil {
			return fmt.Errorf("identity: record check: %w", err)
		}
		if i.Version != r.Version {
			return ErrStale
		}
		add := func(attr Attribute, from, to Status, reason string) error {
			out = append(out, Transition{IdentityID: i.ID, AccountID: i.AccountID, Identity: i.Name, Attribute: attr, From: from, To: to, Reason: reason, At: r.At})
			return s.addTransition(ctx, tx, i, attr, from, to, reason, r.At)
		}

		vWindow := r.Window
		if i.Kind == KindEmail {
			vWindow = s.opts.AddressLinkValidity
		}
		verified := false // a domain's verification reached Success
		if to, reason, ok := Step(i.Verification, i.VerificationSince, r.Verification, r.VerificationDetail, r.At, vWindow); ok {
			if err := add(AttrVerification, i.Verification, to, reason); err != nil {
				return err
			}
			i.Verification, i.VerificationSince = to, r.At
			verified = to == Success && i.Kind == KindDomain
		}
		if r.Verification == Present {
			i.LastSuccessAt = r.At
		}
		if r.Verification != NoEvidence || r.VerificationError != "" {
			i.VerificationError = r.VerificationError
		}
		if i.DKIM.Origin != OriginNone {
			if to, reason, ok := Step(i.DKIM.Status, i.DKIM.Since, r.DKIM, r.DKIMDetail, r.At, r.Window); ok {
				if err := add(AttrDKIM, i.DKIM.Status, to, reason); err != nil {
					return err
				}
				i.DKIM.Status, i.DKIM.Since = to, r.At
			}
			if r.DKIMDetail != "" {
				i.DKIM.Diagnostic = r.DKIMDetail
			}
			if r.Ed25519 != NoEvidence {
				i.DKIM.Ed25519Published = r.Ed25519 == Present
			}
		}
		if i.MailFrom.Domain != "" && i.MailFrom.Domain == r.MailFromDomain {
			if to, reason, ok := Step(i.MailFrom.Status, i.MailFrom.Since, r.MailFrom, r.MailFromDetail, r.At, r.Window); ok {
				if err := add(AttrMailFrom, i.MailFrom.Status, to, reason); err != nil {
					return err
				}
				i.MailFrom.Status, i.MailFrom.Since = to, r.At
			}
			if r.MailFromDetail != "" {
				i.MailFrom.Diagnostic = r.MailFromDetail
			}
		}
		next := s.nextCheck(i, r.At, r.Interval)
		_, err = tx.Exec(ctx, `UPDATE identities SET verification_status = ?, verification_since = ?, verification_error = ?, last_checked_at = ?, last_success_at = ?,
			dkim_status = ?, dkim_since = ?, dkim_diagnostic = ?, dkim_ed25519_published = ?, mail_from_status = ?, mail_from_since = ?, mail_from_diagnostic = ?, next_check_at = ? WHERE id = ?`,
			string(i.Verification), db.Millis(i.VerificationSince), i.VerificationError, db.Millis(r.At), db.Millis(i.LastSuccessAt),
			string(i.DKIM.Status), db.Millis(i.DKIM.Since), i.DKIM.Diagnostic, i.DKIM.Ed25519Published, string(i.MailFrom.Status), db.Millis(i.MailFrom.Since), i.MailFrom.Diagnostic, next, i.ID)
		if err != nil {
			return fmt.Errorf("identity: record check: %w", err)
		}
		if !verified {
			return nil
		}
		// After the update: the ownership check reads i's new status.
		if ok, err := tryLockOwnership(ctx, tx); err != nil || !ok {
			return cmp.Or(err, ErrStale)
		}
		failed, err := s.failBorrowed(ctx, tx, i, r.At)
		out = append(out, failed...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// nextCheck returns when to check the identity again (Unix ms), or nil
// when nothing about it can change through DNS any more.
func (s *Store) nextCheck(i *Identity, now time.Time, interval time.Duration) any {
	live := func(st Status) bool { return st == Pending || st == Success || st == TemporaryFailure }
	if i.Kind == KindEmail {
		switch {
		case i.MailFrom.Domain != "" && live(i.MailFrom.Status):
			return db.Millis(now.Add(interval))
		case i.Verification == Pending:
			return db.Millis(i.VerificationSince.Add(s.opts.AddressLinkValidity))
		}
		return nil
	}
	if live(i.Verification) || (i.DKIM.Origin != OriginNone && live(i.DKIM.Status)) || (i.MailFrom.Domain != "" && live(i.MailFrom.Status)) {
		return db.Millis(now.Add(interval))
	}
	return nil
}
