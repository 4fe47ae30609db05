// Package addr parses and normalises the names Sesame deals in: domains
// (internationalised names are converted to A-labels, everything is
// lower-cased) and email addresses (the local part keeps its case, the
// domain is normalised). It does no I/O.
package addr

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// MaxDomainLength is the longest domain name, in octets, without the
// trailing dot (RFC 1035 §2.3.4, as SES applies it).
const MaxDomainLength = 253

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("invalid")

// Error is a parse error with a message that names the rule broken.
type Error struct {
	Input string
	Rule  string
}

func (e *Error) Error() string { return fmt.Sprintf("%q is not valid: %s", e.Input, e.Rule) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

var profile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(false), // checked below with our own messages
)

// Domain parses a domain name as SES accepts it for an identity or a MAIL
// FROM domain: two or more labels, each 1-63 octets of letters, digits and
// hyphens, not starting or ending with a hyphen, 253 octets at most in
// all. A trailing dot is accepted and removed. Unicode names are converted
// to A-labels (IDNA 2008, as for lookup). The result is lower-case ASCII.
func Domain(s string) (string, error) {
	in := s
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return "", &Error{in, "the domain is empty"}
	}
	if strings.ContainsAny(s, " \t\r\n@/\\") {
		return "", &Error{in, "a domain may contain only letters, digits, hyphens and dots"}
	}
	ascii := strings.ToLower(s)
	if !isASCII(ascii) {
		a, err := profile.ToASCII(s)
		if err != nil {
			return "", &Error{in, "it is not a valid internationalised domain name (" + err.Error() + ")"}
		}
		ascii = strings.ToLower(a)
	}
	if len(ascii) > MaxDomainLength {
		return "", &Error{in, fmt.Sprintf("a domain is at most %d characters long (this one has %d)", MaxDomainLength, len(ascii))}
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", &Error{in, "a domain needs at least two labels (like example.com)"}
	}
	for _, l := range labels {
		if err := checkLabel(l); err != "" {
			return "", &Error{in, err}
		}
	}
	if strings.Contains(ascii, "xn--") {
		if _, err := profile.ToUnicode(ascii); err != nil {
			return "", &Error{in, "it is not a valid internationalised domain name (" + err.Error() + ")"}
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", &Error{in, "the top-level label must not be all digits"}
	}
	return ascii, nil
}

func checkLabel(l string) string {
	switch {
	case l == "":
		return "a domain must not contain empty labels (two dots in a row, or a leading dot)"
	case len(l) > 63:
		return fmt.Sprintf("the label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Sprintf("the label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("the label %q contains %q; only letters, digits and hyphens are allowed", l, string(c))
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Address is a parsed email address.
type Address struct {
	Local  string // local part, case preserved
	Domain string // normalised domain (A-labels, lower-case)
}

// String returns local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// ParseAddress parses a bare email address (no display name, no angle
// brackets) as SES accepts it for an identity: a dot-atom local part of at
// most 64 printable ASCII characters and a valid domain (see Domain).
func ParseAddress(s string) (Address, error) {
	in := s
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return Address{}, &Error{in, "an email address needs an @ and a domain"}
	}
	local, dom := s[:at], s[at+1:]
	if dom == "" {
		return Address{}, &Error{in, "an email address needs a domain after the @"}
	}
	if err := checkLocal(local); err != "" {
		return Address{}, &Error{in, err}
	}
	d, err := Domain(dom)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Address{}, &Error{in, "its domain is not valid: " + e.Rule}
		}
		return Address{}, err
	}
	return Address{Local: local, Domain: d}, nil
}

// atext is RFC 5322 §3.2.3's atext.
const atextSpecials = "!#$%&'*+-/=?^_`{|}~"

func checkLocal(l string) string {
	switch {
	case l == "":
		return "the local part (before the @) is empty"
	case len(l) > 64:
		return "the local part (before the @) is longer than 64 characters"
	case l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, ".."):
		return "the local part must not start or end with a dot or contain two dots in a row"
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || strings.IndexByte(atextSpecials, c) >= 0 {
			continue
		}
		return fmt.Sprintf("the local part contains %q, which is not allowed in an address", string(c))
	}
	return ""
}

// IsSubdomain reports whether child is a proper subdomain of parent (both
// normalised): "bounce.example.com" is a subdomain of "example.com";
// "example.com" is not a subdomain of itself.
func IsSubdomain(child, parent string) bool {
	return len(child) > len(parent)+1 && strings.HasSuffix(child, "."+parent)
}
