package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// Custom verification links (SES SendCustomVerificationEmail). The mail
// itself is the caller's (package verifytemplate sends it through the
// admission door); this file keeps its link: a secret like the address
// verification link's (newAddressToken: 192 random bits, only its SHA-256
// stored), on the same /verify page, that leads the browser on to the
// template's success or failure URL.
//
// As in SES ("If you don't click the verification link, Amazon SES does
// not create a new identity", SES Developer Guide, custom verification
// email FAQ Q3), sending the mail creates no identity: following the link
// within AddressLinkValidity creates the account's address identity
// already verified, or verifies the one that exists in any other state.

// CustomLink is one custom verification link: the address it verifies for
// an account, the template that mailed it, and where the browser goes once
// it is followed (the template's URLs when the mail was sent).
type CustomLink struct {
	AccountID  string
	Address    string
	Template   string
	SuccessURL string
	FailureURL string
	CreatedAt  time.Time
}

// customLinkRetention is how long a link's row is kept after the link
// expired, so that a late click still leads to its template's failure URL
// rather than to Sesame's "unknown link" page.
const customLinkRetention = 30 * 24 * time.Hour

// IssueCustomLink stores a new link for l (AccountID, Address, Template and
// the URLs; CreatedAt is set to now) and returns its URL, and undo, which
// removes it again: the caller mails the URL, and calls undo when the mail
// was refused, so a refused send leaves nothing behind (a row whose secret
// nobody was told would be inert anyway). An address that does not parse →
// *InvalidError naming EmailAddress.
func (s *Store) IssueCustomLink(ctx context.Context, l CustomLink) (link string, undo func(context.Context) error, err error) {
	n, kind, _, err := Parse("EmailAddress", l.Address)
	if err != nil {
		return "", nil, err
	}
	if kind != KindEmail {
		return "", nil, invalid("EmailAddress", "Invalid email address <%s>: an email address needs an @ and a domain.", l.Address)
	}
	secret, hash := newAddressToken()
	now := s.now()
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO custom_verification_links (token_hash, account_id, address, template, success_url, failure_url, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, hash, l.AccountID, n, l.Template, l.SuccessURL, l.FailureURL, db.Millis(now)); err != nil {
			return fmt.Errorf("identity: store custom verification link: %w", err)
		}
		old := now.Add(-s.opts.AddressLinkValidity - customLinkRetention)
		if _, err := tx.Exec(ctx, `DELETE FROM custom_verification_links WHERE created_at < ?`, db.Millis(old)); err != nil {
			return fmt.Errorf("identity: forget old custom verification links: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	undo = func(ctx context.Context) error {
		if _, err := s.db.Exec(ctx, `DELETE FROM custom_verification_links WHERE token_hash = ?`, hash); err != nil {
			return fmt.Errorf("identity: remove custom verification link: %w", err)
		}
		return nil
	}
	return s.verifyLink(secret), undo, nil
}

// ConfirmCustomLink follows the custom verification link carrying secret.
// Within AddressLinkValidity of its mail, the link's address becomes a
// verified identity of its account: created when missing, taken to
// Success from any other state (each change recorded as a transition), left
// alone when verified already; following it again changes nothing. It
// returns the link, for its redirect URLs, and the identity. No link with
// this secret → ErrNotFound (it may be an address verification link:
// ConfirmAddress); a link past its validity → the link and an error
// matching ErrExpired, unless its address is verified by now (the
// identity and no error: the user followed an old link of an address that
// is verified, which is success).
func (s *Store) ConfirmCustomLink(ctx context.Context, secret string) (*CustomLink, *Identity, error) {
	if secret == "" {
		return nil, nil, fmt.Errorf("%w: empty token", ErrNotFound)
	}
	var (
		l       *CustomLink
		out     *Identity
		changed bool
	)
	confirm := func(tx *db.Tx) error {
		changed = false
		var (
			created int64
			found   CustomLink
		)
		l = nil
		err := tx.QueryRow(ctx, `SELECT account_id, address, template, success_url, failure_url, created_at FROM custom_verification_links WHERE token_hash = ?`,
			tokenHash(secret)).Scan(&found.AccountID, &found.Address, &found.Template, &found.SuccessURL, &found.FailureURL, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no custom verification link with this token", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("identity: custom verification link: %w", err)
		}
		found.CreatedAt = db.Time(created)
		l = &found
		now := s.now()
		cur, err := getForUpdate(ctx, tx, `account_id = ? AND name = ?`, l.AccountID, l.Address)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = nil
		case err != nil:
			return fmt.Errorf("identity: custom verification of %s: %w", l.Address, err)
		}
		if now.Sub(l.CreatedAt) >= s.opts.AddressLinkValidity {
			if cur != nil && cur.Verification == Success {
				out = cur
				return nil
			}
			return fmt.Errorf("%w: custom verification link of %s", ErrExpired, l.Address)
		}
		reason := fmt.Sprintf("custom verification link followed (template %s)", l.Template)
		if cur == nil {
			cur = s.newAddress(l.AccountID, l.Address, now)
			if err := s.insert(ctx, tx, cur, nil); err != nil {
				return err
			}
		}
		if cur.Verification != Success {
			if err := s.settleAddress(ctx, tx, cur, Success, reason, now); err != nil {
				return err
			}
			changed = true
		}
		if _, err := tx.Exec(ctx, `UPDATE custom_verification_links SET confirmed_at = ? WHERE token_hash = ? AND confirmed_at = 0`,
			db.Millis(now), tokenHash(secret)); err != nil {
			return fmt.Errorf("identity: custom verification link: %w", err)
		}
		out = cur
		return nil
	}
	err := s.db.InTx(ctx, confirm)
	if errors.Is(err, ErrAlreadyExists) { // created by a concurrent click: verify that one
		err = s.db.InTx(ctx, confirm)
	}
	if changed {
		s.changed()
	}
	if err != nil {
		return l, nil, err
	}
	return l, out, nil
}

