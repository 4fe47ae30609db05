package feedback_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/suppression"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	region        = "us-east-1"
	serviceDomain = "sesame.test"
	mailFromDom   = "mail.example.test"
)

type fixture struct {
	ctx     context.Context
	d       *db.DB
	clock   *testkit.Clock
	q       *queue.Queue
	sup     *suppression.Store
	p       *feedback.Processor
	acct    string
	forward map[string]bool // identity → feedback forwarding
	failOn  string          // an address Suppress fails for
	sign    func([]byte) ([]byte, error)
	log     *slog.Logger
	// zone is the recipients' DNS: rcpt.test's MX host is 127.0.0.1,
	// so reports from there are genuine for rcpt.test (origin).
	zone    *dnstest.Server
	checker *origin.Checker
}

func newFixture(t testing.TB, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), d: d, clock: testkit.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)),
		forward: map[string]bool{"example.test": true}, log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	f.zone = dnstest.NewServer(t)
	f.zone.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
	f.zone.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
	f.checker = &origin.Checker{Resolver: f.zone.Resolver(), Own: []string{serviceDomain}}
	box, _ := seal.New("k")
	a, _, err := account.New(d, box, f.clock.Now).Create(f.ctx, account.CreateOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f.acct = a.ID
	if f.q, err = queue.New(queue.Options{DB: d, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if f.sup, err = suppression.New(suppression.Options{DB: d, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	f.p, err = feedback.NewProcessor(feedback.Options{DB: d, Queue: f.q, Region: region, ServiceDomain: serviceDomain, Now: f.clock.Now, Logger: f.log,
		Suppress: func(ctx context.Context, tx *db.Tx, accountID, set, address string, reason suppression.Reason, messageID, feedbackID string) (bool, error) {
			if address == f.failOn {
				return false, errors.New("store failure for " + address)
			}
			return f.sup.Record(ctx, tx, accountID, address, reason, messageID, feedbackID, nil)
		},
		Sign: func(msg []byte) ([]byte, error) {
			if f.sign == nil {
				return msg, nil
			}
			return f.sign(msg)
		},
		Forwarding: func(ctx context.Context, q db.Querier, accountID, identity string) (bool, error) {
			// As the app reads the identity: through the transaction.
			var one int
			if err := q.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
				return false, err
			}
			return f.forward[identity], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testWriter logs to the test; benchmarks log nothing.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if _, bench := w.t.(*testing.B); !bench {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// send stores a message from the identity example.test with a feedback
// forwarding address, as the send path does.
func (f *fixture) send(t testing.TB, id string, rcpts ...string) *queue.Sent {
	t.Helper()
	return f.sendWith(t, id, nil, rcpts...)
}

// sendWith is send with the message's mail object changed by mod.
func (f *fixture) sendWith(t testing.TB, id string, mod func(*event.Mail), rcpts ...string) *queue.Sent {
	t.Helper()
	mail := event.Mail{Timestamp: f.clock.Now(), MessageID: id, Source: "Sender <sender@example.test>",
		SourceArn: "arn:aws:ses:" + region + ":" + f.acct + ":identity/example.test", SendingAccountID: f.acct, Destination: rcpts,
		Headers:       []event.Header{{Name: "From", Value: "Sender <sender@example.test>"}, {Name: "Subject", Value: "Hello"}},
		CommonHeaders: event.CommonHeaders{From: []string{"Sender <sender@example.test>"}, Subject: "Hello", ReturnPath: "bounces@example.test"}}
	if mod != nil {
		mod(&mail)
	}
	m := &queue.Message{ID: id, AccountID: f.acct, Source: mail.Source, SourceArn: mail.SourceArn, MailFrom: id + "@" + mailFromDom,
		Mail: mail, Body: []byte("From: sender@example.test\r\n\r\nhi\r\n"), Recipients: rcpts, Counted: len(rcpts)}
	if err := f.q.Enqueue(f.ctx, m, &event.Event{Type: event.Send, AccountID: f.acct, Mail: mail, Send: &event.SendDetails{}}); err != nil {
		t.Fatal(err)
	}
	s, err := f.q.Lookup(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// received is rep, parsed from raw, as the feedback MX takes it from
// rcpt.test's MX host (127.0.0.1) with the null sender: genuine for
// recipients at rcpt.test.
func (f *fixture) received(raw []byte, rep *bounce.Report) *feedback.Received {
	return &feedback.Received{Raw: raw, Size: int64(len(raw)), Report: rep, Check: f.checker.Check,
		Evidence: origin.Evidence{RemoteIP: netip.MustParseAddr("127.0.0.1"), HELO: "mx.rcpt.test"}}
}

// apply applies rep to one message, received from rcpt.test's MX host.
func (f *fixture) apply(sent *queue.Sent, rep *bounce.Report) (feedback.Result, error) {
	res, err := f.p.Apply(f.ctx, f.received(nil, rep), sent)
	if err != nil {
		return feedback.Result{}, err
	}
	return res[0], nil
}

// nothingStored fails t if the messages ids have events after Send, or
// anything is on the suppression list or was forwarded.
func (f *fixture) nothingStored(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if evs := f.events(t, id); len(evs) != 0 {
			t.Fatalf("events of %s = %+v; want none", id, evs)
		}
	}
	if got := f.suppressed(t); len(got) != 0 {
		t.Fatalf("suppressed = %v; want none", got)
	}
	if fw := f.forwarded(t); len(fw) != 0 {
		t.Fatalf("forwarded = %v; want none", fw)
	}
}

// events returns the events about message id after its Send event.
func (f *fixture) events(t *testing.T, id string) []*event.Event {
	t.Helper()
	return testkit.Events(t, f.d, id, event.Send)
}

// suppressed returns the account's suppression list as "address reason".
func (f *fixture) suppressed(t *testing.T) []string {
	t.Helper()
	es, _, err := f.sup.List(f.ctx, f.acct, suppression.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Address+" "+string(e.Reason))
	}
	slices.Sort(out)
	return out
}

// forwarded returns the bodies of the system messages queued (forwarded
// notifications), by recipient.
func (f *fixture) forwarded(t *testing.T) map[string][]string {
	t.Helper()
	rows, err := f.d.Query(f.ctx, `SELECT m.id, r.address FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.system = ?`, true)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for rows.Next() {
		var id, to string
		if err := rows.Scan(&id, &to); err != nil {
			t.Fatal(err)
		}
		ids[id] = to
	}
	rows.Close()
	out := map[string][]string{}
	for id, to := range ids {
		b, err := f.q.Body(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out[to] = append(out[to], string(b))
	}
	return out
}

func TestPermanentBounce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test", "b@rcpt.test")
		rep := &bounce.Report{Kind: bounce.KindBounce, Format: "dsn", ReportingMTA: "dns; mx.rcpt.test", Recipients: []bounce.Recipient{
			{Address: "A@RCPT.test", Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 user unknown", BounceType: "Permanent", BounceSubType: "NoEmail", Suppress: true},
		}}
		res, err := f.apply(sent, rep)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Events, []event.Type{event.Bounce}) || !slices.Equal(res.Suppressed, []string{"a@rcpt.test"}) || len(res.Forwarded) == 0 || len(res.Ignored) != 0 {
			t.Fatalf("result = %+v", res)
		}
		evs := f.events(t, "m1")
		if len(evs) != 1 || evs[0].Type != event.Bounce {
			t.Fatalf("events = %+v", evs)
		}
		b := evs[0].Bounce
		want := event.Recipient{EmailAddress: "a@rcpt.test", Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 user unknown"}
		if b.BounceType != "Permanent" || b.BounceSubType != "NoEmail" || len(b.BouncedRecipients) != 1 || b.BouncedRecipients[0] != want ||
			b.ReportingMTA != "dns; mx.rcpt.test" || b.FeedbackID == "" || !b.Timestamp.Equal(f.clock.Now()) {
			t.Fatalf("bounce = %+v", b)
		}
		if evs[0].Mail.MessageID != "m1" || evs[0].AccountID != f.acct {
			t.Fatalf("mail = %+v", evs[0].Mail)
		}
		e, err := f.sup.Get(f.ctx, f.acct, "a@rcpt.test")
		if err != nil || e.Reason != suppression.Bounce || e.MessageID != "m1" || e.FeedbackID != b.FeedbackID {
			t.Fatalf("suppression entry = %+v, %v", e, err)
		}
		fw := f.forwarded(t)
		if len(fw) != 1 || len(fw["bounces@example.test"]) != 1 {
			t.Fatalf("forwarded = %v; want one notice to the feedback forwarding address", fw)
		}
		for _, s := range []string{"From: MAILER-DAEMON@" + serviceDomain, "Content-Type: multipart/report;", "report-type=delivery-status",
			"Final-Recipient: rfc822; a@rcpt.test", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 user unknown",
			"text/rfc822-headers", "Subject: Hello", "Auto-Submitted: auto-replied"} {
			if notice := fw["bounces@example.test"][0]; !strings.Contains(notice, s) {
				t.Errorf("notice lacks %q:\n%s", s, notice)
			}
		}
		// The notice is system mail: feedback about it is not applied.
		nid := res.Forwarded[0]
		ns, err := f.q.Lookup(f.ctx, nid)
		if err != nil || !ns.System || ns.MailFrom != nid+"@"+region+"."+serviceDomain {
			t.Fatalf("notice message = %+v, %v", ns, err)
		}
		res, err = f.apply(ns, &bounce.Report{Kind: bounce.KindBounce, Recipients: []bounce.Recipient{{Address: "bounces@example.test", Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail"}}})
		if err != nil || len(res.Events) != 0 || len(res.Ignored) != 1 {
			t.Fatalf("feedback about a notice: %+v, %v", res, err)
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"a@rcpt.test BOUNCE"}) {
			t.Fatalf("suppressed = %v", got)
		}
	})
}

func TestTransientAndGroupedBounce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.forward["example.test"] = false
		sent := f.send(t, "m1", "a@rcpt.test", "b@rcpt.test", "c@rcpt.test", "d@rcpt.test")
		rep := &bounce.Report{Kind: bounce.KindBounce, ReportingMTA: "mx.rcpt.test", Recipients: []bounce.Recipient{
			{Address: "a@rcpt.test", Status: "5.7.1", DiagnosticCode: "smtp; 550 5.7.1 blocked: listed at a DNSBL", BounceType: "Permanent", BounceSubType: "General"},
			{Address: "b@rcpt.test", Action: "delayed", Status: "4.2.2", BounceType: "Transient", BounceSubType: "MailboxFull"},
			{Address: "c@rcpt.test", Status: "5.2.2", BounceType: "Permanent", BounceSubType: "General"},
			{Address: "d@rcpt.test", Action: "failed", Status: "4.4.7", BounceType: "Transient", BounceSubType: "General"},
			{Address: "stranger@rcpt.test", Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail", Suppress: true},
			{Address: "a@rcpt.test", Status: "5.7.1", BounceType: "Permanent", BounceSubType: "General"}, // repeated
		}}
		res, err := f.apply(sent, rep)
		if err != nil {
			t.Fatal(err)
		}
		// The stranger is ignored; so is b, whose delivery the remote MTA
		// is still retrying (a delay, not a bounce).
		if len(res.Suppressed) != 0 || len(res.Forwarded) != 0 || len(res.Ignored) != 2 ||
			!strings.Contains(res.Ignored[0], "b@rcpt.test") || !strings.Contains(res.Ignored[1], "stranger@rcpt.test") {
			t.Fatalf("result = %+v", res)
		}
		evs := f.events(t, "m1")
		if len(evs) != 2 {
			t.Fatalf("events = %d; want one per bounce type", len(evs))
		}
		b0, b1 := evs[0].Bounce, evs[1].Bounce
		if b0.BounceType != "Permanent" || b0.BounceSubType != "General" || len(b0.BouncedRecipients) != 2 || b0.BouncedRecipients[1].EmailAddress != "c@rcpt.test" ||
			b0.BouncedRecipients[0].Action != "failed" || b0.ReportingMTA != "dns; mx.rcpt.test" {
			t.Fatalf("first bounce = %+v", b0)
		}
		if b1.BounceType != "Transient" || b1.BouncedRecipients[0].EmailAddress != "d@rcpt.test" || b0.FeedbackID == b1.FeedbackID {
			t.Fatalf("second bounce = %+v", b1)
		}
		if got := f.suppressed(t); len(got) != 0 {
			t.Fatalf("suppressed = %v; policy blocks and full mailboxes must not suppress, permanent or not", got)
		}
		if fw := f.forwarded(t); len(fw) != 0 {
			t.Fatalf("forwarded with forwarding off: %v", fw)
		}
	})
}

func TestComplaint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		arrival := time.Date(2026, 6, 1, 8, 59, 0, 0, time.FixedZone("", -5*3600))
		one := f.send(t, "m1", "a@rcpt.test")
		two := f.send(t, "m2", "a@rcpt.test", "b@rcpt.test")

		// Naming no recipient: attributed to a one-recipient message,
		// ignored for a message with two.
		anon := &bounce.Report{Kind: bounce.KindComplaint, Format: "arf", Complaint: &bounce.Complaint{FeedbackType: "abuse", UserAgent: "SomeISP-FBL/1.0", ArrivalDate: arrival}}
		res, err := f.apply(two, anon)
		if err != nil || len(res.Events) != 0 || len(res.Ignored) != 1 {
			t.Fatalf("anonymous complaint about a 2-recipient message: %+v, %v", res, err)
		}
		res, err = f.apply(one, anon)
		if err != nil || !slices.Equal(res.Events, []event.Type{event.Complaint}) || !slices.Equal(res.Suppressed, []string{"a@rcpt.test"}) || len(res.Forwarded) == 0 {
			t.Fatalf("anonymous complaint about a 1-recipient message: %+v, %v", res, err)
		}
		evs := f.events(t, "m1")
		c := evs[0].Complaint
		if len(evs) != 1 || !slices.Equal(c.ComplainedRecipients, []string{"a@rcpt.test"}) || c.ComplaintFeedbackType != "abuse" ||
			c.UserAgent != "SomeISP-FBL/1.0" || c.ArrivalDate != "2026-06-01T13:59:00.000Z" || c.ComplaintSubType != nil || c.FeedbackID == "" {
			t.Fatalf("complaint = %+v", c)
		}
		notice := strings.Join(f.forwarded(t)["bounces@example.test"], "")
		for _, s := range []string{"From: complaints@" + serviceDomain, "report-type=feedback-report", "Feedback-Type: abuse", "Original-Rcpt-To: a@rcpt.test", "Version: 1"} {
			if !strings.Contains(notice, s) {
				t.Errorf("notice lacks %q:\n%s", s, notice)
			}
		}

		// With complaints no longer suppressed, the event is still written.
		if err := f.sup.SetAttributes(f.ctx, f.acct, []suppression.Reason{suppression.Bounce}); err != nil {
			t.Fatal(err)
		}
		rep := &bounce.Report{Kind: bounce.KindComplaint, Recipients: []bounce.Recipient{{Address: "B@rcpt.test"}}, Complaint: &bounce.Complaint{FeedbackType: "abuse"}}
		res, err = f.apply(two, rep)
		if err != nil || !slices.Equal(res.Events, []event.Type{event.Complaint}) || len(res.Suppressed) != 0 {
			t.Fatalf("complaint with COMPLAINT not suppressed: %+v, %v", res, err)
		}
		if evs := f.events(t, "m2"); len(evs) != 1 || evs[0].Complaint.ComplainedRecipients[0] != "b@rcpt.test" {
			t.Fatalf("events of m2 = %+v", evs)
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"a@rcpt.test COMPLAINT"}) {
			t.Fatalf("suppressed = %v", got)
		}
	})
}

func TestIgnoredReports(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test")
		for _, rep := range []*bounce.Report{
			{Kind: bounce.KindAutoReply, Recipients: []bounce.Recipient{{Address: "a@rcpt.test"}}},
			{Kind: bounce.KindDelivered, Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Action: "delivered", Status: "2.0.0"}}},
			{Kind: bounce.KindUnknown},
			{Kind: bounce.KindBounce, Recipients: []bounce.Recipient{{Address: "other@rcpt.test", Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail"}}},
			{Kind: bounce.KindComplaint, Recipients: []bounce.Recipient{{Address: "other@rcpt.test"}}},
		} {
			res, err := f.apply(sent, rep)
			if err != nil || len(res.Events) != 0 || len(res.Ignored) == 0 {
				t.Fatalf("%s report: %+v, %v", rep.Kind, res, err)
			}
		}
		f.nothingStored(t, "m1")
	})
}

// TestAllOrNothing: when the suppression list cannot be written, neither
// the event nor the notification is stored.
func TestAllOrNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test")
		f.failOn = "a@rcpt.test"
		rep := &bounce.Report{Kind: bounce.KindBounce, Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail", Suppress: true}}}
		if _, err := f.apply(sent, rep); err == nil || !strings.Contains(err.Error(), "store failure") {
			t.Fatalf("Apply = %v", err)
		}
		f.nothingStored(t, "m1")
	})
}

// TestDelivered: a delivery bounce applies the same rules inside the
// delivery transaction; the simulator's feedback is forwarded but never
// suppresses.
func TestDelivered(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test", "b@rcpt.test", "c@rcpt.test")
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil || len(cs) != 3 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		for i, c := range cs {
			// A bad address; the retry window's end; a block-list refusal.
			bt, st, status, diag := []string{"Permanent", "Transient", "Permanent"}[i], []string{"NoEmail", "General", "General"}[i],
				[]string{"5.1.1", "4.4.7", "5.7.1"}[i], []string{"smtp; 550 5.1.1 unknown", "smtp; 451 4.4.7 try later", "smtp; 554 5.7.1 blocked using zen.spamhaus.org"}[i]
			ev := &event.Event{Type: event.Bounce, AccountID: f.acct, Mail: sent.Mail, Bounce: &event.BounceDetails{BounceType: bt, BounceSubType: st,
				BouncedRecipients: []event.Recipient{{EmailAddress: c.Address, Action: "failed", Status: status, DiagnosticCode: diag}}, Timestamp: f.clock.Now(), FeedbackID: fmt.Sprint("fb", i)}}
			// The verdict deliver passes: smtpcode.Judge of the reply.
			reply, err := smtpcode.Parse(strings.TrimPrefix(diag, "smtp; "))
			if err != nil {
				t.Fatal(err)
			}
			suppress := smtpcode.Judge(reply).Suppress
			err = f.q.FinishWith(f.ctx, c, queue.Bounced, "550", func(ctx context.Context, tx *db.Tx) error { return f.p.Delivered(ctx, tx, c, ev, suppress) }, ev)
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"a@rcpt.test BOUNCE"}) {
			t.Fatalf("suppressed = %v", got)
		}
		// All bounces are forwarded; only the bad address is suppressed.
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 3 || !strings.Contains(strings.Join(fw, ""), "Final-Recipient: rfc822; b@rcpt.test") {
			t.Fatalf("forwarded = %v", fw)
		}

		// The simulator's bounce and complaint: forwarded, not suppressed.
		sim := f.send(t, "m2", "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com")
		all, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		cs = slices.DeleteFunc(all, func(c queue.Claimed) bool { return c.MessageID != "m2" }) // not the notices
		if len(cs) != 2 {
			t.Fatalf("Claim = %+v", all)
		}
		bev := &event.Event{Type: event.Bounce, AccountID: f.acct, Mail: sim.Mail, Bounce: &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General",
			BouncedRecipients: []event.Recipient{{EmailAddress: cs[0].Address, Action: "failed", Status: "5.1.1"}}, Timestamp: f.clock.Now()}}
		cev := &event.Event{Type: event.Complaint, AccountID: f.acct, Mail: sim.Mail, Complaint: &event.ComplaintDetails{ComplainedRecipients: []string{cs[1].Address},
			Timestamp: f.clock.Now(), ComplaintFeedbackType: "abuse"}}
		for i, ev := range []*event.Event{bev, cev} {
			c := cs[i]
			if err := f.q.FinishWith(f.ctx, c, queue.Bounced, "550", func(ctx context.Context, tx *db.Tx) error { return f.p.Delivered(ctx, tx, c, ev, false) }, ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.suppressed(t); !slices.Equal(got, []string{"a@rcpt.test BOUNCE"}) {
			t.Fatalf("suppressed after the simulator = %v", got)
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 5 {
			t.Fatalf("forwarded = %d notices; want 5", len(fw))
		}
	})
}

