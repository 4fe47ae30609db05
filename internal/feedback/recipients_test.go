package feedback_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/testkit"
)

// stored returns the reports kept, newest first.
func (f *fixture) stored(t *testing.T) []*feedback.Stored {
	t.Helper()
	all, err := feedback.ListReports(f.ctx, f.d, feedback.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestOriginalRecipient: a DSN recipient is matched on its
// Final-Recipient only. A genuine DSN (from rcpt.test's MX host) about a
// nonexistent address, whose Original-Recipient repeats the ORCPT a
// co-recipient chose (the victim's address), changes nothing for the
// victim. A DSN group that gives no usable Final-Recipient is matched on
// its Original-Recipient, but then only records the event: it never
// suppresses.
func TestOriginalRecipient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "victim@rcpt.test", "eve@attacker.test")
		addr := f.serve(t, nil)
		rp := "m1@" + mailFromDom
		final := "Final-Recipient: rfc822; nosuch@rcpt.test\r\n"
		dsn := testkit.DSN(rp, "nosuch@rcpt.test", "5.1.1", "550 5.1.1 nosuch: user unknown")
		orcpt := strings.Replace(dsn, final, final+"Original-Recipient: rfc822; victim@rcpt.test\r\n", 1)
		if err := smtpSend(t, addr, strings.NewReader(orcpt), rp); err != nil {
			t.Fatal(err)
		}
		f.nothingStored(t, "m1")
		if s := f.stored(t); len(s) != 1 || s[0].Outcome != feedback.OutcomeIgnored || len(s[0].Recipients) != 0 {
			t.Fatalf("stored: %+v; want one report, ignored, about none of the message's recipients", s[0])
		}

		// No usable Final-Recipient (a file): the Original-Recipient is
		// used, for the event only.
		local := strings.Replace(dsn, final, "Final-Recipient: x-local; /var/mail/victim\r\nOriginal-Recipient: rfc822; victim@rcpt.test\r\n", 1)
		if err := smtpSend(t, addr, strings.NewReader(local), rp); err != nil {
			t.Fatal(err)
		}
		evs := f.events(t, "m1")
		if len(evs) != 1 || evs[0].Type != event.Bounce || evs[0].Bounce.BouncedRecipients[0].EmailAddress != "victim@rcpt.test" {
			t.Fatalf("events = %+v; want one Bounce for the victim", evs)
		}
		if got := f.suppressed(t); len(got) != 0 {
			t.Fatalf("suppressed = %v; an Original-Recipient never suppresses", got)
		}
	})
}

// TestEnclosedRecipients: recipients bounce.Parse took from the enclosed
// original message (an ARF report without Original-Rcpt-To; a bounce
// whose text names nobody) are not named by the report: such a report is
// attributed only to a message with one recipient, never to everyone in
// the enclosed copy's To and Cc.
func TestEnclosedRecipients(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.send(t, "m1", "a@rcpt.test", "b@rcpt.test")
		f.send(t, "m2", "c@rcpt.test")
		addr := f.serve(t, nil)
		arf := func(rp, to string) string {
			a := strings.Replace(testkit.ARF(rp, "x@rcpt.test"), "Original-Rcpt-To: x@rcpt.test\r\n", "", 1)
			return strings.Replace(a, "To: x@rcpt.test\r\nSubject: Hello", "To: "+to+"\r\nSubject: Hello", 1)
		}
		text := func(rp, to string) string {
			return "From: MAILER-DAEMON@mx.rcpt.test\r\nTo: " + rp + "\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" +
				"Your message could not be delivered: 550 5.1.1 user unknown.\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n" +
				"From: sender@example.test\r\nTo: " + to + "\r\nSubject: Hello\r\n\r\nhi\r\n"
		}
		rp1, rp2 := "m1@"+mailFromDom, "m2@"+mailFromDom
		fbl := testkit.ARFSender("x@rcpt.test")
		for _, c := range []struct{ from, msg string }{{fbl, arf(rp1, "a@rcpt.test, b@rcpt.test")}, {"", text(rp1, "a@rcpt.test, b@rcpt.test")}} {
			if rep, _ := bounce.Parse([]byte(c.msg)); len(rep.Recipients) != 2 || rep.Recipients[0].Source != bounce.SourceEnclosed {
				t.Fatalf("parsed: %+v", rep)
			}
			if err := smtpSendFrom(t, addr, c.from, strings.NewReader(c.msg), rp1); err != nil {
				t.Fatal(err)
			}
		}
		f.nothingStored(t, "m1")
		for _, s := range f.stored(t) {
			if s.Outcome != feedback.OutcomeIgnored {
				t.Fatalf("stored: %+v; want ignored", s)
			}
		}

		// A one-recipient message: the report is about its recipient
		// (whatever the enclosed copy says).
		if err := smtpSendFrom(t, addr, fbl, strings.NewReader(arf(rp2, "someone@rcpt.test")), rp2); err != nil {
			t.Fatal(err)
		}
		evs := f.events(t, "m2")
		if len(evs) != 1 || evs[0].Type != event.Complaint || !slices.Equal(evs[0].Complaint.ComplainedRecipients, []string{"c@rcpt.test"}) {
			t.Fatalf("events of m2 = %+v", evs)
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"c@rcpt.test COMPLAINT"}) {
			t.Fatalf("suppressed = %v", got)
		}
	})
}

