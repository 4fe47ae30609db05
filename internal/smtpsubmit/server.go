package smtpsubmit

import (
	"cmp"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sigv4"
	"github.com/sesame-email/sesame/internal/smtpserve"
)

// Defaults of Options.
const (
	DefaultMaxMessageBytes = send.MaxSizeV2 // SES's SMTP limit: 40 MB
	DefaultMaxRecipients   = 1000
	DefaultMaxConns        = 500
	DefaultMaxConnsPerIP   = 50 // per client network: an IPv4 /24, an IPv6 /64
	DefaultMaxSession      = time.Hour
	DefaultTimeout         = 5 * time.Minute  // RFC 5321 §4.5.3.2: 5 minutes for a command
	DefaultDataTimeout     = 10 * time.Minute // a whole DATA: 40 MB at 70 KB/s
	DefaultDataIdle        = time.Minute      // a DATA stream that sends nothing
	DefaultAuthDelayAfter  = 3
	DefaultAuthBlockAfter  = 10
	DefaultAuthDelay       = time.Second
	DefaultAuthBlock       = 15 * time.Minute
	DefaultMaxHeldBytes    = 512 << 20 // messages held in memory at once, across connections
	DefaultMaxHeldPerIP    = 128 << 20 // of them, from one client network
	DefaultHeldWait        = 10 * time.Second
)

// Submitter is the admission door (send.Sender).
type Submitter interface {
	Submit(ctx context.Context, r send.Request) (send.Result, error)
}

// Options configures a Server.
type Options struct {
	// Sender takes every message; required.
	Sender Submitter
	// Secret returns an access key's secret and account
	// (account.Store.Secret); an unknown key is an error matching
	// account.ErrUnknownKey. Required.
	Secret func(ctx context.Context, accessKeyID string) (secret, accountID string, err error)
	// Region is the deployment's region, which SMTP passwords are derived
	// for; required.
	Region string
	// Hostname is the name in the greeting; required.
	Hostname string
	// TLSConfig serves STARTTLS and implicit TLS; required.
	TLSConfig *tls.Config
	// MaxMessageBytes bounds a message (552 beyond it); 0:
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients bounds RCPT commands per message (452 beyond); 0:
	// DefaultMaxRecipients.
	MaxRecipients int
	// MaxConns and MaxConnsPerIP bound open connections, in all and per
	// client network; 0: DefaultMaxConns, DefaultMaxConnsPerIP.
	MaxConns, MaxConnsPerIP int
	// MaxSession bounds a connection's whole life; 0: DefaultMaxSession.
	MaxSession time.Duration
	// Timeout bounds each command's read and each reply's write; 0:
	// DefaultTimeout.
	Timeout time.Duration
	// DataTimeout bounds a whole DATA, DataIdle each read of it; 0:
	// DefaultDataTimeout, DefaultDataIdle.
	DataTimeout, DataIdle time.Duration
	// Failed AUTH attempts from one client address (see the package doc):
	// AuthDelayAfter failures start the delays of AuthDelay, AuthBlockAfter
	// refuse the address for AuthBlock. 0: the defaults.
	AuthDelayAfter, AuthBlockAfter int
	AuthDelay, AuthBlock           time.Duration
	// MaxHeldBytes bounds the bytes of messages held in memory at once
	// (read, then submitted), across the server's connections, beyond
	// each connection's first 64 KiB; MaxHeldPerIP those from one client
	// network, at least MaxMessageBytes. A message whose buffer cannot
	// grow within HeldWait is refused "452 4.3.1" (temporary). 0:
	// DefaultMaxHeldBytes, DefaultMaxHeldPerIP, DefaultHeldWait.
	MaxHeldBytes, MaxHeldPerIP int64
	HeldWait                   time.Duration
	Logger                     *slog.Logger     // nil: discard
	Now                        func() time.Time // nil: time.Now
}

