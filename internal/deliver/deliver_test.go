package deliver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	smtp "github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/deliver"
	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/testkit"
)

const helo = "out.sesame.test"

// ---- the recipients' mail server ----

// received is one message as the recipient server took it.
type received struct {
	helo  string
	from  string
	rcpts []string
	body  []byte
	tls   bool
}

// mxServer is a go-smtp server on 127.0.0.1:0 with a recording backend
// whose replies are scripted per RCPT address and per DATA.
type mxServer struct {
	port int

	mu     sync.Mutex
	conns  int                 // connections accepted
	rcpt   map[string][]string // address → replies to its next RCPTs ("" accepts)
	data   []string            // replies to the next DATAs: "" accepts, "close" closes mid-DATA
	onData func()              // called at each DATA, before the reply
	got    []received
	gotCh  chan struct{} // a token per message taken
	log    bytes.Buffer  // the protocol transcript, both ways
}

// Write records the transcript (the server's Debug writer).
func (m *mxServer) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.Write(p)
}

func (m *mxServer) transcript() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

// newMX starts a recipient server; with withTLS it offers STARTTLS with a
// self-signed certificate. tlsMax, when set, caps its TLS version.
func newMX(t *testing.T, withTLS bool, tlsMax uint16) *mxServer {
	t.Helper()
	m := &mxServer{rcpt: map[string][]string{}, gotCh: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mxSession{m: m, conn: c}, nil
	}))
	srv.Domain = "mx.rcpt.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.Debug = m
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	if withTLS {
		cfg, err := feedback.SelfSignedTLS("mx.rcpt.test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxVersion = tlsMax
		srv.TLSConfig = cfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(&countingListener{Listener: l, m: m}) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return m
}

type countingListener struct {
	net.Listener
	m *mxServer
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.m.mu.Lock()
		l.m.conns++
		l.m.mu.Unlock()
	}
	return c, err
}

// script queues replies to RCPT TO:<addr> ("" accepts).
func (m *mxServer) script(addr string, replies ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rcpt[addr] = append(m.rcpt[addr], replies...)
}

// scriptData queues replies to DATA ("" accepts, "close" closes the
// connection mid-DATA).
func (m *mxServer) scriptData(replies ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = append(m.data, replies...)
}

// setOnData sets a hook called at each DATA before the reply.
func (m *mxServer) setOnData(fn func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onData = fn
}

func (m *mxServer) received() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

func (m *mxServer) connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns
}

// replyError is a scripted reply as go-smtp's server sends it.
func replyError(s string) error {
	r, err := smtpcode.Parse(s)
	if err != nil {
		panic(err)
	}
	e := smtp.EnhancedCode(r.Enhanced)
	if r.Enhanced == ([3]int{}) {
		e = smtp.NoEnhancedCode
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: e, Message: r.Text}
}

type mxSession struct {
	m     *mxServer
	conn  *smtp.Conn
	from  string
	rcpts []string
}

func (s *mxSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.rcpts = from, nil
	return nil
}

