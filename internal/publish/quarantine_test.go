package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/publish"
)

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) failed(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failures[kind]
}

// messages returns the message ids of what was published, in order.
func (e *env) messages(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, s := range e.sent(t) {
		var m struct{ Mail struct{ MessageID string } }
		if err := json.Unmarshal([]byte(s.Message), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Mail.MessageID)
	}
	return out
}

// TestPoisonedEvent: an event whose publishing keeps failing no longer
// holds up the others (of any account): they are published at once, it is
// set aside and tried again alone on its own backoff (30 s doubling to
// 10 min), and dropped at its 10th failure, about 55 minutes on.
func TestPoisonedEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, acct := range []string{acctA, acctB} {
			e.dests[[2]string{acct, "cs"}] = []configset.Destination{snsDest("d", topic(acct, "t"), true, "SEND")}
		}
		e.poison["bad"] = errors.New("subscriber store is broken")
		appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "a1"), mkEvent(acctA, "cs", event.Send, "bad"),
			mkEvent(acctB, "cs", event.Send, "b1"), mkEvent(acctA, "cs", event.Send, "a2"))
		rows, err := event.List(context.Background(), d, 0, 10, "", "bad")
		if err != nil || len(rows) != 1 {
			t.Fatal(rows, err)
		}
		badID := rows[0].ID
		p := e.publisher(t, nil)
		if n := runOnce(t, p); n != 3 {
			t.Fatalf("RunOnce = %d, want 3", n)
		}
		if got, want := e.messages(t), []string{"a1", "b1", "a2"}; !equal(got, want) {
			t.Fatalf("published %q, want %q", got, want)
		}
		if n := backlog(t, p); n != 1 || e.failed(publish.FailEvent) != 1 || e.failed(publish.FailBatch) != 1 {
			t.Fatalf("backlog %d, failures %v", n, e.failures)
		}
		for _, b := range e.afters {
			for _, pub := range b {
				if pub.Event.Mail.MessageID == "bad" {
					t.Error("After saw the failing event")
				}
			}
		}
		first := e.clock()
		want := []string{"a1", "b1", "a2"}
		waits := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
			10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
		for i, wait := range waits {
			fails := i + 1
			if fails == 4 {
				// Alone, with nothing published since its last failure:
				// its failure proves nothing; not counted, put off by
				// the same wait.
				e.advance(wait)
				tried := e.poisoned
				if n := runOnce(t, p); n != 0 || e.poisoned != tried+1 {
					t.Fatalf("alone: RunOnce = %d, tried %d times", n, e.poisoned-tried)
				}
				if e.failed(publish.FailEvent) != fails || e.failed(publish.FailDropped) != 0 {
					t.Fatalf("alone: failures %v", e.failures)
				}
				if runOnce(t, p); e.poisoned != tried+1 {
					t.Fatal("tried again at once")
				}
				first = first.Add(wait) // put off by the same wait again
			}
			// Before its next try it is not claimed: new events go at once.
			e.advance(wait - time.Second)
			tried := e.poisoned
			msg := fmt.Sprintf("early%d", fails)
			appendEvents(t, d, mkEvent(acctB, "cs", event.Send, msg))
			want = append(want, msg)
			if n := runOnce(t, p); n != 1 || e.poisoned != tried {
				t.Fatalf("after %d failures, before its next try: RunOnce = %d, poisoned tried %d times more", fails, n, e.poisoned-tried)
			}
			e.advance(time.Second)
			if fails != 6 {
				// Alone but with an event published since its last
				// failure (try 7): counted like the others.
				msg = fmt.Sprintf("due%d", fails)
				appendEvents(t, d, mkEvent(acctA, "cs", event.Send, msg))
				want = append(want, msg)
			}
			n := runOnce(t, p)
			if e.failed(publish.FailEvent) != fails+1 {
				t.Fatalf("after its try %d: failures %v", fails+1, e.failures)
			}
			extra := 1
			if fails == 6 {
				extra = 0
			}
			if fails+1 < 10 {
				if n != extra || backlog(t, p) != 1 || e.failed(publish.FailDropped) != 0 {
					t.Fatalf("try %d: RunOnce = %d, backlog %d, failures %v", fails+1, n, backlog(t, p), e.failures)
				}
				continue
			}
			// The 10th failure drops it.
			if n != extra+1 || backlog(t, p) != 0 || e.failed(publish.FailDropped) != 1 {
				t.Fatalf("try 10: RunOnce = %d, backlog %d, failures %v", n, backlog(t, p), e.failures)
			}
		}
		if took := e.clock().Sub(first); took < 50*time.Minute || took > time.Hour {
			t.Errorf("dropped %v after its first failure", took)
		}
		if got := e.messages(t); !equal(got, want) {
			t.Errorf("published %q, want %q", got, want)
		}
		logs := e.log.String()
		var dropLine string
		for l := range strings.Lines(logs) {
			if strings.Contains(l, "dropped") {
				dropLine = l
			}
		}
		for _, s := range []string{"level=ERROR", fmt.Sprintf("event_id=%d", badID), "account=" + acctA, "message_id=bad", "subscriber store is broken"} {
			if !strings.Contains(dropLine, s) {
				t.Errorf("drop log line %q lacks %q", dropLine, s)
			}
		}
		rows, err = event.List(context.Background(), d, badID-1, 1, "", "")
		if err != nil || len(rows) != 1 || rows[0].PublishedAt.IsZero() {
			t.Errorf("dropped event: %v, %v", rows, err)
		}
		// Nothing more happens to it.
		e.advance(time.Hour)
		if n := runOnce(t, p); n != 0 || e.failed(publish.FailDropped) != 1 {
			t.Errorf("after the drop: RunOnce = %d, failures %v", n, e.failures)
		}
	})
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestTransientFailure: while publishing fails for every event (a
// database that is away), nothing is dropped however long it lasts, and
// everything is published once it is back. A transaction that fails in
// the database's own statements counts against no event either.
func TestTransientFailure(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d)
		for _, acct := range []string{acctA, acctB} {
			e.dests[[2]string{acct, "cs"}] = []configset.Destination{snsDest("d", topic(acct, "t"), true, "SEND")}
		}
		appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "a1"), mkEvent(acctB, "cs", event.Send, "b1"), mkEvent(acctA, "cs", event.Send, "a2"))
		p := e.publisher(t, nil)
		for i := range 30 {
			if i%2 == 0 {
				e.down, e.inTxErr = errors.New("connection refused"), nil
			} else {
				e.down, e.inTxErr = nil, errors.New("stats: connection refused")
			}
			if _, err := p.RunOnce(ctx); err == nil {
				t.Fatalf("round %d: RunOnce succeeded", i)
			}
			e.advance(time.Hour)
		}
		if n := backlog(t, p); n != 3 || len(e.sent(t)) != 0 || e.failed(publish.FailEvent) != 0 || e.failed(publish.FailDropped) != 0 {
			t.Fatalf("after 30 hours down: backlog %d, %d sent, failures %v", n, len(e.sent(t)), e.failures)
		}

		// The batch fails because of one event; then, trying the others
		// alone, marking them published fails: the database's doing.
		var trigger []string
		if d.Dialect == db.Postgres {
			trigger = []string{`CREATE FUNCTION events_fail() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN IF EXISTS (SELECT 1 FROM fail_flag) THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$`,
				`CREATE TRIGGER events_fail BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION events_fail()`}
		} else {
			trigger = []string{`CREATE TRIGGER events_fail BEFORE UPDATE ON events WHEN EXISTS (SELECT 1 FROM fail_flag)
				BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`}
		}
		for _, q := range append([]string{`CREATE TABLE fail_flag (x INTEGER)`, `INSERT INTO fail_flag VALUES (1)`}, trigger...) {
			if _, err := d.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		e.down, e.inTxErr = nil, nil
		e.poison["a1"] = errors.New("poisoned")
		for range 30 {
			if _, err := p.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("RunOnce = %v", err)
			}
			e.advance(time.Hour)
		}
		if n := backlog(t, p); n != 3 || e.failed(publish.FailEvent) != 0 || e.failed(publish.FailDropped) != 0 {
			t.Fatalf("with marking failing: backlog %d, failures %v", n, e.failures)
		}

		// Back: the others are published, the poisoned one counted once.
		if _, err := d.Exec(ctx, `DELETE FROM fail_flag`); err != nil {
			t.Fatal(err)
		}
		if n := runOnce(t, p); n != 2 {
			t.Fatalf("RunOnce = %d, want 2", n)
		}
		delete(e.poison, "a1")
		e.advance(time.Hour)
		if n := runOnce(t, p); n != 1 {
			t.Fatalf("retry of the once-failed event: RunOnce = %d", n)
		}
		if got, want := e.messages(t), []string{"b1", "a2", "a1"}; !equal(got, want) {
			t.Errorf("published %q, want %q", got, want)
		}
		if e.failed(publish.FailEvent) != 1 || e.failed(publish.FailDropped) != 0 {
			t.Errorf("failures %v", e.failures)
		}
	})
}

