package feedback_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/testkit"
)

// serve starts the feedback server on loopback and returns its address.
func (f *fixture) serve(t testing.TB, mod func(*feedback.ServerOptions)) string {
	t.Helper()
	return f.serveServer(t, mod, nil)
}

// serveServer is serve that also sets *srv to the server.
func (f *fixture) serveServer(t testing.TB, mod func(*feedback.ServerOptions), srv **feedback.Server) string {
	t.Helper()
	opts := feedback.ServerOptions{Processor: f.p, Hostname: "feedback-smtp." + region + "." + serviceDomain, Origin: f.checker, Now: f.clock.Now, Logger: f.log}
	if mod != nil {
		mod(&opts)
	}
	s, err := feedback.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if srv != nil {
		*srv = s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// smtpSend sends msg from <> to rcpts and returns the error of the first
// command that failed.
func smtpSend(t *testing.T, addr string, msg io.Reader, rcpts ...string) error {
	t.Helper()
	return smtpSendFrom(t, addr, "", msg, rcpts...)
}

// smtpSendFrom is smtpSend from the envelope sender from.
func smtpSendFrom(t *testing.T, addr, from string, msg io.Reader, rcpts ...string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.rcpt.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, msg); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestServerBounceAndComplaint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "a@rcpt.test")
		f.send(t, "m2", "b@rcpt.test")
		addr := f.serve(t, nil)

		rp := "m1@" + mailFromDom
		if err := smtpSend(t, addr, strings.NewReader(testkit.DSN(rp, "a@rcpt.test", "5.1.1", "550 5.1.1 <a@rcpt.test>: Recipient address rejected: User unknown")), strings.ToUpper(rp)); err != nil {
			t.Fatalf("DSN: %v", err)
		}
		evs := f.events(t, "m1")
		if len(evs) != 1 || evs[0].Type != event.Bounce || evs[0].Bounce.BounceType != "Permanent" || evs[0].Bounce.BouncedRecipients[0].EmailAddress != "a@rcpt.test" ||
			evs[0].Bounce.ReportingMTA != "dns; mx.rcpt.test" {
			t.Fatalf("events = %+v", evs)
		}
		// A feedback loop sends from its role address.
		if err := smtpSendFrom(t, addr, testkit.ARFSender("b@rcpt.test"), strings.NewReader(testkit.ARF("m2@"+mailFromDom, "b@rcpt.test")), "m2@"+mailFromDom); err != nil {
			t.Fatalf("ARF: %v", err)
		}
		evs = f.events(t, "m2")
		if len(evs) != 1 || evs[0].Type != event.Complaint || evs[0].Complaint.ComplaintFeedbackType != "abuse" || evs[0].Complaint.UserAgent != "ISP-FBL/2.0" {
			t.Fatalf("events = %+v", evs)
		}
		if got := strings.Join(f.suppressed(t), ","); got != "a@rcpt.test BOUNCE,b@rcpt.test COMPLAINT" {
			t.Fatalf("suppressed = %s", got)
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 2 {
			t.Fatalf("forwarded = %d notices", len(fw))
		}
	})
}

