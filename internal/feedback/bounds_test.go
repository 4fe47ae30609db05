package feedback_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/feedback"
)

// bigDSN is a DSN naming every one of rcpts.
func bigDSN(rcpts []string) string {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@mx.rcpt.test\r\nSubject: failure\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.rcpt.test\r\n\r\n")
	for _, r := range rcpts {
		b.WriteString("Final-Recipient: rfc822; " + r + "\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n")
	}
	b.WriteString("--b1--\r\n")
	return b.String()
}

// TestReportLookups: the DNS lookups one report causes are bounded as a
// whole. A report to 10 return paths, each message to 50 recipients at 50
// domains whose SPF records include others, asked for 7,500 queries; now
// the origin of each recipient domain is checked once for the whole
// report (the same verdict for every message), for the first
// MaxReportDomains domains only (the others are "too many domains", not
// retried), and everything within MaxReportLookups lookups: the report is
// taken (250), kept, and the DNS server sees at most twice that many
// queries (an address lookup asks for A and AAAA).
func TestReportLookups(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	var rcpts []string
	for j := range 50 {
		dom := fmt.Sprintf("d%d.test", j)
		f.zone.Add(dom + ". 300 IN MX 10 mx1." + dom + ".")
		f.zone.Add(dom + ". 300 IN MX 20 mx2." + dom + ".")
		f.zone.Add(dom + `. 300 IN TXT "v=spf1 a mx include:s1.` + dom + ` include:s2.` + dom + ` ~all"`)
		rcpts = append(rcpts, "u@"+dom)
	}
	var rps []string
	for i := range 10 {
		id := fmt.Sprintf("m%d", i)
		f.send(t, id, rcpts...)
		rps = append(rps, id+"@"+mailFromDom)
	}
	addr := f.serve(t, nil)
	report := bigDSN(rcpts)

	q0 := f.zone.Queries()
	if err := smtpSend(t, addr, strings.NewReader(report), rps[0]); err != nil {
		t.Fatal(err)
	}
	one := f.zone.Queries() - q0
	q0 = f.zone.Queries()
	if err := smtpSend(t, addr, strings.NewReader(report), rps...); err != nil {
		t.Fatal(err)
	}
	ten := f.zone.Queries() - q0
	t.Logf("DNS queries: %d for a report to one return path, %d for the same report to ten", one, ten)
	if ten > 2*feedback.DefaultMaxReportLookups || ten != one {
		t.Fatalf("%d DNS queries for the report to ten return paths (%d to one); want the same, at most %d", ten, one, 2*feedback.DefaultMaxReportLookups)
	}
	s := f.stored(t)
	if len(s) != 11 {
		t.Fatalf("%d reports kept; want 11", len(s))
	}
	for _, r := range s {
		if len(r.Recipients) != 50 {
			t.Fatalf("report %d: %d verdicts; want 50", r.ID, len(r.Recipients))
		}
		for i, c := range r.Recipients {
			tooMany := strings.Contains(c.Reason, "too many domains")
			if c.Verified || c.Temporary || tooMany != (i >= feedback.DefaultMaxReportDomains) {
				t.Fatalf("report %d, recipient %d: %+v", r.ID, i, c)
			}
		}
	}
}

