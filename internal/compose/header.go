package compose

import (
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode encoded-words in any charset
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/sesame-email/sesame/internal/addr"
)

// field is a header field being written; value is unfolded.
type field struct{ name, value string }

// preferredLineLength is where header lines are folded when they can be
// (RFC 5322 §2.1.1 "SHOULD be no more than 78 characters").
const preferredLineLength = 78

// fold formats one header field, "Name: value" plus CRLF, folding it at
// white space so that lines stay within 78 characters where the value
// allows and never exceed MaxLineLength. Folding only inserts CRLF before
// an existing space or tab, so unfolding gives the value back exactly. It
// never folds where a line would be white space only.
//
// Folds outside quoted-strings are preferred (some readers mishandle a
// display name split over two lines); one inside is used only when no
// other fits.
func fold(name, value string) (string, bool) {
	s := name + ": " + value
	type cand struct {
		p      int
		quoted bool
	}
	var cands []cand // positions of WSP that may start a continuation line
	inQuote := false
	for p := len(name) + 2; p < len(s)-1; p++ {
		switch s[p] {
		case '\\':
			if inQuote {
				p++
			}
			continue
		case '"':
			inQuote = !inQuote
			continue
		}
		if isWSP(s[p]) && !isWSP(s[p-1]) && !isWSP(s[p+1]) {
			cands = append(cands, cand{p, inQuote})
		}
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/preferredLineLength*2 + 2)
	start, ok, next := 0, true, 0 // next: first candidate after start
	for len(s)-start > preferredLineLength {
		// The last candidate keeping the line within the preferred
		// length, outside quotes if possible; else the first one after.
		best, quoted := -1, -1
		for i := next; i < len(cands) && cands[i].p-start <= preferredLineLength; i++ {
			if cands[i].quoted {
				quoted = cands[i].p
			} else {
				best = cands[i].p
			}
		}
		if best < 0 {
			best = quoted
		}
		if best < 0 && next < len(cands) {
			best = cands[next].p
		}
		if best < 0 {
			break
		}
		for next < len(cands) && cands[next].p <= best {
			next++
		}
		if best-start > MaxLineLength {
			ok = false
		}
		b.WriteString(s[start:best])
		b.WriteString("\r\n")
		start = best
	}
	if len(s)-start > MaxLineLength {
		ok = false
	}
	b.WriteString(s[start:])
	b.WriteString("\r\n")
	return b.String(), ok
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// header turns fields into a go-message header that writes them in order,
// folded, with the names spelled exactly as given. errField names the
// Simple field to blame when a value cannot be folded.
func header(fs []field, errField func(name string) string) (textproto.Header, error) {
	var h textproto.Header
	// AddRaw puts each field above the previous ones: add in reverse.
	for i := len(fs) - 1; i >= 0; i-- {
		line, ok := fold(fs[i].name, fs[i].value)
		if !ok {
			return h, invalid(errField(fs[i].name), "The %s header cannot be folded into lines of at most %d characters; it needs spaces between long words.", fs[i].name, MaxLineLength)
		}
		h.AddRaw([]byte(line))
	}
	return h, nil
}

// parseMailbox parses one address as SES takes it in Source, Destination and
// ReplyToAddresses: an addr-spec or a name-addr, ASCII local part, domain
// normalised. what describes the field in messages ("To address").
func parseMailbox(fieldName, what, s string) (Mailbox, error) {
	if hasCRLF(s) {
		return Mailbox{}, invalid(fieldName, "%s must not contain CR or LF.", what)
	}
	if strings.TrimSpace(s) == "" {
		return Mailbox{}, invalid(fieldName, "%s must not be empty.", what)
	}
	a, err := gomail.ParseAddress(s)
	if err != nil {
		return Mailbox{}, invalid(fieldName, "%s %q is not a valid address: %s.", what, s, parseError(err))
	}
	return mailboxOf(fieldName, what, a.Name, a.Address)
}

// parseError is net/mail's error text without its package prefix.
func parseError(err error) string { return strings.TrimPrefix(err.Error(), "mail: ") }

func mailboxOf(fieldName, what, name, address string) (Mailbox, error) {
	if local, _, _ := strings.Cut(address, "@"); !isPrintableASCII(local) {
		return Mailbox{}, invalid(fieldName, "%s %q is not valid: the local part must be 7-bit ASCII (SES does not support SMTPUTF8).", what, address)
	}
	ad, err := addr.ParseAddress(address)
	if err != nil {
		var e *addr.Error
		if errors.As(err, &e) {
			return Mailbox{}, invalid(fieldName, "%s %q is not valid: %s.", what, address, e.Rule)
		}
		return Mailbox{}, invalid(fieldName, "%s %q is not valid.", what, address)
	}
	if hasCRLF(name) { // an encoded-word can decode to anything
		return Mailbox{}, invalid(fieldName, "The display name of %s must not contain CR or LF.", what)
	}
	return Mailbox{Name: name, Address: ad}, nil
}

// parseAddressList parses an address header of raw mail (groups allowed).
func parseAddressList(name, value string) ([]Mailbox, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	as, err := gomail.ParseAddressList(value)
	if err != nil {
		return nil, invalid(name, "The %s header is not a valid address list: %s.", name, parseError(err))
	}
	out := make([]Mailbox, 0, len(as))
	for _, a := range as {
		mb, err := mailboxOf(name, "The "+name+" address", a.Name, a.Address)
		if err != nil {
			return nil, err
		}
		out = append(out, mb)
	}
	return out, nil
}

func joinMailboxes(ms []Mailbox) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

var wordDecoder = &mime.WordDecoder{CharsetReader: message.CharsetReader}

// decodeText decodes RFC 2047 encoded-words; undecodable input is returned
// as it is.
func decodeText(s string) string {
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// longestWord is the longest run of non-space characters in an unencoded
// header text; longer text is written as encoded-words, which can be
// folded.
const longestWord = 900

// encodeText makes unstructured header text (Subject, Content-Description)
// safe to write: plain printable ASCII stays as it is; anything else is
// converted to the charset and written as RFC 2047 "B" encoded-words of at
// most 75 characters, each holding whole characters.
func encodeText(fieldName, what, s string, cs *charset) (string, error) {
	if plainText(s) {
		return s, nil
	}
	if cs.utf8 && !utf8.ValidString(s) {
		return "", invalid(fieldName, "%s is not valid UTF-8.", what)
	}
	label := cs.label
	room := 75 - len("=?"+label+"?B??=") // characters left for base64
	maxRaw := room / 4 * 3
	var words []string
	var chunk, next []byte
	flush := func() {
		if len(chunk) > 0 {
			words = append(words, "=?"+label+"?B?"+base64.StdEncoding.EncodeToString(chunk)+"?=")
		}
	}
	// Grow a chunk rune by rune; encode it afresh each time so that
	// stateful charsets (ISO-2022-JP) end every word in ASCII state.
	var runes []rune
	for _, r := range s {
		if cs.utf8 { // no conversion: chunk the bytes at rune boundaries
			if len(chunk)+utf8.RuneLen(r) > maxRaw && len(chunk) > 0 {
				flush()
				chunk = chunk[:0]
			}
			chunk = utf8.AppendRune(chunk, r)
			continue
		}
		cand := string(append(runes, r))
		enc, err := cs.encode(cand)
		if err != nil {
			return "", invalid(fieldName, "%s contains %q, which charset %s cannot represent.", what, r, label)
		}
		next = enc
		if len(next) > maxRaw && len(runes) > 0 {
			flush()
			runes = runes[:0]
			enc, _ = cs.encode(string(r))
			next = enc
		}
		runes = append(runes, r)
		chunk = next
	}
	flush()
	return strings.Join(words, " "), nil
}

// plainText reports whether s can be written into a header as it is:
// printable ASCII (and tab), nothing that looks like an encoded-word, no
// word too long to fold, no white space at either end (readers trim it).
func plainText(s string) bool {
	if s != "" && (isWSP(s[0]) || isWSP(s[len(s)-1])) {
		return false
	}
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < ' ' && c != '\t') || c > '~' {
			return false
		}
		if isWSP(c) {
			run = 0
		} else if run++; run > longestWord {
			return false
		}
	}
	return !strings.Contains(s, "=?")
}

