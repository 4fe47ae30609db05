package queue_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
)

// together runs the n calls at once, all in one group-commit batch: they
// are made while another group transaction holds the committer, and
// released once all wait. It returns their results and the number of
// batches committed meanwhile.
func together(t *testing.T, d *db.DB, n int, call func(i int) error) ([]error, int64) {
	t.Helper()
	ctx := context.Background()
	d.SetGroupLanes(1) // PostgreSQL runs several batches at once
	entered, release, first := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	s0 := d.GroupStats()
	go func() {
		first <- d.InGroupTx(ctx, func(tx *db.Tx) error { close(entered); <-release; return nil })
	}()
	<-entered
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = call(i) })
	}
	for d.GroupStats().Waiting < n {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	return errs, d.GroupStats().Commits - s0.Commits
}

// TestEnqueueGroupCommit: concurrent admissions share one COMMIT; one
// that fails halfway (its message row written, a recipient invalid)
// leaves nothing behind and does not fail the others.
func TestEnqueueGroupCommit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const n, bad = 20, 7
		errs, commits := together(t, d, n, func(i int) error {
			m, send := f.message(fmt.Sprintf("g%d", i), "x@one.example", "y@two.example")
			if i == bad {
				m.Recipients = append(m.Recipients, "no-domain")
			}
			return f.q.Enqueue(f.ctx, m, send)
		})
		for i, err := range errs {
			if i == bad {
				if !errors.Is(err, queue.ErrInvalid) {
					t.Fatalf("message %d: %v, want ErrInvalid", i, err)
				}
			} else if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if commits != 2 { // the blocking closure's, then the 20
			t.Fatalf("%d commits, want 2", commits)
		}
		if _, err := f.q.Lookup(f.ctx, fmt.Sprint("g", bad)); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("the failed admission's message: %v, want ErrNotFound", err)
		}
		if got := f.events(t, fmt.Sprint("g", bad)); len(got) != 0 {
			t.Fatalf("the failed admission's events: %v", got)
		}
		counts, _ := f.q.Counts(f.ctx)
		if counts[queue.Queued] != 2*(n-1) {
			t.Fatalf("counts = %v, want %d queued", counts, 2*(n-1))
		}
		sent, err := f.q.SentSince(f.ctx, f.acct, f.clock.Now().Add(-time.Hour))
		if err != nil || sent != 2*(n-1) {
			t.Fatalf("SentSince = %d, %v; want %d (the failed admission's count undone)", sent, err, 2*(n-1))
		}
	})
}

// TestFinishGroupCommit: the outcomes of all recipients of a message,
// recorded at once, share a COMMIT; the last of them in the batch sees the
// others finished and drops the body.
func TestFinishGroupCommit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const n = 12
		var rcpts []string
		for i := range n {
			rcpts = append(rcpts, fmt.Sprintf("r%d@example.test", i))
		}
		m, send := f.message("fin", rcpts...)
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w", n, time.Minute)
		if err != nil || len(cs) != n {
			t.Fatalf("claimed %d, %v", len(cs), err)
		}
		stale := cs[3]
		stale.LeaseUntil = stale.LeaseUntil.Add(time.Second) // not the lease held
		errs, commits := together(t, d, n, func(i int) error {
			c := cs[i]
			if i == 3 {
				c = stale
			}
			ev := &event.Event{Type: event.Delivery, AccountID: f.acct, Mail: m.Mail, Delivery: &event.DeliveryDetails{Timestamp: f.clock.Now(), Recipients: []string{c.Address}, SMTPResponse: "250 ok"}}
			return f.q.Finish(f.ctx, c, queue.Delivered, "250 ok", ev)
		})
		for i, err := range errs {
			if i == 3 {
				if !errors.Is(err, queue.ErrLeaseLost) {
					t.Fatalf("finish %d: %v, want ErrLeaseLost", i, err)
				}
			} else if err != nil {
				t.Fatalf("finish %d: %v", i, err)
			}
		}
		if commits != 2 {
			t.Fatalf("%d commits, want 2", commits)
		}
		if body, _ := f.q.Body(f.ctx, "fin"); len(body) == 0 {
			t.Fatal("the body was dropped while a recipient is still queued")
		}
		if err := f.q.Finish(f.ctx, cs[3], queue.Delivered, "250 ok", nil); err != nil {
			t.Fatal(err)
		}
		if body, _ := f.q.Body(f.ctx, "fin"); len(body) != 0 {
			t.Fatalf("the body is kept after the last recipient finished: %d bytes", len(body))
		}
		if got := f.events(t, "fin"); len(got) != n { // Send, and n-1 Deliveries
			t.Fatalf("%d events, want %d: %v", len(got), n, got)
		}
	})
}

// TestFinishGroupCommitLastDropsBody: when every recipient's outcome is in
// the one batch, the last closure sees the others' updates and drops the
// body.
func TestFinishGroupCommitLastDropsBody(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("all", "a@example.test", "b@example.test", "c@example.test")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w", 3, time.Minute)
		if err != nil || len(cs) != 3 {
			t.Fatalf("claimed %d, %v", len(cs), err)
		}
		errs, _ := together(t, d, 3, func(i int) error { return f.q.Finish(f.ctx, cs[i], queue.Delivered, "250 ok", nil) })
		for i, err := range errs {
			if err != nil {
				t.Fatalf("finish %d: %v", i, err)
			}
		}
		if body, _ := f.q.Body(f.ctx, "all"); len(body) != 0 {
			t.Fatalf("the body is kept after every recipient finished in one batch: %d bytes", len(body))
		}
	})
}

// TestFinishDeadlineBoundsLockWait: on PostgreSQL an outcome whose
// statement waits for a row lock another session keeps fails at its
// caller's deadline (deliver's recordTimeout), instead of holding its
// batch, and its caller, for as long as the lock is held.
func TestFinishDeadlineBoundsLockWait(t *testing.T) {
	d := dbtest.Postgres(t)
	f := newFixture(t, d)
	m, send := f.message("locked", "a@example.test")
	if err := f.q.Enqueue(f.ctx, m, send); err != nil {
		t.Fatal(err)
	}
	cs, err := f.q.Claim(f.ctx, "w", 1, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("claimed %d, %v", len(cs), err)
	}
	holds, release, other := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		other <- d.InTx(f.ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(f.ctx, `SELECT 1 FROM messages WHERE id = ? FOR UPDATE`, "locked"); err != nil {
				return err
			}
			close(holds)
			<-release
			return nil
		})
	}()
	<-holds
	ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- f.q.Finish(ctx, cs[0], queue.Delivered, "250 ok", nil) }()
	select {
	case err := <-res:
		if err == nil {
			t.Error("Finish succeeded while another session held the message row")
		}
	case <-time.After(time.Minute): // only when the deadline is ignored
		t.Error("Finish still waits for the lock a minute after its deadline")
	}
	close(release)
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	// The outcome is recorded once the lock is free.
	if err := f.q.Finish(f.ctx, cs[0], queue.Delivered, "250 ok", nil); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}