func (s *mxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.mu.Lock()
	var reply string
	if q := s.m.rcpt[to]; len(q) > 0 {
		reply, s.m.rcpt[to] = q[0], q[1:]
	}
	s.m.mu.Unlock()
	if reply != "" {
		return replyError(reply)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *mxSession) Data(r io.Reader) error {
	s.m.mu.Lock()
	var act string
	if len(s.m.data) > 0 {
		act, s.m.data = s.m.data[0], s.m.data[1:]
	}
	hook := s.m.onData
	s.m.mu.Unlock()
	if act == "close" {
		io.CopyN(io.Discard, r, 10)
		s.conn.Conn().Close()
		return errors.New("closed")
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if hook != nil {
		hook()
	}
	if act != "" {
		return replyError(act)
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.m.mu.Lock()
	s.m.got = append(s.m.got, received{helo: s.conn.Hostname(), from: s.from, rcpts: s.rcpts, body: body, tls: isTLS})
	s.m.mu.Unlock()
	s.m.gotCh <- struct{}{}
	return nil
}

func (s *mxSession) Reset() {
	s.from, s.rcpts = "", nil
}

func (s *mxSession) Logout() error { return nil }

// ---- the sending side ----

type fixture struct {
	ctx   context.Context
	d     *db.DB
	clock *testkit.Clock
	q     *queue.Queue
	acct  string
	dns   *dnstest.Server
	mx    *mxServer
	log   *slog.Logger

	mu      sync.Mutex
	dialed  []string // addresses dialled, in order
	open    int      // client connections open now
	maxOpen int
	kick    func()
}

func newFixture(t *testing.T, d *db.DB, mx *mxServer) *fixture {
	t.Helper()
	f := &fixture{
		ctx:   context.Background(),
		d:     d,
		clock: testkit.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)),
		dns:   dnstest.NewServer(t),
		mx:    mx,
		log:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	box, _ := seal.New("k")
	a, _, err := account.New(d, box, f.clock.Now).Create(f.ctx, account.CreateOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f.acct = a.ID
	f.q, err = queue.New(queue.Options{DB: d, Now: f.clock.Now, Notify: func() {
		f.mu.Lock()
		k := f.kick
		f.mu.Unlock()
		if k != nil {
			k()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.dns.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
	f.dns.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
	return f
}

// dial dials like net.Dialer, except that addresses in 192.0.2.0/24
// (TEST-NET-1) are refused without touching the network; it records
// every address and counts open connections.
func (f *fixture) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.dialed = append(f.dialed, addr)
	f.mu.Unlock()
	if ap, err := netip.ParseAddrPort(addr); err == nil && netip.MustParsePrefix("192.0.2.0/24").Contains(ap.Addr()) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.open++
	f.maxOpen = max(f.maxOpen, f.open)
	f.mu.Unlock()
	return &trackedConn{Conn: c, f: f}, nil
}

type trackedConn struct {
	net.Conn
	f    *fixture
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.f.mu.Lock(); c.f.open--; c.f.mu.Unlock() })
	return c.Conn.Close()
}

func (f *fixture) dials() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dialed)
}

func (f *fixture) worker(t *testing.T, mod func(*deliver.Options)) *deliver.Worker {
	t.Helper()
	opts := deliver.Options{
		Queue:    f.q,
		Resolver: f.dns.Resolver(),
		Logger:   f.log,
		Now:      f.clock.Now,
		Dial:     f.dial,
		Port:     f.mx.port,
		HeloName: helo,
	}
	if mod != nil {
		mod(&opts)
	}
	w, err := deliver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// body is the message as stored: CRLF lines, one starting with a dot.
func body(id string) []byte {
	return []byte("From: a@example.test\r\nTo: x@rcpt.test\r\nSubject: " + id + "\r\nMessage-ID: <" + id + "@example.test>\r\n\r\nhello\r\n.a line with a leading dot\r\n\r\nbye\r\n")
}

// enqueue queues message id for rcpts, sent from a@example.test with the
// envelope sender id@bounce.example.test.
func (f *fixture) enqueue(t *testing.T, id string, rcpts ...string) *queue.Message {
	t.Helper()
	mail := event.Mail{Timestamp: f.clock.Now(), MessageID: id, Source: "a@example.test", SendingAccountID: f.acct, Destination: rcpts}
	m := &queue.Message{ID: id, AccountID: f.acct, Source: "a@example.test", MailFrom: id + "@bounce.example.test", Mail: mail, Body: body(id), Recipients: rcpts}
	if err := f.q.Enqueue(f.ctx, m, &event.Event{Type: event.Send, AccountID: f.acct, Mail: mail, Send: &event.SendDetails{}}); err != nil {
		t.Fatal(err)
	}
	return m
}

// events returns the message's events after Send, decoded from the
// outbox.
func (f *fixture) events(t *testing.T, id string) []*event.Event {
	t.Helper()
	return testkit.Events(t, f.d, id, event.Send)
}

func types(evs []*event.Event) []event.Type {
	var out []event.Type
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// only returns the message's one event after Send, of type want.
func (f *fixture) only(t *testing.T, id string, want event.Type) *event.Event {
	t.Helper()
	evs := f.events(t, id)
	if len(evs) != 1 || evs[0].Type != want {
		t.Fatalf("events of %s = %v; want [%s]", id, types(evs), want)
	}
	return evs[0]
}

func (f *fixture) runOnce(t *testing.T, w *deliver.Worker, want int) {
	t.Helper()
	n, err := w.RunOnce(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("RunOnce handled %d recipients; want %d", n, want)
	}
}

func (f *fixture) counts(t *testing.T) map[queue.State]int {
	t.Helper()
	c, err := f.q.Counts(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ---- scenarios ----

func TestDelivered(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, nil)
		m := f.enqueue(t, "m1", "x@rcpt.test", "y@RCPT.test")
		f.clock.Advance(1500 * time.Millisecond)
		f.runOnce(t, w, 2)

		got := f.mx.received()
		if len(got) != 1 {
			t.Fatalf("server took %d messages; want 1 transaction for both recipients", len(got))
		}
		r := got[0]
		if r.from != "m1@bounce.example.test" || !slices.Equal(r.rcpts, []string{"x@rcpt.test", "y@RCPT.test"}) || r.helo != helo || r.tls {
			t.Fatalf("envelope: from %q rcpts %q helo %q tls %v", r.from, r.rcpts, r.helo, r.tls)
		}
		if !bytes.Equal(r.body, m.Body) {
			t.Fatalf("body arrived as\n%q\nwant\n%q", r.body, m.Body)
		}
		if c := f.counts(t); c[queue.Delivered] != 2 || c[queue.Queued] != 0 {
			t.Fatalf("counts = %v", c)
		}
		evs := f.events(t, "m1")
		if len(evs) != 2 {
			t.Fatalf("events = %v; want a Delivery per recipient", types(evs))
		}
		for i, e := range evs {
			dd := e.Delivery
			if e.Type != event.Delivery || dd == nil {
				t.Fatalf("event %d is %s", i, e.Type)
			}
			want := []string{[]string{"x@rcpt.test", "y@RCPT.test"}[i]}
			if !slices.Equal(dd.Recipients, want) || dd.SMTPResponse != "250 2.0.0 OK: queued" || dd.ReportingMTA != helo ||
				dd.RemoteMTAIP != "127.0.0.1" || dd.ProcessingTimeMillis != 1500 || !dd.Timestamp.Equal(f.clock.Now()) {
				t.Fatalf("delivery %d = %+v", i, dd)
			}
			if tag := e.Mail.Tags[event.TagOutgoingIP]; !slices.Equal(tag, []string{"127.0.0.1"}) {
				t.Fatalf("ses:outgoing-ip = %q", tag)
			}
			if e.Mail.MessageID != "m1" || e.AccountID != f.acct {
				t.Fatalf("mail = %+v", e.Mail)
			}
		}
		// Nothing left to do.
		f.runOnce(t, w, 0)
	})
}

func TestPermanentFailure(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.script("bad@rcpt.test", "550 5.1.1 <bad@rcpt.test>: user unknown")
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "bad@rcpt.test", "good@rcpt.test")
		f.runOnce(t, w, 2)

		got := f.mx.received()
		if len(got) != 1 || !slices.Equal(got[0].rcpts, []string{"good@rcpt.test"}) {
			t.Fatalf("received %+v", got)
		}
		evs := f.events(t, "m1")
		if !slices.Equal(types(evs), []event.Type{event.Bounce, event.Delivery}) {
			t.Fatalf("events = %v", types(evs))
		}
		b := evs[0].Bounce
		want := event.Recipient{EmailAddress: "bad@rcpt.test", Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 <bad@rcpt.test>: user unknown"}
		if b.BounceType != "Permanent" || b.BounceSubType != "NoEmail" || len(b.BouncedRecipients) != 1 || b.BouncedRecipients[0] != want ||
			b.ReportingMTA != "dsn; "+helo || b.RemoteMTAIP != "127.0.0.1" || b.FeedbackID == "" {
			t.Fatalf("bounce = %+v", b)
		}
		if evs[1].Delivery.Recipients[0] != "good@rcpt.test" {
			t.Fatalf("delivery = %+v", evs[1].Delivery)
		}
		if c := f.counts(t); c[queue.Bounced] != 1 || c[queue.Delivered] != 1 {
			t.Fatalf("counts = %v", c)
		}
	})
}

func TestDelayThenDelivery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.script("x@rcpt.test", "450 4.2.0 mailbox busy")
		f.mx.script("full@rcpt.test", "452 4.2.2 mailbox full")
		w := f.worker(t, nil)
		queued := f.clock.Now()
		f.enqueue(t, "m1", "x@rcpt.test")
		f.enqueue(t, "m2", "full@rcpt.test")
		f.runOnce(t, w, 2)

		dl := f.only(t, "m1", event.DeliveryDelay).DeliveryDelay
		want := event.Recipient{EmailAddress: "x@rcpt.test", Status: "4.2.0", DiagnosticCode: "smtp; 450 4.2.0 mailbox busy"}
		if dl.DelayType != "General" || !dl.ExpirationTime.Equal(queued.Add(14*time.Hour)) || len(dl.DelayedRecipients) != 1 ||
			dl.DelayedRecipients[0] != want || dl.ReportingMTA != helo {
			t.Fatalf("delay = %+v", dl)
		}
		if dt := f.only(t, "m2", event.DeliveryDelay).DeliveryDelay.DelayType; dt != "MailboxFull" {
			t.Fatalf("452 4.2.2: delayType %s", dt)
		}
		// Not due before the backoff (1 minute, ±10%) has passed.
		f.clock.Advance(50 * time.Second)
		f.runOnce(t, w, 0)
		f.clock.Advance(20 * time.Second)
		f.runOnce(t, w, 2)
		evs := f.events(t, "m1")
		if !slices.Equal(types(evs), []event.Type{event.DeliveryDelay, event.Delivery}) {
			t.Fatalf("events = %v", types(evs))
		}
		if len(f.mx.received()) != 2 {
			t.Fatalf("received %d messages", len(f.mx.received()))
		}
	})
}