// TestServerRefuses: the feedback MX takes nothing but feedback about
// mail Sesame sent, and stores nothing for what it refuses or ignores.
func TestServerRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "a@rcpt.test")
		addr := f.serve(t, func(o *feedback.ServerOptions) { o.MaxMessageBytes = 64 << 10; o.Retention = 48 * time.Hour })
		rp := "m1@" + mailFromDom
		body := func() io.Reader {
			return strings.NewReader(testkit.DSN(rp, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown"))
		}

		for _, rcpt := range []string{
			"nosuchmessage@" + mailFromDom, // unknown MessageId
			"m1@other.example",             // a known MessageId at a domain that is not its return path
			"postmaster@" + mailFromDom,    // not a message
			"someone@elsewhere.example",    // a relay attempt
		} {
			if err := smtpSend(t, addr, body(), rcpt); code(err) != 550 {
				t.Errorf("RCPT %s: %v; want 550", rcpt, err)
			}
		}
		if err := smtpSend(t, addr, body(), "m1"); code(err)/100 != 5 {
			t.Errorf("RCPT without a domain: %v; want a 5xx", err)
		}
		// Too big: 552, nothing stored.
		big := io.MultiReader(strings.NewReader("From: x@rcpt.test\r\nSubject: big\r\n\r\n"), &lines{n: 100 << 10})
		if err := smtpSend(t, addr, big, rp); code(err) != 552 {
			t.Errorf("oversize message: %v; want 552", err)
		}
		// Not a mail message at all.
		if err := smtpSend(t, addr, strings.NewReader("\x00\x01garbage without a header\r\n"), rp); err != nil && code(err) != 550 {
			t.Errorf("garbage: %v", err)
		}
		// A malformed MIME tree (unterminated boundaries, broken nesting):
		// taken or refused, but nothing stored.
		malformed := "From: MAILER-DAEMON@mx.rcpt.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n\r\n" +
			"--x\r\nContent-Type: multipart/mixed; boundary=\"y\"\r\n\r\n--y\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822;\r\n--x\r\n"
		if err := smtpSend(t, addr, strings.NewReader(malformed), rp); err != nil && code(err) != 550 {
			t.Errorf("malformed MIME: %v", err)
		}
		// A DSN about somebody else: accepted, ignored.
		if err := smtpSend(t, addr, strings.NewReader(testkit.DSN(rp, "stranger@rcpt.test", "5.1.1", "550 5.1.1 unknown")), rp); err != nil {
			t.Errorf("DSN about a stranger: %v", err)
		}
		// After the retention window, the return path is gone.
		f.clock.Advance(49 * time.Hour)
		if err := smtpSend(t, addr, body(), rp); code(err) != 550 {
			t.Errorf("after the retention window: %v; want 550", err)
		}
		f.nothingStored(t, "m1")
	})
}

// TestServer100MB: a 100 MB message is refused with 552 without being
// kept: the server stops storing at its limit.
func TestServer100MB(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 100 MB over loopback")
	}
	f := newFixture(t, dbtest.SQLite(t))
	f.send(t, "m1", "a@rcpt.test")
	addr := f.serve(t, nil)
	big := io.MultiReader(strings.NewReader("From: x@rcpt.test\r\nSubject: big\r\n\r\n"), &lines{n: 100 << 20})
	if err := smtpSend(t, addr, big, "m1@"+mailFromDom); code(err) != 552 {
		t.Fatalf("100 MB message: %v; want 552", err)
	}
}

// lines yields n bytes of 78-character lines without holding them.
type lines struct{ n int }

func (l *lines) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	k := min(len(p), l.n)
	for i := range k {
		if i%80 == 78 {
			p[i] = '\r'
		} else if i%80 == 79 {
			p[i] = '\n'
		} else {
			p[i] = 'x'
		}
	}
	l.n -= k
	return k, nil
}

