package compose

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"mime"
	"mime/quotedprintable"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// Build writes s as an RFC 5322 / MIME message (shared/ses-api.md §6
// SendEmail, §7 SendEmail Content.Simple, §12.2).
//
// Structure: text only → text/plain; HTML only → text/html; both →
// multipart/alternative (text first); inline attachments with a Content-ID
// → multipart/related around the body; other attachments →
// multipart/mixed around all of it. Bodies are converted to their charset
// (default UTF-8) and written quoted-printable, or base64 when that is
// shorter (mostly non-ASCII text such as CJK). The header carries From, To,
// Cc, Reply-To, Subject, Message-ID (<MessageID@Domain>), Date, the custom
// Headers, and MIME-Version; non-ASCII display names and subjects are
// RFC 2047 encoded. Bcc is never written.
func Build(s Simple, o Options) (*Message, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	m := &Message{Subject: s.Subject}
	var err error
	if s.From == "" {
		return nil, invalid("From", "The From address must be specified.")
	}
	if m.From, err = parseMailbox("From", "The From address", s.From); err != nil {
		return nil, err
	}
	lists := []struct {
		name, what string
		in         []string
		out        *[]Mailbox
	}{
		{"To", "A To address", s.To, &m.To}, {"Cc", "A Cc address", s.Cc, &m.Cc},
		{"Bcc", "A Bcc address", s.Bcc, &m.Bcc}, {"ReplyTo", "A Reply-To address", s.ReplyTo, &m.ReplyTo},
	}
	for _, l := range lists {
		for i, a := range l.in {
			mb, err := parseMailbox(fmt.Sprintf("%s[%d]", l.name, i), l.what, a)
			if err != nil {
				return nil, err
			}
			*l.out = append(*l.out, mb)
		}
	}

	if hasCRLF(s.Subject) {
		return nil, invalid("Subject", "Subject must not contain CR or LF.")
	}
	subjectCS, err := lookupCharset("SubjectCharset", s.SubjectCharset)
	if err != nil {
		return nil, err
	}
	subject, err := encodeText("Subject", "Subject", s.Subject, subjectCS)
	if err != nil {
		return nil, err
	}

	custom, err := checkHeaders(s.Headers, m)
	if err != nil {
		return nil, err
	}

	root, err := bodyTree(s)
	if err != nil {
		return nil, err
	}

	fs := []field{{"From", m.From.String()}}
	if len(m.To) > 0 {
		fs = append(fs, field{"To", joinMailboxes(m.To)})
	}
	if len(m.Cc) > 0 {
		fs = append(fs, field{"Cc", joinMailboxes(m.Cc)})
	}
	if len(m.ReplyTo) > 0 {
		fs = append(fs, field{"Reply-To", joinMailboxes(m.ReplyTo)})
	}
	if s.Subject != "" {
		fs = append(fs, field{"Subject", subject})
	}
	fs = append(fs, field{"Message-ID", o.messageIDField()}, field{"Date", o.dateField()})
	fs = append(fs, custom...)
	fs = append(fs, field{"MIME-Version", "1.0"})

	fs, m.Bytes, err = write(o, fs, root, func(name string) string {
		for i, c := range s.Headers {
			if c.Name == name {
				return fmt.Sprintf("Headers[%d].Value", i)
			}
		}
		if name == "Reply-To" {
			return "ReplyTo"
		}
		return name
	})
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		m.Headers = append(m.Headers, Header{Name: f.name, Value: f.value})
	}
	return m, nil
}

// write renders the body tree root under the header fields fs (fieldOf
// names the request's field for an error about a header field) and returns
// all the message's header fields and its bytes.
func write(o Options, fs []field, root *node, fieldOf func(name string) string) ([]field, []byte, error) {
	w := &writer{o: o}
	rootFields, body, err := w.render(root)
	if err != nil {
		return nil, nil, err
	}
	fs = append(fs, rootFields...)
	h, err := header(fs, fieldOf)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(body) + 1024)
	if err := textproto.WriteHeader(&buf, h); err != nil {
		return nil, nil, fmt.Errorf("compose: write header: %w", err)
	}
	buf.Write(body)
	return fs, buf.Bytes(), nil
}