// newAddress is a new Pending address identity, as Create makes one
// (without its verification mail: its token is never mailed).
func (s *Store) newAddress(accountID, address string, now time.Time) *Identity {
	_, domain, _ := strings.Cut(address, "@")
	_, token := newAddressToken()
	i := &Identity{AccountID: accountID, Name: address, Kind: KindEmail, Domain: domain, Version: 1, CreatedAt: now,
		Verification: Pending, VerificationSince: now, VerificationToken: token,
		DKIM:               DKIM{Status: NotStarted, SigningEnabled: true}, // an address signs with its domain's key
		FeedbackForwarding: true, NextCheckAt: now.Add(s.opts.AddressLinkValidity)}
	i.MailFrom.Behavior = UseDefaultValue
	return i
}

// Verified reports whether the account may send from address: whether a
// verified identity of the account covers it (the address itself, its
// domain or a parent domain), as the admission door checks a sender. An
// address that does not parse → *InvalidError naming field.
func (s *Store) Verified(ctx context.Context, accountID, field, address string) (bool, error) {
	n, kind, domain, err := Parse(field, address)
	if err != nil {
		return false, err
	}
	if kind != KindEmail {
		return false, invalid(field, "Invalid email address <%s>: an email address needs an @ and a domain.", address)
	}
	found, err := s.GetMany(ctx, accountID, CoveringNames(n, domain))
	if err != nil {
		return false, err
	}
	for _, i := range found {
		if i.VerifiedForSending() {
			return true, nil
		}
	}
	return false, nil
}

// CoveringNames returns the identity names that can cover the normalised
// address of domain: the address itself, its domain, then each parent
// domain of at least two labels, most specific first.
func CoveringNames(address, domain string) []string {
	out := []string{address}
	for d := domain; ; {
		out = append(out, d)
		_, parent, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(parent, ".") {
			return out
		}
		d = parent
	}
}

// DomainVerified reports whether a verified domain identity of the
// account covers domain (ASCII, lower case): the domain itself or a
// parent domain of at least two labels. It is what a configuration set's
// CustomRedirectDomain must satisfy (configset.Options.DomainVerified).
func (s *Store) DomainVerified(ctx context.Context, accountID, domain string) (bool, error) {
	found, err := s.GetMany(ctx, accountID, CoveringNames(domain, domain)[1:])
	if err != nil {
		return false, err
	}
	for _, i := range found {
		if i.Kind == KindDomain && i.VerifiedForSending() {
			return true, nil
		}
	}
	return false, nil
}