func TestClosedMidData(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.scriptData("close")
		w := f.worker(t, nil)
		m := f.enqueue(t, "m1", "x@rcpt.test")
		f.runOnce(t, w, 1)
		dl := f.only(t, "m1", event.DeliveryDelay).DeliveryDelay
		if dl.DelayType != "TransientCommunicationFailure" || dl.DelayedRecipients[0].Status != "4.4.2" {
			t.Fatalf("delay = %+v", dl)
		}
		if len(f.mx.received()) != 0 {
			t.Fatal("a message closed mid-DATA was taken")
		}
		f.clock.Advance(2 * time.Minute)
		f.runOnce(t, w, 1)
		got := f.mx.received()
		if len(got) != 1 || !bytes.Equal(got[0].body, m.Body) {
			t.Fatalf("received %+v", got)
		}
		if evs := f.events(t, "m1"); !slices.Equal(types(evs), []event.Type{event.DeliveryDelay, event.Delivery}) {
			t.Fatalf("events = %v", types(evs))
		}
	})
}

func TestNoMailHost(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.dns.Add("nullmx.test. 300 IN MX 0 .")
		f.dns.Add("nothing.test. 300 IN TXT \"v=spf1 -all\"")
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@nullmx.test")
		f.enqueue(t, "m2", "x@nothing.test")
		f.runOnce(t, w, 2)

		if n := len(f.dials()); n != 0 {
			t.Fatalf("dialled %v", f.dials())
		}
		b := f.only(t, "m1", event.Bounce).Bounce
		if b.BounceType != "Permanent" || b.BounceSubType != "NoEmail" || b.BouncedRecipients[0].Status != "5.1.10" ||
			b.BouncedRecipients[0].DiagnosticCode != "smtp; 556 5.1.10 Recipient address has null MX" || b.RemoteMTAIP != "" {
			t.Fatalf("null MX bounce = %+v", b)
		}
		b = f.only(t, "m2", event.Bounce).Bounce
		if b.BounceType != "Permanent" || b.BounceSubType != "NoEmail" || b.BouncedRecipients[0].Status != "5.1.2" {
			t.Fatalf("no-host bounce = %+v", b)
		}
		if c := f.counts(t); c[queue.Bounced] != 2 {
			t.Fatalf("counts = %v", c)
		}
	})
}

