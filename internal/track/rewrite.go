package track

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/url"
	"strings"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html"
)

// The attributes Sesame reads on an <a> and removes from the delivered
// HTML, as SES does.
const (
	attrNoTrack = "ses:no-track"
	attrTags    = "ses:tags"
)

// maxDepth bounds the nesting of multipart bodies walked.
const maxDepth = 8

// maxLine is the longest line a 7bit or 8bit part may keep (RFC 5322
// §2.1.1); a rewritten HTML part with a longer one is re-encoded as
// quoted-printable.
const maxLine = 998

// linker returns the tracking URL of a link (the original URL and the
// canonical form of its ses:tags).
type linker func(link, tags string) string

// rewriteHTML returns src with the http and https links of its <a> tags
// replaced by link's URLs (when link is not nil; not those with
// ses:no-track), the ses:* attributes of its <a> tags removed, and, when
// pixel is not empty, pixel written before the end tag of the body (or of
// the document, or at the end). Everything else is copied byte for byte:
// the tokenizer only delimits tags, and a tag it rewrites is written anew
// from its parsed attributes, every value quoted and escaped, so no
// markup of the input can escape an attribute or break out of the tag.
func rewriteHTML(src []byte, link linker, pixel string) []byte {
	z := html.NewTokenizer(bytes.NewReader(src))
	var out bytes.Buffer
	out.Grow(len(src) + len(src)/8 + len(pixel))
	consumed := 0
	placed := pixel == ""
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		raw := z.Raw()
		consumed += len(raw)
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			start := out.Len()
			out.Write(raw) // before TagName, which may change raw's bytes
			name, hasAttr := z.TagName()
			if hasAttr && len(name) == 1 && name[0] == 'a' {
				out.Truncate(start)
				anchor(&out, z, raw, tt == html.SelfClosingTagToken, link)
			}
			continue
		case html.EndTagToken:
			if !placed {
				r := bytes.Clone(raw)
				if name, _ := z.TagName(); string(name) == "body" || string(name) == "html" {
					out.WriteString(pixel)
					placed = true
				}
				out.Write(r)
				continue
			}
		}
		out.Write(raw)
	}
	if !placed {
		out.WriteString(pixel)
	}
	// What the tokenizer left is a tag cut off by the end of the input,
	// which HTML drops: kept as it was, after the pixel, so that it cannot
	// swallow the pixel into its attributes.
	out.Write(src[consumed:])
	return out.Bytes()
}

type attr struct{ key, val string }

// anchor writes the <a> tag the tokenizer is on: as it was (raw) when it
// has nothing to change, else rewritten.
func anchor(out *bytes.Buffer, z *html.Tokenizer, raw []byte, selfClosing bool, link linker) {
	raw = bytes.Clone(raw)
	var (
		attrs   []attr
		noTrack bool
		tags    string
		href    = -1
		changed bool
	)
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		key := string(k)
		switch {
		case key == attrNoTrack:
			noTrack, changed = true, true
		case key == attrTags:
			tags, changed = string(v), true
		case strings.HasPrefix(key, "ses:"):
			changed = true
		case !safeAttrName(key):
			changed = true // dropped: it could not be written back safely
		default:
			if key == "href" && href < 0 {
				href = len(attrs)
			}
			attrs = append(attrs, attr{key, string(v)})
		}
	}
	if link != nil && !noTrack && href >= 0 {
		if u, ok := trackable(attrs[href].val); ok {
			attrs[href].val = link(u, parseTags(tags))
			changed = true
		}
	}
	if !changed {
		out.Write(raw)
		return
	}
	out.WriteString("<a")
	for _, a := range attrs {
		out.WriteByte(' ')
		out.WriteString(a.key)
		out.WriteString(`="`)
		out.WriteString(html.EscapeString(a.val))
		out.WriteByte('"')
	}
	if selfClosing {
		out.WriteString("/>")
	} else {
		out.WriteByte('>')
	}
}

// safeAttrName reports whether an attribute name can be written back as
// it is: ASCII letters, digits and - _ : . only.
func safeAttrName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// trackable returns the href as a link to track: an absolute http or
// https URL with a host, without spaces or control characters, at most
// MaxLinkLen bytes (HTML strips the value's leading and trailing
// whitespace). mailto:, tel:, javascript:, anchors and relative links are
// not.
func trackable(href string) (string, bool) {
	u := strings.Trim(href, " \t\n\f\r")
	if len(u) > MaxLinkLen || len(u) < len("http://x") {
		return "", false
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] == 0x7f {
			return "", false
		}
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.Opaque != "" {
		return "", false
	}
	if s := strings.ToLower(p.Scheme); s != "http" && s != "https" {
		return "", false
	}
	return u, true
}