// checkHeaders validates the custom headers of a Simple message (MessageHeader:
// name 1-126 printable ASCII without ':', value 1-995 printable ASCII; at
// most 15) and returns them as fields. Headers that Build writes itself or
// that only SES and the receiving side set are refused, and so is a second
// copy of a header SES allows only once. A Sender header is parsed into
// m.Sender, since SES checks it against the sender's identities.
func checkHeaders(hs []Header, m *Message) ([]field, error) {
	if len(hs) > MaxHeaders {
		return nil, invalid("Headers", "A message may have at most %d custom headers; this one has %d.", MaxHeaders, len(hs))
	}
	seen := map[string]bool{}
	var out []field
	for i, h := range hs {
		nf, vf := fmt.Sprintf("Headers[%d].Name", i), fmt.Sprintf("Headers[%d].Value", i)
		lname := strings.ToLower(h.Name)
		switch {
		case hasCRLF(h.Name):
			return nil, invalid(nf, "Header name must not contain CR or LF.")
		case h.Name == "":
			return nil, invalid(nf, "Header name must not be empty.")
		case len(h.Name) > MaxHeaderNameLength:
			return nil, invalid(nf, "Header name %q is longer than %d characters.", h.Name, MaxHeaderNameLength)
		case !isFieldName(h.Name):
			return nil, invalid(nf, "Header name %q may contain only printable ASCII characters other than ':'.", h.Name)
		case reserved(lname):
			return nil, invalid(nf, "Header %s cannot be set through Headers; it is set from the message's own fields or by the mail system.", h.Name)
		case seen[lname] && onceOnly[lname]:
			return nil, invalid(nf, "Header %s can't appear more than once in a message.", h.Name)
		case hasCRLF(h.Value):
			return nil, invalid(vf, "Value of header %s must not contain CR or LF.", h.Name)
		case h.Value == "":
			return nil, invalid(vf, "Value of header %s must not be empty.", h.Name)
		case len(h.Value) > MaxHeaderValueLength:
			return nil, invalid(vf, "Value of header %s is longer than %d characters.", h.Name, MaxHeaderValueLength)
		case !isPrintableASCII(h.Value):
			return nil, invalid(vf, "Value of header %s may contain only printable ASCII characters.", h.Name)
		}
		seen[lname] = true
		if lname == "sender" {
			mb, err := parseMailbox(vf, "The Sender address", h.Value)
			if err != nil {
				return nil, err
			}
			m.Sender = &mb
		}
		out = append(out, field{h.Name, h.Value})
	}
	return out, nil
}

// isFieldName reports whether s is an RFC 5322 field-name: printable ASCII
// except ':'.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}

// node is a MIME entity to be written: a leaf with its content fields and
// encoded body, or a multipart with children.
type node struct {
	fields []field
	body   []byte
	multi  string // "mixed", "alternative", "related"; "" for a leaf
	kids   []*node
}

func bodyTree(s Simple) (*node, error) {
	var parts []*node
	if s.Text != "" {
		n, err := textNode("Text", "text/plain", s.Text, s.TextCharset)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	} else if _, err := lookupCharset("TextCharset", s.TextCharset); err != nil {
		return nil, err
	}
	if s.HTML != "" {
		n, err := textNode("HTML", "text/html", s.HTML, s.HTMLCharset)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	} else if _, err := lookupCharset("HTMLCharset", s.HTMLCharset); err != nil {
		return nil, err
	}
	var inline, attached []*node
	for i, a := range s.Attachments {
		n, isInline, err := attachmentNode(i, a)
		if err != nil {
			return nil, err
		}
		if isInline {
			inline = append(inline, n)
		} else {
			attached = append(attached, n)
		}
	}

	var body *node
	switch len(parts) {
	case 2:
		body = &node{multi: "alternative", kids: parts}
	case 1:
		body = parts[0]
	}
	if body == nil && len(s.Attachments) == 0 {
		return textNode("Text", "text/plain", "", s.TextCharset)
	}
	if len(inline) > 0 {
		kids := inline
		if body != nil {
			kids = append([]*node{body}, inline...)
		}
		body = &node{multi: "related", kids: kids}
	}
	if len(attached) > 0 {
		kids := attached
		if body != nil {
			kids = append([]*node{body}, attached...)
		}
		body = &node{multi: "mixed", kids: kids}
	}
	return body, nil
}

// textNode converts text to its charset with CRLF line endings and encodes
// it quoted-printable, or base64 when that is shorter.
func textNode(fieldName, mediaType, text, charsetName string) (*node, error) {
	cs, err := lookupCharset(fieldName+"Charset", charsetName)
	if err != nil {
		return nil, err
	}
	if cs.utf8 && !utf8.ValidString(text) {
		return nil, invalid(fieldName, "%s is not valid UTF-8.", fieldName)
	}
	raw, err := cs.encode(string(toCRLF([]byte(text))))
	if err != nil {
		return nil, invalid(fieldName, "%s contains characters that charset %s cannot represent.", fieldName, cs.label)
	}
	cte, body := encodeBody(raw, escapesMost(raw))
	return &node{
		fields: []field{
			{"Content-Type", formatParams(mediaType, []param{{"charset", cs.label}})},
			{"Content-Transfer-Encoding", cte},
		},
		body: body,
	}, nil
}

