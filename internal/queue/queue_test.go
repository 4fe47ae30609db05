package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

type fixture struct {
	ctx   context.Context
	d     *db.DB
	clock *testkit.Clock
	q     *queue.Queue
	acct  string
	woken atomic.Int64 // Notify calls; the queue may call it from several goroutines
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), d: d, clock: testkit.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))}
	box, _ := seal.New("k")
	a, _, err := account.New(d, box, f.clock.Now).Create(f.ctx, account.CreateOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f.acct = a.ID
	f.q, err = queue.New(queue.Options{DB: d, Now: f.clock.Now, Notify: func() { f.woken.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) message(id string, rcpts ...string) (*queue.Message, *event.Event) {
	mail := event.Mail{Timestamp: f.clock.Now(), MessageID: id, Source: "a@example.test", SendingAccountID: f.acct, Destination: rcpts}
	m := &queue.Message{ID: id, AccountID: f.acct, Source: "a@example.test", MailFrom: id + "@bounce.example.test", Mail: mail, Body: []byte("From: a@example.test\r\n\r\nhi\r\n"), Recipients: rcpts, Counted: len(rcpts)}
	return m, &event.Event{Type: event.Send, AccountID: f.acct, Mail: mail, Send: &event.SendDetails{}}
}

func (f *fixture) events(t *testing.T, messageID string) []event.Type {
	t.Helper()
	var out []event.Type
	for _, e := range testkit.Events(t, f.d, messageID) {
		out = append(out, e.Type)
	}
	return out
}

func TestEnqueueClaimFinish(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "x@one.example", "y@Two.Example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		if f.woken.Load() != 1 {
			t.Fatal("Enqueue did not notify")
		}
		if got := f.events(t, "m1"); len(got) != 1 || got[0] != event.Send {
			t.Fatalf("events = %v", got)
		}
		body, err := f.q.Body(f.ctx, "m1")
		if err != nil || string(body) != string(m.Body) {
			t.Fatalf("Body = %q, %v", body, err)
		}
		mail, err := f.q.Mail(f.ctx, "m1")
		if err != nil || mail.MessageID != "m1" || len(mail.Destination) != 2 {
			t.Fatalf("Mail = %+v, %v", mail, err)
		}
		cs, err := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if err != nil || len(cs) != 2 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		if cs[1].Domain != "two.example" || cs[0].MailFrom != "m1@bounce.example.test" || cs[0].Attempts != 1 || cs[0].AccountID != f.acct {
			t.Fatalf("claimed %+v", cs)
		}
		// Held: nobody else gets them.
		if again, _ := f.q.Claim(f.ctx, "w2", 10, time.Minute); len(again) != 0 {
			t.Fatalf("w2 claimed %d leased rows", len(again))
		}
		del := &event.Event{Type: event.Delivery, AccountID: f.acct, Mail: mail, Delivery: &event.DeliveryDetails{Timestamp: f.clock.Now(), Recipients: []string{"x@one.example"}, SMTPResponse: "250 ok"}}
		if err := f.q.Finish(f.ctx, cs[0], queue.Delivered, "250 ok", del); err != nil {
			t.Fatal(err)
		}
		// Finishing twice: the lease is gone.
		if err := f.q.Finish(f.ctx, cs[0], queue.Delivered, "250 ok", del); !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("second Finish: %v", err)
		}
		// A retry is not due before its time.
		if err := f.q.Retry(f.ctx, cs[1], f.clock.Now().Add(10*time.Minute), "451 try later", nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.q.Claim(f.ctx, "w1", 10, time.Minute); len(got) != 0 {
			t.Fatal("claimed a retry before it was due")
		}
		f.clock.Advance(10 * time.Minute)
		got, _ := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if len(got) != 1 || got[0].Attempts != 2 {
			t.Fatalf("retry claim = %+v", got)
		}
		counts, _ := f.q.Counts(f.ctx)
		if counts[queue.Delivered] != 1 || counts[queue.Queued] != 1 {
			t.Fatalf("counts = %v", counts)
		}
		if n, err := f.q.SentSince(f.ctx, f.acct, f.clock.Now().Add(-24*time.Hour)); n != 2 || err != nil {
			t.Fatalf("SentSince = %d, %v", n, err)
		}
		if n, _ := f.q.SentSince(f.ctx, f.acct, f.clock.Now()); n != 0 {
			t.Fatalf("SentSince(now) = %d", n)
		}
		if ev := f.events(t, "m1"); len(ev) != 2 || ev[1] != event.Delivery {
			t.Fatalf("events = %v", ev)
		}
	})
}

