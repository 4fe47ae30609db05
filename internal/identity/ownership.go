package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// Who may use a custom MAIL FROM domain. SES lets an address identity use
// a MAIL FROM domain under its address's domain, and so does Sesame; but a
// domain that another account has verified as a domain identity belongs
// to that account: a MAIL FROM domain equal to or under it is refused
// (SetMailFrom), and one set before that account verified its domain goes
// to Failed in the transaction that verifies it (Record). Sends read the
// MAIL FROM status, so none can use a borrowed domain once the owner's
// verification is committed. An account that has verified the same
// domain itself, or a more specific one covering the MAIL FROM domain,
// keeps its MAIL FROM domain.

// ownershipLock is the PostgreSQL advisory lock that orders the MAIL FROM
// ownership checks of SetMailFrom against Record's verification of a
// domain: without it, under READ COMMITTED, each could miss the other's
// uncommitted write. SQLite's writers exclude each other already.
const ownershipLock = 7305143

// lockOwnership takes the ownership lock in tx, waiting for it. Take it
// before any row lock (SetMailFrom), so that it never waits while holding
// one a holder of this lock may need.
func lockOwnership(ctx context.Context, tx *db.Tx) error {
	if tx.Dialect() != db.Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, ownershipLock); err != nil {
		return fmt.Errorf("identity: MAIL FROM ownership lock: %w", err)
	}
	return nil
}

// tryLockOwnership takes the ownership lock in tx without waiting, for a
// transaction that already holds a row lock (Record); false means another
// transaction holds it.
func tryLockOwnership(ctx context.Context, tx *db.Tx) (bool, error) {
	if tx.Dialect() != db.Postgres {
		return true, nil
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(?)`, ownershipLock).Scan(&ok); err != nil {
		return false, fmt.Errorf("identity: MAIL FROM ownership lock: %w", err)
	}
	return ok, nil
}

// borrowedFrom returns the domain under which mailFrom belongs to another
// account than accountID — the most specific domain identity covering
// mailFrom (equal to it or a parent) that another account has verified,
// when accountID has not verified that domain or a more specific one
// covering mailFrom itself — or "" when accountID may use mailFrom.
func borrowedFrom(ctx context.Context, q db.Querier, accountID, mailFrom string) (string, error) {
	var names []any
	for d := mailFrom; strings.Contains(d, "."); d = d[strings.IndexByte(d, '.')+1:] {
		names = append(names, d)
	}
	if len(names) == 0 {
		return "", nil
	}
	rows, err := q.Query(ctx, `SELECT account_id, name FROM identities WHERE kind = ? AND verification_status = ? AND name IN (?`+strings.Repeat(", ?", len(names)-1)+`)`,
		append([]any{string(KindDomain), string(Success)}, names...)...)
	if err != nil {
		return "", fmt.Errorf("identity: owners of %s: %w", mailFrom, err)
	}
	defer rows.Close()
	var own, other string // the most specific (longest) of each
	for rows.Next() {
		var acct, name string
		if err := rows.Scan(&acct, &name); err != nil {
			return "", fmt.Errorf("identity: owners of %s: %w", mailFrom, err)
		}
		if acct == accountID {
			own = longer(own, name)
		} else {
			other = longer(other, name)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("identity: owners of %s: %w", mailFrom, err)
	}
	if len(other) > len(own) {
		return other, nil
	}
	return "", nil
}

func longer(a, b string) string {
	if len(b) > len(a) {
		return b
	}
	return a
}

// borrowedReason is the reason recorded when a MAIL FROM domain goes to
// Failed because domain is verified by another account (whose name it
// does not give).
func borrowedReason(domain string) string {
	return fmt.Sprintf("the domain %s is verified by another account", domain)
}

// failBorrowed, in the transaction that verified domain identity owner,
// moves to Failed every other account's custom MAIL FROM domain equal to
// or under owner's domain that the other account does not own itself
// (borrowedFrom), recording each transition with its reason; the
// notifier tells those accounts. Each changed identity's version is
// bumped, so a check of it already under way is discarded.
func (s *Store) failBorrowed(ctx context.Context, tx *db.Tx, owner *Identity, at time.Time) ([]Transition, error) {
	q := `SELECT ` + columns + ` FROM identities WHERE account_id <> ? AND mail_from_domain <> '' AND mail_from_status <> ? AND (mail_from_domain = ? OR mail_from_domain LIKE ? ESCAPE '\')`
	if tx.Dialect() == db.Postgres {
		q += ` FOR UPDATE`
	}
	found, err := queryIn(ctx, tx, q, owner.AccountID, string(Failed), owner.Domain, "%."+escapeLike(owner.Domain))
	if err != nil {
		return nil, fmt.Errorf("identity: MAIL FROM domains under %s: %w", owner.Domain, err)
	}
	var out []Transition
	for _, i := range found {
		by, err := borrowedFrom(ctx, tx, i.AccountID, i.MailFrom.Domain)
		if err != nil {
			return nil, err
		}
		if by == "" {
			continue
		}
		reason := borrowedReason(by)
		if _, err := tx.Exec(ctx, `UPDATE identities SET mail_from_status = ?, mail_from_since = ?, mail_from_diagnostic = ?, version = version + 1 WHERE id = ?`,
			string(Failed), db.Millis(at), reason, i.ID); err != nil {
			return nil, fmt.Errorf("identity: fail borrowed MAIL FROM of %s: %w", i.Name, err)
		}
		if err := s.addTransition(ctx, tx, i, AttrMailFrom, i.MailFrom.Status, Failed, reason, at); err != nil {
			return nil, err
		}
		out = append(out, Transition{IdentityID: i.ID, AccountID: i.AccountID, Identity: i.Name, Attribute: AttrMailFrom, From: i.MailFrom.Status, To: Failed, Reason: reason, At: at})
	}
	return out, nil
}

// escapeLike escapes LIKE's wildcards (and the escape character '\').
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
