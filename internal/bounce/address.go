package bounce

import (
	"net/mail"
	"regexp"
	"strings"
)

// addrRe finds an email address in free text: a dot-atom or quoted local
// part (with '%' and other atext, as written by routing MTAs), '@', and a
// domain of at least two labels or an address literal.
var addrRe = regexp.MustCompile(`(?:"[^"\s@<>]{1,64}"|[A-Za-z0-9!#$%&'*+/=?^_{|}~-][A-Za-z0-9!#$%&'*+/=?^_{|}~.-]{0,127})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+|\[[0-9A-Fa-f.:]{3,45}\])`)

// cleanAddress returns the address in a DSN address field or a header
// value: an "rfc822;" style type is dropped, as are angle brackets,
// surrounding space and trailing punctuation; the domain is lower-cased.
// It returns "" when no usable address is there (see usable).
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ';'); i > 0 && !strings.ContainsAny(s[:i], "@<\"") {
		s = strings.TrimSpace(s[i+1:])
	}
	s = decodeXtext(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		} else {
			s = s[i+1:]
		}
	}
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ".,;:)>]'")
	s = strings.TrimLeft(s, "(<['")
	if !usable(s) {
		// A display name or comment around it: find one inside.
		if a := addrRe.FindString(s); a != "" && usable(a) {
			s = a
		} else {
			return ""
		}
	}
	return normalize(s)
}

// normalize lower-cases the domain of an address.
func normalize(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a
	}
	return a[:i+1] + strings.ToLower(a[i+1:])
}

// usable reports whether a is an address mail can be sent to: a non-empty
// local part without spaces, and a domain with at least two labels or an
// address literal.
func usable(a string) bool {
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 || len(a) > 320 {
		return false
	}
	local, domain := a[:i], a[i+1:]
	if strings.ContainsAny(a, " \t\r\n<>,") && !strings.HasPrefix(local, "\"") {
		return false
	}
	if strings.HasPrefix(local, "/") || strings.HasPrefix(local, "|") {
		return false
	}
	if strings.HasPrefix(domain, "[") {
		return strings.HasSuffix(domain, "]")
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	return true
}

// decodeXtext undoes the "\x{HH}" escapes of RFC 6533's
// utf-8-addr-xtext, leaving anything malformed as it is. (RFC 3461's
// "+HH" is left alone: it cannot be told from a '+' in a local part.)
func decodeXtext(s string) string {
	if !strings.Contains(s, `\x{`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], `\x{`) {
			if j := strings.IndexByte(s[i:], '}'); j > 3 && j <= 9 {
				var r rune
				ok := true
				for _, c := range []byte(s[i+3 : i+j]) {
					if !isHex(c) {
						ok = false
						break
					}
					r = r<<4 | rune(unhex(c))
				}
				if ok {
					b.WriteRune(r)
					i += j
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// headerAddresses returns the usable addresses of an address-list header
// value, normalised. It falls back to a plain scan when the value does
// not parse as an address list.
func headerAddresses(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if usable(a.Address) {
				out = append(out, normalize(a.Address))
			}
		}
		return out
	}
	for _, a := range addrRe.FindAllString(v, 50) {
		if usable(a) {
			out = append(out, normalize(a))
		}
	}
	return out
}

// firstAddress returns the first usable address of a header value, or "".
func firstAddress(v string) string {
	if as := headerAddresses(v); len(as) > 0 {
		return as[0]
	}
	return ""
}

// daemonLocals are local parts that name a mail system rather than a
// person: the senders of bounces.
// (compared without '-', '_' and '.').
var daemonLocals = map[string]bool{
	"mailerdaemon": true, "maildaemon": true, "postmaster": true, "mdaemon": true,
	"maildelivery": true, "mailer": true, "maildeliverysystem": true, "maildeliverysubsystem": true,
	"bounce": true, "bounces": true, "daemon": true,
}

// isDaemon reports whether a is a mail system's address (MAILER-DAEMON,
// postmaster, post_master...).
func isDaemon(a string) bool {
	local := a
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		local = a[:i]
	}
	local = strings.NewReplacer("-", "", "_", "", ".", "").Replace(strings.ToLower(local))
	return daemonLocals[local]
}