// TestConcurrentApply: reports applied at once all succeed. Everything
// Apply reads while its transaction is open goes through that transaction
// (a read on a second connection would deadlock SQLite's single writer
// and exhaust a PostgreSQL pool).
func TestConcurrentApply(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const n = 30
		sents := make([]*queue.Sent, n)
		for i := range n {
			sents[i] = f.send(t, fmt.Sprint("m", i), fmt.Sprintf("r%d@rcpt.test", i))
		}
		ctx, cancel := context.WithTimeout(f.ctx, 60*time.Second)
		defer cancel()
		errs := make(chan error, n)
		for i := range n {
			go func() {
				rep := &bounce.Report{Kind: bounce.KindBounce, Recipients: []bounce.Recipient{{Address: fmt.Sprintf("r%d@rcpt.test", i),
					Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail", Suppress: true}}}
				_, err := f.p.Apply(ctx, f.received([]byte(fmt.Sprint("report ", i)), rep), sents[i])
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := f.suppressed(t); len(got) != n {
			t.Fatalf("%d suppressed; want %d", len(got), n)
		}
	})
}

// TestAppliedOnce: what a report says about a recipient is applied once
// per message, recipient and kind, whatever its bytes; a transient bounce
// does not block a later permanent one, and a delivery bounce takes the
// same key as a DSN.
func TestAppliedOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test", "b@rcpt.test", "c@rcpt.test")
		bounceOf := func(addr, status, bt, st, diag string) *bounce.Report {
			return &bounce.Report{Kind: bounce.KindBounce, Format: "dsn", Recipients: []bounce.Recipient{
				{Address: addr, Action: "failed", Status: status, DiagnosticCode: diag, BounceType: bt, BounceSubType: st, Suppress: bt == "Permanent"}}}
		}
		steps := []struct {
			rep        *bounce.Report
			events     int
			duplicate  bool
			suppressed []string
		}{
			{bounceOf("a@rcpt.test", "4.2.2", "Transient", "MailboxFull", "smtp; 452 4.2.2 full"), 1, false, nil},
			{bounceOf("A@rcpt.test", "4.2.2", "Transient", "MailboxFull", "smtp; 452 4.2.2 full!"), 0, true, nil}, // one byte more
			{bounceOf("a@rcpt.test", "5.1.1", "Permanent", "NoEmail", "smtp; 550 5.1.1 unknown"), 1, false, []string{"a@rcpt.test"}},
			{bounceOf("a@rcpt.test", "5.1.1", "Permanent", "NoEmail", "smtp; 550 5.1.1 unknown."), 0, true, nil},
			{bounceOf("a@rcpt.test", "4.4.7", "Transient", "General", "smtp; 451 4.4.7 later"), 0, true, nil}, // after a permanent one
			{&bounce.Report{Kind: bounce.KindComplaint, Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Suppress: true}}, Complaint: &bounce.Complaint{FeedbackType: "abuse"}}, 1, false, []string{"a@rcpt.test"}},
			{&bounce.Report{Kind: bounce.KindComplaint, Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Suppress: true}}, Complaint: &bounce.Complaint{FeedbackType: "fraud"}}, 0, true, nil},
		}
		for i, s := range steps {
			res, err := f.p.Apply(f.ctx, f.received([]byte(fmt.Sprint("report ", i)), s.rep), sent)
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; len(r.Events) != s.events || r.Duplicate != s.duplicate || !slices.Equal(r.Suppressed, s.suppressed) {
				t.Fatalf("step %d: %+v; want %d events, duplicate %v, suppressed %v", i, r, s.events, s.duplicate, s.suppressed)
			}
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 3 {
			t.Fatalf("%d notices; want one per recipient and kind applied (3)", len(fw))
		}

		// A bounce during delivery, then a DSN about the same recipient:
		// the DSN is a duplicate.
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c := cs[slices.IndexFunc(cs, func(c queue.Claimed) bool { return c.Address == "b@rcpt.test" })]
		ev := &event.Event{Type: event.Bounce, AccountID: f.acct, Mail: sent.Mail, Bounce: &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General",
			BouncedRecipients: []event.Recipient{{EmailAddress: c.Address, Action: "failed", Status: "5.1.1"}}, Timestamp: f.clock.Now(), FeedbackID: "fb"}}
		if err := f.q.FinishWith(f.ctx, c, queue.Bounced, "550", func(ctx context.Context, tx *db.Tx) error { return f.p.Delivered(ctx, tx, c, ev, true) }, ev); err != nil {
			t.Fatal(err)
		}
		res, err := f.p.Apply(f.ctx, f.received([]byte("dsn about b"), bounceOf("b@rcpt.test", "5.1.1", "Permanent", "NoEmail", "smtp; 550 5.1.1 unknown")), sent)
		if err != nil || !res[0].Duplicate || len(res[0].Events) != 0 {
			t.Fatalf("a DSN after the delivery bounce: %+v, %v", res, err)
		}
		if fw := f.forwarded(t)["bounces@example.test"]; len(fw) != 4 {
			t.Fatalf("%d notices; want 4", len(fw))
		}
	})
}