func TestDNSFailure(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.dns.Fail("rcpt.test", 2) // SERVFAIL
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@rcpt.test")
		f.runOnce(t, w, 1)
		dl := f.only(t, "m1", event.DeliveryDelay).DeliveryDelay
		if dl.DelayType != "Undetermined" || dl.DelayedRecipients[0].Status != "4.4.3" {
			t.Fatalf("delay = %+v", dl)
		}
		f.dns.Unfail("rcpt.test")
		f.clock.Advance(2 * time.Minute)
		f.runOnce(t, w, 1)
		if len(f.mx.received()) != 1 {
			t.Fatal("not delivered once DNS answered")
		}
	})
}

func TestImplicitMX(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.dns.Add("implicit.test. 300 IN A 127.0.0.1")
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@implicit.test")
		f.runOnce(t, w, 1)
		f.only(t, "m1", event.Delivery)
		if want := []string{fmt.Sprintf("127.0.0.1:%d", f.mx.port)}; !slices.Equal(f.dials(), want) {
			t.Fatalf("dialled %v; want %v", f.dials(), want)
		}
	})
}

func TestNextMX(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.dns.Add("two.test. 300 IN MX 20 mx2.two.test.")
		f.dns.Add("two.test. 300 IN MX 10 mx1.two.test.")
		f.dns.Add("mx1.two.test. 300 IN A 192.0.2.1") // refuses connections
		f.dns.Add("mx2.two.test. 300 IN A 127.0.0.1")
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@two.test")
		f.runOnce(t, w, 1)
		f.only(t, "m1", event.Delivery)
		want := []string{fmt.Sprintf("192.0.2.1:%d", f.mx.port), fmt.Sprintf("127.0.0.1:%d", f.mx.port)}
		if !slices.Equal(f.dials(), want) {
			t.Fatalf("dialled %v; want %v", f.dials(), want)
		}
	})
}

