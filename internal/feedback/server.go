package feedback

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/smtpserve"
)

// Defaults of ServerOptions.
const (
	DefaultRetention       = 30 * 24 * time.Hour
	DefaultMaxMessageBytes = 40 << 20 // SES's largest message, which a DSN may enclose whole
	DefaultMaxConns        = 50
	DefaultMaxConnsPerIP   = 5 // per client network: an IPv4 /24, an IPv6 /64
	DefaultMaxRecipients   = 10
	DefaultTimeout         = 5 * time.Minute  // a command, or a whole DATA (40 MB at 140 KB/s)
	DefaultDataIdle        = 30 * time.Second // a DATA stream that sends nothing
	DefaultMaxSession      = 15 * time.Minute // a connection, however busy
	// DefaultMaxPrefixBytes is how much of a report is kept: the parts a
	// DSN or an ARF report needs (their human-readable and machine-readable
	// parts come before the enclosed original), and more.
	DefaultMaxPrefixBytes = 1 << 20
	DefaultMaxHeldBytes   = 16 << 20         // reports' prefixes held at once, across connections
	DefaultHeldWait       = 10 * time.Second // how long a report waits for held bytes to come free
	// DefaultHeldShare is the share of MaxHeldBytes one client network
	// may hold: a quarter.
	DefaultHeldShare = 4
)

// ServerOptions configures a Server.
type ServerOptions struct {
	Processor *Processor // required; its queue holds the messages feedback is accepted for
	// Origin decides whether a report comes from the side of the
	// recipient it is about; required. Its Resolver also verifies the
	// reports' DKIM signatures (origin.VerifyDKIM), as they stream in.
	Origin *origin.Checker
	// Hostname is the name the server gives in its greeting; required
	// (feedback-smtp.<region>.<service domain>).
	Hostname string
	// Retention is how long after a message was accepted feedback about it
	// is taken; 0: DefaultRetention.
	Retention time.Duration
	// MaxMessageBytes bounds a message (552 beyond it); 0:
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxPrefixBytes is how much of a message is kept and parsed; the
	// rest is read and discarded (but counts for MaxMessageBytes). 0:
	// DefaultMaxPrefixBytes.
	MaxPrefixBytes int64
	// MaxHeldBytes bounds the prefixes held at once across all
	// connections, and MaxHeldPerNetwork those of connections from one
	// client network (an IPv4 /24, an IPv6 /64). A prefix holds (and
	// reserves) what it has read, in steps of 64 KiB; the first step is
	// every connection's own, outside the bound (MaxConns × 64 KiB in
	// all), and a prefix that finds no room for its next step within
	// HeldWait stops there: the report is parsed from what was kept.
	// 0: DefaultMaxHeldBytes, MaxHeldBytes/DefaultHeldShare (at least
	// MaxPrefixBytes), DefaultHeldWait.
	MaxHeldBytes      int64
	MaxHeldPerNetwork int64
	HeldWait          time.Duration
	// MaxConns and MaxConnsPerIP bound open connections, in all and from
	// one client network (an IPv4 /24, an IPv6 /64); more are answered 421
	// and closed. 0: DefaultMaxConns, DefaultMaxConnsPerIP.
	MaxConns, MaxConnsPerIP int
	// MaxSession bounds a connection's whole life; 0: DefaultMaxSession.
	MaxSession time.Duration
	// MaxRecipients bounds RCPT commands per message; 0:
	// DefaultMaxRecipients.
	MaxRecipients int
	// Timeout bounds each command read and reply write, and the whole of
	// a message's DATA; 0: DefaultTimeout.
	Timeout time.Duration
	// DataIdle bounds the wait for each read of a message's DATA: a
	// sender that stops sending for that long is disconnected, and what
	// it held is freed. 0: DefaultDataIdle.
	DataIdle time.Duration
	// MaxReportLookups and ReportLookupTime bound the DNS lookups one
	// report causes (its DKIM keys' and the origin checks' for every
	// message it is addressed to, together) and the time spent waiting
	// for them; MaxReportDomains bounds the distinct recipient domains it
	// is checked for (recipients at further domains are not verified).
	// Beyond them the report is not verified for the remaining
	// recipients, and not retried. 0: DefaultMaxReportLookups,
	// DefaultReportLookupTime, DefaultMaxReportDomains.
	MaxReportLookups int
	ReportLookupTime time.Duration
	MaxReportDomains int
	// TLSConfig, when set, offers STARTTLS (a configured certificate, or
	// SelfSignedTLS).
	TLSConfig *tls.Config
	// Unsubscribe, when set, takes the mailto: addresses of the
	// List-Unsubscribe headers of mail sent with ListManagementOptions
	// (unsub.Service): a recipient it recognises (its token genuine) is
	// accepted, and a message to it is honoured as an unsubscribe once
	// received, whatever it says. It is never a bounce or a complaint.
	Unsubscribe Unsubscriber
	Logger      *slog.Logger     // nil: discard
	Now         func() time.Time // nil: time.Now
}

