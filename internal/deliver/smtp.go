package deliver

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	smtp "github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/smtpcode"
)

// quitTimeout bounds the polite QUIT at the end of a connection.
const quitTimeout = 10 * time.Second

// host is a mail server to try: its name (for TLS's ServerName and the
// logs) and, for the relay, its address as given.
type host struct {
	name string       // without the trailing dot
	addr string       // "host:port" for the relay; "" to use ips
	ips  []netip.Addr // nil: look up name's addresses
}

// route returns the hosts to try for t.domain, in order, or the outcome
// of every recipient at the domain when there is no host to try.
func (t *task) route(ctx context.Context) ([]host, *result) {
	w := t.w
	if w.relay != "" {
		return []host{{name: w.relayHost, addr: w.relay}}, nil
	}
	mxs, err := w.resolver.LookupMX(ctx, t.domain)
	switch {
	case dns.IsNotFound(err):
		// No MX: the domain is its own mail host (RFC 5321 §5.1), if it
		// has an address.
		ips, err := w.resolver.LookupIP(ctx, t.domain)
		if dns.IsNotFound(err) {
			return nil, &result{st: failed, reply: smtpcode.New(smtpcode.MailboxUnavailable, smtpcode.StatusBadSystem,
				"Recipient domain "+t.domain+" has no MX and no address records")}
		}
		if err != nil {
			return nil, dnsFailure(err)
		}
		return []host{{name: t.domain, ips: ips}}, nil
	case err != nil:
		return nil, dnsFailure(err)
	}
	var hosts []host
	null := false
	for _, mx := range mxs {
		if mx.Host == "." {
			null = true
			continue
		}
		hosts = append(hosts, host{name: strings.TrimSuffix(mx.Host, ".")})
	}
	if len(hosts) == 0 && null {
		// RFC 7505 §3: the domain accepts no mail.
		return nil, &result{st: failed, reply: smtpcode.New(smtpcode.NoMailDomain, smtpcode.StatusNullMX, "Recipient address has null MX")}
	}
	if len(hosts) == 0 {
		return nil, dnsFailure(fmt.Errorf("no usable MX records for %s", t.domain))
	}
	return hosts, nil
}

// dnsFailure is the temporary outcome of a failed lookup (RFC 3463 X.4.3).
func dnsFailure(err error) *result {
	return &result{st: deferred, local: true, reply: smtpcode.New(smtpcode.LocalError, smtpcode.StatusRoutingServer, err.Error())}
}

// connect opens a session with the first host that takes one, trying
// every address of every host in order. It returns the outcome of the
// last failure when none does. With mustTLS only a session with TLS
// will do: an address that offers no STARTTLS, or where it fails, is
// skipped (never tried without TLS), and when no address gave a TLS
// session but one at least answered, the outcome is a TLS failure.
func (t *task) connect(ctx context.Context, hosts []host, mustTLS bool) (*session, *result) {
	w := t.w
	last := &result{st: deferred, comm: true, reply: smtpcode.New(smtpcode.ServiceNotAvailable, smtpcode.StatusNoAnswer, "no mail host could be reached")}
	var noTLS *result // with mustTLS: the last address that answered without TLS
	for _, h := range hosts {
		addrs := []string{h.addr}
		if h.addr == "" {
			ips := h.ips
			if ips == nil {
				var err error
				ips, err = w.resolver.LookupIP(ctx, h.name)
				if err != nil {
					w.log.Warn("looking up a mail host failed", "domain", t.domain, "mx", h.name, "err", err)
					last = dnsFailure(fmt.Errorf("address lookup of mail host %s: %w", h.name, err))
					continue
				}
			}
			addrs = addrs[:0]
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip.String(), w.port))
			}
		}
		for _, addr := range addrs {
			if ctx.Err() != nil {
				return nil, cmp.Or(noTLS, last)
			}
			if mustTLS {
				s, err := t.open(ctx, h.name, addr, true, true)
				if err == nil {
					return s, nil
				}
				var te *tlsError
				if errors.As(err, &te) {
					w.log.Warn("TLS is required and could not be had; trying the next address", "domain", t.domain, "mx", h.name, "addr", addr, "err", te.err)
					noTLS = tlsFailure(h.name, te)
					continue
				}
				w.log.Info("mail host unavailable", "domain", t.domain, "mx", h.name, "addr", addr, "err", err)
				last = sessionFailure(err)
				continue
			}
			s, err := t.open(ctx, h.name, addr, !t.noTLS[addr], false)
			var te *tlsError
			if errors.As(err, &te) {
				w.log.Warn("STARTTLS failed; trying again without TLS", "domain", t.domain, "mx", h.name, "addr", addr, "err", te.err)
				t.noTLS[addr] = true
				s, err = t.open(ctx, h.name, addr, false, false)
			}
			if err == nil {
				return s, nil
			}
			w.log.Info("mail host unavailable", "domain", t.domain, "mx", h.name, "addr", addr, "err", err)
			last = sessionFailure(err)
		}
	}
	return nil, cmp.Or(noTLS, last)
}