// TestNoticeRateLimit: at most MaxNoticesPerHour notices are forwarded
// about one message in a clock hour; beyond it the events are still
// stored, and the next hour notices go out again.
func TestNoticeRateLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		var rcpts []string
		for i := range 26 {
			rcpts = append(rcpts, fmt.Sprintf("r%d@rcpt.test", i))
		}
		sent := f.send(t, "m1", rcpts...)
		report := func(i int) feedback.Result {
			t.Helper()
			rep := &bounce.Report{Kind: bounce.KindBounce, Recipients: []bounce.Recipient{{Address: rcpts[i], Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail"}}}
			res, err := f.p.Apply(f.ctx, f.received(nil, rep), sent)
			if err != nil {
				t.Fatal(err)
			}
			return res[0]
		}
		for i := range 25 {
			r := report(i)
			if len(r.Events) != 1 || (len(r.Forwarded) == 1) != (i < feedback.DefaultMaxNoticesPerHour) {
				t.Fatalf("report %d: %+v", i, r)
			}
		}
		if n := len(f.events(t, "m1")); n != 25 {
			t.Fatalf("%d events; want 25", n)
		}
		if n := len(f.forwarded(t)["bounces@example.test"]); n != feedback.DefaultMaxNoticesPerHour {
			t.Fatalf("%d notices; want %d", n, feedback.DefaultMaxNoticesPerHour)
		}
		f.clock.Advance(time.Hour)
		if r := report(25); len(r.Forwarded) != 1 {
			t.Fatalf("the next hour: %+v", r)
		}
	})
}