// param is one parameter of a structured header (Content-Type,
// Content-Disposition).
type param struct{ key, value string }

// formatParams writes "value; key=val; ..." with each parameter as a token,
// a quoted-string, or, when it is not printable ASCII or too long to keep on
// one line, as RFC 2231 extended parameters (charset UTF-8, split into
// continuations of at most ~60 characters).
func formatParams(v string, ps []param) string {
	var b strings.Builder
	b.WriteString(v)
	for _, p := range ps {
		switch {
		case isToken(p.value) && len(p.value) <= 60:
			fmt.Fprintf(&b, "; %s=%s", p.key, p.value)
		case isPrintableASCII(p.value) && len(p.value) <= 60:
			fmt.Fprintf(&b, "; %s=%s", p.key, quote(p.value))
		default:
			pct := percentEncode(p.value)
			if len(pct) <= 60 {
				fmt.Fprintf(&b, "; %s*=UTF-8''%s", p.key, strings.Join(pct, ""))
				break
			}
			n, cur := 0, ""
			for i, piece := range pct {
				cur += piece
				if len(cur) >= 60 || i == len(pct)-1 {
					if n == 0 {
						fmt.Fprintf(&b, "; %s*0*=UTF-8''%s", p.key, cur)
					} else {
						fmt.Fprintf(&b, "; %s*%d*=%s", p.key, n, cur)
					}
					n, cur = n+1, ""
				}
			}
		}
	}
	return b.String()
}