func TestAllMXDown(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.dns.Add("down.test. 300 IN MX 10 mx.down.test.")
		f.dns.Add("mx.down.test. 300 IN A 192.0.2.7")
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@down.test")
		f.enqueue(t, "m2", "y@down.test")
		f.runOnce(t, w, 2)
		for _, id := range []string{"m1", "m2"} {
			dl := f.only(t, id, event.DeliveryDelay).DeliveryDelay
			if dl.DelayType != "TransientCommunicationFailure" || dl.DelayedRecipients[0].Status != "4.4.1" {
				t.Fatalf("delay of %s = %+v", id, dl)
			}
		}
		// One connection attempt for the task, not one per message.
		if n := len(f.dials()); n != 1 {
			t.Fatalf("dialled %v", f.dials())
		}
	})
}

func TestRetryWindowEnds(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.script("x@rcpt.test", "451 4.3.0 try again later", "452 4.2.2 over quota", "452 4.2.2 over quota")
		w := f.worker(t, func(o *deliver.Options) {
			o.RetryWindow = 8 * time.Minute
			o.Backoff = func(int) time.Duration { return 5 * time.Minute }
		})
		f.enqueue(t, "m1", "x@rcpt.test")
		f.runOnce(t, w, 1) // next attempt at +5m, inside the window
		if dt := f.only(t, "m1", event.DeliveryDelay).DeliveryDelay.DelayType; dt != "RecipientServerError" {
			t.Fatalf("451 4.3.0: delayType %s", dt)
		}
		f.clock.Advance(5 * time.Minute)
		f.runOnce(t, w, 1) // next would be at +10m, past the window: the last attempt is at its end, +8m
		f.clock.Advance(3 * time.Minute)
		f.runOnce(t, w, 1) // at the end of the window: out of time
		evs := f.events(t, "m1")
		if !slices.Equal(types(evs), []event.Type{event.DeliveryDelay, event.DeliveryDelay, event.Bounce}) {
			t.Fatalf("events = %v", types(evs))
		}
		b := evs[2].Bounce
		if b.BounceType != "Transient" || b.BounceSubType != "MailboxFull" || b.BouncedRecipients[0].DiagnosticCode != "smtp; 452 4.2.2 over quota" ||
			b.BouncedRecipients[0].Action != "failed" {
			t.Fatalf("bounce = %+v", b)
		}
		if c := f.counts(t); c[queue.Bounced] != 1 {
			t.Fatalf("counts = %v", c)
		}
	})
}

func TestRetryWindowEndsAfterConnectionFailures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.dns.Add("down.test. 300 IN MX 10 mx.down.test.")
		f.dns.Add("mx.down.test. 300 IN A 192.0.2.7")
		w := f.worker(t, func(o *deliver.Options) { o.RetryWindow = 30 * time.Second })
		f.enqueue(t, "m1", "x@down.test")
		f.runOnce(t, w, 1) // the backoff (a minute) passes the window: one more try at its end
		f.only(t, "m1", event.DeliveryDelay)
		f.clock.Advance(30 * time.Second)
		f.runOnce(t, w, 1)
		evs := f.events(t, "m1")
		if !slices.Equal(types(evs), []event.Type{event.DeliveryDelay, event.Bounce}) {
			t.Fatalf("events = %v", types(evs))
		}
		b := evs[1].Bounce
		if b.BounceType != "Transient" || b.BounceSubType != "General" || b.BouncedRecipients[0].Status != "4.4.1" {
			t.Fatalf("bounce = %+v", b)
		}
	})
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, true, 0))
		w := f.worker(t, nil)
		m := f.enqueue(t, "m1", "x@rcpt.test")
		f.runOnce(t, w, 1)
		got := f.mx.received()
		if len(got) != 1 || !got[0].tls || got[0].helo != helo || !bytes.Equal(got[0].body, m.Body) {
			t.Fatalf("received %+v", got)
		}
		if n := f.mx.connections(); n != 1 {
			t.Fatalf("%d connections", n)
		}
		// EHLO with HeloName before and after STARTTLS (the transcript
		// shows the commands after TLS too: the server logs plaintext).
		tr := f.mx.transcript()
		if strings.Count(tr, "EHLO "+helo+"\r\n") != 2 || !strings.Contains(tr, "STARTTLS\r\n") {
			t.Fatalf("transcript:\n%s", tr)
		}
		f.only(t, "m1", event.Delivery)
	})
}

