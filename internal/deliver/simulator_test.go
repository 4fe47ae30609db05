package deliver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/deliver"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
)

// simDomains are the simulator domains of a service at sesame.test, as the
// app passes them.
var simDomains = send.DefaultSimulatorDomains("sesame.test")

// noDial is a Dial that fails the test: the simulator must not connect.
func noDial(t *testing.T) func(context.Context, string, string) (net.Conn, error) {
	return func(_ context.Context, _, addr string) (net.Conn, error) {
		t.Errorf("dialled %s for a simulator recipient", addr)
		return nil, errors.New("no dialling in this test")
	}
}

// checkDelivery checks a simulated Delivery of rcpt.
func checkDelivery(t *testing.T, e *event.Event, rcpt string, processing int64) {
	t.Helper()
	d := e.Delivery
	if e.Type != event.Delivery || d == nil {
		t.Fatalf("event is %s; want Delivery", e.Type)
	}
	if !slices.Equal(d.Recipients, []string{rcpt}) || d.SMTPResponse != "250 2.6.0 Message received" || d.ReportingMTA != helo ||
		d.RemoteMTAIP != "" || d.ProcessingTimeMillis != processing || d.Timestamp.IsZero() {
		t.Fatalf("delivery of %s = %+v", rcpt, d)
	}
	if _, ok := e.Mail.Tags[event.TagOutgoingIP]; ok {
		t.Fatalf("simulated delivery of %s has %s %q", rcpt, event.TagOutgoingIP, e.Mail.Tags[event.TagOutgoingIP])
	}
}

// checkBounce checks a simulated Permanent Bounce of rcpt.
func checkBounce(t *testing.T, e *event.Event, rcpt, subType, diagnostic string) {
	t.Helper()
	b := e.Bounce
	if e.Type != event.Bounce || b == nil {
		t.Fatalf("event is %s; want Bounce", e.Type)
	}
	want := event.Recipient{EmailAddress: rcpt, Action: "failed", Status: "5.1.1", DiagnosticCode: diagnostic}
	if b.BounceType != "Permanent" || b.BounceSubType != subType || len(b.BouncedRecipients) != 1 || b.BouncedRecipients[0] != want ||
		b.FeedbackID == "" || b.ReportingMTA != "dsn; "+helo || b.RemoteMTAIP != "" || b.Timestamp.IsZero() {
		t.Fatalf("bounce of %s = %+v", rcpt, b)
	}
	if _, ok := e.Mail.Tags[event.TagOutgoingIP]; ok {
		t.Fatalf("simulated bounce of %s has %s", rcpt, event.TagOutgoingIP)
	}
}

// TestSimulator: every simulator address, at both simulator domains and
// with a +label, gets SES's outcome without a connection or a DNS query.
func TestSimulator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, func(o *deliver.Options) {
			o.Dial = noDial(t)
			o.SimulatorDomains = simDomains
		})
		type want struct {
			state  queue.State
			events []event.Type
		}
		cases := map[string]want{
			"success":         {queue.Delivered, []event.Type{event.Delivery}},
			"bounce":          {queue.Bounced, []event.Type{event.Bounce}},
			"ooto":            {queue.Delivered, []event.Type{event.Delivery}},
			"complaint":       {queue.Delivered, []event.Type{event.Delivery, event.Complaint}},
			"suppressionlist": {queue.Bounced, []event.Type{event.Bounce}},
			"nobody":          {queue.Bounced, []event.Type{event.Bounce}},
		}
		locals := []string{"success", "bounce", "ooto", "complaint", "suppressionlist", "nobody"}
		var ids []string
		rcptOf := map[string]string{}
		localOf := map[string]string{}
		n := 0
		for _, local := range locals {
			for _, form := range []string{"%s@simulator.amazonses.com", "%s+run-42@simulator.amazonses.com", "%s@simulator.sesame.test", "%s+x@Simulator.Sesame.Test"} {
				id := fmt.Sprintf("m%d", n)
				n++
				rcpt := fmt.Sprintf(form, local)
				f.enqueue(t, id, rcpt)
				ids = append(ids, id)
				rcptOf[id], localOf[id] = rcpt, local
			}
		}
		f.clock.Advance(250 * time.Millisecond)
		f.runOnce(t, w, n)

		if q := f.dns.Queries(); q != 0 {
			t.Fatalf("%d DNS queries for simulator recipients", q)
		}
		if len(f.mx.received()) != 0 || f.mx.connections() != 0 {
			t.Fatal("the recipient server was reached")
		}
		for _, id := range ids {
			rcpt, local := rcptOf[id], localOf[id]
			wt := cases[local]
			evs := f.events(t, id)
			if !slices.Equal(types(evs), wt.events) {
				t.Fatalf("%s: events = %v; want %v", rcpt, types(evs), wt.events)
			}
			for _, e := range evs {
				if e.Mail.MessageID != id || e.AccountID != f.acct {
					t.Fatalf("%s: mail = %+v", rcpt, e.Mail)
				}
			}
			switch local {
			case "success", "ooto":
				checkDelivery(t, evs[0], rcpt, 250)
			case "complaint":
				checkDelivery(t, evs[0], rcpt, 250)
				c := evs[1].Complaint
				if !slices.Equal(c.ComplainedRecipients, []string{rcpt}) || c.ComplaintFeedbackType != "abuse" ||
					c.UserAgent != "Amazon SES Mailbox Simulator" || c.FeedbackID == "" || c.ComplaintSubType != nil ||
					c.Timestamp.IsZero() || c.ArrivalDate == "" {
					t.Fatalf("%s: complaint = %+v", rcpt, c)
				}
				if _, err := time.Parse(time.RFC3339, c.ArrivalDate); err != nil {
					t.Fatalf("%s: arrivalDate %q: %v", rcpt, c.ArrivalDate, err)
				}
			case "bounce":
				checkBounce(t, evs[0], rcpt, "General", "smtp; 550 5.1.1 user unknown")
			case "suppressionlist":
				// Not an SMTP reply: SES's own sentence, without "smtp; ".
				checkBounce(t, evs[0], rcpt, "Suppressed", "Sesame has suppressed sending to this address because it is on the global suppression list (mailbox simulator).")
			case "nobody":
				checkBounce(t, evs[0], rcpt, "General", "smtp; 550 5.1.1 unknown simulator address")
			}
		}
		c := f.counts(t)
		if c[queue.Delivered] != 12 || c[queue.Bounced] != 12 || c[queue.Queued] != 0 {
			t.Fatalf("counts = %v", c)
		}
		f.runOnce(t, w, 0)
	})
}