// percentEncode encodes s for an RFC 2231 extended value, one element per
// input byte so that splitting never breaks an escape.
func percentEncode(s string) []string {
	out := make([]string, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && isTokenChar(c) && c != '%' && c != '\'' && c != '*' {
			out = append(out, string(c))
		} else {
			out = append(out, fmt.Sprintf("%%%02X", c))
		}
	}
	return out
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isTokenChar reports whether c may appear in an RFC 2045 token.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// onceOnly are the header fields SES does not accept more than once in a
// message (SES Developer Guide, "Amazon SES header fields"), lower case.
var onceOnly = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range []string{
		"Accept-Language", "acceptLanguage", "Archived-At", "Auto-Submitted", "Bounces-to",
		"Comments", "Content-Alternative", "Content-Base", "Content-Class", "Content-Description",
		"Content-Disposition", "Content-Duration", "Content-ID", "Content-Language", "Content-Length",
		"Content-Location", "Content-MD5", "Content-Transfer-Encoding", "Content-Type", "Date",
		"Delivered-To", "Disposition-Notification-Options", "Disposition-Notification-To",
		"DKIM-Signature", "DomainKey-Signature", "Errors-To", "From", "Importance", "In-Reply-To",
		"Keywords", "List-Archive", "List-Help", "List-Id", "List-Owner", "List-Post",
		"List-Subscribe", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-Context",
		"Message-ID", "MIME-Version", "Organization", "Original-From", "Original-Message-ID",
		"Original-Recipient", "Original-Subject", "Precedence", "Priority", "References",
		"Reply-To", "Return-Path", "Return-Receipt-To", "Sender", "Solicitation", "Sensitivity",
		"Subject", "Thread-Index", "Thread-Topic", "User-Agent", "VBR-Info",
	} {
		m[strings.ToLower(n)] = true
	}
	return m
}()

// reserved reports whether a custom header of a Simple message would
// override what Build writes or what only SES or the receiving side may
// set.
func reserved(lname string) bool {
	return slices.Contains([]string{"from", "to", "cc", "bcc", "reply-to", "subject", "message-id",
		"date", "mime-version", "return-path", "dkim-signature"}, lname) ||
		strings.HasPrefix(lname, "content-") || strings.HasPrefix(lname, "x-ses-")
}