// escapesMost reports whether quoted-printable would be longer than base64:
// more than one byte in six needs an =XX escape.
func escapesMost(b []byte) bool {
	n := 0
	for _, c := range b {
		if c >= 0x80 || c == '=' || (c < ' ' && c != '\r' && c != '\n' && c != '\t') {
			n++
		}
	}
	return n*6 > len(b)
}

// encodeBody encodes text (CRLF line endings) as quoted-printable or, if
// b64, base64. The result ends with CRLF unless it is empty: a
// quoted-printable body that does not end a line ends with a soft line
// break, which decodes to nothing.
func encodeBody(text []byte, b64 bool) (string, []byte) {
	if b64 {
		return "base64", base64Lines(text)
	}
	var buf bytes.Buffer
	qp := quotedprintable.NewWriter(&buf)
	qp.Write(text)
	qp.Close()
	if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\r\n")) {
		buf.WriteString("=\r\n")
	}
	return "quoted-printable", buf.Bytes()
}

// base64Lines encodes b as base64 in lines of 76 characters, each ending
// with CRLF (RFC 2045 §6.8).
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	out := make([]byte, 0, len(enc)+len(enc)/76*2+2)
	for len(enc) > 76 {
		out = append(out, enc[:76]...)
		out = append(out, '\r', '\n')
		enc = enc[76:]
	}
	if enc != "" {
		out = append(out, enc...)
		out = append(out, '\r', '\n')
	}
	return out
}

// byExtension maps common file name extensions to media types, for
// attachments without a ContentType (a fixed table, so the result does not
// depend on the host's mime.types).
var byExtension = map[string]string{
	".pdf": "application/pdf", ".zip": "application/zip", ".gz": "application/gzip",
	".json": "application/json", ".xml": "application/xml", ".ics": "text/calendar",
	".txt": "text/plain", ".csv": "text/csv", ".htm": "text/html", ".html": "text/html",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp", ".tif": "image/tiff",
	".tiff": "image/tiff", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".mp4": "video/mp4",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel",
	".ppt":  "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text", ".eml": "message/rfc822",
}