// TestCrashedWorker: a worker that dies holding rows loses them when its
// lease expires, another takes them, and the dead worker's late outcome
// is refused.
func TestCrashedWorker(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "x@one.example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		dead, _ := f.q.Claim(f.ctx, "dead", 10, time.Minute)
		f.clock.Advance(time.Minute)
		alive, _ := f.q.Claim(f.ctx, "alive", 10, time.Minute)
		if len(dead) != 1 || len(alive) != 1 || alive[0].ID != dead[0].ID {
			t.Fatalf("dead %+v alive %+v", dead, alive)
		}
		if err := f.q.Finish(f.ctx, dead[0], queue.Bounced, "550", nil); !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("dead worker's outcome: %v", err)
		}
		if err := f.q.Finish(f.ctx, alive[0], queue.Delivered, "250", nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEnqueueAllOrNothing: an invalid event or recipient stores nothing.
func TestEnqueueAllOrNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "x@one.example", "no-domain")
		if err := f.q.Enqueue(f.ctx, m, send); !errors.Is(err, queue.ErrInvalid) {
			t.Fatalf("bad recipient: %v", err)
		}
		m, send = f.message("m2", "x@one.example")
		send.Send = nil // invalid: details missing
		if err := f.q.Enqueue(f.ctx, m, send); err == nil {
			t.Fatal("invalid event accepted")
		}
		if _, err := f.q.Body(f.ctx, "m1"); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("m1 stored: %v", err)
		}
		if _, err := f.q.Body(f.ctx, "m2"); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("m2 stored: %v", err)
		}
		counts, _ := f.q.Counts(f.ctx)
		if len(counts) != 0 || len(f.events(t, "")) != 0 {
			t.Fatalf("left behind: %v", counts)
		}
	})
}

// TestConcurrentClaims: workers claiming at once never share a row.
func TestConcurrentClaims(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const n = 200
		for k := range n / 4 {
			m, send := f.message(fmt.Sprint("m", k), "a@x.example", "b@x.example", "c@y.example", "d@z.example")
			if err := f.q.Enqueue(f.ctx, m, send); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprint("w", w)
				for {
					cs, err := f.q.Claim(f.ctx, owner, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					for _, c := range cs {
						if prev, dup := seen[c.ID]; dup {
							t.Errorf("row %d claimed by %s and %s", c.ID, prev, owner)
						}
						seen[c.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d rows, want %d", len(seen), n)
		}
	})
}

// TestFinishEvents: several events for one outcome are stored in order
// with the state change, or none of them with it.
func TestFinishEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "complaint@sim.example", "x@one.example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if err != nil || len(cs) != 2 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		del := &event.Event{Type: event.Delivery, AccountID: f.acct, Mail: m.Mail,
			Delivery: &event.DeliveryDetails{Timestamp: f.clock.Now(), Recipients: []string{cs[0].Address}, SMTPResponse: "250 ok"}}
		com := &event.Event{Type: event.Complaint, AccountID: f.acct, Mail: m.Mail,
			Complaint: &event.ComplaintDetails{ComplainedRecipients: []string{cs[0].Address}, Timestamp: f.clock.Now(), ComplaintFeedbackType: "abuse"}}
		if err := f.q.FinishWith(f.ctx, cs[0], queue.Queued, "250 ok", nil, del); err == nil {
			t.Fatal("FinishEvents accepted a state that is not final")
		}
		// An invalid event rolls back the state change and the valid event
		// before it.
		bad := &event.Event{Type: event.Complaint, AccountID: f.acct, Mail: m.Mail}
		if err := f.q.FinishWith(f.ctx, cs[0], queue.Delivered, "250 ok", nil, del, bad); err == nil {
			t.Fatal("invalid event accepted")
		}
		if got := f.events(t, "m1"); len(got) != 1 {
			t.Fatalf("events after a rollback = %v", got)
		}
		if err := f.q.FinishWith(f.ctx, cs[0], queue.Delivered, "250 ok", nil, del, nil, com); err != nil {
			t.Fatal(err)
		}
		if got := f.events(t, "m1"); len(got) != 3 || got[1] != event.Delivery || got[2] != event.Complaint {
			t.Fatalf("events = %v", got)
		}
		// The lease is gone: nothing more is written.
		if err := f.q.FinishWith(f.ctx, cs[0], queue.Delivered, "250 ok", nil, del, com); !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("second FinishEvents: %v", err)
		}
		// No events at all is allowed too.
		if err := f.q.FinishWith(f.ctx, cs[1], queue.Bounced, "550 no", nil); err != nil {
			t.Fatal(err)
		}
		if got := f.events(t, "m1"); len(got) != 3 {
			t.Fatalf("events = %v", got)
		}
		counts, _ := f.q.Counts(f.ctx)
		if counts[queue.Delivered] != 1 || counts[queue.Bounced] != 1 {
			t.Fatalf("counts = %v", counts)
		}
	})
}

