// Package smtpcode holds SMTP replies as data: the basic reply code of
// RFC 5321 §4.2, the enhanced status code of RFC 3463 (RFC 2034 puts it
// at the start of the reply text), and the text, in one [Reply].
//
// Its rule is "temporary unless proven permanent": a Reply is Permanent
// only when it carries a 5yz code. Everything that is not a reply from an
// SMTP server -- a DNS failure, a refused or broken connection, a timeout,
// a reply that does not parse -- becomes a temporary Reply through
// [FromError], so that it is retried rather than bounced.
//
// [Judge] maps a failure reply onto the bounceType and bounceSubType of
// SES's Bounce event, and says whether it shows the address itself is bad
// (so that it belongs on the suppression list); [Classify] is its first
// half.
//
// The package is a leaf: pure functions over strings and errors, no I/O.
// deliver turns every delivery outcome into a Reply; smtpsubmit and
// feedback use it for the replies they send and read.
package smtpcode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reply is one SMTP reply, or an outcome expressed as one.
type Reply struct {
	// Code is the three-digit basic reply code (RFC 5321 §4.2).
	Code int
	// Enhanced is the enhanced status code class.subject.detail (RFC 3463
	// §2), or zero if the reply has none. When set, its class equals the
	// first digit of Code (RFC 2034 §4).
	Enhanced [3]int
	// Text is the reply text on one line: no CR or LF, no leading or
	// trailing space or tab. A multi-line reply's lines are joined with
	// single spaces, without their codes.
	Text string
	// Permanent reports a 5yz reply: retrying the same transaction will
	// fail again (RFC 5321 §4.2.1). Everything else is not permanent.
	Permanent bool
}

// New builds a Reply from its parts, as an SMTP client library hands them
// over (go-smtp's SMTPError: Code, EnhancedCode, Message). It applies the
// same rules as [Parse]: Permanent is set for 5yz codes; an enhanced code
// with a part out of range (go-smtp uses {-1,-1,-1} for "none") is
// dropped, and one whose class differs from the first digit of code is
// moved to the start of the text, where Parse would leave it; if enhanced is
// zero, one at the start of text is taken; text may have several lines
// (LF or CRLF), which are joined, dropping a leading copy of the enhanced
// code from each line after the first. code itself is not checked.
func New(code int, enhanced [3]int, text string) Reply {
	if !validEnhanced(code, enhanced) {
		if validEnhanced(enhanced[0]*100, enhanced) {
			// Well-formed but of another class: text, as Parse has it.
			text = fmt.Sprintf("%d.%d.%d %s", enhanced[0], enhanced[1], enhanced[2], text)
		}
		enhanced = [3]int{}
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(strings.TrimSuffix(l, "\r"), "\r", " ")
	}
	return build(code, enhanced, lines)
}

// Parse parses an SMTP reply as a server sends it:
//
//	550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown
//
// The enhanced code is optional. A multi-line reply (RFC 5321 §4.2.1) is
// accepted with its lines separated by CRLF or LF: every line but the last
// is "ddd-text", the last "ddd text" or "ddd", all with the same code. So is
// the form a client library makes of one, the first line with its code and
// the following ones as plain text ("550 5.1.1 first\n5.1.1 second"). The
// lines' texts are joined with single spaces; a line that starts with the
// reply's enhanced code has it removed. One trailing line break is allowed.
//
// The code must be three digits, the first 2 to 5, followed by a space, a
// hyphen or the end of the line; a bare CR is an error, as is a multi-line
// reply whose codes differ or that ends with a "ddd-" line. Text is
// otherwise taken as it is (UTF-8 per RFC 6531 or not).
func Parse(s string) (Reply, error) {
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if strings.Contains(l, "\r") {
			return Reply{}, fmt.Errorf("smtpcode: reply line %d has a bare CR", i+1)
		}
		lines[i] = l
	}

	code, more, text, err := parseLine(lines[0])
	if err != nil {
		return Reply{}, fmt.Errorf("smtpcode: %w in %q", err, clip(lines[0]))
	}
	lines[0] = text
	for i := 1; i < len(lines); i++ {
		if !more {
			// Plain text continuation lines; drop a copy of the code
			// if one is there anyway.
			if c, _, text, err := parseLine(lines[i]); err == nil && c == code {
				lines[i] = text
			}
			continue
		}
		c, m, text, err := parseLine(lines[i])
		if err != nil {
			return Reply{}, fmt.Errorf("smtpcode: reply line %d: %w in %q", i+1, err, clip(lines[i]))
		}
		if c != code {
			return Reply{}, fmt.Errorf("smtpcode: reply line %d has code %d; line 1 has %d", i+1, c, code)
		}
		if !m && i != len(lines)-1 {
			return Reply{}, fmt.Errorf("smtpcode: reply line %d ends the reply, but %d more lines follow", i+1, len(lines)-1-i)
		}
		more = m
		lines[i] = text
	}
	if more {
		return Reply{}, errors.New("smtpcode: multi-line reply ends with a continued line (\"ddd-\")")
	}
	return build(code, [3]int{}, lines), nil
}