// attachmentNode checks an attachment (SES v2 Attachment shape) and makes
// its MIME part. It reports whether the part belongs in multipart/related
// (inline, with a Content-ID).
func attachmentNode(i int, a Attachment) (*node, bool, error) {
	f := func(name string) string { return fmt.Sprintf("Attachments[%d].%s", i, name) }
	switch {
	case hasCRLF(a.FileName):
		return nil, false, invalid(f("FileName"), "Attachment file name must not contain CR or LF.")
	case a.FileName == "":
		return nil, false, invalid(f("FileName"), "Attachment file name must be specified.")
	case utf8.RuneCountInString(a.FileName) > MaxFileNameLength:
		return nil, false, invalid(f("FileName"), "Attachment file name is longer than %d characters.", MaxFileNameLength)
	case !utf8.ValidString(a.FileName) || strings.ContainsFunc(a.FileName, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return nil, false, invalid(f("FileName"), "Attachment file name %q must be valid UTF-8 without control characters.", a.FileName)
	}

	ct := a.ContentType
	switch {
	case hasCRLF(ct):
		return nil, false, invalid(f("ContentType"), "Attachment content type must not contain CR or LF.")
	case len(ct) > MaxContentTypeLength:
		return nil, false, invalid(f("ContentType"), "Attachment content type is longer than %d characters.", MaxContentTypeLength)
	case ct == "":
		ct = byExtension[strings.ToLower(path.Ext(a.FileName))]
		if ct == "" {
			ct = "application/octet-stream"
		}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return nil, false, invalid(f("ContentType"), "Attachment content type %q is not a valid media type.", a.ContentType)
	}
	if strings.HasPrefix(mt, "multipart/") {
		return nil, false, invalid(f("ContentType"), "Attachment content type must not be multipart.")
	}
	var ps []param
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if k != "name" {
			ps = append(ps, param{k, params[k]})
		}
	}
	ps = append(ps, param{"name", a.FileName})

	disp := a.Disposition
	switch disp {
	case "", DispositionAttachment:
		disp = "attachment"
	case DispositionInline:
		disp = "inline"
	default:
		if hasCRLF(disp) {
			return nil, false, invalid(f("Disposition"), "Attachment content disposition must not contain CR or LF.")
		}
		return nil, false, invalid(f("Disposition"), "Attachment content disposition %q is not one of ATTACHMENT, INLINE.", a.Disposition)
	}

	fields := []field{
		{"Content-Type", formatParams(mt, ps)},
		{"Content-Disposition", formatParams(disp, []param{{"filename", a.FileName}})},
	}

	id := a.ContentID
	if id != "" {
		switch {
		case hasCRLF(id):
			return nil, false, invalid(f("ContentID"), "Attachment content ID must not contain CR or LF.")
		case len(id) > MaxContentIDLength:
			return nil, false, invalid(f("ContentID"), "Attachment content ID is longer than %d characters.", MaxContentIDLength)
		}
		if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") && len(id) >= 2 {
			id = id[1 : len(id)-1]
		}
		if id == "" || !isPrintableASCII(id) || strings.ContainsAny(id, "<> \t\"\\") {
			return nil, false, invalid(f("ContentID"), "Attachment content ID %q may contain only printable ASCII characters other than spaces, quotes, backslashes and angle brackets.", a.ContentID)
		}
		fields = append(fields, field{"Content-ID", "<" + id + ">"})
	}

	if d := a.Description; d != "" {
		switch {
		case hasCRLF(d):
			return nil, false, invalid(f("Description"), "Attachment content description must not contain CR or LF.")
		case utf8.RuneCountInString(d) > MaxDescriptionLength:
			return nil, false, invalid(f("Description"), "Attachment content description is longer than %d characters.", MaxDescriptionLength)
		}
		enc, err := encodeText(f("Description"), "Attachment content description", d, utf8Charset)
		if err != nil {
			return nil, false, err
		}
		fields = append(fields, field{"Content-Description", enc})
	}

	var cte string
	var body []byte
	switch a.TransferEncoding {
	case "", EncodingBase64:
		cte, body = "base64", base64Lines(a.Content)
	case EncodingQuotedPrintable:
		cte, body = encodeBody(toCRLF(a.Content), false)
	case EncodingSevenBit:
		cte, body = "7bit", toCRLF(a.Content)
		if !sevenBit(body) {
			return nil, false, invalid(f("TransferEncoding"), "Attachment content sent as SEVEN_BIT must be ASCII text without NUL characters, with lines of at most %d characters.", MaxLineLength)
		}
		if len(body) > 0 && !bytes.HasSuffix(body, []byte("\r\n")) {
			body = append(body, '\r', '\n')
		}
	default:
		if hasCRLF(a.TransferEncoding) {
			return nil, false, invalid(f("TransferEncoding"), "Attachment content transfer encoding must not contain CR or LF.")
		}
		return nil, false, invalid(f("TransferEncoding"), "Attachment content transfer encoding %q is not one of BASE64, QUOTED_PRINTABLE, SEVEN_BIT.", a.TransferEncoding)
	}
	fields = append(fields, field{"Content-Transfer-Encoding", cte})
	return &node{fields: fields, body: body}, disp == "inline" && id != "", nil
}

// sevenBit reports whether b (CRLF line endings) is valid 7bit content
// (RFC 2045 §2.7).
func sevenBit(b []byte) bool {
	n := 0
	for _, c := range b {
		switch {
		case c == 0 || c >= 0x80:
			return false
		case c == '\n':
			n = 0
		case c != '\r':
			if n++; n > MaxLineLength {
				return false
			}
		}
	}
	return true
}

// writer renders nodes, handing out boundaries in document order.
type writer struct{ o Options }

// render returns n's content header fields and its body.
func (w *writer) render(n *node) ([]field, []byte, error) {
	if n.multi == "" {
		return n.fields, n.body, nil
	}
	b := w.o.boundary()
	var buf bytes.Buffer
	mw := textproto.NewMultipartWriter(&buf)
	if err := mw.SetBoundary(b); err != nil {
		return nil, nil, fmt.Errorf("compose: boundary %q: %w", b, err)
	}
	for _, k := range n.kids {
		kf, kb, err := w.render(k)
		if err != nil {
			return nil, nil, err
		}
		h, err := header(kf, func(string) string { return "Attachments" })
		if err != nil {
			return nil, nil, err
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, nil, fmt.Errorf("compose: write part: %w", err)
		}
		pw.Write(kb)
	}
	if err := mw.Close(); err != nil {
		return nil, nil, fmt.Errorf("compose: write multipart: %w", err)
	}
	return []field{{"Content-Type", formatParams("multipart/"+n.multi, []param{{"boundary", b}})}}, buf.Bytes(), nil
}