// TestServerConnLimit: connections beyond MaxConns, or MaxConnsPerIP from
// one address, are told 421 and closed; a connection lives at most
// MaxSession however busy it keeps.
func TestServerConnLimit(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	greeting := func(c net.Conn) string {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 512)
		n, _ := c.Read(b)
		return string(b[:n])
	}
	dial := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, o := range []feedback.ServerOptions{{MaxConns: 1, MaxConnsPerIP: 5}, {MaxConns: 5, MaxConnsPerIP: 1}} {
		addr := f.serve(t, func(s *feedback.ServerOptions) { s.MaxConns, s.MaxConnsPerIP = o.MaxConns, o.MaxConnsPerIP })
		first := dial(addr)
		if g := greeting(first); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("%+v: first greeting %q", o, g)
		}
		if g := greeting(dial(addr)); !strings.HasPrefix(g, "421 ") {
			t.Fatalf("%+v: a connection beyond the limit got %q; want 421", o, g)
		}
		first.Close()
		// The slot is free again once the server sees the close.
		deadline := time.Now().Add(10 * time.Second)
		for {
			g := greeting(dial(addr))
			if strings.HasPrefix(g, "220 ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%+v: after the first closed: %q", o, g)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// A client that keeps sending NOOPs is cut off at MaxSession.
	addr := f.serve(t, func(s *feedback.ServerOptions) { s.MaxSession = 300 * time.Millisecond })
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Noop() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a busy session outlived MaxSession")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerAtomicAndDuplicate: a report to several return paths is
// applied to all or none, and the same report sent again is not applied
// twice.
func TestServerAtomicAndDuplicate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "a@rcpt.test")
		f.send(t, "m2", "b@rcpt.test")
		addr := f.serve(t, nil)
		rp1, rp2 := "m1@"+mailFromDom, "m2@"+mailFromDom
		// One report naming both recipients, sent to both return paths.
		msg := strings.Replace(testkit.DSN(rp1, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown"),
			"Final-Recipient: rfc822; a@rcpt.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n",
			"Final-Recipient: rfc822; a@rcpt.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n\r\n"+
				"Final-Recipient: rfc822; b@rcpt.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n", 1)
		f.failOn = "b@rcpt.test"
		if err := smtpSend(t, addr, strings.NewReader(msg), rp1, rp2); code(err) != 451 {
			t.Fatalf("with a failing store: %v; want 451", err)
		}
		f.nothingStored(t, "m1", "m2")
		f.failOn = ""
		for range 2 { // the sender retries; then sends it again
			if err := smtpSend(t, addr, strings.NewReader(msg), rp1, rp2); err != nil {
				t.Fatal(err)
			}
		}
		if n1, n2 := len(f.events(t, "m1")), len(f.events(t, "m2")); n1 != 1 || n2 != 1 {
			t.Fatalf("events after a retry and a resend: m1 %d, m2 %d; want 1 each", n1, n2)
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 2 {
			t.Fatalf("notices = %d; want 2", len(fw))
		}
	})
}