// tlsNotAvailable is RFC 3207's reply "TLS not available due to temporary
// reason", the code of a message that needs TLS and could not have it.
const tlsNotAvailable = 454

// statusEncryptionNeeded is RFC 5248's X.7.10 "Encryption Needed".
var statusEncryptionNeeded = [3]int{4, 7, 10}

// tlsFailure is the temporary outcome of a message that requires TLS
// when the host name did not give it (te).
func tlsFailure(name string, te *tlsError) *result {
	why := "does not offer STARTTLS"
	if !errors.Is(te, errNoSTARTTLS) {
		why = "failed STARTTLS: " + te.err.Error()
	}
	return &result{st: deferred, tls: true, reply: smtpcode.New(tlsNotAvailable, statusEncryptionNeeded,
		"TLS is required for this message (its configuration set's TlsPolicy is REQUIRE), but "+name+" "+why)}
}

// errNoSTARTTLS is the error of a session that needs TLS with a server
// that does not offer STARTTLS.
var errNoSTARTTLS = errors.New("the server does not offer STARTTLS")

// sessionFailure is the outcome of a session that could not be set up:
// always temporary, since a refusal before MAIL says nothing about the
// recipients.
func sessionFailure(err error) *result {
	if r, ok := replyOf(err); ok {
		return &result{st: deferred, reply: r}
	}
	return &result{st: deferred, comm: true, reply: smtpcode.FromError(err)}
}

// replyOf returns the server's reply carried by err, if any.
func replyOf(err error) (smtpcode.Reply, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return smtpcode.New(se.Code, [3]int(se.EnhancedCode), se.Message), true
	}
	return smtpcode.Reply{}, false
}

// tlsError is a failed STARTTLS.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "starttls: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// session is an open SMTP connection, past EHLO (and STARTTLS).
type session struct {
	c        *smtp.Client
	raw      net.Conn
	stop     func() bool // stops closing raw when the context ends
	remoteIP string
	localIP  string
	secure   bool // STARTTLS succeeded: the session is encrypted
	used     bool // a transaction was started on it
	dirty    bool // MAIL was accepted and no final DATA reply came: RSET first
	utf8     bool // the server offers SMTPUTF8
}

// open dials addr and sets up a session: greeting, EHLO, and STARTTLS
// when offered and useTLS. A failed STARTTLS is a *tlsError; with
// mustTLS, so is a server that does not offer it (errNoSTARTTLS).
func (t *task) open(ctx context.Context, name, addr string, useTLS, mustTLS bool) (_ *session, err error) {
	w := t.w
	raw, err := w.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &session{raw: raw, stop: context.AfterFunc(ctx, func() { raw.Close() })}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.remoteIP = ipOf(raw.RemoteAddr(), addr)
	s.localIP = ipOf(raw.LocalAddr(), "")
	s.c = smtp.NewClient(raw)
	if err := s.c.Hello(w.helo); err != nil {
		return nil, err
	}
	ok, _ := s.c.Extension("STARTTLS")
	if !ok && mustTLS {
		return nil, &tlsError{errNoSTARTTLS}
	}
	if ok && useTLS {
		if err := s.startTLS(ctx, w.helo, w.tlsConfig(name)); err != nil {
			return nil, &tlsError{err}
		}
		s.secure = true
	}
	s.utf8, _ = s.c.Extension("SMTPUTF8")
	return s, nil
}

// tlsConfig is the TLS configuration for a connection to the host name.
func (w *Worker) tlsConfig(name string) *tls.Config {
	cfg := w.tls.Clone()
	if _, err := netip.ParseAddr(name); cfg.ServerName == "" && err != nil {
		cfg.ServerName = name
	}
	return cfg
}

