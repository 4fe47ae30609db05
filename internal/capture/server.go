package capture

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Hostname is the name the server greets with (required).
	Hostname string
	// Verifier computes the verdicts (required).
	Verifier *Verifier
	// Store keeps the messages (required).
	Store *Store
	// Sent finds the message Sesame sent under an SES MessageId: its
	// account, and whether it is one (required).
	Sent func(ctx context.Context, messageID string) (accountID string, ok bool, err error)
	// Captured, if not nil, is told every message stored.
	Captured func(*Message)
	// MaxMessageBytes bounds a message; 0: 40 MB (SES's limit) and a bit.
	MaxMessageBytes int64
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server is the capture MX: an SMTP server that accepts every recipient.
type Server struct {
	opts ServerOptions
	srv  *smtp.Server
}

// NewServer returns a Server.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Hostname == "" || o.Verifier == nil || o.Store == nil || o.Sent == nil {
		return nil, errors.New("capture: ServerOptions.Hostname, Verifier, Store and Sent are required")
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 41 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = o.Hostname
	s.srv.MaxMessageBytes = o.MaxMessageBytes
	s.srv.MaxRecipients = 1000
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	return s, nil
}

// Serve accepts connections on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			s.srv.Close()
			ln.Close() // Close may come before srv.Serve has taken ln, and would not close it
		case <-done:
		}
	}()
	err := s.srv.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// errTemporary is the reply when the capture MX cannot keep a message.
var errTemporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again"}

type session struct {
	s    *Server
	c    *smtp.Conn
	from string
	to   []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ip net.IP
	if a, ok := x.c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ip = a.IP
	}
	m := x.s.opts
	msg := &Message{MailFrom: x.from, Recipients: x.to, Raw: raw}
	msg.Verdicts = m.Verifier.Verify(ctx, ip, x.c.Hostname(), x.from, raw)
	hdr := header(raw)
	msg.From = hdr.Get("From")
	msg.Subject = decode(hdr.Get("Subject"))
	for _, id := range candidateIDs(x.from, hdr.Get("Message-Id")) {
		acct, ok, err := m.Sent(ctx, id)
		if err != nil {
			m.Logger.Error("capture: looking the message up failed", "message_id", id, "err", err)
			return errTemporary // the sender retries; a permanent reply would bounce it
		}
		if ok {
			msg.AccountID, msg.MessageID = acct, id
			break
		}
	}
	if err := m.Store.Add(ctx, msg); err != nil {
		m.Logger.Error("capture: storing a message failed", "err", err)
		return errTemporary
	}
	if n, err := m.Store.Prune(ctx); err != nil {
		m.Logger.Error("capture: pruning failed", "err", err)
	} else if n > 0 {
		m.Logger.Debug("capture: pruned", "messages", n)
	}
	if m.Captured != nil {
		m.Captured(msg)
	}
	return nil
}

// header parses the message's header section; an unparsable one is empty.
func header(raw []byte) mail.Header {
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return mail.Header{}
	}
	return m.Header
}

// decode decodes RFC 2047 words, leaving the text as it is when it cannot.
func decode(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// candidateIDs are where the SES MessageId may be: the local part of the
// return path (Sesame's envelope sender is <MessageId>@<MAIL FROM
// domain>), then the Message-ID header's.
func candidateIDs(mailFrom, messageIDHeader string) []string {
	var out []string
	if local, _, ok := strings.Cut(mailFrom, "@"); ok && local != "" {
		out = append(out, local)
	}
	h := strings.Trim(strings.TrimSpace(messageIDHeader), "<>")
	if local, _, ok := strings.Cut(h, "@"); ok && local != "" && (len(out) == 0 || out[0] != local) {
		out = append(out, local)
	}
	return out
}
