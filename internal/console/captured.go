package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the parts' charsets to UTF-8

	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/event"
)

// The captured mail of `sesame dev` (Options.Captured): a list, one
// message whole, and its parts each on a path of its own. The message's
// HTML is untrusted: it is served alone from capturedBodyPath with a
// sandboxing CSP and framed by <iframe sandbox>, so no script of it runs,
// in the console's origin or any other.

// capturedPageSize is how many captured messages a page lists.
const capturedPageSize = 50

// maxPartSize is how much of one MIME part the console reads.
const maxPartSize = 16 << 20

// capturedBodyCSP is the captured HTML's policy: a sandbox without
// allow-scripts or allow-same-origin (an opaque origin, no script), its
// own inline styles and data: images only (a remote image would tell its
// sender the mail was read; an open-tracking pixel would record an Open),
// framed only by the console.
const capturedBodyCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"

// capturedListData is the captured mail list's.
type capturedListData struct {
	Messages []*capture.Message
	// The filters, and the next page's Before.
	MessageID, Recipient, Sender string
	Next                         int64
}

// capturedFilter reads the list's filters.
func capturedFilter(r *http.Request) capture.Filter {
	q := r.URL.Query()
	f := capture.Filter{MessageID: strings.TrimSpace(q.Get("id")), Recipient: strings.TrimSpace(q.Get("rcpt")),
		Sender: strings.TrimSpace(q.Get("sender")), Limit: capturedPageSize}
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	return f
}

func (c *Console) capturedPage(w http.ResponseWriter, r *http.Request, se *session) {
	f := capturedFilter(r)
	ms, next, err := c.opts.Captured.List(r.Context(), se.AccountID, f)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	d := capturedListData{Messages: ms, MessageID: f.MessageID, Recipient: f.Recipient, Sender: f.Sender, Next: next}
	c.render(w, http.StatusOK, "captured", view{Title: "Captured mail", Session: se, Nav: "captured", Data: d})
}

// capturedMessage returns the session's account's captured message of the
// path's id, or answers 404 and returns nil.
func (c *Console) capturedMessage(w http.ResponseWriter, r *http.Request, se *session) *capture.Message {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.notFound(w, r, se)
		return nil
	}
	m, err := c.opts.Captured.Get(r.Context(), se.AccountID, id)
	switch {
	case errors.Is(err, capture.ErrNotFound):
		c.notFound(w, r, se)
		return nil
	case err != nil:
		c.internal(w, r, err)
		return nil
	}
	return m
}

// header is one header field, as received.
type header struct{ Key, Value string }

// attachment is one attachment of a captured message.
type attachment struct {
	N        int // its number, from 1, in the message's order
	Filename string
	Type     string // as declared
	Size     int
}

// parts are what a captured message's MIME structure holds.
type parts struct {
	Headers     []header
	HTML        []byte // the first text/html part not an attachment, decoded
	Text        string // the first text/plain part not an attachment, decoded
	Attachments []attachment
	Problem     string // why the structure could not be read whole
	data        [][]byte
}

// walk reads a captured message's header and parts with go-message.
func walk(raw []byte) *parts {
	p := &parts{}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		p.Problem = "The message's header cannot be read: " + err.Error()
		return p
	}
	fs := e.Header.Fields()
	for fs.Next() {
		v, err := fs.Text()
		if err != nil {
			v = fs.Value()
		}
		p.Headers = append(p.Headers, header{Key: fs.Key(), Value: v})
	}
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		typ, _, _ := part.Header.ContentType()
		if strings.HasPrefix(typ, "multipart/") {
			return nil
		}
		body, err := io.ReadAll(io.LimitReader(part.Body, maxPartSize))
		if err != nil {
			return err
		}
		disp, dp, _ := part.Header.ContentDisposition()
		name := dp["filename"]
		if name == "" {
			_, tp, _ := part.Header.ContentType()
			name = tp["name"]
		}
		switch {
		case disp != "attachment" && name == "" && typ == "text/html" && p.HTML == nil:
			p.HTML = body
		case disp != "attachment" && name == "" && (typ == "text/plain" || typ == "") && p.Text == "":
			p.Text = string(body)
		case disp == "attachment" || name != "" || !strings.HasPrefix(typ, "text/"):
			p.Attachments = append(p.Attachments, attachment{N: len(p.Attachments) + 1, Filename: name, Type: typ, Size: len(body)})
			p.data = append(p.data, body)
		}
		return nil
	})
	if err != nil {
		p.Problem = "Part of the message's MIME structure cannot be read: " + err.Error()
	}
	return p
}