// parseLine splits one reply line into its code, whether it is continued
// ("ddd-"), and its text.
func parseLine(l string) (code int, more bool, text string, err error) {
	if len(l) < 3 || l[0] < '2' || l[0] > '5' || !isDigit(l[1]) || !isDigit(l[2]) {
		return 0, false, "", errors.New("no reply code (three digits, the first 2 to 5)")
	}
	code = int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
	if len(l) == 3 {
		return code, false, "", nil
	}
	switch l[3] {
	case ' ':
		return code, false, l[4:], nil
	case '-':
		return code, true, l[4:], nil
	}
	return 0, false, "", errors.New("reply code not followed by a space, a hyphen or the end of the line")
}

// build makes a Reply from a code, an enhanced code and the text of each
// line. If enhanced is zero, the first non-empty line may start with one;
// later lines lose a leading copy of it (RFC 2034 §4 repeats the code on
// every line). Given an enhanced code, the first line is all text.
func build(code int, enhanced [3]int, lines []string) Reply {
	r := Reply{Code: code, Enhanced: enhanced, Permanent: code >= 500 && code <= 599}
	var texts []string
	first := true
	for _, l := range lines {
		l = strings.Trim(l, " \t")
		if l == "" {
			continue
		}
		if first {
			if r.Enhanced == ([3]int{}) {
				if e, rest, ok := cutEnhanced(code, l); ok {
					r.Enhanced, l = e, rest
				}
			}
			first = false
		} else if e, rest, ok := cutEnhanced(code, l); ok && e == r.Enhanced {
			l = rest
		}
		if l != "" {
			texts = append(texts, l)
		}
	}
	r.Text = strings.Join(texts, " ")
	return r
}

// cutEnhanced parses an enhanced status code at the start of s (RFC 3463
// §2: class "." subject "." detail, subject and detail of 1 to 3 digits),
// followed by a space, a tab or the end of s. The class must be the first
// digit of code (RFC 2034 §4). It returns the code and the rest of s,
// trimmed.
func cutEnhanced(code int, s string) ([3]int, string, bool) {
	tok, rest := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		tok, rest = s[:i], s[i:]
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[0]) != 1 {
		return [3]int{}, "", false
	}
	var e [3]int
	for i, p := range parts {
		if len(p) < 1 || len(p) > 3 {
			return [3]int{}, "", false
		}
		for _, c := range []byte(p) {
			if !isDigit(c) {
				return [3]int{}, "", false
			}
		}
		e[i], _ = strconv.Atoi(p)
	}
	if !validEnhanced(code, e) {
		return [3]int{}, "", false
	}
	return e, strings.Trim(rest, " \t"), true
}

// validEnhanced reports whether e can be the enhanced code of a reply with
// the given basic code: class 2, 4 or 5 equal to the code's first digit,
// subject and detail 0..999.
func validEnhanced(code int, e [3]int) bool {
	switch e[0] {
	case 2, 4, 5:
	default:
		return false
	}
	return e[0] == code/100 && code >= 200 && code <= 599 &&
		e[1] >= 0 && e[1] <= 999 && e[2] >= 0 && e[2] <= 999
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// String formats r as one reply line: "550 5.1.1 user unknown", without
// the enhanced code if it is zero and without the text if it is empty.
// It never contains CR or LF: any in Text become spaces. For a Reply that
// [Parse] returned, Parse(r.String()) gives r back.
func (r Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != ([3]int{}) {
		b.WriteByte(' ')
		b.WriteString(r.EnhancedString())
	}
	if r.Text != "" {
		b.WriteByte(' ')
		for _, c := range []byte(r.Text) {
			if c == '\r' || c == '\n' {
				c = ' '
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Error returns r.String(), so a Reply can travel as an error; [FromError]
// finds it again, wrapped or not.
func (r Reply) Error() string { return r.String() }

// EnhancedString returns the enhanced code as "5.1.1", or "" if it is zero.
func (r Reply) EnhancedString() string {
	if r.Enhanced == ([3]int{}) {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
}

// Status returns the RFC 3464 status of the reply, as SES's events carry it
// (bouncedRecipients[].status, delayedRecipients[].status): the enhanced
// code if there is one, else the class of the basic code with ".0.0"
// ("Other undefined status", RFC 3463 §3.1), and "" for a code outside
// 2yz, 4yz and 5yz.
func (r Reply) Status() string {
	if s := r.EnhancedString(); s != "" {
		return s
	}
	switch r.Code / 100 {
	case 2, 4, 5:
		return strconv.Itoa(r.Code/100) + ".0.0"
	}
	return ""
}
