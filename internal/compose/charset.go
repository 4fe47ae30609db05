package compose

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// charset is a resolved charset: the label written into the message and
// the encoder from UTF-8.
type charset struct {
	label string
	utf8  bool
	enc   encoding.Encoding
}

var utf8Charset = &charset{label: "UTF-8", utf8: true}

// asciiProbe is what every charset usable for MIME text must leave alone.
var asciiProbe = func() string {
	var b strings.Builder
	b.WriteString("\r\n\t")
	for c := byte(' '); c <= '~'; c++ {
		b.WriteByte(c)
	}
	return b.String()
}()

// lookupCharset resolves a Content.Charset as SES takes it: empty means
// UTF-8. The label written is the charset's preferred MIME name where it
// has one. Charsets that do not keep ASCII as ASCII (UTF-16, EBCDIC) cannot
// carry MIME text (RFC 2046 §4.1.1) and are refused.
func lookupCharset(fieldName, name string) (*charset, error) {
	if hasCRLF(name) {
		return nil, invalid(fieldName, "Charset must not contain CR or LF.")
	}
	if name == "" {
		return utf8Charset, nil
	}
	if !isToken(name) || len(name) > 40 {
		return nil, invalid(fieldName, "Charset %q is not a valid charset name.", name)
	}
	enc, err := ianaindex.MIME.Encoding(name)
	if enc == nil {
		enc, err = ianaindex.MIME.Encoding("cs" + name)
	}
	if enc == nil {
		enc, err = htmlindex.Get(name)
	}
	if enc == nil || err != nil {
		return nil, invalid(fieldName, "Charset %s is not supported.", name)
	}
	if enc == unicode.UTF8 {
		return utf8Charset, nil
	}
	label, err := ianaindex.MIME.Name(enc)
	if err != nil || label == "" {
		label = name
	}
	cs := &charset{label: label, enc: enc}
	if out, err := cs.encode(asciiProbe); err != nil || string(out) != asciiProbe {
		return nil, invalid(fieldName, "Charset %s cannot be used for text: it does not keep ASCII as ASCII.", name)
	}
	return cs, nil
}

// encode converts UTF-8 text to the charset; it fails on invalid UTF-8 and
// on characters the charset cannot represent.
func (cs *charset) encode(s string) ([]byte, error) {
	if cs.utf8 {
		if !utf8.ValidString(s) {
			return nil, encoding.ErrInvalidUTF8
		}
		return []byte(s), nil
	}
	if !utf8.ValidString(s) {
		return nil, encoding.ErrInvalidUTF8
	}
	out, err := cs.enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// toCRLF turns every line ending (CRLF, lone LF, lone CR) into CRLF.
func toCRLF(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
