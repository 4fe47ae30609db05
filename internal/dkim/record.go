package dkim

import (
	"errors"
	"fmt"
	"strings"
)

// ParseRecord parses a DKIM public-key TXT record ("v=DKIM1; k=rsa; p=...")
// into a map from tag name to value, for the checker to compare a published
// key with the stored one. If the record was published as several
// character-strings, join them first (net.LookupTXT does).
//
// Parsing follows the tag-list syntax of RFC 6376 section 3.2 and tolerates
// whitespace: it is trimmed around tag names and values, empty list elements
// (";;" or a trailing ";") are skipped, and since p= is base64, in which DKIM
// allows folding whitespace, all whitespace is removed from the value of p.
// Tag names are case-sensitive. Errors are returned for an empty record, an
// element without "=", an invalid tag name and a duplicated tag. ParseRecord
// checks syntax only; the caller judges the values (v=DKIM1, k=, p=).
func ParseRecord(txt string) (map[string]string, error) {
	tags := make(map[string]string)
	for elem := range strings.SplitSeq(txt, ";") {
		if isBlank(elem) {
			continue
		}
		name, value, ok := strings.Cut(elem, "=")
		if !ok {
			return nil, fmt.Errorf("dkim: record element %q has no '='", strings.TrimSpace(elem))
		}
		name = strings.Trim(name, wsp)
		if !validTagName(name) {
			return nil, fmt.Errorf("dkim: record has invalid tag name %q", name)
		}
		value = strings.Trim(value, wsp)
		if name == "p" {
			value = removeWhitespace(value)
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("dkim: record has duplicate tag %q", name)
		}
		tags[name] = value
	}
	if len(tags) == 0 {
		return nil, errors.New("dkim: empty record")
	}
	return tags, nil
}

// wsp is the whitespace ParseRecord tolerates: WSP and the CRLF of FWS.
const wsp = " \t\r\n"

func isBlank(s string) bool { return strings.Trim(s, wsp) == "" }

// validTagName reports whether s is an RFC 6376 tag-name:
// ALPHA *ALNUMPUNC, where ALNUMPUNC is ALPHA / DIGIT / "_".
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func removeWhitespace(s string) string {
	if !strings.ContainsAny(s, wsp) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range []byte(s) {
		if !strings.ContainsRune(wsp, rune(c)) {
			b.WriteByte(c)
		}
	}
	return b.String()
}