// Unsubscriber is the mailto: unsubscribe of ServerOptions.Unsubscribe.
type Unsubscriber interface {
	// IsUnsubscribeAddress reports whether rcpt is an unsubscribe address
	// with a genuine token (no query).
	IsUnsubscribeAddress(rcpt string) bool
	// Mail honours a message received at rcpt.
	Mail(ctx context.Context, rcpt string) error
}

// Server is the feedback MX: an SMTP server that takes bounces and
// complaints addressed to the envelope senders of the mail Sesame sent.
type Server struct {
	opts   ServerOptions
	now    func() time.Time
	log    *slog.Logger
	budget *smtpserve.Budget
}

// NewServer returns a Server.
func NewServer(opts ServerOptions) (*Server, error) {
	switch {
	case opts.Processor == nil || opts.Hostname == "" || opts.Origin == nil || opts.Origin.Resolver == nil:
		return nil, errors.New("feedback: Processor, Hostname and Origin (with a Resolver) are required")
	case opts.Retention < 0 || opts.MaxMessageBytes < 0 || opts.MaxConns < 0 || opts.MaxConnsPerIP < 0 || opts.MaxSession < 0 || opts.MaxRecipients < 0 || opts.Timeout < 0 ||
		opts.MaxPrefixBytes < 0 || opts.MaxHeldBytes < 0 || opts.MaxHeldPerNetwork < 0 || opts.HeldWait < 0 || opts.DataIdle < 0 ||
		opts.MaxReportLookups < 0 || opts.ReportLookupTime < 0 || opts.MaxReportDomains < 0:
		return nil, errors.New("feedback: limits must not be negative")
	}
	s := &Server{opts: opts, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	o := &s.opts
	o.Retention = cmp.Or(o.Retention, DefaultRetention)
	o.MaxMessageBytes = cmp.Or(o.MaxMessageBytes, DefaultMaxMessageBytes)
	o.MaxConns = cmp.Or(o.MaxConns, DefaultMaxConns)
	o.MaxConnsPerIP = cmp.Or(o.MaxConnsPerIP, DefaultMaxConnsPerIP)
	o.MaxSession = cmp.Or(o.MaxSession, DefaultMaxSession)
	o.MaxRecipients = cmp.Or(o.MaxRecipients, DefaultMaxRecipients)
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	o.MaxPrefixBytes = cmp.Or(o.MaxPrefixBytes, DefaultMaxPrefixBytes)
	o.MaxHeldBytes = cmp.Or(o.MaxHeldBytes, DefaultMaxHeldBytes)
	o.HeldWait = cmp.Or(o.HeldWait, DefaultHeldWait)
	o.MaxHeldPerNetwork = cmp.Or(o.MaxHeldPerNetwork, max(o.MaxHeldBytes/DefaultHeldShare, o.MaxPrefixBytes))
	o.DataIdle = cmp.Or(o.DataIdle, DefaultDataIdle)
	o.MaxReportLookups = cmp.Or(o.MaxReportLookups, DefaultMaxReportLookups)
	o.ReportLookupTime = cmp.Or(o.ReportLookupTime, DefaultReportLookupTime)
	o.MaxReportDomains = cmp.Or(o.MaxReportDomains, DefaultMaxReportDomains)
	if o.MaxPrefixBytes > o.MaxHeldPerNetwork || o.MaxHeldPerNetwork > o.MaxHeldBytes {
		return nil, errors.New("feedback: MaxPrefixBytes must not exceed MaxHeldPerNetwork, nor that MaxHeldBytes")
	}
	s.budget = smtpserve.NewBudget(o.MaxHeldBytes, o.MaxHeldPerNetwork, o.HeldWait)
	return s, nil
}

// Serve answers SMTP on ln until ctx ends, then closes ln and every open
// connection.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		// go-smtp's sessions have no context: each gets one that ends
		// with it (Logout, which go-smtp calls when the connection
		// closes, also on the server's shutdown), or at MaxSession.
		sctx, cancel := context.WithTimeout(ctx, s.opts.MaxSession)
		return &session{s: s, ctx: sctx, cancel: cancel, conn: c, remote: smtpserve.RemoteIP(c.Conn())}, nil
	}))
	srv.Domain = s.opts.Hostname
	srv.TLSConfig = s.opts.TLSConfig
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.ReadTimeout = s.opts.Timeout
	srv.WriteTimeout = s.opts.Timeout
	srv.ErrorLog = smtpserve.Logger(s.log, "feedback-smtp")
	lln := smtpserve.Limit(ln, smtpserve.Limits{Max: s.opts.MaxConns, PerNetwork: s.opts.MaxConnsPerIP, Session: s.opts.MaxSession})
	return smtpserve.Serve(ctx, srv, lln)
}

