package dkim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Signer is one signature to add: d=Domain, s=Selector, with Key.
type Signer struct {
	Domain   string // the SDID, an ASCII (A-label) domain name without a trailing dot
	Selector string // 1..63 letters, digits and inner hyphens (see [ValidSelector])
	Key      *Key
}

// SignOptions are the tunables of [Sign]. The zero value is usable.
type SignOptions struct {
	// Now is the clock for the signing time t= and the expiration time x=.
	// Nil means time.Now.
	Now func() time.Time
	// Expiration, if positive, adds x= = Now() + Expiration (RFC 6376
	// §3.5). Zero means no x= tag; negative is an error.
	Expiration time.Duration
}

// ErrMalformedMessage is wrapped by the errors [Sign] returns for a message
// it will not sign. Composing and normalising messages is the caller's job;
// Sign does not repair them.
var ErrMalformedMessage = errors.New("dkim: malformed message")

// signedFields are the header fields a signature covers when present, in
// the order they are listed in h=: the fields SES signs. From is always
// present (exactly once) and is listed twice; see [Sign].
var signedFields = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID",
}

// Sign returns msg with one DKIM-Signature header field per signer
// prepended, in the order of signers (the first signer's field comes
// first; Sesame passes RSA first, then Ed25519). Each signature is made
// independently over msg, with relaxed/relaxed canonicalisation and sha256
// (a=rsa-sha256 or a=ed25519-sha256, by the key; RFC 6376, RFC 8463).
// With no signers, msg is returned as it is, after the same checks.
//
// The signature covers the header fields SES signs -- From, To, Cc,
// Subject, Date, Message-ID, Reply-To, MIME-Version, Content-Type,
// Content-Transfer-Encoding, List-Unsubscribe, List-Unsubscribe-Post and
// Feedback-ID -- but only those present: each name appears in h= once per
// occurrence in the header, in that order. From is listed once more than
// it occurs ("oversigned", RFC 6376 §5.4.2), so that a From field added
// after signing, above or below the original, makes verification fail.
//
// msg must be a complete RFC 5322 message whose lines all end in CRLF: a
// header, an empty line, and a body (which may be empty). Sign rejects,
// rather than normalises, a bare LF or CR anywhere (a verifier such as
// go-msgauth would hash a bare LF as if it were CRLF, so the signature
// would only hold once something downstream converted the line endings), a
// missing empty line after the header, a header line that is not a field
// ("name: value" or a continuation), and a header without exactly one From
// field. These errors wrap [ErrMalformedMessage].
//
// Sign returns an error if Expiration is so short that x= would not be
// after t= (RFC 6376 §3.5).
//
// The signatures are byte for byte what go-msgauth's signer (v0.7.0) makes
// with the same options and clock -- the same tag order, folding and
// canonicalisation -- but Sign computes them on the calling goroutine,
// without go-msgauth's goroutine and pipe per signature, and hashes the
// body and the signed header fields once for all signers. RSA signatures
// are made by the backend chosen at build time (see [RSABackend]).
func Sign(msg []byte, signers []Signer, opts SignOptions) ([]byte, error) {
	fields, body, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	if len(signers) == 0 {
		return msg, nil
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now()
	var expiration time.Time
	switch {
	case opts.Expiration < 0:
		return nil, fmt.Errorf("dkim: negative expiration %v", opts.Expiration)
	case opts.Expiration > 0:
		expiration = t.Add(opts.Expiration)
		if expiration.Unix() <= t.Unix() {
			return nil, fmt.Errorf("dkim: expiration %s is not after the signing time", expiration.UTC().Format(time.RFC3339))
		}
	}
	for _, s := range signers {
		if err := s.check(); err != nil {
			return nil, err
		}
	}
	keys := headerKeys(fields)
	common := sigCommon{
		bodyHash: bodyHash(msg[body:]),
		header:   canonicalHeader(fields, keys),
		h:        strings.Join(keys, ":"),
		t:        strconv.FormatInt(t.Unix(), 10),
	}
	if !expiration.IsZero() {
		common.x = strconv.FormatInt(expiration.Unix(), 10)
	}

	sigs := make([]string, len(signers))
	size := len(msg)
	for i, s := range signers {
		sig, err := signOne(s, &common)
		if err != nil {
			return nil, fmt.Errorf("dkim: sign with d=%s s=%s: %w", s.Domain, s.Selector, err)
		}
		sigs[i] = sig
		size += len(sig)
	}
	out := make([]byte, 0, size)
	for _, sig := range sigs {
		out = append(out, sig...)
	}
	return append(out, msg...), nil
}

// check reports whether s can sign: a usable key, a domain and a selector
// that are valid as d= and s= values.
func (s Signer) check() error {
	if !validDomain(s.Domain) {
		return fmt.Errorf("dkim: invalid signing domain %q", s.Domain)
	}
	if !ValidSelector(s.Selector) {
		return fmt.Errorf("dkim: invalid selector %q for %s", s.Selector, s.Domain)
	}
	if err := s.Key.check(); err != nil {
		return fmt.Errorf("%w (d=%s s=%s)", err, s.Domain, s.Selector)
	}
	return nil
}

// sigCommon is what every signature over one message shares.
type sigCommon struct {
	bodyHash string // bh=: base64 of the relaxed body's SHA-256
	header   []byte // the signed header fields, canonicalised, in h= order
	h        string // h=
	t, x     string // t= and x= (x empty for none)
}

// signOne makes one DKIM-Signature field (name, value and final CRLF).
// The caller has checked s.
func signOne(s Signer, c *sigCommon) (string, error) {
	alg := "rsa-sha256"
	if s.Key.Algorithm == Ed25519 {
		alg = "ed25519-sha256"
	}
	tags := []tag{
		{"a", alg}, {"bh", c.bodyHash}, {"c", "relaxed/relaxed"}, {"d", s.Domain},
		{"h", c.h}, {"s", s.Selector}, {"t", c.t}, {"v", "1"},
	}
	if c.x != "" {
		tags = append(tags, tag{"x", c.x})
	}
	// RFC 6376 §3.7: the header hash covers the signed fields and then this
	// field itself with an empty b=, canonicalised, without its final CRLF.
	unsigned := appendRelaxedField(nil, []byte(formatSignature(tags, "")))
	h := sha256.New()
	h.Write(c.header)
	h.Write(unsigned[:len(unsigned)-2])
	digest := h.Sum(nil)

	var sig []byte
	switch priv := s.Key.Signer.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(priv, digest)
	case *rsa.PrivateKey:
		r, err := s.Key.rsaSigner()
		if err != nil {
			return "", err
		}
		if sig, err = r.signSHA256(digest); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("dkim: unsupported key type %T", priv)
	}
	return formatSignature(tags, base64.StdEncoding.EncodeToString(sig)), nil
}

