package send

import (
	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/identity"
)

// The rules below decide how a message is authenticated: which verified
// identities cover its From address, which of them signs it with DKIM and
// which domain its envelope sender (MAIL FROM) has. Submit applies them;
// they are exported so that what reports on a domain's authentication
// (package readiness) uses the very same rules instead of a copy.

// Covering returns the verified identities among found (keyed by name, as
// Identities.GetMany returns them for identity.CoveringNames) that cover
// a, most specific first: the address, its domain, its parent domains.
func Covering(found map[string]*identity.Identity, a addr.Address) []*identity.Identity {
	return covering(found, a)
}

// covering is Covering.
func covering(found map[string]*identity.Identity, a addr.Address) []*identity.Identity {
	var out []*identity.Identity
	for _, n := range identity.CoveringNames(a.String(), a.Domain) {
		if i := found[n]; i != nil && i.VerifiedForSending() {
			out = append(out, i)
		}
	}
	return out
}

// EnvelopeDomain returns the domain of the envelope sender of mail whose
// From address the chain covers (Covering's order), by the custom MAIL
// FROM rules: the most specific identity of the chain with a MAIL FROM
// domain decides (by). Its domain is used when its state is Success;
// otherwise, and when no identity has one (by nil), defaultDomain is —
// unless by's behavior on MX failure is RejectMessage, which Submit turns
// into a rejection.
func EnvelopeDomain(chain []*identity.Identity, defaultDomain string) (domain string, by *identity.Identity) {
	for _, i := range chain {
		if i.MailFrom.Domain == "" {
			continue
		}
		if i.MailFrom.Status == identity.Success {
			return i.MailFrom.Domain, i
		}
		return defaultDomain, i
	}
	return defaultDomain, nil
}

// SigningIdentity returns the identity whose key DKIM-signs mail from the
// chain's address (Covering's order), or nil for no signature: none when
// the address identity's own switch is off; else the most specific domain
// identity with a DKIM setup whose switch is on and whose key is verified
// (Success). The signature's d= is that identity's domain.
func SigningIdentity(chain []*identity.Identity) *identity.Identity {
	for _, i := range chain {
		if i.Kind == identity.KindEmail {
			if !i.DKIM.SigningEnabled {
				return nil
			}
			continue
		}
		if i.DKIM.Origin == identity.OriginNone {
			continue
		}
		if !i.DKIM.SigningEnabled {
			return nil
		}
		if i.DKIM.Status == identity.Success {
			return i
		}
	}
	return nil
}