// Server is the SMTP submission server. Serve may be called for several
// listeners; they share the limits on failed AUTH attempts.
type Server struct {
	opts   Options
	log    *slog.Logger
	guard  *authGuard
	budget *smtpserve.Budget // messages held in memory
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Sender == nil || opts.Secret == nil || opts.Region == "" || opts.Hostname == "" || opts.TLSConfig == nil:
		return nil, errors.New("smtpsubmit: Sender, Secret, Region, Hostname and TLSConfig are required")
	case opts.MaxMessageBytes < 0 || opts.MaxRecipients < 0 || opts.MaxConns < 0 || opts.MaxConnsPerIP < 0 || opts.MaxSession < 0 ||
		opts.Timeout < 0 || opts.DataTimeout < 0 || opts.DataIdle < 0 || opts.AuthDelayAfter < 0 || opts.AuthBlockAfter < 0 ||
		opts.AuthDelay < 0 || opts.AuthBlock < 0 || opts.MaxHeldBytes < 0 || opts.MaxHeldPerIP < 0 || opts.HeldWait < 0:
		return nil, errors.New("smtpsubmit: limits must not be negative")
	}
	o := opts
	o.MaxMessageBytes = cmp.Or(o.MaxMessageBytes, DefaultMaxMessageBytes)
	o.MaxRecipients = cmp.Or(o.MaxRecipients, DefaultMaxRecipients)
	o.MaxConns = cmp.Or(o.MaxConns, DefaultMaxConns)
	o.MaxConnsPerIP = cmp.Or(o.MaxConnsPerIP, DefaultMaxConnsPerIP)
	o.MaxSession = cmp.Or(o.MaxSession, DefaultMaxSession)
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	o.DataTimeout = cmp.Or(o.DataTimeout, DefaultDataTimeout)
	o.DataIdle = cmp.Or(o.DataIdle, DefaultDataIdle)
	o.AuthDelayAfter = cmp.Or(o.AuthDelayAfter, DefaultAuthDelayAfter)
	o.AuthBlockAfter = cmp.Or(o.AuthBlockAfter, DefaultAuthBlockAfter)
	o.AuthDelay = cmp.Or(o.AuthDelay, DefaultAuthDelay)
	o.AuthBlock = cmp.Or(o.AuthBlock, DefaultAuthBlock)
	o.MaxHeldBytes = cmp.Or(o.MaxHeldBytes, DefaultMaxHeldBytes)
	o.MaxHeldPerIP = cmp.Or(o.MaxHeldPerIP, DefaultMaxHeldPerIP)
	o.HeldWait = cmp.Or(o.HeldWait, DefaultHeldWait)
	if o.AuthBlockAfter < o.AuthDelayAfter {
		return nil, errors.New("smtpsubmit: AuthBlockAfter must not be below AuthDelayAfter")
	}
	if o.MaxMessageBytes > o.MaxHeldPerIP || o.MaxHeldPerIP > o.MaxHeldBytes {
		return nil, errors.New("smtpsubmit: MaxMessageBytes must not exceed MaxHeldPerIP, nor that MaxHeldBytes")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.guard = newAuthGuard(o.Now, o.AuthDelayAfter, o.AuthBlockAfter, o.AuthDelay, o.AuthBlock)
	s.budget = smtpserve.NewBudget(o.MaxHeldBytes, o.MaxHeldPerIP, o.HeldWait)
	return s, nil
}

// Held reports how many bytes of messages the server holds in memory now
// from its budget (at most Options.MaxHeldBytes; each connection's first
// 64 KiB are not counted).
func (s *Server) Held() int64 { return s.budget.Held() }

// Serve answers SMTP on ln until ctx ends, then closes ln and every open
// connection. With implicitTLS, every connection starts with a TLS
// handshake (port 465 style); without, STARTTLS is offered (port 587
// style).
func (s *Server) Serve(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		// go-smtp's sessions have no context: each gets one that ends
		// with it (Logout, also at STARTTLS and at the server's
		// shutdown).
		sctx, cancel := context.WithCancel(ctx)
		return &session{s: s, ctx: sctx, cancel: cancel, conn: c, remote: smtpserve.RemoteIP(c.Conn())}, nil
	}))
	srv.Domain = s.opts.Hostname
	srv.TLSConfig = s.opts.TLSConfig
	// go-smtp would answer AUTH before TLS with its own 523; the session
	// answers it with SES's 530 (and offers no mechanism before TLS).
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.ReadTimeout = s.opts.Timeout
	srv.WriteTimeout = s.opts.Timeout
	srv.ErrorLog = smtpserve.Logger(s.log, "smtp")
	// Behind implicit TLS a refusal is a close: the client expects a
	// ServerHello, not a plaintext "421".
	lln := smtpserve.Limit(ln, smtpserve.Limits{Max: s.opts.MaxConns, PerNetwork: s.opts.MaxConnsPerIP, Session: s.opts.MaxSession,
		Refuse: s.guard.refuseConn, Quiet: implicitTLS})
	if implicitTLS {
		lln = tls.NewListener(lln, s.opts.TLSConfig)
	}
	return smtpserve.Serve(ctx, srv, lln)
}

