package feedback_test

import (
	"io"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/testkit"
)

// The recipients' zones of TestServerOrigin. Every report is sent from
// 127.0.0.1; 192.0.2.0/24 (TEST-NET-1) is only ever named in DNS data.
var originZone = []string{
	// victim.test's mail is elsewhere: 127.0.0.1 is a third party for it.
	"victim.test. 300 IN MX 10 mx.victim.test.",
	"mx.victim.test. 300 IN A 192.0.2.10",
	// spf.test's MX is elsewhere too, but its SPF record lists 127.0.0.1
	// (a self-hosted MTA that sends from another address than it receives on).
	"spf.test. 300 IN MX 10 mx.spf.test.",
	"mx.spf.test. 300 IN A 192.0.2.11",
	`spf.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
	// dk.test's MX is elsewhere; its reports are DKIM-signed d=dk.test.
	"dk.test. 300 IN MX 10 mx.dk.test.",
	"mx.dk.test. 300 IN A 192.0.2.12",
}

// TestServerOrigin: reports change something only when they come from the
// recipient's side. A forged DSN and a forged ARF report sent from
// 127.0.0.1 about recipients whose domains' MX hosts are elsewhere are
// kept and shown, unverified, but apply nothing: no event, no suppression,
// no notice. A DSN from a non-null sender is unverifiable. Genuine reports
// — through the recipient domain's MX host, from an address its SPF
// record lists, or DKIM-signed by its domain From its MAILER-DAEMON (the
// signature covering a report larger than the prefix kept, so verified
// over the whole stream)
// — apply. A report whose origin cannot be checked for a DNS failure gets
// 451 so that it is retried; nothing is applied, and it is kept (outcome
// temporary), so that an operator sees it even when the sender gives up.
func TestServerOrigin(t *testing.T) {
	key, txt := dkimKey(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		for _, rr := range originZone {
			f.zone.Add(rr)
		}
		f.zone.Add(`s1._domainkey.dk.test. 300 IN TXT ` + txt)
		f.send(t, "m1", "a@rcpt.test", "co@victim.test")
		f.send(t, "m2", "solo@victim.test")
		f.send(t, "m3", "s@spf.test", "k@dk.test", "t@tmp.test")
		addr := f.serve(t, nil)
		rp1, rp2, rp3 := "m1@"+mailFromDom, "m2@"+mailFromDom, "m3@"+mailFromDom
		evil := "550 5.1.1 Visit http://evil.example/ to keep your account"

		// Forged: a co-recipient's DSN and an anonymous complaint, from
		// a third party for victim.test.
		if err := smtpSend(t, addr, strings.NewReader(testkit.DSN(rp1, "co@victim.test", "5.1.1", evil)), rp1); err != nil {
			t.Fatalf("forged DSN: %v", err)
		}
		anon := strings.Replace(testkit.ARF(rp2, "solo@victim.test"), "Original-Rcpt-To: solo@victim.test\r\n", "", 1)
		anon = strings.Replace(anon, "To: solo@victim.test\r\n", "", 1)
		if err := smtpSend(t, addr, strings.NewReader(anon), rp2); err != nil {
			t.Fatalf("forged ARF: %v", err)
		}
		// A DSN about a recipient 127.0.0.1 is genuine for, but from a
		// non-null sender.
		if err := smtpSendFrom(t, addr, "bounce@rcpt.test", strings.NewReader(testkit.DSN(rp1, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown")), rp1); err != nil {
			t.Fatalf("DSN from a sender: %v", err)
		}
		f.nothingStored(t, "m1", "m2")
		list := func(o feedback.ListOptions) []*feedback.Stored {
			t.Helper()
			all, err := feedback.ListReports(f.ctx, f.d, o)
			if err != nil {
				t.Fatal(err)
			}
			return all
		}
		got := list(feedback.ListOptions{AccountID: f.acct, Unverified: true})
		if len(got) != 3 {
			t.Fatalf("%d unverified reports stored; want 3", len(got))
		}
		for i, want := range []struct{ msg, rcpt, from, reason string }{
			{"m1", "a@rcpt.test", "bounce@rcpt.test", "null sender"},
			{"m2", "solo@victim.test", "", "not an MX host of victim.test"},
			{"m1", "co@victim.test", "", "not an MX host of victim.test"},
		} {
			s := got[i] // newest first
			if s.MessageID != want.msg || s.Outcome != feedback.OutcomeUnverified || !s.Unverified || s.RemoteIP != "127.0.0.1" || s.HELO != "mx.rcpt.test" ||
				s.MailFrom != want.from || len(s.Recipients) != 1 || s.Recipients[0].Address != want.rcpt || s.Recipients[0].Verified ||
				!strings.Contains(s.Recipients[0].Reason, want.reason) {
				t.Errorf("stored report %d: %+v; want %+v", i, s, want)
			}
		}
		full, err := feedback.GetReport(f.ctx, f.d, got[2].ID, f.acct)
		if err != nil || !strings.Contains(string(full.Raw), "evil.example") {
			t.Fatalf("the forged DSN's bytes: %v", err)
		}

		// Genuine: through rcpt.test's MX host; SPF for spf.test; DKIM
		// d=dk.test over a 3 MB report.
		if err := smtpSend(t, addr, strings.NewReader(testkit.DSN(rp1, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown")), rp1); err != nil {
			t.Fatal(err)
		}
		if err := smtpSend(t, addr, strings.NewReader(testkit.DSN(rp3, "s@spf.test", "5.1.1", "550 5.1.1 unknown")), rp3); err != nil {
			t.Fatal(err)
		}
		// dk.test's MTA writes its bounces From its own MAILER-DAEMON.
		dkDSN := strings.Replace(testkit.DSN(rp3, "k@dk.test", "5.1.1", "550 5.1.1 unknown"), "From: MAILER-DAEMON@mx.rcpt.test", "From: MAILER-DAEMON@mx.dk.test", 1)
		head, tail, _ := strings.Cut(dkDSN, "--b1--")
		var big strings.Builder
		big.WriteString(head + "\r\n")
		io.Copy(&big, &lines{n: 3 << 20})
		big.WriteString("--b1--" + tail)
		signed, err := dkim.Sign([]byte(big.String()), []dkim.Signer{{Domain: "dk.test", Selector: "s1", Key: key}}, dkim.SignOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := smtpSend(t, addr, strings.NewReader(string(signed)), rp3); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(f.suppressed(t), ","); got != "a@rcpt.test BOUNCE,k@dk.test BOUNCE,s@spf.test BOUNCE" {
			t.Fatalf("suppressed = %s", got)
		}
		for id, n := range map[string]int{"m1": 1, "m2": 0, "m3": 2} {
			if evs := f.events(t, id); len(evs) != n {
				t.Fatalf("events of %s = %+v; want %d", id, evs, n)
			}
		}
		applied := list(feedback.ListOptions{AccountID: f.acct})[:3]
		for i, how := range []string{"dkim d=dk.test", "spf pass for spf.test", "MX host of rcpt.test"} {
			if s := applied[i]; s.Outcome != feedback.OutcomeApplied || s.Unverified || !s.Recipients[0].Verified || !strings.Contains(s.Recipients[0].How, how) {
				t.Errorf("applied report %d: %+v; want verified by %q", i, s, how)
			}
		}
		if s := applied[0]; s.Size <= 3<<20 || len(s.Raw) != 0 {
			t.Errorf("the signed report as listed: size %d, %d bytes kept (listing leaves them out)", s.Size, len(s.Raw))
		}

		// A DNS failure for the recipient's domain: 451, to be retried;
		// nothing applied, the report kept.
		f.zone.Fail("tmp.test", mdns.RcodeServerFailure)
		before := len(list(feedback.ListOptions{}))
		err = smtpSend(t, addr, strings.NewReader(testkit.DSN(rp3, "t@tmp.test", "5.1.1", "550 5.1.1 unknown")), rp3)
		if code(err) != 451 {
			t.Fatalf("with the recipient's DNS failing: %v; want 451", err)
		}
		if all := list(feedback.ListOptions{}); len(all) != before+1 || all[0].Outcome != feedback.OutcomeTemporary ||
			len(all[0].Recipients) != 1 || !all[0].Recipients[0].Temporary {
			t.Fatalf("after a 451: %d reports stored (want %d), the newest %+v; want it kept with outcome temporary", len(all), before+1, all[0])
		}
		if evs := f.events(t, "m3"); len(evs) != 2 {
			t.Fatalf("events of m3 = %+v", evs)
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 3 {
			t.Fatalf("%d notices; want 3, for the genuine reports", len(fw))
		}
	})
}
