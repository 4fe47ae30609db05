package deliver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/deliver"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
)

// policies is a recording Options.Policy: sets named "tls*" require TLS,
// "short" has a MaxDelivery of 8 minutes, "broken" fails.
type policies struct {
	mu    sync.Mutex
	calls []string
}

func (p *policies) get(ctx context.Context, accountID, set string) (deliver.Policy, error) {
	p.mu.Lock()
	p.calls = append(p.calls, accountID+"/"+set)
	p.mu.Unlock()
	switch {
	case set == "broken":
		return deliver.Policy{}, errors.New("database gone")
	case set == "short":
		return deliver.Policy{MaxDelivery: 8 * time.Minute}, nil
	case strings.HasPrefix(set, "tls"):
		return deliver.Policy{RequireTLS: true, MaxDelivery: 8 * time.Minute}, nil
	}
	return deliver.Policy{}, nil
}

func (p *policies) taken() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

// enqueueSet queues message id for rcpts through the configuration set.
func (f *fixture) enqueueSet(t *testing.T, id, set string, rcpts ...string) *queue.Message {
	t.Helper()
	mail := event.Mail{Timestamp: f.clock.Now(), MessageID: id, Source: "a@example.test", SendingAccountID: f.acct, Destination: rcpts}
	m := &queue.Message{ID: id, AccountID: f.acct, Source: "a@example.test", MailFrom: id + "@bounce.example.test", Mail: mail, Body: body(id),
		Recipients: rcpts, ConfigurationSet: set}
	if err := f.q.Enqueue(f.ctx, m, &event.Event{Type: event.Send, AccountID: f.acct, ConfigurationSet: set, Mail: mail, Send: &event.SendDetails{}}); err != nil {
		t.Fatal(err)
	}
	return m
}

func subjects(rs []received) []string {
	var out []string
	for _, r := range rs {
		for _, l := range strings.Split(string(r.body), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				out = append(out, s+"/tls="+strconv.FormatBool(r.tls))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestRequireTLSWithoutSTARTTLS: a server without STARTTLS gets the plain
// messages; the TLS ones are delayed (TLSFailure, 4.7.10) until their
// MaxDelivery ends, then bounce; the policy is read once per set per
// round.
func TestRequireTLSWithoutSTARTTLS(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		p := &policies{}
		w := f.worker(t, func(o *deliver.Options) {
			o.Policy = p.get
			o.Backoff = func(int) time.Duration { return 5 * time.Minute }
		})
		f.enqueueSet(t, "plain", "", "x@rcpt.test")
		m1 := f.enqueueSet(t, "secret1", "tls-a", "x@rcpt.test", "y@rcpt.test")
		f.enqueueSet(t, "secret2", "tls-a", "x@rcpt.test")
		f.enqueueSet(t, "other", "open", "x@rcpt.test")
		f.runOnce(t, w, 5)
		if got := subjects(f.mx.received()); !slices.Equal(got, []string{"other/tls=false", "plain/tls=false"}) {
			t.Fatalf("received %v", got)
		}
		if c := p.taken(); !slices.Equal(c, []string{f.acct + "/tls-a", f.acct + "/open"}) {
			t.Fatalf("policy calls %v; want one per set", c)
		}
		if tr := f.mx.transcript(); strings.Contains(tr, "secret") {
			t.Fatalf("a TLS message went over plain text:\n%s", tr)
		}
		for _, id := range []string{"secret1", "secret2"} {
			for _, e := range f.events(t, id) {
				dd := e.DeliveryDelay
				if e.Type != event.DeliveryDelay || dd.DelayType != "TLSFailure" || dd.DelayedRecipients[0].Status != "4.7.10" ||
					!strings.HasPrefix(dd.DelayedRecipients[0].DiagnosticCode, "smtp; 454 4.7.10 TLS is required for this message") ||
					!strings.Contains(dd.DelayedRecipients[0].DiagnosticCode, "mx.rcpt.test does not offer STARTTLS") ||
					!dd.ExpirationTime.Equal(m1.Mail.Timestamp.Add(8*time.Minute)) {
					t.Fatalf("%s: %s %+v", id, e.Type, dd)
				}
			}
		}
		// The next attempt, at +5m, fails alike; the last at +8m bounces.
		f.clock.Advance(5 * time.Minute)
		f.runOnce(t, w, 3)
		f.clock.Advance(3 * time.Minute)
		f.runOnce(t, w, 3)
		evs := f.events(t, "secret2")
		if !slices.Equal(types(evs), []event.Type{event.DeliveryDelay, event.DeliveryDelay, event.Bounce}) {
			t.Fatalf("events %v", types(evs))
		}
		b := evs[2].Bounce
		if b.BounceType != "Transient" || !strings.Contains(b.BouncedRecipients[0].DiagnosticCode, "454 4.7.10") {
			t.Fatalf("bounce %+v", b)
		}
		if c := f.counts(t); c[queue.Bounced] != 3 || c[queue.Delivered] != 2 {
			t.Fatalf("counts %v", c)
		}
		if len(f.mx.received()) != 2 {
			t.Fatal("a TLS message was sent")
		}
	})
}

// TestRequireTLSWithSTARTTLS: with a server offering STARTTLS, TLS and
// plain messages share one encrypted session.
func TestRequireTLSWithSTARTTLS(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, true, 0))
		p := &policies{}
		w := f.worker(t, func(o *deliver.Options) { o.Policy = p.get })
		f.enqueueSet(t, "plain", "", "x@rcpt.test")
		f.enqueueSet(t, "secret", "tls", "x@rcpt.test")
		f.runOnce(t, w, 2)
		if got := subjects(f.mx.received()); !slices.Equal(got, []string{"plain/tls=true", "secret/tls=true"}) {
			t.Fatalf("received %v", got)
		}
		if n := f.mx.connections(); n != 1 {
			t.Fatalf("%d connections", n)
		}
		f.only(t, "secret", event.Delivery)
	})
}