// session is one SMTP transaction at a time on one connection.
type session struct {
	s      *Server
	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	conn   *smtp.Conn
	remote string
	helo   string // the EHLO/HELO name, when MAIL was given
	from   string // the envelope sender; "" for <>
	rcpts  []*queue.Sent
	unsubs []string // mailto: unsubscribe recipients
}

func (x *session) Reset()        { x.from, x.helo, x.rcpts, x.unsubs = "", "", nil, nil }
func (x *session) Logout() error { x.cancel(); return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from // DSNs come from <>, ARF reports from anyone
	x.helo = x.conn.Hostname()
	return nil
}

// Rcpt accepts only the envelope sender of a message Sesame sent within
// the retention window.
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := x.s
	refuse := func(why string) error {
		s.log.Info("feedback recipient refused", "remote_ip", x.remote, "mail_from", x.from, "rcpt", to, "why", why)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: fmt.Sprintf("<%s>: no such feedback address: this server takes only bounces and complaints about mail it sent, at that mail's return path", to)}
	}
	if u := s.opts.Unsubscribe; u != nil && len(to) <= 1024 && u.IsUnsubscribeAddress(to) {
		if !slices.Contains(x.unsubs, to) {
			x.unsubs = append(x.unsubs, to)
		}
		return nil
	}
	id, _, ok := strings.Cut(to, "@")
	if !ok || id == "" || len(to) > 320 {
		return refuse("not an address")
	}
	// MessageIds are lower case; some MTAs upper-case the whole address.
	sent, err := s.opts.Processor.opts.Queue.Lookup(x.ctx, strings.ToLower(id))
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return refuse("no such message")
	case err != nil:
		s.log.Error("feedback recipient lookup failed", "rcpt", to, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary failure; try again later"}
	case !strings.EqualFold(sent.MailFrom, to):
		return refuse("not the message's return path " + sent.MailFrom)
	case s.now().Sub(sent.AcceptedAt) > s.opts.Retention:
		return refuse("the message is older than the retention window")
	}
	for _, r := range x.rcpts {
		if r.ID == sent.ID {
			return nil
		}
	}
	x.rcpts = append(x.rcpts, sent)
	return nil
}

// Held reports how many bytes of reports the server holds in memory now,
// across its connections (at most ServerOptions.MaxHeldBytes).
func (s *Server) Held() int64 { return s.budget.Held() }