// The replies of the package doc.
var (
	errStartTLS     = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errBadAuth      = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication Credentials Invalid"}
	errAuthTemp     = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure; try again later"}
	errTemporary    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem; try again later"}
	errBadMailFrom  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Invalid MAIL FROM address provided"}
	errUnknownMech  = &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unrecognized authentication type; use PLAIN or LOGIN"}
	errHeld         = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system resources; try again later"}
)

// session is one SMTP session on one connection (a new one after
// STARTTLS).
type session struct {
	s      *Server
	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	conn   *smtp.Conn
	remote string

	keyID, accountID string // once authenticated
	password         string // the password that authenticated
	from             string
	rcpts            []string
	// authOpen says an AUTH exchange began whose credentials were not
	// judged yet (settleAuth). Atomic: go-smtp calls Logout from another
	// goroutine when the server closes.
	authOpen atomic.Bool
}

func (x *session) Reset()        { x.settleAuth(); x.from, x.rcpts = "", nil }
func (x *session) Logout() error { x.settleAuth(); x.cancel(); return nil }

func (x *session) tls() bool {
	_, ok := x.conn.TLSConnectionState()
	return ok
}

// AuthMechanisms offers PLAIN and LOGIN, once the connection is
// encrypted.
func (x *session) AuthMechanisms() []string {
	if !x.tls() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts an AUTH exchange: refused before TLS, delayed or refused
// for an address with failures, then PLAIN or LOGIN checked by login.
func (x *session) Auth(mech string) (sasl.Server, error) {
	if !x.tls() {
		return nil, errStartTLS
	}
	x.settleAuth()
	if err := x.s.guard.wait(x.ctx, x.remote); err != nil {
		return nil, err
	}
	srv, err := x.saslServer(mech)
	if err != nil {
		return nil, err
	}
	x.authOpen.Store(true)
	return &countedServer{x: x, srv: srv}, nil
}

// countedServer is a SASL exchange whose malformed responses count as
// failed attempts, as wrong credentials do: go-sasl's errors (PLAIN
// without its NULs, a response after the end) would otherwise be
// answered by go-smtp without the session knowing.
type countedServer struct {
	x   *session
	srv sasl.Server
}

func (c *countedServer) Next(response []byte) (challenge []byte, done bool, err error) {
	challenge, done, err = c.srv.Next(response)
	if err != nil && c.x.authOpen.Swap(false) {
		return nil, false, c.x.fail("", "malformed AUTH response: "+err.Error())
	}
	return challenge, done, err
}

// settleAuth counts an AUTH exchange that ended without its credentials
// being judged (go-smtp answered a response that is not base64, or a
// cancel "*", itself; or the client left mid-exchange) as a failed
// attempt. The session sees that at its next call: another AUTH, MAIL,
// RSET or HELO, or the end of the connection.
func (x *session) settleAuth() {
	if x.authOpen.Swap(false) {
		x.fail("", "AUTH exchange abandoned: a response not in base64, a cancel, or the connection closed")
	}
}

// saslServer returns the server side of mech, checking credentials with
// login.
func (x *session) saslServer(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return x.fail(user, "the authorization identity is not the user")
			}
			return x.login(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{auth: x.login}, nil
	}
	return nil, errUnknownMech
}