func TestLookup(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := f.q.Lookup(f.ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("Lookup(unknown) = %v, want ErrNotFound", err)
		}
		m, send := f.message("m1", "b@two.example", "a@one.example")
		m.ConfigurationSet = "cs"
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		s, err := f.q.Lookup(f.ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if s.AccountID != f.acct || s.MailFrom != "m1@bounce.example.test" || s.ConfigurationSet != "cs" || s.System ||
			!s.AcceptedAt.Equal(f.clock.Now()) || s.Mail.MessageID != "m1" ||
			len(s.Recipients) != 2 || s.Recipients[0] != "b@two.example" || s.Recipients[1] != "a@one.example" {
			t.Fatalf("Lookup = %+v", s)
		}
	})
}

func TestFinishWithAndEnqueueTx(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "x@one.example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		notice, _ := f.message("n1", "sender@example.test")
		notice.System, notice.Counted = true, 0
		// also failing rolls back the outcome, its event and the message
		// also queued.
		boom := errors.New("boom")
		err = f.q.FinishWith(f.ctx, cs[0], queue.Bounced, "550 no", func(ctx context.Context, tx *db.Tx) error {
			if err := f.q.EnqueueTx(ctx, tx, notice, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("FinishWith = %v, want boom", err)
		}
		if _, err := f.q.Lookup(f.ctx, "n1"); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("rolled-back message stored: %v", err)
		}
		woken := f.woken.Load()
		err = f.q.FinishWith(f.ctx, cs[0], queue.Bounced, "550 no", func(ctx context.Context, tx *db.Tx) error {
			return f.q.EnqueueTx(ctx, tx, notice, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		if f.woken.Load() != woken+1 {
			t.Fatalf("workers not woken after FinishWith queued mail")
		}
		counts, _ := f.q.Counts(f.ctx)
		if counts[queue.Bounced] != 1 || counts[queue.Queued] != 1 {
			t.Fatalf("counts = %v", counts)
		}
		// EnqueueTx checks its input like Enqueue.
		err = d.InTx(f.ctx, func(tx *db.Tx) error {
			return f.q.EnqueueTx(f.ctx, tx, &queue.Message{ID: "n2", AccountID: f.acct}, nil)
		})
		if !errors.Is(err, queue.ErrInvalid) {
			t.Fatalf("EnqueueTx(invalid) = %v", err)
		}
	})
}

func TestBodyDroppedAndPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		for _, id := range []string{"old", "new"} {
			m, send := f.message(id, "a@one.example", "b@one.example")
			if err := f.q.Enqueue(f.ctx, m, send); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour)
		}
		body := func(id string) int {
			b, err := f.q.Body(f.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return len(b)
		}
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil || len(cs) != 4 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		// "old": one recipient finished, the body stays; both, it goes.
		if err := f.q.Finish(f.ctx, cs[0], queue.Delivered, "250 ok", nil); err != nil {
			t.Fatal(err)
		}
		if body("old") == 0 {
			t.Fatal("body dropped while a recipient is queued")
		}
		if err := f.q.Finish(f.ctx, cs[1], queue.Bounced, "550 no", nil); err != nil {
			t.Fatal(err)
		}
		if body("old") != 0 || body("new") == 0 {
			t.Fatalf("bodies after the last recipient of old finished: old %d, new %d", body("old"), body("new"))
		}
		// "new" retried: a retry keeps the body.
		if err := f.q.Retry(f.ctx, cs[2], f.clock.Now(), "451 later", nil); err != nil {
			t.Fatal(err)
		}
		if body("new") == 0 {
			t.Fatal("body dropped on a retry")
		}
		// Prune forgets what was accepted before the cut, unless a
		// recipient is still queued; "new" is too young anyway.
		f.clock.Advance(30 * time.Hour)
		p, err := f.q.Prune(f.ctx, f.clock.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if p.Messages != 1 || p.SendCounts < 1 {
			t.Fatalf("Prune = %+v", p)
		}
		if _, err := f.q.Lookup(f.ctx, "old"); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("old message still there: %v", err)
		}
		if _, err := f.q.Lookup(f.ctx, "new"); err != nil {
			t.Fatalf("a message with queued recipients was pruned: %v", err)
		}
		if n, err := f.q.SentSince(f.ctx, f.acct, f.clock.Now().Add(-48*time.Hour)); err != nil || n != 0 {
			t.Fatalf("send counts older than a day survived: %d, %v", n, err)
		}
		if c := f.counts(t); c[queue.Queued] != 2 || c[queue.Delivered]+c[queue.Bounced] != 0 {
			t.Fatalf("recipients after Prune = %v", c)
		}
		// Events stay.
		if got := f.events(t, "old"); len(got) != 1 {
			t.Fatalf("events of a pruned message = %v", got)
		}
	})
}