// Data reads the report (keeping its first MaxPrefixBytes, verifying its
// DKIM signatures as it streams), checks where it comes from and applies
// it to each recipient's message, all within the report's bounds on DNS
// lookups (reportCheck).
func (x *session) Data(r io.Reader) error {
	s := x.s
	if len(x.rcpts) == 0 && len(x.unsubs) > 0 {
		return x.unsubscribe(r)
	}
	check := newReportCheck(x.ctx, s.opts.Origin, s.opts.MaxReportLookups, s.opts.ReportLookupTime, s.opts.MaxReportDomains)
	pr, pw := io.Pipe()
	type dkimResult struct {
		res []origin.DKIMResult
		err error
	}
	dkimc := make(chan dkimResult, 1)
	go func() {
		res, err := origin.VerifyDKIM(x.ctx, check.Resolver(), pr)
		pr.CloseWithError(io.ErrClosedPipe) // should it not have read to the end, writes fail rather than block
		dkimc <- dkimResult{res, err}
	}()
	idle := &smtpserve.IdleReader{R: r, C: x.conn.Conn(), Idle: s.opts.DataIdle, End: time.Now().Add(s.opts.Timeout)}
	rc, err := receive(x.ctx, idle, s.opts.MaxPrefixBytes, s.budget.Open(smtpserve.ClientNetwork(x.remote)), pw)
	pw.CloseWithError(err)
	dk := <-dkimc
	if err != nil {
		s.log.Info("feedback message refused", "remote_ip", x.remote, "err", err)
		return idle.Failed(err, x.conn)
	}
	defer rc.release()
	if dk.err != nil {
		s.log.Info("feedback DKIM signatures not verified", "remote_ip", x.remote, "err", dk.err)
	}
	rep, err := bounce.Parse(rc.prefix)
	if err != nil {
		s.log.Info("feedback message refused: not a mail message", "remote_ip", x.remote, "mail_from", x.from, "size", rc.size, "err", err)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "the message could not be read as a mail message"}
	}
	ip, _ := netip.ParseAddr(x.remote)
	in := &Received{Raw: rc.prefix, Size: rc.size, Report: rep, Check: check.Check,
		Evidence: origin.Evidence{RemoteIP: ip, HELO: x.helo, MailFrom: x.from, DKIM: dk.res}}
	// The checks end with the session (check); what they found is stored
	// even when the session has just ended (the sender, without a reply,
	// retries; the report is kept meanwhile), within Timeout.
	actx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), s.opts.Timeout)
	defer cancel()
	res, err := s.opts.Processor.Apply(actx, in, x.rcpts...)
	if err != nil {
		s.log.Error("feedback could not be applied; the sender will retry", "remote_ip", x.remote, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary failure; try again later"}
	}
	// Unsubscribe addresses among the recipients of a report: honoured
	// too; nothing of the report is feedback for them.
	if err := x.applyUnsubscribes(); err != nil {
		return err
	}
	temporary := false
	for i, sent := range x.rcpts {
		r := res[i]
		temporary = temporary || r.Temporary
		s.log.Info("feedback received", "remote_ip", x.remote, "helo", x.helo, "mail_from", x.from, "message_id", sent.ID, "account", sent.AccountID,
			"kind", rep.Kind, "format", rep.Format, "size", rc.size, "prefix_cut", rc.cut, "outcome", r.outcome(), "report_id", r.StoredID, "checked", r.Checked,
			"events", r.Events, "suppressed", r.Suppressed, "forwarded", r.Forwarded, "ignored", r.Ignored, "duplicate", r.Duplicate,
			"temporary", r.Temporary)
	}
	if temporary {
		// What was verified is applied; the rest waits for the retry,
		// which finds the applied part a duplicate.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 3}, Message: "temporary DNS failure; try again later"}
	}
	return nil
}

// unsubscribe takes a message sent only to mailto: unsubscribe addresses:
// its content does not matter (RFC 2369), so it is read and discarded,
// within the message size limit and the DATA timeouts, then honoured.
func (x *session) unsubscribe(r io.Reader) error {
	s := x.s
	idle := &smtpserve.IdleReader{R: r, C: x.conn.Conn(), Idle: s.opts.DataIdle, End: time.Now().Add(s.opts.Timeout)}
	if _, err := io.Copy(io.Discard, idle); err != nil {
		s.log.Info("unsubscribe message refused", "remote_ip", x.remote, "err", err)
		return idle.Failed(err, x.conn)
	}
	return x.applyUnsubscribes()
}

// applyUnsubscribes honours the session's mailto: unsubscribe recipients.
func (x *session) applyUnsubscribes() error {
	s := x.s
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), s.opts.Timeout)
	defer cancel()
	for _, to := range x.unsubs {
		if err := s.opts.Unsubscribe.Mail(ctx, to); err != nil {
			s.log.Error("mailto unsubscribe could not be applied; the sender will retry", "remote_ip", x.remote, "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary failure; try again later"}
		}
		s.log.Info("mailto unsubscribe received", "remote_ip", x.remote, "mail_from", x.from)
	}
	x.unsubs = nil
	return nil
}
