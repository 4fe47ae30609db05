package send

import (
	"net/mail"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/compose"
)

// The address rules SES names when it refuses an address given as an API
// parameter (ses-api.md §12.1, 5; the texts of JavaMail's InternetAddress,
// which SES answers with verbatim).
const (
	ruleMissingDomainPart = "Missing final '@domain'"
	ruleMissingLocal      = "Missing local name"
	ruleMissingDomain     = "Missing domain"
	ruleLocalControl      = "Local address contains control or whitespace"
	ruleDomainControl     = "Domain contains control or whitespace"
	ruleLocalIllegal      = "Local address contains illegal character"
	ruleDomainIllegal     = "Domain contains illegal character"
	ruleIllegal           = "Illegal address"
)

// envelopeAddress is an address given as an API parameter: as given (for
// error messages and the mail object) and parsed.
type envelopeAddress struct {
	Given string
	Addr  addr.Address
}

// parseEnvelope parses an address given as an API parameter (Source,
// Destinations, ReturnPath, FeedbackForwardingEmailAddress, and the To, Cc
// and Bcc of Simple content): an addr-spec or a name-addr, 7-bit local part,
// domain normalised. A refusal is KindInvalid with SES's sentence.
func parseEnvelope(field, s string) (envelopeAddress, error) {
	if strings.ContainsAny(s, "\r\n") {
		return envelopeAddress{}, reject(KindInvalid, field, "%s", addressRule(s))
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return envelopeAddress{}, reject(KindInvalid, field, "%s", addressRule(s))
	}
	ad, err := addr.ParseAddress(a.Address)
	if err != nil {
		return envelopeAddress{}, reject(KindInvalid, field, "%s", addressRule(a.Address))
	}
	return envelopeAddress{Given: strings.TrimSpace(s), Addr: ad}, nil
}

// addressRule names, in SES's words, what is wrong with an address that
// did not parse.
func addressRule(s string) string {
	spec := strings.TrimSpace(s)
	if i := strings.LastIndexByte(spec, '<'); i >= 0 {
		j := strings.IndexByte(spec[i:], '>')
		if j < 0 {
			return ruleIllegal
		}
		spec = spec[i+1 : i+j]
	}
	at := strings.LastIndexByte(spec, '@')
	if at < 0 {
		return ruleMissingDomainPart
	}
	local, dom := spec[:at], spec[at+1:]
	switch {
	case local == "":
		return ruleMissingLocal
	case dom == "":
		return ruleMissingDomain
	case hasControlOrSpace(local):
		return ruleLocalControl
	case hasControlOrSpace(dom):
		return ruleDomainControl
	case !onlyBytes(local, isLocalChar):
		return ruleLocalIllegal
	case !onlyBytes(dom, isDomainChar):
		return ruleDomainIllegal
	}
	return ruleIllegal
}

func hasControlOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func onlyBytes(s string, ok func(c byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// isLocalChar: RFC 5322 atext and the dot.
func isLocalChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isDomainChar: letters, digits, hyphen and dot (and UTF-8, which IDNA may
// turn into A-labels).
func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c >= 0x80
}

// DefaultSimulatorDomains returns the mailbox simulator's domains:
// simulator.amazonses.com (so existing SES test code works unchanged) and
// simulator.<service domain>.
func DefaultSimulatorDomains(serviceDomain string) []string {
	return []string{"simulator.amazonses.com", "simulator." + strings.ToLower(strings.TrimSuffix(serviceDomain, "."))}
}

// NewMessageID returns a MessageId in SES's format: compose.NewMessageID.
func NewMessageID(now time.Time) string { return compose.NewMessageID(now) }