// parseTags reads a ses:tags value, "name1:value1;name2:value2", and
// returns its valid pairs (names and values of 1-256 ASCII letters,
// digits, '_' and '-', as SES's message tags) in canonical form: the
// same syntax, in the order given, spaces around the parts trimmed.
func parseTags(v string) string {
	var b strings.Builder
	for p := range strings.SplitSeq(v, ";") {
		name, value, ok := strings.Cut(p, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !tagText(name) || !tagText(value) || b.Len()+len(name)+len(value)+2 > maxTagsLen {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(value)
	}
	return b.String()
}

func tagText(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// LinkTags returns a canonical ses:tags string as click.linkTags: name →
// values; nil for none.
func LinkTags(tags string) map[string][]string {
	if tags == "" {
		return nil
	}
	m := map[string][]string{}
	for p := range strings.SplitSeq(tags, ";") {
		name, value, _ := strings.Cut(p, ":")
		m[name] = append(m[name], value)
	}
	return m
}

// errNoChange is rewriteEntity's answer for an entity with no text/html
// part to rewrite (or one it cannot read: it is then left as it is).
var errNoChange = errors.New("track: nothing to rewrite")

// rewriteMessage returns msg (a whole message, CRLF line endings) with
// each text/html part passed through fn: the MIME tree is walked with
// go-message's textproto (multipart/* only, to maxDepth), an HTML part's
// transfer encoding is decoded, rewritten and encoded again. Unchanged
// parts keep their headers and bodies; a message without an HTML part
// comes back as it is (same slice).
func rewriteMessage(msg []byte, fn func([]byte) []byte) []byte {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		return msg
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg[:end+4])))
	if err != nil {
		return msg
	}
	body := msg[end+4:]
	nb, err := rewriteEntity(&h, body, fn, 0)
	if err != nil {
		return msg
	}
	var out bytes.Buffer
	out.Grow(len(msg) + len(nb) - len(body))
	if err := textproto.WriteHeader(&out, h); err != nil {
		return msg
	}
	out.Write(nb)
	return out.Bytes()
}

func rewriteEntity(h *textproto.Header, body []byte, fn func([]byte) []byte, depth int) ([]byte, error) {
	ct := h.Get("Content-Type")
	mt, params := "text/plain", map[string]string(nil)
	if ct != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return nil, errNoChange
		}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/") && depth < maxDepth:
		return rewriteMultipart(body, params["boundary"], fn, depth)
	case mt == "text/html":
		return rewriteHTMLPart(h, body, fn)
	}
	return nil, errNoChange
}

func rewriteMultipart(body []byte, boundary string, fn func([]byte) []byte, depth int) ([]byte, error) {
	if boundary == "" {
		return nil, errNoChange
	}
	type part struct {
		h    textproto.Header
		body []byte
	}
	var parts []part
	changed := false
	mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errNoChange
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, errNoChange
		}
		if nb, err := rewriteEntity(&p.Header, b, fn, depth+1); err == nil {
			b, changed = nb, true
		}
		parts = append(parts, part{p.Header, b})
	}
	if !changed {
		return nil, errNoChange
	}
	var out bytes.Buffer
	out.Grow(len(body) + len(body)/4)
	mw := textproto.NewMultipartWriter(&out)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, errNoChange
	}
	for _, p := range parts {
		w, err := mw.CreatePart(p.h)
		if err != nil {
			return nil, errNoChange
		}
		if _, err := w.Write(p.body); err != nil {
			return nil, errNoChange
		}
	}
	if err := mw.Close(); err != nil {
		return nil, errNoChange
	}
	out.WriteString("\r\n")
	return out.Bytes(), nil
}

// rewriteHTMLPart decodes an HTML part's transfer encoding, rewrites it
// and encodes it again (7bit and 8bit parts whose lines grew too long
// become quoted-printable).
func rewriteHTMLPart(h *textproto.Header, body []byte, fn func([]byte) []byte) ([]byte, error) {
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	var src []byte
	var err error
	switch cte {
	case "quoted-printable":
		src, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	case "base64":
		src, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
	case "", "7bit", "8bit", "binary":
		src = body
	default:
		return nil, errNoChange
	}
	if err != nil {
		return nil, errNoChange
	}
	rewritten := fn(src)
	if (cte == "" || cte == "7bit" || cte == "8bit") && longestLine(rewritten) > maxLine {
		cte = "quoted-printable"
		h.Set("Content-Transfer-Encoding", cte)
	}
	var out bytes.Buffer
	switch cte {
	case "quoted-printable":
		w := quotedprintable.NewWriter(&out)
		w.Write(rewritten)
		w.Close()
	case "base64":
		enc := base64.StdEncoding.EncodeToString(rewritten)
		out.Grow(len(enc) + len(enc)/76*2 + 2)
		for len(enc) > 76 {
			out.WriteString(enc[:76])
			out.WriteString("\r\n")
			enc = enc[76:]
		}
		out.WriteString(enc)
	default:
		out.Write(rewritten)
	}
	return out.Bytes(), nil
}

func longestLine(b []byte) int {
	longest := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		longest = max(longest, i)
		b = b[min(i+1, len(b)):]
	}
	return longest
}