// TestStartTLSFails: a handshake that fails is retried at once without
// TLS on a new connection.
func TestStartTLSFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, true, tls.VersionTLS12))
		w := f.worker(t, func(o *deliver.Options) {
			o.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		})
		f.enqueue(t, "m1", "x@rcpt.test")
		f.runOnce(t, w, 1)
		got := f.mx.received()
		if len(got) != 1 || got[0].tls {
			t.Fatalf("received %+v", got)
		}
		if n := f.mx.connections(); n != 2 {
			t.Fatalf("%d connections; want 2 (TLS, then plain)", n)
		}
		f.only(t, "m1", event.Delivery)
	})
}

// TestConnectionReuse: the messages of a batch to one domain share one
// connection, including after a transaction that ended without DATA.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, true, 0))
		f.mx.script("bad@rcpt.test", "550 5.1.1 no such user")
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@rcpt.test")
		f.enqueue(t, "m2", "bad@rcpt.test")
		f.enqueue(t, "m3", "y@rcpt.test")
		f.runOnce(t, w, 3)
		if n := f.mx.connections(); n != 1 {
			t.Fatalf("%d connections; want 1", n)
		}
		got := f.mx.received()
		if len(got) != 2 || got[0].from != "m1@bounce.example.test" || got[1].from != "m3@bounce.example.test" || !got[1].tls {
			t.Fatalf("received %+v", got)
		}
		// RSET after the transaction that ended without DATA, and only
		// then; one QUIT at the end.
		tr := f.mx.transcript()
		if strings.Count(tr, "RSET\r\n") != 1 || strings.Count(tr, "MAIL FROM:") != 3 || strings.Count(tr, "QUIT\r\n") != 1 {
			t.Fatalf("transcript:\n%s", tr)
		}
		f.only(t, "m1", event.Delivery)
		f.only(t, "m2", event.Bounce)
		f.only(t, "m3", event.Delivery)
	})
}

func TestRelay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, func(o *deliver.Options) {
			o.Relay = fmt.Sprintf("127.0.0.1:%d", f.mx.port)
			o.Port = 0 // the relay's port is in Relay
		})
		f.enqueue(t, "m1", "x@anywhere.test", "y@elsewhere.test")
		f.runOnce(t, w, 2)
		if q := f.dns.Queries(); q != 0 {
			t.Fatalf("%d DNS queries with a relay", q)
		}
		if got := f.mx.received(); len(got) != 2 {
			t.Fatalf("relay received %d messages; want one per domain", len(got))
		}
		if evs := f.events(t, "m1"); !slices.Equal(types(evs), []event.Type{event.Delivery, event.Delivery}) {
			t.Fatalf("events = %v", types(evs))
		}
	})
}

// TestLeaseLost: an outcome that comes after another worker took the row
// is dropped.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		var stolen []queue.Claimed
		f.mx.setOnData(func() {
			f.clock.Advance(10 * time.Minute) // past the lease
			var err error
			stolen, err = f.q.Claim(f.ctx, "thief", 10, time.Hour)
			if err != nil {
				t.Error(err)
			}
		})
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "x@rcpt.test")
		f.runOnce(t, w, 1)
		if len(stolen) != 1 {
			t.Fatalf("thief claimed %d", len(stolen))
		}
		if evs := f.events(t, "m1"); len(evs) != 0 {
			t.Fatalf("events = %v; the outcome should have been dropped", types(evs))
		}
		if c := f.counts(t); c[queue.Queued] != 1 {
			t.Fatalf("counts = %v", c)
		}
	})
}

// panicResolver panics when asked about boom.test.
type panicResolver struct{ dns.Resolver }

func (r panicResolver) LookupMX(ctx context.Context, name string) ([]dns.MX, error) {
	if strings.HasPrefix(name, "boom.test") {
		panic("boom")
	}
	return r.Resolver.LookupMX(ctx, name)
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, func(o *deliver.Options) { o.Resolver = panicResolver{o.Resolver} })
		f.enqueue(t, "m1", "x@boom.test", "x@rcpt.test")
		f.runOnce(t, w, 2)
		if evs := f.events(t, "m1"); !slices.Equal(types(evs), []event.Type{event.Delivery}) {
			t.Fatalf("events = %v", types(evs))
		}
		if c := f.counts(t); c[queue.Queued] != 1 || c[queue.Delivered] != 1 {
			t.Fatalf("counts = %v", c)
		}
	})
}

