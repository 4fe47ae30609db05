package origin

import (
	"errors"
	"strings"

	"golang.org/x/net/idna"
)

// signerAliases lists, per provider domain (the organisational domain of a
// recipient domain's MX host), the other domains that provider signs its
// reports with. It is deliberately tiny: every entry is a domain whose
// signature the provider's own mail system makes, and never one its users
// can have on mail they write themselves.
//
//   - google.com (Gmail and Google Workspace MX, aspmx.l.google.com): Gmail's
//     delivery status notifications come from mailer-daemon@googlemail.com
//     signed d=googlemail.com. gmail.com is NOT listed: every Gmail user's
//     own mail is signed d=gmail.com, so a co-recipient with a Gmail address
//     could sign a forged report (and replay it with a null sender).
//   - yahoodns.net (Yahoo and AOL MX, mta*.am0.yahoodns.net): Yahoo's
//     bounces are signed d=yahoo.com. (Yahoo's users sign d=yahoo.com too:
//     which is why a signature counts only over a report From a role
//     address.) Yahoo's complaint feedback loop, which serves the AOL and
//     other Yahoo-hosted domains too, sends from
//     feedback@arf.mail.yahoo.com: that exact name is listed, so its From
//     is on the side of every domain whose MX is Yahoo's. aol.com is not
//     listed: recipients at aol.com are covered by their own domain.
//
// An alias counts exactly, like a provider domain: a name under it is not
// the provider's own.
//
// Microsoft needs no entry: its MX hosts (*.mail.protection.outlook.com)
// make outlook.com a provider domain, its bounces leave from
// *.outbound.protection.outlook.com (forward-confirmed reverse DNS) and are
// signed by the tenant's domain or d=outlook.com. Subdomains of
// onmicrosoft.com are NOT accepted: anyone can create a tenant there.
var signerAliases = map[string][]string{
	"google.com":   {"googlemail.com"},
	"yahoodns.net": {"yahoo.com", "arf.mail.yahoo.com"},
}

// normDomain returns a domain name lower-cased, in ASCII (A-label) form,
// without a trailing dot, or an error if it is not a syntactically valid
// host name.
func normDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if d == "" {
		return "", errors.New("empty domain")
	}
	for _, c := range d {
		if c >= 0x80 {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", errors.New("not a valid domain name")
			}
			d = a
			break
		}
	}
	if len(d) > 253 {
		return "", errors.New("not a valid domain name")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", errors.New("not a valid domain name")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("not a valid domain name")
			}
		}
	}
	return d, nil
}

// under reports whether name is parent or a subdomain of it. Both must be
// normalised (lower case, no trailing dot).
func under(name, parent string) bool {
	return name == parent || strings.HasSuffix(name, "."+parent)
}

// domainOf returns the normalised domain of an address "local@domain".
func domainOf(addr string) (string, error) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", errors.New("no domain")
	}
	return normDomain(strings.TrimSuffix(addr[i+1:], ">"))
}