// capturedData is one captured message's page.
type capturedData struct {
	M *capture.Message
	*parts
	HTMLSize int
	Events   []timelineEntry
}

func (c *Console) capturedMessagePage(w http.ResponseWriter, r *http.Request, se *session) {
	m := c.capturedMessage(w, r, se)
	if m == nil {
		return
	}
	d := capturedData{M: m, parts: walk(m.Raw)}
	d.HTMLSize = len(d.HTML)
	if m.MessageID != "" {
		rows, err := event.List(r.Context(), c.opts.DB, 0, 1000, se.AccountID, m.MessageID)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		for _, s := range rows {
			e, err := s.Event()
			if err != nil {
				c.log.Warn("console: unreadable event", "id", s.ID, "err", err)
				continue
			}
			d.Events = append(d.Events, describe(e, s.CreatedAt))
		}
	}
	// This page alone may frame, and only the message's sandboxed body.
	if src := frameSource(r, m.ID); src != "" {
		w.Header().Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy, "frame-ancestors", "frame-src "+src+"; frame-ancestors", 1))
	}
	title := m.Subject
	if title == "" {
		title = "(no subject)"
	}
	c.render(w, http.StatusOK, "capturedmessage", view{Title: title, Session: se, Nav: "captured", Data: d})
}

// frameSource is the CSP source of message id's body path on the host the
// browser asked for, or "" when that host is not a plain host[:port] (a
// CSP cannot quote it: no frame is allowed then).
func frameSource(r *http.Request, id int64) string {
	host := r.Host
	if host == "" || strings.ContainsFunc(host, func(c rune) bool {
		return !(c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune(".-:[]", c)))
	}) {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + host + Prefix + "captured/" + strconv.FormatInt(id, 10) + "/body"
}

// capturedBody serves the message's HTML alone, for the sandboxed frame.
func (c *Console) capturedBody(w http.ResponseWriter, r *http.Request, se *session) {
	m := c.capturedMessage(w, r, se)
	if m == nil {
		return
	}
	p := walk(m.Raw)
	if p.HTML == nil {
		c.notFound(w, r, se)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", capturedBodyCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write(p.HTML)
}

// capturedRaw downloads the message as received, as an .eml file.
func (c *Console) capturedRaw(w http.ResponseWriter, r *http.Request, se *session) {
	m := c.capturedMessage(w, r, se)
	if m == nil {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("captured-%d.eml", m.ID)}))
	w.Write(m.Raw)
}

// capturedAttachment downloads one attachment: never shown by the browser
// (Content-Disposition: attachment, application/octet-stream, nosniff),
// under a safe version of its name.
func (c *Console) capturedAttachment(w http.ResponseWriter, r *http.Request, se *session) {
	m := c.capturedMessage(w, r, se)
	if m == nil {
		return
	}
	p := walk(m.Raw)
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > len(p.Attachments) {
		c.notFound(w, r, se)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": safeFilename(p.Attachments[n-1].Filename, n)}))
	w.Write(p.data[n-1])
}

// safeFilename is name without any directory, control or quoting
// character, at most 100 characters; attachment-<n> when nothing is left.
func safeFilename(name string, n int) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || strings.ContainsRune(`"/\:*?<>|;`, r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(strings.TrimSpace(name), ".")
	if r := []rune(name); len(r) > 100 {
		name = string(r[len(r)-100:])
	}
	if name == "" {
		return "attachment-" + strconv.Itoa(n)
	}
	return name
}