// TestRun: Run delivers what is queued when kicked, never opens more than
// PerDomain connections to a domain, and returns when its context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, func(o *deliver.Options) {
			o.Poll = time.Hour // only Kick wakes it
			o.PerDomain = 2
			o.Batch = 10
		})
		f.mu.Lock()
		f.kick = w.Kick
		f.mu.Unlock()
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		const n = 40
		for i := range n {
			f.enqueue(t, fmt.Sprint("m", i), fmt.Sprintf("u%d@rcpt.test", i))
		}
		timeout := time.After(30 * time.Second)
		for range n {
			select {
			case <-f.mx.gotCh:
			case <-timeout:
				cancel()
				t.Fatalf("delivered %d of %d", len(f.mx.received()), n)
			}
		}
		// Outcomes are recorded right after the server's reply.
		for deadline := time.Now().Add(10 * time.Second); f.counts(t)[queue.Delivered] != n; {
			if time.Now().After(deadline) {
				t.Fatalf("counts = %v", f.counts(t))
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		f.mu.Lock()
		maxOpen, open := f.maxOpen, f.open
		f.mu.Unlock()
		if maxOpen > 2 || open != 0 {
			t.Fatalf("max %d connections open at once (PerDomain 2), %d still open", maxOpen, open)
		}
	})
}

func TestNewChecksOptions(t *testing.T) {
	q, err := queue.New(queue.Options{DB: dbtest.SQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := &dns.Client{}
	for _, o := range []deliver.Options{
		{Resolver: r, HeloName: helo},
		{Queue: q, HeloName: helo},
		{Queue: q, Resolver: r},
		{Queue: q, Resolver: r, HeloName: helo, Relay: "no-port"},
		{Queue: q, Resolver: r, HeloName: helo, Port: 70000},
	} {
		if _, err := deliver.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := deliver.New(deliver.Options{Queue: q, HeloName: helo, Relay: "smarthost.example:587"}); err != nil {
		t.Errorf("relay without a resolver: %v", err)
	}
}

// BenchmarkRun measures delivery alone: b.N queued 4 KB messages, one
// recipient each, delivered by Run to a loopback recipient server
// (queue claims, SMTP, and outcomes with their events).
func BenchmarkRun(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		f := &fixture{ctx: context.Background(), d: d, clock: testkit.NewClock(time.Now()), log: slog.New(slog.DiscardHandler)}
		box, _ := seal.New("k")
		a, _, err := account.New(d, box, f.clock.Now).Create(f.ctx, account.CreateOptions{Name: "a"})
		if err != nil {
			b.Fatal(err)
		}
		f.acct = a.ID
		f.q, _ = queue.New(queue.Options{DB: d, Now: f.clock.Now})
		m := &mxServer{rcpt: map[string][]string{}, gotCh: make(chan struct{}, b.N+10)}
		srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mxSession{m: m, conn: c}, nil }))
		srv.ErrorLog = log.New(io.Discard, "", 0)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(l)
		defer srv.Close()
		body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 64)
		for i := range b.N {
			id := fmt.Sprint("m", i)
			mail := event.Mail{Timestamp: f.clock.Now(), MessageID: id, Source: "a@example.test", SendingAccountID: f.acct, Destination: []string{"x@rcpt.test"}}
			msg := &queue.Message{ID: id, AccountID: f.acct, Source: "a@example.test", MailFrom: id + "@bounce.example.test", Mail: mail, Body: body, Recipients: []string{"x@rcpt.test"}}
			if err := f.q.Enqueue(f.ctx, msg, &event.Event{Type: event.Send, AccountID: f.acct, Mail: mail, Send: &event.SendDetails{}}); err != nil {
				b.Fatal(err)
			}
		}
		w, err := deliver.New(deliver.Options{Queue: f.q, Logger: f.log, Now: f.clock.Now, HeloName: helo, Relay: l.Addr().String()})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(f.ctx)
		b.ResetTimer()
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		for range b.N {
			<-m.gotCh
		}
		for {
			c, _ := f.q.Counts(f.ctx)
			if c[queue.Delivered] == b.N {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
		cancel()
		<-done
	})
}