// TestNotSpam: a verified "not-spam" report (the opposite of a complaint)
// suppresses nothing and does not make a later complaint about the same
// recipient a duplicate.
func TestNotSpam(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test")
		complaint := func(ft string) feedback.Result {
			t.Helper()
			res, err := f.apply(sent, &bounce.Report{Kind: bounce.KindComplaint, Format: "arf", Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Suppress: ft != "not-spam"}},
				Complaint: &bounce.Complaint{FeedbackType: ft}})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		if r := complaint("not-spam"); len(r.Events) != 1 || len(r.Suppressed) != 0 {
			t.Fatalf("not-spam: %+v", r)
		}
		if r := complaint("not-spam"); !r.Duplicate {
			t.Fatalf("not-spam again: %+v; want a duplicate", r)
		}
		if r := complaint("abuse"); len(r.Events) != 1 || r.Duplicate || !slices.Equal(r.Suppressed, []string{"a@rcpt.test"}) {
			t.Fatalf("abuse after not-spam: %+v; want applied and suppressed", r)
		}
	})
}

// TestTemporaryRecipient: a report about two recipients, one verified and
// one whose check failed for a DNS failure: the verified one is applied
// at once, the report is kept (its verdicts show the temporary one) and
// answered 451. The sender's retry applies the other one, and nothing
// twice.
func TestTemporaryRecipient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.zone.Add("tmp.test. 300 IN MX 10 mx.rcpt.test.")
		f.send(t, "m1", "a@rcpt.test", "t@tmp.test")
		addr := f.serve(t, nil)
		rp := "m1@" + mailFromDom
		final := "Final-Recipient: rfc822; a@rcpt.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n"
		msg := strings.Replace(testkit.DSN(rp, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown"), final,
			final+"\r\n"+strings.ReplaceAll(final, "a@rcpt.test", "t@tmp.test"), 1)

		f.zone.Fail("tmp.test", mdns.RcodeServerFailure)
		if err := smtpSend(t, addr, strings.NewReader(msg), rp); code(err) != 451 {
			t.Fatalf("with tmp.test's DNS failing: %v; want 451", err)
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"a@rcpt.test BOUNCE"}) {
			t.Fatalf("suppressed = %v; want the verified recipient", got)
		}
		s := f.stored(t)
		if len(s) != 1 || s[0].Outcome != feedback.OutcomeApplied || len(s[0].Recipients) != 2 || !s[0].Recipients[0].Verified || !s[0].Recipients[1].Temporary {
			t.Fatalf("stored: %+v", s)
		}

		f.zone.Unfail("tmp.test")
		if err := smtpSend(t, addr, strings.NewReader(msg), rp); err != nil {
			t.Fatalf("the retry: %v", err)
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"a@rcpt.test BOUNCE", "t@tmp.test BOUNCE"}) {
			t.Fatalf("suppressed = %v", got)
		}
		var rcpts []string
		for _, e := range f.events(t, "m1") {
			for _, r := range e.Bounce.BouncedRecipients {
				rcpts = append(rcpts, r.EmailAddress)
			}
		}
		if !slices.Equal(rcpts, []string{"a@rcpt.test", "t@tmp.test"}) {
			t.Fatalf("bounced recipients in events: %v; want each once", rcpts)
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 2 {
			t.Fatalf("%d notices; want 2", len(fw))
		}
	})
}

// TestEvidenceFromReport: the origin check is given the report's own From
// addresses (as written: origin folds ASCII case only; none when the field
// does not parse) and whether it is a complaint.
func TestEvidenceFromReport(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t))
	sent := f.send(t, "m1", "a@rcpt.test")
	for _, c := range []struct {
		raw       string
		kind      bounce.Kind
		from      []string
		complaint bool
	}{
		{"From: Mail Delivery System <MAILER-DAEMON@MX.rcpt.test>\r\nSubject: x\r\n\r\nbody\r\n", bounce.KindBounce, []string{"MAILER-DAEMON@MX.rcpt.test"}, false},
		{"From: feedbac\u212a@rcpt.test\r\n\r\n", bounce.KindComplaint, []string{"feedbac\u212a@rcpt.test"}, true},
		{"From: abuse@rcpt.test, postmaster@rcpt.test\r\n\r\n", bounce.KindComplaint, []string{"abuse@rcpt.test", "postmaster@rcpt.test"}, true},
		{"From: not an address\r\n\r\n", bounce.KindComplaint, nil, true},
		{"Subject: no From\r\n\r\n", bounce.KindBounce, nil, false},
	} {
		var got origin.Evidence
		in := f.received([]byte(c.raw), &bounce.Report{Kind: c.kind, Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail"}}})
		in.Check = func(ctx context.Context, ev origin.Evidence, domain string) origin.Verdict {
			got = ev
			return origin.Verdict{Reason: "test"}
		}
		if _, err := f.p.Apply(f.ctx, in, sent); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.HeaderFrom, c.from) || got.Complaint != c.complaint {
			t.Errorf("%q: evidence HeaderFrom %q, Complaint %v; want %q, %v", c.raw, got.HeaderFrom, got.Complaint, c.from, c.complaint)
		}
	}
}