func (f *fixture) counts(t *testing.T) map[queue.State]int {
	t.Helper()
	c, err := f.q.Counts(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBodyDroppedConcurrently: recipients of one message finished at the
// same time by different workers still drop its body (the last one sees
// the others finished), and a message whose recipients are all suppressed
// keeps no body at all.
func TestBodyDroppedConcurrently(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const n = 20
		for i := range n {
			m, send := f.message(fmt.Sprint("m", i), "a@one.example", "b@two.example")
			if err := f.q.Enqueue(f.ctx, m, send); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := f.q.Claim(f.ctx, "w", 2*n, time.Minute)
		if err != nil || len(cs) != 2*n {
			t.Fatalf("Claim = %d, %v", len(cs), err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- f.q.FinishWith(f.ctx, c, queue.Delivered, "250 ok", func(ctx context.Context, tx *db.Tx) error {
					time.Sleep(time.Millisecond) // widen the window between the two finishes
					return nil
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			if b, err := f.q.Body(f.ctx, fmt.Sprint("m", i)); err != nil || len(b) != 0 {
				t.Fatalf("m%d: body of %d bytes kept after both recipients finished (%v)", i, len(b), err)
			}
		}
		if n := f.bodyRows(t); n != 0 {
			t.Fatalf("%d body rows kept after every recipient finished", n)
		}

		m, send := f.message("sup", "a@one.example")
		m.Suppressed = map[string]*event.Event{"a@one.example": nil}
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		if b, err := f.q.Body(f.ctx, "sup"); err != nil || len(b) != 0 {
			t.Fatalf("all-suppressed message keeps a body of %d bytes (%v)", len(b), err)
		}
	})
}
