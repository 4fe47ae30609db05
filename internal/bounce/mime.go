package bounce

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// Limits on what Parse looks at. A hostile message can be large and
// deeply nested; these keep time and memory linear in the input and
// bounded.
const (
	maxInput        = 40 << 20  // bytes of the message considered at all
	maxDepth        = 10        // MIME nesting
	maxParts        = 100       // MIME entities in one message
	maxHeaderBytes  = 256 << 10 // bytes of one header block
	maxHeaderFields = 1000      // fields of one header block
	maxDecoded      = 1 << 20   // decoded bytes of one part's body
	maxTextScan     = 128 << 10 // bytes of free text the heuristics read
	maxRecipients   = 1000      // recipients in one report
	maxMessages     = 10        // messages in one mbox-style input
)

// field is one header field, unfolded.
type field struct {
	name  string // as written, without surrounding space
	value string // unfolded, trimmed
}

// header is a header block in order.
type header []field

// get returns the value of the first field named name (any case).
func (h header) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// has reports whether a field named name is present.
func (h header) has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// values returns the values of every field named name.
func (h header) values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// decoded returns the first value of name with RFC 2047 encoded words
// decoded.
func (h header) decoded(name string) string {
	return decodeWords(h.get(name))
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeWords decodes RFC 2047 encoded words, leaving the value as it is
// when it does not decode.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// isFieldName reports whether s is a header field name (RFC 5322 §2.2:
// printable ASCII but colon).
func isFieldName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

// nextLine returns the line at the start of b without its line ending,
// and the rest after it.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}

// parseHeader reads a header block at the start of b, tolerantly: a
// field is "Name: value" or "Name : value", continuation lines start
// with a space or a tab, the block ends at an empty line (which is
// consumed) or at the first line that is neither. It returns the fields
// and the body after the block.
func parseHeader(b []byte) (header, []byte) {
	var h header
	// The current field: its name, and where its value starts and ends
	// in b (continuation lines included); unfolded when it is complete,
	// so that long folded fields cost linear time.
	name, vstart, vend := "", 0, 0
	done := func() {
		if name == "" {
			return
		}
		var parts []string
		for _, l := range strings.Split(string(b[vstart:vend]), "\n") {
			if t := strings.TrimSpace(l); t != "" {
				parts = append(parts, t)
			}
		}
		h = append(h, field{name: name, value: strings.Join(parts, " ")})
		name = ""
	}
	pos := 0
	for pos < len(b) {
		line, after := nextLine(b[pos:])
		next := len(b)
		if after != nil {
			next = len(b) - len(after)
		}
		if len(line) == 0 {
			done()
			return h, b[next:]
		}
		if pos > maxHeaderBytes {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name == "" && len(h) == 0 {
				return h, b[pos:]
			}
			if name != "" {
				vend = pos + len(line)
			}
		} else {
			i := bytes.IndexByte(line, ':')
			if i <= 0 {
				break
			}
			n := strings.TrimRight(string(line[:i]), " \t")
			if !isFieldName(n) || len(h) >= maxHeaderFields {
				break
			}
			done()
			name, vstart, vend = n, pos+i+1, pos+len(line)
		}
		pos = next
	}
	done()
	return h, b[pos:]
}

// part is one MIME entity.
type part struct {
	hdr      header
	ctype    string            // media type, lower-cased; text/plain if absent
	params   map[string]string // its parameters, names lower-cased
	body     []byte            // the body as written (not decoded)
	children []*part           // multipart: the body parts
	preamble []byte            // multipart: the text before the first part
	msg      *part             // message/rfc822 and header-only types: the enclosed message
	depth    int
}

// walker builds the MIME tree of one message within the limits.
type walker struct {
	parts int
}

var (
	mediaTypeRe = regexp.MustCompile(`^\s*([A-Za-z0-9!#$&^_.+-]+)(?:\s*/\s*([A-Za-z0-9!#$&^_.+-]+))?`)
	paramRe     = regexp.MustCompile(`([A-Za-z0-9_*.-]+)\s*=\s*(?:"([^"]*)"|([^;\s"]+))`)
)

// contentType parses a Content-Type value, tolerantly: when it is not
// valid (a missing semicolon, a bad parameter), the media type is its
// first token and the parameters are whatever name=value pairs follow.
func contentType(v, def string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return def, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil && strings.Contains(mt, "/") {
		return mt, params
	}
	params = map[string]string{}
	m := mediaTypeRe.FindStringSubmatchIndex(v)
	if m == nil {
		return def, params
	}
	top := strings.ToLower(v[m[2]:m[3]])
	sub := ""
	if m[4] >= 0 {
		sub = strings.ToLower(v[m[4]:m[5]])
	}
	for _, pm := range paramRe.FindAllStringSubmatch(v[m[1]:], 20) {
		name := strings.ToLower(pm[1])
		if _, ok := params[name]; !ok {
			params[name] = pm[2] + pm[3]
		}
	}
	switch {
	case sub != "":
		return top + "/" + sub, params
	case top == "multipart":
		return "multipart/mixed", params
	case top == "message":
		return "message/rfc822", params
	}
	return "text/plain", params
}

// entity parses b as a MIME entity at the given depth.
func (w *walker) entity(b []byte, depth int, defType string) *part {
	w.parts++
	hdr, body := parseHeader(b)
	p := &part{hdr: hdr, body: body, depth: depth}
	p.ctype, p.params = contentType(hdr.get("Content-Type"), defType)
	if depth >= maxDepth {
		return p
	}
	if p.ctype == "text/plain" && !hdr.has("Content-Type") && (depth == 0 || defType == "message/rfc822") {
		// A message that is MIME but does not say so: some MTAs leave
		// out the Content-Type of a multipart report.
		if b := undeclaredBoundary(body); b != "" {
			p.ctype, p.params = "multipart/mixed", map[string]string{"boundary": b}
		}
	}
	switch {
	case strings.HasPrefix(p.ctype, "multipart/"):
		def := "text/plain"
		if p.ctype == "multipart/digest" {
			def = "message/rfc822"
		}
		pre, bodies := splitMultipart(body, p.params["boundary"])
		p.preamble = pre
		for _, pb := range bodies {
			if w.parts >= maxParts {
				break
			}
			p.children = append(p.children, w.entity(pb, depth+1, def))
		}
	case isEnclosedMessage(p.ctype):
		if w.parts < maxParts {
			// Unencoded, this is a slice of the input; an encoded one
			// (not allowed, but seen) is decoded up to a bound.
			inner := p.body
			if isEncoded(p.hdr) {
				inner = p.decodedBody(4 * maxDecoded)
			}
			p.msg = w.entity(inner, depth+1, "text/plain")
		}
	case isEnclosedHeaders(p.ctype):
		if w.parts < maxParts {
			w.parts++
			inner := p.decodedBody(maxHeaderBytes)
			h, _ := parseHeader(trimLeadingBlank(inner))
			p.msg = &part{hdr: h, ctype: "text/plain", params: map[string]string{}, depth: depth + 1}
		}
	}
	return p
}

// trimLeadingBlank drops empty lines at the start of b: some reporters
// put one between a part's header and the enclosed header block.
func trimLeadingBlank(b []byte) []byte {
	for {
		line, rest := nextLine(b)
		if len(bytes.TrimSpace(line)) != 0 || rest == nil {
			return b
		}
		b = rest
	}
}

func isEnclosedMessage(ct string) bool {
	switch ct {
	case "message/rfc822", "message/global", "message/partial-rfc822":
		return true
	}
	return false
}

func isEnclosedHeaders(ct string) bool {
	switch ct {
	case "text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers",
		"message/global-headers", "text/global-headers":
		return true
	}
	return false
}

// splitMultipart splits a multipart body at its boundary lines. It
// tolerates a missing close delimiter, and a boundary parameter that is
// missing or not found in the body (the first line that starts with "--"
// is then taken as the boundary).
func splitMultipart(body []byte, boundary string) (preamble []byte, parts [][]byte) {
	if boundary == "" || !bytes.Contains(body, []byte("--"+boundary)) {
		boundary = guessBoundary(body)
		if boundary == "" {
			return nil, [][]byte{body}
		}
	}
	delim := []byte("--" + boundary)
	start := -1 // start of the current part's content
	pos := 0
	for pos < len(body) && len(parts) < maxParts {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		i += pos
		if i > 0 && body[i-1] != '\n' {
			pos = i + len(delim)
			continue
		}
		after := body[i+len(delim):]
		closing := bytes.HasPrefix(after, []byte("--"))
		if closing {
			after = after[2:]
		}
		// The rest of the delimiter line must be white space.
		line, next := nextLine(after)
		if len(bytes.Trim(line, " \t")) != 0 {
			pos = i + len(delim)
			continue
		}
		end := i
		if end > 0 && body[end-1] == '\n' {
			end--
			if end > 0 && body[end-1] == '\r' {
				end--
			}
		}
		if start < 0 {
			preamble = body[:max(end, 0)]
		} else {
			parts = append(parts, body[start:max(end, start)])
		}
		if closing {
			return preamble, parts
		}
		if next == nil {
			start = len(body)
		} else {
			start = len(body) - len(next)
		}
		pos = start
	}
	if start >= 0 && start < len(body) && len(parts) < maxParts {
		parts = append(parts, body[start:])
	}
	if start < 0 {
		return nil, [][]byte{body}
	}
	return preamble, parts
}

// guessBoundary returns the boundary of the first line of body that looks
// like a delimiter line ("--" and at least 4 more non-space bytes), or "".
func guessBoundary(body []byte) string {
	rest := body
	for n := 0; len(rest) > 0 && n < 2000; n++ {
		var line []byte
		line, rest = nextLine(rest)
		if bytes.HasPrefix(line, []byte("--")) {
			b := string(bytes.TrimRight(line[2:], " \t"))
			if len(b) >= 4 && len(b) <= 200 && !strings.ContainsAny(b, " \t") && strings.Trim(b, "-") != "" {
				return b
			}
		}
	}
	return ""
}

// undeclaredBoundary returns the boundary of a body that is a multipart
// report without a Content-Type saying so: a line "--b" that occurs at
// least twice, and a part that starts with a "Content-Type:" of a report
// (message/*, text/rfc822-headers); or "".
func undeclaredBoundary(body []byte) string {
	b := guessBoundary(body)
	if b == "" {
		return ""
	}
	delim := []byte("\n--" + b)
	if bytes.Count(body, delim) < 2 {
		return ""
	}
	for rest := body; ; {
		i := bytes.Index(rest, delim)
		if i < 0 {
			return ""
		}
		rest = rest[i+len(delim):]
		_, after := nextLine(rest)
		line, _ := nextLine(after)
		if len(line) >= 13 && strings.EqualFold(string(line[:13]), "content-type:") {
			ct, _ := contentType(string(line[13:]), "")
			if strings.HasPrefix(ct, "message/") || isEnclosedHeaders(ct) {
				return b
			}
		}
	}
}

// decodedBody returns p's body with its Content-Transfer-Encoding undone,
// at most limit bytes of it.
func (p *part) decodedBody(limit int) []byte {
	b := p.body
	switch strings.ToLower(strings.TrimSpace(p.hdr.get("Content-Transfer-Encoding"))) {
	case "base64":
		return decodeBase64(b, limit)
	case "quoted-printable":
		return decodeQP(b, limit)
	}
	if len(b) > limit {
		b = b[:limit]
	}
	return b
}

// isEncoded reports whether h names a transfer encoding that must be
// undone (base64, quoted-printable).
func isEncoded(h header) bool {
	switch strings.ToLower(strings.TrimSpace(h.get("Content-Transfer-Encoding"))) {
	case "base64", "quoted-printable":
		return true
	}
	return false
}

// text returns p's body decoded to UTF-8 (transfer encoding and charset),
// at most limit bytes before the charset conversion.
func (p *part) text(limit int) string {
	b := p.decodedBody(limit)
	cs := strings.ToLower(strings.TrimSpace(p.params["charset"]))
	switch cs {
	case "", "us-ascii", "utf-8", "utf8", "ascii":
	default:
		if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
			if d, err := io.ReadAll(io.LimitReader(r, int64(4*limit))); err == nil || len(d) > 0 {
				b = d
			}
		}
	}
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	return string(b)
}