// TestServerSTARTTLS: with a TLS configuration the feedback MX offers
// STARTTLS, and a report sent over it is applied.
func TestServerSTARTTLS(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	f.send(t, "m1", "a@rcpt.test")
	host := "feedback-smtp." + region + "." + serviceDomain
	cfg, err := feedback.SelfSignedTLS(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := f.serve(t, func(o *feedback.ServerOptions) { o.TLSConfig = cfg })
	// Opportunistic: the sender does not authenticate the server, but the
	// certificate names the feedback host. DialStartTLS fails when the
	// server does not offer STARTTLS.
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rp := "m1@" + mailFromDom
	if err := c.SendMail("", []string{rp}, strings.NewReader(testkit.DSN(rp, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown"))); err != nil {
		t.Fatal(err)
	}
	state, ok := c.TLSConnectionState()
	if !ok || !state.HandshakeComplete || len(state.PeerCertificates) != 1 || state.PeerCertificates[0].Subject.CommonName != host {
		t.Fatalf("TLS state %v %+v", ok, state.PeerCertificates)
	}
	if evs := f.events(t, "m1"); len(evs) != 1 || evs[0].Type != event.Bounce {
		t.Fatalf("events = %+v", evs)
	}
}

// stall opens an SMTP transaction to rcpt on addr, sends a message's
// header and n bytes of body and then stops sending, without ending the
// DATA; the connection stays open until the test ends.
func stall(t *testing.T, addr, rcpt string, n int) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	stallOn(t, c, rcpt, n)
}

// waitHeld waits until the server holds want bytes of reports.
func waitHeld(t *testing.T, s func() int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d bytes; want %d", s(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// heapInUse is the Go heap's live and not yet swept objects, after a
// collection.
func heapInUse() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestServerStalledReports: five senders (from five networks) each send
// 39 MB of a report and stall. The server keeps each report's first
// MaxPrefixBytes and discards the rest, so what it holds stays bounded (it
// held them whole: 5 × 39 MB and more).
func TestServerStalledReports(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 195 MB over loopback")
	}
	f := newFixture(t, dbtest.SQLite(t))
	f.send(t, "m1", "a@rcpt.test")
	var srv *feedback.Server
	addr := f.serveServer(t, func(o *feedback.ServerOptions) { o.DataIdle = time.Hour }, &srv)
	before := heapInUse()
	for i := range 5 {
		stallOn(t, dialFrom(t, addr, fmt.Sprintf("127.0.%d.1", i+1)), "m1@"+mailFromDom, 39<<20)
	}
	waitHeld(t, srv.Held, 5*(feedback.DefaultMaxPrefixBytes-64<<10)) // the first 64 KiB of each are its own
	grown := heapInUse() - before
	t.Logf("heap in use grew by %.1f MiB with five 39 MB reports stalled", float64(grown)/(1<<20))
	if limit := int64(5*feedback.DefaultMaxPrefixBytes + 8<<20); grown > limit { // measured: 5.2 MiB
		t.Fatalf("heap in use grew by %d bytes; want at most %d", grown, limit)
	}
}

// TestServerHeldBudget: when the prefixes held across connections reach
// MaxHeldBytes, a further report is not refused: it keeps its first
// 64 KiB (every connection's own, outside the budget), which hold a DSN's
// machine-readable part, and is applied; the stalled senders can make the
// prefix shorter, never make a genuine report wait for them. (Before, it
// was answered 451 4.3.2 for as long as others stalled.)
func TestServerHeldBudget(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "a@rcpt.test")
		var srv *feedback.Server
		addr := f.serveServer(t, func(o *feedback.ServerOptions) {
			o.MaxPrefixBytes, o.MaxHeldBytes, o.MaxHeldPerNetwork, o.HeldWait, o.DataIdle = 256<<10, 384<<10, 384<<10, 20*time.Millisecond, time.Hour
		}, &srv)
		rp := "m1@" + mailFromDom
		stall(t, addr, rp, 2<<20)
		stall(t, addr, rp, 2<<20)
		// Each stalled prefix holds 256 KiB, 192 KiB of it from the
		// budget; the budget is full.
		waitHeld(t, srv.Held, 384<<10)
		// A DSN whose human-readable part is large (40 KB) and whose
		// enclosed original is larger (1 MB): its delivery-status part
		// lies within the first 64 KiB, the rest is cut off.
		dsn := "From: MAILER-DAEMON@mx.rcpt.test\r\nSubject: failure\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
			"--b1\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("The message could not be delivered.\r\n", 1100) +
			"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.rcpt.test\r\n\r\n" +
			"Final-Recipient: rfc822; a@rcpt.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
			"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n" + strings.Repeat("X-Filler: 0123456789012345678901234567890123456789\r\n", 20000) +
			"--b1--\r\n"
		if err := smtpSend(t, addr, strings.NewReader(dsn), rp); err != nil {
			t.Fatalf("a report while the held bytes are at their bound: %v; want it taken", err)
		}
		if evs := f.events(t, "m1"); len(evs) != 1 || evs[0].Type != event.Bounce {
			t.Fatalf("events = %+v", evs)
		}
		if h := srv.Held(); h > 384<<10 {
			t.Fatalf("held %d bytes; the budget is %d", h, 384<<10)
		}
	})
}

// dialFrom opens an SMTP connection to addr from the loopback address
// local (127.0.0.0/8 is all loopback), closed when the test ends.
func dialFrom(t *testing.T, addr, local string) *smtp.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	return c
}

// stallOn is stall on an open connection.
func stallOn(t *testing.T, c *smtp.Client, rcpt string, n int) {
	t.Helper()
	if err := c.Hello("mx.rcpt.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.MultiReader(strings.NewReader("From: x@rcpt.test\r\nSubject: big\r\n\r\n"), &lines{n: n})); err != nil {
		t.Fatal(err)
	}
}

// TestServerLargeReport: a DSN enclosing a 5 MB original is read to its
// end, cut at the prefix limit and applied.
func TestServerLargeReport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "a@rcpt.test")
		addr := f.serve(t, nil)
		rp := "m1@" + mailFromDom
		dsn := testkit.DSN(rp, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown")
		head, tail, _ := strings.Cut(dsn, "--b1--")
		msg := io.MultiReader(strings.NewReader(head+"\r\n"), &lines{n: 5 << 20}, strings.NewReader("--b1--"+tail))
		if err := smtpSend(t, addr, msg, rp); err != nil {
			t.Fatal(err)
		}
		if evs := f.events(t, "m1"); len(evs) != 1 || evs[0].Type != event.Bounce || evs[0].Bounce.BouncedRecipients[0].Status != "5.1.1" {
			t.Fatalf("events = %+v", evs)
		}
	})
}