// TestTwoPublishersPoisoned: two publishers on one database, with events
// that keep failing among a stream of good ones: every good event is
// published exactly once and each failing one is dropped exactly once.
func TestTwoPublishersPoisoned(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, acct := range []string{acctA, acctB} {
			e.dests[[2]string{acct, "cs"}] = []configset.Destination{snsDest("d", topic(acct, "t"), true, "SEND")}
		}
		e.poison["m0050"] = errors.New("poisoned 50")
		e.poison["m0200"] = errors.New("poisoned 200")
		var evs []*event.Event
		for i := range 300 {
			evs = append(evs, mkEvent([]string{acctA, acctB}[i%2], "cs", event.Send, fmt.Sprintf("m%04d", i)))
		}
		appendEvents(t, d, evs...)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 2 {
			p := e.publisher(t, func(o *publish.Options) {
				o.Batch, o.Now = 20, time.Now
				o.EventBackoff, o.EventMaxBackoff, o.EventTries = time.Millisecond, 4*time.Millisecond, 3
			})
			wg.Go(func() {
				if err := p.Run(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		// Good events keep coming until both failing ones are dropped.
		total := len(evs)
		p := e.publisher(t, nil)
		deadline := time.Now().Add(30 * time.Second)
		for e.failed(publish.FailDropped) < 2 && time.Now().Before(deadline) {
			appendEvents(t, d, mkEvent(acctA, "cs", event.Send, fmt.Sprintf("m%04d", total)))
			total++
			time.Sleep(2 * time.Millisecond)
		}
		for backlog(t, p) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		if n := backlog(t, p); n != 0 {
			t.Fatalf("backlog %d after 30 s; failures %v", n, e.failures)
		}
		count := map[string]int{}
		for _, id := range e.messages(t) {
			count[id]++
		}
		if len(count) != total-2 {
			t.Errorf("%d distinct events published, want %d", len(count), total-2)
		}
		for id, n := range count {
			if n != 1 || e.poison[id] != nil {
				t.Errorf("%s published %d times", id, n)
			}
		}
		if e.failed(publish.FailDropped) != 2 {
			t.Errorf("failures %v, want 2 drops", e.failures)
		}
		t.Logf("%d events, failures %v", total, e.failures)
	})
}