// TestOnFeedback: a bounce from delivery runs OnFeedback in the
// transaction that records it; an error from it rolls the outcome back, so
// the recipient is tried again. The simulator's bounces and complaints run
// it too, never suppressing; its suppression-list address does not.
func TestOnFeedback(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.script("bad@rcpt.test", "550 5.1.1 <bad@rcpt.test>: user unknown")
		var calls []string
		fail := true
		w := f.worker(t, func(o *deliver.Options) {
			o.Lease = time.Minute
			o.SimulatorDomains = []string{"simulator.amazonses.com"}
			o.OnFeedback = func(ctx context.Context, tx *db.Tx, c queue.Claimed, ev *event.Event, suppress bool) error {
				if strings.HasSuffix(c.Address, "@simulator.amazonses.com") {
					if suppress {
						t.Errorf("the simulator's %s for %s suppresses", ev.Type, c.Address)
					}
					calls = append(calls, fmt.Sprint(c.Address, " ", ev.Type, " simulated"))
					return nil
				}
				if !suppress {
					t.Errorf("a 5.1.1 refusal of %s does not suppress", c.Address)
				}
				calls = append(calls, c.Address+" "+ev.Bounce.BounceType+"/"+ev.Bounce.BounceSubType)
				if _, err := tx.Exec(ctx, `UPDATE messages SET source = ? WHERE id = ?`, "touched", c.MessageID); err != nil {
					return err
				}
				if fail {
					return errors.New("suppression store down")
				}
				return nil
			}
		})
		f.enqueue(t, "m1", "bad@rcpt.test")
		f.runOnce(t, w, 1)
		if len(calls) != 1 || calls[0] != "bad@rcpt.test Permanent/NoEmail" {
			t.Fatalf("OnBounce calls = %q", calls)
		}
		if evs := f.events(t, "m1"); len(evs) != 0 {
			t.Fatalf("events after a rolled-back bounce = %v", types(evs))
		}
		var source string
		if err := d.QueryRow(f.ctx, `SELECT source FROM messages WHERE id = ?`, "m1").Scan(&source); err != nil || source == "touched" {
			t.Fatalf("OnBounce's write survived the rollback: %q %v", source, err)
		}
		// The lease expires; the next attempt records the bounce.
		fail = false
		f.mx.script("bad@rcpt.test", "550 5.1.1 <bad@rcpt.test>: user unknown")
		f.clock.Advance(2 * time.Minute)
		f.runOnce(t, w, 1)
		f.only(t, "m1", event.Bounce)
		if err := d.QueryRow(f.ctx, `SELECT source FROM messages WHERE id = ?`, "m1").Scan(&source); err != nil || source != "touched" {
			t.Fatalf("OnBounce's write = %q %v", source, err)
		}
		if c := f.counts(t); c[queue.Bounced] != 1 {
			t.Fatalf("counts = %v", c)
		}

		calls = nil
		f.enqueue(t, "m2", "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com", "success@simulator.amazonses.com", "suppressionlist@simulator.amazonses.com")
		f.runOnce(t, w, 4)
		slices.Sort(calls)
		if want := []string{"bounce@simulator.amazonses.com Bounce simulated", "complaint@simulator.amazonses.com Complaint simulated"}; !slices.Equal(calls, want) {
			t.Fatalf("OnFeedback calls for the simulator = %q; want %q", calls, want)
		}
	})
}

// TestSystemMailHasNoEvents: Sesame's own mail is delivered and bounced
// like any other but is not the account's sending: no events.
func TestSystemMailHasNoEvents(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.script("bad@rcpt.test", "550 5.1.1 <bad@rcpt.test>: user unknown")
		w := f.worker(t, func(o *deliver.Options) {
			o.OnFeedback = func(context.Context, *db.Tx, queue.Claimed, *event.Event, bool) error {
				t.Error("OnFeedback called for system mail")
				return nil
			}
		})
		rcpts := []string{"x@rcpt.test", "bad@rcpt.test"}
		mail := event.Mail{Timestamp: f.clock.Now(), MessageID: "s1", Source: "no-reply@sesame.test", SendingAccountID: f.acct, Destination: rcpts}
		m := &queue.Message{ID: "s1", AccountID: f.acct, Source: mail.Source, MailFrom: "s1@bounce.example.test", Mail: mail, Body: body("s1"), Recipients: rcpts, System: true}
		if err := f.q.Enqueue(f.ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		f.runOnce(t, w, 2)
		if c := f.counts(t); c[queue.Delivered] != 1 || c[queue.Bounced] != 1 {
			t.Fatalf("counts = %v", c)
		}
		if evs := testkit.Events(t, d, "s1"); len(evs) != 0 {
			t.Fatalf("system mail has events: %v", types(evs))
		}
	})
}