// headerKeys returns the h= list for a header with the given fields: the
// names in signedFields' spelling.
func headerKeys(fields []headerField) []string {
	keys := make([]string, 0, len(fields)+1)
	for _, name := range signedFields {
		if name == "From" {
			keys = append(keys, name) // oversign
		}
		for _, f := range fields {
			if f.is(name) {
				keys = append(keys, name)
			}
		}
	}
	return keys
}

// headerField is one field of a message's header.
type headerField struct {
	name []byte // as written, without the WSP that may precede the colon
	raw  []byte // the whole field: every line, each with its CRLF
}

// is reports whether f's name is name, ignoring case.
func (f headerField) is(name string) bool {
	return len(f.name) == len(name) && strings.EqualFold(string(f.name), name)
}

// parseMessage checks that msg is what Sign accepts and returns its header
// fields, in order, and the offset of its body.
func parseMessage(msg []byte) ([]headerField, int, error) {
	if i := bareLineEnding(msg); i >= 0 {
		return nil, 0, fmt.Errorf("%w: bare %s at byte %d; every line must end in CRLF", ErrMalformedMessage, lineEndName(msg[i]), i)
	}
	fields := make([]headerField, 0, 16)
	from := 0
	pos := 0
	for n := 1; ; n++ {
		line, _, ok := bytes.Cut(msg[pos:], []byte("\r\n"))
		if !ok {
			return nil, 0, fmt.Errorf("%w: no empty line after the header", ErrMalformedMessage)
		}
		start := pos
		pos += len(line) + 2
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, 0, fmt.Errorf("%w: header line 1 is a continuation line", ErrMalformedMessage)
			}
			f := &fields[len(fields)-1]
			f.raw = f.raw[:len(f.raw)+len(line)+2]
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		// RFC 5322 §3.6.8 field name; obsolete syntax (§4.5) allows WSP
		// before the colon, which canonicalisation removes.
		name = bytes.TrimRight(name, " \t")
		if !ok || !validFieldName(name) {
			return nil, 0, fmt.Errorf("%w: header line %d is not a header field", ErrMalformedMessage, n)
		}
		f := headerField{name: name, raw: msg[start:pos]}
		if f.is("From") {
			from++
		}
		fields = append(fields, f)
	}
	if from != 1 {
		return nil, 0, fmt.Errorf("%w: %d From header fields; want exactly 1", ErrMalformedMessage, from)
	}
	return fields, pos, nil
}

// bareLineEnding returns the index of the first CR not followed by LF or
// LF not preceded by CR in msg, or -1.
func bareLineEnding(msg []byte) int {
	bad := -1
	for i := 0; ; i++ {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			break
		}
		if i += j; i == 0 || msg[i-1] != '\r' {
			bad = i
			break
		}
	}
	for i := 0; ; i++ {
		j := bytes.IndexByte(msg[i:], '\r')
		if j < 0 {
			break
		}
		if i += j; bad >= 0 && i > bad {
			break
		}
		if i+1 == len(msg) || msg[i+1] != '\n' {
			return i
		}
	}
	return bad
}

func lineEndName(c byte) string {
	if c == '\r' {
		return "CR"
	}
	return "LF"
}

// validFieldName reports whether name is an RFC 5322 field-name: one or
// more printable US-ASCII characters other than colon.
func validFieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// validDomain reports whether d is usable as d=: dot-separated labels of
// ASCII letters, digits, hyphens and underscores, each 1..63 characters and
// not starting or ending with a hyphen, 253 characters at most, with no
// trailing dot. Internationalised names must be given as A-labels.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return true
}