// decodeBase64 decodes base64 leniently: characters outside the alphabet
// are skipped, and decoding stops at the first error or after limit bytes.
func decodeBase64(b []byte, limit int) []byte {
	clean := make([]byte, 0, min(len(b), limit/3*4+8))
	for _, c := range b {
		if len(clean) >= limit/3*4+4 {
			break
		}
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=':
			// Padding: stop at the end of this quantum.
			for len(clean)%4 != 0 {
				clean = append(clean, '=')
			}
		}
	}
	clean = clean[:len(clean)/4*4]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		// Decode what precedes the bad quantum, without padding rules.
		n, _ = base64.RawStdEncoding.Decode(out, bytes.TrimRight(clean[:len(clean)], "="))
	}
	out = out[:n]
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// decodeQP decodes quoted-printable leniently: a "=" not followed by two
// hex digits or a line break is kept as it is.
func decodeQP(b []byte, limit int) []byte {
	out := make([]byte, 0, min(len(b), limit))
	for i := 0; i < len(b) && len(out) < limit; i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			i++
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			i += 2
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			// Soft line break with trailing white space, or a stray '='.
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
				j++
			}
			if j < len(b) && (b[j] == '\n' || b[j] == '\r') {
				if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
					j++
				}
				i = j
			} else {
				out = append(out, c)
			}
		}
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// walk calls fn for p and every entity below it, depth first, not
// entering enclosed messages (message/rfc822) unless inner is set.
func (p *part) walk(inner bool, fn func(*part)) {
	fn(p)
	for _, c := range p.children {
		c.walk(inner, fn)
	}
	if inner && p.msg != nil {
		p.msg.walk(inner, fn)
	}
}