// TestSimulatorWithRealRecipient: a message to a simulator address and a
// real one: the simulator's outcome is recorded without the network, and
// the real recipient still gets the message over SMTP, alone.
func TestSimulatorWithRealRecipient(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, func(o *deliver.Options) { o.SimulatorDomains = simDomains })
		f.enqueue(t, "m1", "complaint+a@simulator.amazonses.com", "x@rcpt.test", "bounce@simulator.sesame.test")
		f.runOnce(t, w, 3)

		got := f.mx.received()
		if len(got) != 1 || !slices.Equal(got[0].rcpts, []string{"x@rcpt.test"}) {
			t.Fatalf("received %+v", got)
		}
		if want := []string{fmt.Sprintf("127.0.0.1:%d", f.mx.port)}; !slices.Equal(f.dials(), want) {
			t.Fatalf("dialled %v; want %v", f.dials(), want)
		}
		byRcpt := map[string][]event.Type{}
		for _, e := range f.events(t, "m1") {
			var rcpt string
			switch {
			case e.Delivery != nil:
				rcpt = e.Delivery.Recipients[0]
			case e.Complaint != nil:
				rcpt = e.Complaint.ComplainedRecipients[0]
			case e.Bounce != nil:
				rcpt = e.Bounce.BouncedRecipients[0].EmailAddress
			}
			byRcpt[rcpt] = append(byRcpt[rcpt], e.Type)
			if rcpt == "x@rcpt.test" && e.Delivery.RemoteMTAIP != "127.0.0.1" {
				t.Fatalf("real delivery = %+v", e.Delivery)
			}
		}
		for rcpt, want := range map[string][]event.Type{
			"complaint+a@simulator.amazonses.com": {event.Delivery, event.Complaint},
			"x@rcpt.test":                         {event.Delivery},
			"bounce@simulator.sesame.test":        {event.Bounce},
		} {
			if !slices.Equal(byRcpt[rcpt], want) {
				t.Fatalf("events of %s = %v; want %v (all: %v)", rcpt, byRcpt[rcpt], want, byRcpt)
			}
		}
		if c := f.counts(t); c[queue.Delivered] != 2 || c[queue.Bounced] != 1 {
			t.Fatalf("counts = %v", c)
		}
	})
}

// TestSimulatorWithRelay: a relay does not see simulator recipients.
func TestSimulatorWithRelay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, func(o *deliver.Options) {
			o.Relay = fmt.Sprintf("127.0.0.1:%d", f.mx.port)
			o.Port = 0
			o.Dial = noDial(t)
			o.SimulatorDomains = simDomains
		})
		f.enqueue(t, "m1", "success@simulator.amazonses.com")
		f.runOnce(t, w, 1)
		checkDelivery(t, f.only(t, "m1", event.Delivery), "success@simulator.amazonses.com", 0)
		if f.mx.connections() != 0 {
			t.Fatal("the relay was reached")
		}
	})
}

// TestNoSimulatorDomains: without SimulatorDomains, simulator.amazonses.com
// is a domain like any other (here, one without mail hosts).
func TestNoSimulatorDomains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		w := f.worker(t, nil)
		f.enqueue(t, "m1", "success@simulator.amazonses.com")
		f.runOnce(t, w, 1)
		if f.dns.Queries() == 0 {
			t.Fatal("no DNS query")
		}
		if b := f.only(t, "m1", event.Bounce).Bounce; b.BouncedRecipients[0].Status != "5.1.2" {
			t.Fatalf("bounce = %+v", b)
		}
	})
}