// TestPruneForgetsReports: the reports kept, the once-per-recipient keys
// and the notice counts of a message go with it when the queue forgets it.
func TestPruneForgetsReports(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		sent := f.send(t, "m1", "a@rcpt.test")
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		if err := f.q.Finish(f.ctx, cs[0], queue.Delivered, "250", nil); err != nil {
			t.Fatal(err)
		}
		rep := &bounce.Report{Kind: bounce.KindBounce, Recipients: []bounce.Recipient{{Address: "a@rcpt.test", Status: "5.1.1", BounceType: "Permanent", BounceSubType: "NoEmail"}}}
		if _, err := f.p.Apply(f.ctx, f.received([]byte("report"), rep), sent); err != nil {
			t.Fatal(err)
		}
		count := func() (n int) {
			t.Helper()
			for _, table := range []string{"feedback_received", "feedback_applied", "feedback_notice_counts"} {
				var k int
				if err := f.d.QueryRow(f.ctx, `SELECT COUNT(*) FROM `+table).Scan(&k); err != nil {
					t.Fatal(err)
				}
				n += k
			}
			return n
		}
		if n := count(); n != 3 {
			t.Fatalf("%d rows kept; want 3", n)
		}
		// The notice is still queued, so only m1 is forgotten.
		if p, err := f.q.Prune(f.ctx, f.clock.Now().Add(time.Hour)); err != nil || p.Messages != 1 {
			t.Fatalf("Prune = %+v, %v", p, err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d rows left after the message was forgotten", n)
		}
	})
}