// TestReportLookupTime: the time one report's lookups may take is bounded
// too, DKIM key lookups included. With every lookup of the recipients'
// zones (and of the report's DKIM keys) unanswered, a report naming
// recipients at five domains is answered within about ReportLookupTime,
// not a second per lookup, and it is not retried: a retry would take as
// long again (250, not 451).
func TestReportLookupTime(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	var rcpts []string
	for j := range 5 {
		dom := fmt.Sprintf("slow%d.test", j)
		for _, name := range []string{dom, "k._domainkey." + dom, "1.0.0.127.in-addr.arpa"} {
			f.zone.Drop(name, true)
		}
		rcpts = append(rcpts, "u@"+dom)
	}
	f.send(t, "m1", rcpts...)
	addr := f.serve(t, func(o *feedback.ServerOptions) { o.ReportLookupTime = 300 * time.Millisecond })
	var sigs strings.Builder
	for j := range 5 {
		fmt.Fprintf(&sigs, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=slow%d.test; s=k; h=from; bh=AAAA; b=AAAA\r\n", j)
	}
	start := time.Now()
	err := smtpSend(t, addr, strings.NewReader(sigs.String()+bigDSN(rcpts)), "m1@"+mailFromDom)
	took := time.Since(start)
	t.Logf("a report with every lookup unanswered: %v after %v", err, took)
	if err != nil {
		t.Fatalf("%v; want 250: the report used up its lookup time, a retry would not help", err)
	}
	if took > 3*time.Second {
		t.Fatalf("the report took %v; want about 300ms of lookups", took)
	}
	s := f.stored(t)
	if len(s) != 1 || s[0].Outcome != feedback.OutcomeUnverified {
		t.Fatalf("stored: %+v", s)
	}
	for _, c := range s[0].Recipients {
		if c.Temporary || !strings.Contains(c.Reason, "DNS budget") {
			t.Fatalf("verdict %+v; want not temporary, for the spent budget", c)
		}
	}
}

// TestHeldShare: one client network (here the loopback /24 127.0.0.0/24)
// holds at most its share of MaxHeldBytes, however many addresses it
// sends from: eight senders from eight addresses of it stall with their
// reports half read, and a report from another network is still taken at
// once. (They took the whole budget, and it was answered 451.)
func TestHeldShare(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.zone.Add("mx.rcpt.test. 300 IN A 127.0.1.1")
		f.send(t, "m1", "a@rcpt.test")
		var srv *feedback.Server
		addr := f.serveServer(t, func(o *feedback.ServerOptions) {
			o.MaxPrefixBytes, o.MaxHeldBytes, o.HeldWait, o.DataIdle, o.MaxConnsPerIP = 128<<10, 1<<20, 50*time.Millisecond, time.Hour, 50
		}, &srv)
		rp := "m1@" + mailFromDom
		for i := range 8 {
			stallOn(t, dialFrom(t, addr, fmt.Sprintf("127.0.0.%d", 21+i)), rp, 100<<10)
		}
		waitHeld(t, srv.Held, 256<<10) // the network's share: a quarter (beyond each prefix's first 64 KiB)
		c := dialFrom(t, addr, "127.0.1.1")
		if err := c.Hello("mx.rcpt.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("", []string{rp}, strings.NewReader(bigDSN([]string{"a@rcpt.test"}))); err != nil {
			t.Fatalf("a report from another network: %v", err)
		}
		if evs := f.events(t, "m1"); len(evs) != 1 {
			t.Fatalf("events = %+v", evs)
		}
	})
}

// TestConnsPerNetwork: MaxConnsPerIP counts the connections of a client
// network (IPv4 /24), not of one address.
func TestConnsPerNetwork(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	addr := f.serve(t, func(o *feedback.ServerOptions) { o.MaxConnsPerIP = 1 })
	greeting := func(local string) string {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 512)
		n, _ := c.Read(b)
		return string(b[:n])
	}
	for _, c := range []struct{ local, want string }{{"127.0.0.2", "220 "}, {"127.0.0.3", "421 "}, {"127.0.1.2", "220 "}} {
		if g := greeting(c.local); !strings.HasPrefix(g, c.want) {
			t.Fatalf("a connection from %s: %q; want %q", c.local, g, c.want)
		}
	}
}

// TestDataIdle: a sender that stops sending in the middle of its DATA is
// disconnected after DataIdle (not after Timeout, 5 minutes by default),
// and what its report held is freed.
func TestDataIdle(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	f.send(t, "m1", "a@rcpt.test")
	var srv *feedback.Server
	addr := f.serveServer(t, func(o *feedback.ServerOptions) { o.DataIdle = 200 * time.Millisecond }, &srv)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stallOn(t, smtp.NewClient(conn), "m1@"+mailFromDom, 100<<10)
	start := time.Now()
	// The server hangs up: the connection reads EOF (or a reset), and
	// what the report held is freed.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil && strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the stalled connection is still open: %v", err)
	}
	t.Logf("a stalled DATA was cut off after %v", time.Since(start))
	waitHeld(t, srv.Held, 0)
}

// TestSessionContext: a report's checks end with its SMTP session. With
// every lookup of the recipients' zones unanswered (each waits for the
// resolver's one-second timeout) and the report's lookup time ample, the
// session's end (MaxSession) still ends the checks: the report is kept
// within about MaxSession. (They ran on the server's context, for
// seconds after the session had ended.)
func TestSessionContext(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	var rcpts []string
	for j := range 3 {
		dom := fmt.Sprintf("slow%d.test", j)
		f.zone.Drop(dom, true)
		rcpts = append(rcpts, "u@"+dom)
	}
	f.send(t, "m1", rcpts...)
	addr := f.serve(t, func(o *feedback.ServerOptions) { o.MaxSession, o.ReportLookupTime = 500*time.Millisecond, time.Minute })
	start := time.Now()
	smtpSend(t, addr, strings.NewReader(bigDSN(rcpts)), "m1@"+mailFromDom) // the reply may not come: the session is over
	for len(f.stored(t)) == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("no report kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("report kept after %v", took)
	if took > 2*time.Second {
		t.Fatalf("the report's checks took %v; want them ended with the session (500ms)", took)
	}
}