// startTLS sends STARTTLS, does the handshake, and says EHLO again over
// TLS (RFC 3207 §4.2). go-smtp's Client can start TLS only with an EHLO
// name of "localhost" (NewClientStartTLS), so the command is sent here on
// the raw connection and a new Client is made on the TLS connection; it
// expects a greeting, which STARTTLS does not have, so the Client is
// handed a local one. Whatever the server sent before TLS beyond its
// STARTTLS reply is dropped (RFC 3207 §4.2 and CVE-2011-0411).
func (s *session) startTLS(ctx context.Context, helo string, cfg *tls.Config) error {
	if err := s.raw.SetDeadline(time.Now().Add(s.c.CommandTimeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(s.raw, "STARTTLS\r\n"); err != nil {
		return err
	}
	r, err := readReply(s.raw)
	if err != nil {
		return err
	}
	if r.Code != smtpcode.ServiceReady {
		return r
	}
	if err := s.raw.SetDeadline(time.Time{}); err != nil {
		return err
	}
	tc := tls.Client(s.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	s.c = smtp.NewClient(&greeted{Conn: tc, greeting: strings.NewReader("220 TLS started\r\n")})
	return s.c.Hello(helo)
}

// readReply reads one SMTP reply, multi-line or not, byte by byte so that
// nothing after it is consumed.
func readReply(r io.Reader) (smtpcode.Reply, error) {
	var all, line []byte
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			return smtpcode.Reply{}, err
		}
		if len(all)+len(line) > 4096 {
			return smtpcode.Reply{}, errors.New("reply too long")
		}
		line = append(line, b[0])
		if b[0] != '\n' {
			continue
		}
		all = append(all, line...)
		last := len(line) < 4 || line[3] != '-'
		line = line[:0]
		if last {
			return smtpcode.Parse(string(all))
		}
	}
}

// greeted is a connection whose first bytes read are a local greeting.
type greeted struct {
	net.Conn
	greeting *strings.Reader
}

func (g *greeted) Read(p []byte) (int, error) {
	if g.greeting.Len() > 0 {
		return g.greeting.Read(p)
	}
	return g.Conn.Read(p)
}

// ipOf returns the IP address of a, or of fallback ("ip:port") when a has
// none; "" when neither has one.
func ipOf(a net.Addr, fallback string) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP != nil {
		return ta.IP.String()
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap().String()
		}
	}
	if ap, err := netip.ParseAddrPort(fallback); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// close closes the connection at once.
func (s *session) close() {
	s.stop()
	if s.c != nil {
		s.c.Close()
	}
	s.raw.Close()
}

// quit ends the session politely.
func (s *session) quit() {
	s.c.CommandTimeout = quitTimeout
	_ = s.c.Quit()
	s.close()
}

// transact runs one mail transaction: MAIL FROM:<from>, a RCPT for each
// address, DATA with body. It returns each address's outcome (by index),
// whether the connection is still usable, and whether the connection
// failed before the server accepted anything of this transaction (so it
// may be repeated on a new connection).
func (s *session) transact(from string, rcpts []string, body []byte) (out []result, ok, untouched bool) {
	out = make([]result, len(rcpts))
	all := func(r result) {
		for i := range out {
			if out[i].st == pending {
				out[i] = r
			}
		}
	}
	broke := func(err error) {
		all(result{st: deferred, comm: true, reply: smtpcode.FromError(err)})
	}
	reused := s.used
	s.used = true
	if s.dirty {
		if err := s.c.Reset(); err != nil {
			broke(err)
			return out, false, reused
		}
		s.dirty = false
	}
	opts := &smtp.MailOptions{Size: int64(len(body))}
	if !isASCII(from) || !allASCII(rcpts) {
		if !s.utf8 {
			all(result{st: failed, reply: smtpcode.New(smtpcode.MailboxNameNotAllowed, [3]int{5, 6, 7},
				"The receiving server does not support SMTPUTF8 (RFC 6531), which a non-ASCII address needs")})
			return out, true, false
		}
		opts.UTF8 = true
	}
	if err := s.c.Mail(from, opts); err != nil {
		if r, isReply := replyOf(err); isReply {
			all(outcome(r))
			return out, true, false
		}
		broke(err)
		return out, false, reused
	}
	s.dirty = true
	var accepted []int
	for i, rcpt := range rcpts {
		err := s.c.Rcpt(rcpt, nil)
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		r, isReply := replyOf(err)
		if !isReply {
			broke(err)
			return out, false, false
		}
		out[i] = outcome(r)
	}
	if len(accepted) == 0 {
		return out, true, false
	}
	wc, err := s.c.Data()
	if err != nil {
		if r, isReply := replyOf(err); isReply {
			all(outcome(r))
			return out, true, false
		}
		broke(err)
		return out, false, false
	}
	if _, err := wc.Write(body); err != nil {
		broke(err)
		return out, false, false
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		if r, isReply := replyOf(err); isReply {
			s.dirty = false
			all(outcome(r))
			return out, true, false
		}
		broke(err)
		return out, false, false
	}
	s.dirty = false
	all(result{st: delivered, reply: smtpcode.New(smtpcode.OK, [3]int{}, resp.StatusText)})
	return out, true, false
}

// outcome is the result of a reply from the server to MAIL, RCPT or DATA.
func outcome(r smtpcode.Reply) result {
	if r.Permanent {
		return result{st: failed, reply: r}
	}
	return result{st: deferred, reply: r}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
