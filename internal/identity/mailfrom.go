package identity

import (
	"context"
	"fmt"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
)

// The v2 spellings of the behaviours on MX failure (BehaviorOnMxFailure).
const (
	UseDefaultValueV2 = "USE_DEFAULT_VALUE"
	RejectMessageV2   = "REJECT_MESSAGE"
)

// ParseBehaviorV2 reads a behaviour on MX failure in SES v2's spelling
// ("" means USE_DEFAULT_VALUE), the rule of v2
// PutEmailIdentityMailFromAttributes and of the console's form; field
// names the parameter in the error.
func ParseBehaviorV2(field, v string) (Behavior, error) {
	switch v {
	case "", UseDefaultValueV2:
		return UseDefaultValue, nil
	case RejectMessageV2:
		return RejectMessage, nil
	}
	return "", invalid(field, "Invalid value %q for %s: must be one of %s, %s.", v, field, UseDefaultValueV2, RejectMessageV2)
}

// MailFromNotVerifiedMessage is the sentence SetMailFrom's ErrNotVerified
// is answered with, for the identity name (v2 and the console).
func MailFromNotVerifiedMessage(name string) string {
	return fmt.Sprintf("Identity %s is not verified; verify it before setting a custom MAIL FROM domain.", name)
}

// SetMailFrom sets, changes or (with mailFrom "") clears an identity's
// custom MAIL FROM domain and its behaviour on MX failure (v1
// SetIdentityMailFromDomain, v2 PutEmailIdentityMailFromAttributes).
//
// The domain must be a valid host name, a subdomain of the identity's
// domain (for an address, of the address's domain) and not that domain
// itself, and not equal to or under a domain another account has verified
// (see ownership.go); the identity must exist (ErrNotFound) and be
// verified (ErrNotVerified). A new domain, or the same one after Failed,
// starts at Pending; re-setting the domain in place only changes the
// behaviour. Nothing is written when any rule is broken.
func (s *Store) SetMailFrom(ctx context.Context, accountID, name, mailFrom string, behavior Behavior) error {
	if behavior == "" {
		behavior = UseDefaultValue
	}
	if behavior != UseDefaultValue && behavior != RejectMessage {
		return invalid("BehaviorOnMXFailure", "Invalid BehaviorOnMXFailure %q: must be one of UseDefaultValue, RejectMessage.", behavior)
	}
	i, err := s.Get(ctx, accountID, name)
	if err != nil {
		return err
	}
	var d string
	if mailFrom != "" {
		d, err = addr.Domain(mailFrom)
		if err != nil {
			return invalid("MailFromDomain", "Invalid MAIL FROM domain %s.", errText(err))
		}
		if d == i.Domain {
			return invalid("MailFromDomain", "Provided MAIL-FROM domain '%s' must be a subdomain of the domain of the identity '%s', not that domain itself.", d, i.Domain)
		}
		if !addr.IsSubdomain(d, i.Domain) {
			return invalid("MailFromDomain", "Provided MAIL-FROM domain '%s' is not subdomain of the domain of the identity '%s'.", d, i.Domain)
		}
		if !i.VerifiedForSending() {
			return fmt.Errorf("%w: identity %s is not verified (status %s); verify it before setting a custom MAIL FROM domain", ErrNotVerified, i.Name, i.Verification)
		}
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if d != "" {
			if err := lockOwnership(ctx, tx); err != nil {
				return err
			}
			by, err := borrowedFrom(ctx, tx, accountID, d)
			if err != nil {
				return err
			}
			if by != "" {
				return invalid("MailFromDomain", "Invalid MailFromDomain '%s': the domain %s, which it equals or lies under, is verified by another account; a custom MAIL FROM domain must not be equal to or under a domain another account has verified.", d, by)
			}
		}
		if i, err = s.lock(ctx, tx, i); err != nil {
			return err
		}
		switch {
		case d == "":
			_, err = tx.Exec(ctx, `UPDATE identities SET mail_from_domain = '', mail_from_status = '', mail_from_since = 0, mail_from_diagnostic = '', mail_from_behavior = ?, version = version + 1 WHERE id = ?`,
				string(behavior), i.ID)
			if err == nil && i.MailFrom.Domain != "" {
				err = s.addTransition(ctx, tx, i, AttrMailFrom, i.MailFrom.Status, "", "custom MAIL FROM domain "+i.MailFrom.Domain+" removed", now)
			}
		case d == i.MailFrom.Domain && i.MailFrom.Status != Failed:
			_, err = tx.Exec(ctx, `UPDATE identities SET mail_from_behavior = ?, version = version + 1 WHERE id = ?`, string(behavior), i.ID)
		default:
			_, err = tx.Exec(ctx, `UPDATE identities SET mail_from_domain = ?, mail_from_status = ?, mail_from_since = ?, mail_from_diagnostic = '', mail_from_behavior = ?, version = version + 1, next_check_at = ? WHERE id = ?`,
				d, string(Pending), db.Millis(now), string(behavior), db.Millis(now), i.ID)
			if err == nil {
				from := i.MailFrom.Status
				if i.MailFrom.Domain != d {
					from = ""
				}
				err = s.addTransition(ctx, tx, i, AttrMailFrom, from, Pending, "custom MAIL FROM domain "+d+" set; waiting for its MX record", now)
			}
		}
		if err != nil {
			return fmt.Errorf("identity: set MAIL FROM: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.changed()
	return nil
}