// TestRequireTLSHandshakeFails: when STARTTLS fails, the plain message is
// sent over a plain session as before, and the TLS one is never sent
// without TLS.
func TestRequireTLSHandshakeFails(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, true, tls.VersionTLS12))
		w := f.worker(t, func(o *deliver.Options) {
			o.Policy = (&policies{}).get
			o.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		})
		f.enqueueSet(t, "plain", "", "x@rcpt.test")
		f.enqueueSet(t, "secret", "tls", "x@rcpt.test")
		f.runOnce(t, w, 2)
		if got := subjects(f.mx.received()); !slices.Equal(got, []string{"plain/tls=false"}) {
			t.Fatalf("received %v", got)
		}
		dd := f.only(t, "secret", event.DeliveryDelay).DeliveryDelay
		if dd.DelayType != "TLSFailure" || !strings.Contains(dd.DelayedRecipients[0].DiagnosticCode, "mx.rcpt.test failed STARTTLS") {
			t.Fatalf("delay %+v", dd)
		}
		f.only(t, "plain", event.Delivery)
	})
}

// TestRequireTLSNextHost: the first MX has no STARTTLS and takes the
// plain message; the TLS message goes to the second MX, which has it.
func TestRequireTLSNextHost(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		secure := newMX(t, true, 0)
		f.dns.Add("two.test. 300 IN MX 10 mx.rcpt.test.")
		f.dns.Add("two.test. 300 IN MX 20 mx2.two.test.")
		f.dns.Add("mx2.two.test. 300 IN A 127.0.0.2")
		w := f.worker(t, func(o *deliver.Options) {
			o.Policy = (&policies{}).get
			// 127.0.0.2 is the second server (at its own port).
			o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if host, _, _ := net.SplitHostPort(addr); host == "127.0.0.2" {
					addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(secure.port))
				}
				return f.dial(ctx, network, addr)
			}
		})
		f.enqueueSet(t, "plain", "", "x@two.test")
		f.enqueueSet(t, "secret", "tls", "x@two.test")
		f.enqueueSet(t, "plain2", "", "x@two.test")
		f.runOnce(t, w, 3)
		if got := subjects(f.mx.received()); !slices.Equal(got, []string{"plain/tls=false"}) {
			t.Fatalf("first MX received %v", got)
		}
		// Once a TLS session is open, it serves the rest.
		if got := subjects(secure.received()); !slices.Equal(got, []string{"plain2/tls=true", "secret/tls=true"}) {
			t.Fatalf("second MX received %v", got)
		}
		f.only(t, "secret", event.Delivery)
	})
}

// TestPolicyMaxDeliveryAndError: MaxDelivery replaces the retry window;
// a policy that cannot be read delays the set's mail without sending it.
func TestPolicyMaxDeliveryAndError(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, newMX(t, false, 0))
		f.mx.script("busy@rcpt.test", "451 4.3.0 later", "451 4.3.0 later")
		w := f.worker(t, func(o *deliver.Options) {
			o.Policy = (&policies{}).get
			o.RetryWindow = time.Hour
		})
		m := f.enqueueSet(t, "short", "short", "busy@rcpt.test")
		f.enqueueSet(t, "long", "", "busy@rcpt.test")
		f.enqueueSet(t, "broken", "broken", "x@rcpt.test")
		f.runOnce(t, w, 3)
		if dd := f.only(t, "short", event.DeliveryDelay).DeliveryDelay; !dd.ExpirationTime.Equal(m.Mail.Timestamp.Add(8 * time.Minute)) {
			t.Fatalf("short: expires %v", dd.ExpirationTime)
		}
		if dd := f.only(t, "long", event.DeliveryDelay).DeliveryDelay; !dd.ExpirationTime.Equal(m.Mail.Timestamp.Add(time.Hour)) {
			t.Fatalf("long: expires %v", dd.ExpirationTime)
		}
		dd := f.only(t, "broken", event.DeliveryDelay).DeliveryDelay
		if dd.DelayType != "Undetermined" || !strings.Contains(dd.DelayedRecipients[0].DiagnosticCode, "delivery options could not be read") {
			t.Fatalf("broken: %+v", dd)
		}
		if got := subjects(f.mx.received()); len(got) != 0 {
			t.Fatalf("received %v", got)
		}
	})
}