// login checks an access key id and its SMTP password.
func (x *session) login(user, pass string) error {
	x.authOpen.Store(false) // judged here
	if !plausibleKeyID(user) {
		return x.fail(user, "not an access key id")
	}
	accountID, err := x.check(user, pass)
	switch {
	case errors.Is(err, errBadAuth):
		return x.fail(user, "unknown key or wrong password")
	case err != nil:
		x.s.log.Error("SMTP AUTH: key lookup failed", "remote_ip", x.remote, "access_key_id", user, "err", err)
		return errAuthTemp
	}
	x.s.guard.success(x.remote, user)
	x.keyID, x.accountID, x.password = user, accountID, pass
	x.s.log.Debug("SMTP AUTH succeeded", "remote_ip", x.remote, "access_key_id", user, "account", accountID)
	return nil
}

// check returns the account of the key when pass is its SMTP password
// now; errBadAuth when the key is unknown or the password wrong.
func (x *session) check(keyID, pass string) (accountID string, err error) {
	secret, accountID, err := x.s.opts.Secret(x.ctx, keyID)
	if errors.Is(err, account.ErrUnknownKey) {
		return "", errBadAuth
	}
	if err != nil {
		return "", err
	}
	want := sigv4.SMTPPassword(secret, x.s.opts.Region)
	if subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
		return "", errBadAuth
	}
	return accountID, nil
}

// fail counts a failed attempt and logs it.
func (x *session) fail(user, why string) error {
	x.authOpen.Store(false)
	n, blocked := x.s.guard.fail(x.remote, user)
	x.s.log.Info("SMTP AUTH failed", "remote_ip", x.remote, "user", clip(user), "why", why, "failures", n)
	if blocked {
		x.s.log.Warn("SMTP AUTH: too many failures; address refused", "remote_ip", x.remote, "failures", n, "for", x.s.opts.AuthBlock)
	}
	return errBadAuth
}

// Mail starts a message: only once authenticated, and only while the key
// still works (looked up again).
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.settleAuth()
	if x.keyID == "" {
		return errAuthRequired
	}
	accountID, err := x.check(x.keyID, x.password)
	switch {
	case err == nil && accountID != x.accountID:
		err = errBadAuth
		fallthrough
	case errors.Is(err, errBadAuth):
		x.s.log.Info("SMTP session ended: its access key no longer works", "remote_ip", x.remote, "access_key_id", x.keyID)
		x.keyID = ""
		return errBadAuth
	case err != nil:
		x.s.log.Error("SMTP MAIL: key lookup failed", "remote_ip", x.remote, "access_key_id", x.keyID, "err", err)
		return errTemporary
	}
	// SES's SMTP interface answers a null or malformed reverse path with
	// this reply; a null one would also make the account's verified
	// sender unknowable for the admission check.
	if _, err := addr.ParseAddress(from); err != nil {
		return errBadMailFrom
	}
	x.from, x.rcpts = from, nil
	return nil
}

// Rcpt adds a recipient (go-smtp bounds their number).
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.rcpts = append(x.rcpts, to)
	return nil
}

// Data reads the message and submits it. The message is held in a buffer
// taken from the server's budget as it grows, and given back once the
// admission door has answered; when the budget has no room within
// Options.HeldWait, the rest of the message is read and discarded, and
// the reply is "452 4.3.1" (the client retries).
func (x *session) Data(r io.Reader) error {
	s := x.s
	idle := &smtpserve.IdleReader{R: r, C: x.conn.Conn(), Idle: s.opts.DataIdle, End: time.Now().Add(s.opts.DataTimeout)}
	h := s.budget.Open(smtpserve.ClientNetwork(x.remote))
	defer h.Close()
	raw, err := readHeld(x.ctx, idle, h, s.opts.MaxMessageBytes)
	if errors.Is(err, smtpserve.ErrBusy) {
		if x.ctx.Err() != nil { // the server is stopping
			return errTemporary
		}
		s.log.Warn("SMTP message refused: too many message bytes held; the client will retry", "remote_ip", x.remote, "account", x.accountID,
			"read", len(raw), "held", s.budget.Held(), "max_held", s.opts.MaxHeldBytes, "max_held_per_ip", s.opts.MaxHeldPerIP)
		raw = nil
		h.Close()
		// The rest is read (within the size and time bounds) and
		// dropped, so that the reply follows the end of DATA.
		if _, err := io.Copy(io.Discard, idle); err != nil {
			return idle.Failed(err, x.conn)
		}
		return errHeld
	}
	if err != nil {
		return idle.Failed(err, x.conn)
	}
	return x.submit(raw)
}

// heldStep is a message buffer's first size, every connection's own: it
// is not taken from the budget, so small messages never wait for others
// (what that costs is bounded by the connection limit: MaxConns × 64 KiB
// per listener). Beyond it the buffer grows (grow), up to the size
// limit, and each growth is taken from the budget before it is made.
const heldStep = 64 << 10

// grow is a buffer's next size: double up to 1 MiB, then a quarter more
// (rounded up to 64 KiB), so that what a large message reserves is
// within a quarter of its size while the copying stays linear.
func grow(size int64) int64 {
	if size < 1<<20 {
		return 2 * size
	}
	return (size + size/4 + heldStep - 1) / heldStep * heldStep
}

// readHeld reads r to its end into a buffer that grows as heldStep says,
// taking the growth from h; at most limit bytes (go-smtp's reader
// enforces the limit; one more byte is go-smtp's 552). On
// smtpserve.ErrBusy it returns what it read.
func readHeld(ctx context.Context, r io.Reader, h *smtpserve.Holder, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(heldStep, limit))
	for {
		if len(buf) == cap(buf) {
			// Full: one more byte is read before the buffer grows, so
			// that a message that fits exactly takes nothing more.
			var one [1]byte
			if _, err := io.ReadFull(r, one[:]); err == io.EOF {
				return buf, nil
			} else if err != nil {
				return nil, err
			}
			size := min(grow(int64(cap(buf))), limit)
			if size == int64(cap(buf)) {
				return nil, smtp.ErrDataTooLarge
			}
			if err := h.Take(ctx, size-heldStep-h.Taken()); err != nil {
				return buf, err
			}
			nb := make([]byte, len(buf), size)
			copy(nb, buf)
			buf = append(nb, one[0])
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// submit hands a message to the admission door and returns the reply.
func (x *session) submit(raw []byte) error {
	s := x.s
	// The message is judged even when the session has just ended: the
	// answer is lost, but what was accepted is sent, as with the API.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), s.opts.Timeout)
	defer cancel()
	res, err := s.opts.Sender.Submit(ctx, send.Request{AccountID: x.accountID, Raw: raw, From: x.from, Destinations: x.rcpts,
		MaxSize: send.MaxSizeV2, Operation: "SendSmtpEmail", SourceIP: x.remote, CallerIdentity: x.keyID})
	if err != nil {
		return reply(err)
	}
	s.log.Debug("SMTP message accepted", "remote_ip", x.remote, "account", x.accountID, "message_id", res.MessageID, "recipients", len(x.rcpts))
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.NoEnhancedCode, Message: "Ok " + res.MessageID}
}

// reply is the SMTP answer to a rejection by send (package doc).
func reply(err error) *smtp.SMTPError {
	var e *send.Error
	if !errors.As(err, &e) {
		return errTemporary
	}
	r := &smtp.SMTPError{Code: 554, EnhancedCode: smtp.NoEnhancedCode}
	switch e.Kind {
	case send.KindMessageRejected:
		r.Message = "Message rejected: " + e.Msg
	case send.KindRateExceeded, send.KindDailyQuotaExceeded:
		r.Code, r.Message = 454, "Throttling failure: "+e.Msg
	case send.KindInvalid:
		if strings.HasPrefix(e.Msg, "Message length is more than") {
			r.Code, r.EnhancedCode = 552, smtp.EnhancedCode{5, 3, 4}
		}
		fallthrough
	default:
		r.Message = "Transaction failed: " + e.Msg
	}
	r.Message = oneLine(r.Message)
	return r
}

// oneLine keeps a reply on one line (go-smtp would split it at newlines).
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// plausibleKeyID says whether s can be an access key id (16-128 letters
// and digits), so that garbage costs no lookup.
func plausibleKeyID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// clip bounds what a client sent before it goes in a log line.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}
