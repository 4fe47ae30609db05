package push_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

// subscriber is a real HTTP endpoint that records what it receives and
// answers with status() (200 when nil).
type subscriber struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status func(r *http.Request) int
	hits   atomic.Int64
}

type received struct {
	header http.Header
	body   string
	at     time.Time
}

func newSubscriber(t *testing.T, status func(r *http.Request) int) *subscriber {
	s := &subscriber{status: status}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		code := http.StatusOK
		if s.status != nil {
			code = s.status(r)
		}
		if code == 0 { // hang until the client gives up
			<-r.Context().Done()
			return
		}
		if code/100 == 2 {
			s.mu.Lock()
			s.got = append(s.got, received{header: r.Header.Clone(), body: string(b), at: time.Now()})
			s.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

type fixture struct {
	ctx   context.Context
	d     *db.DB
	clock *testkit.Clock
	acct  string
	other string
	q     *push.Queue
}

func newFixture(t *testing.T, d *db.DB, o push.Options) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), d: d, clock: testkit.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))}
	box, _ := seal.New("k")
	accts := account.New(d, box, f.clock.Now)
	for _, p := range []*string{&f.acct, &f.other} {
		a, _, err := accts.Create(f.ctx, account.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		*p = a.ID
	}
	f.q = f.queue(t, o)
	return f
}

// queue is another Queue over the fixture's database and clock.
func (f *fixture) queue(t *testing.T, o push.Options) *push.Queue {
	t.Helper()
	o.DB, o.Now = f.d, f.clock.Now
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d }
	}
	q, err := push.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func (f *fixture) add(t *testing.T, q *push.Queue, d push.Delivery) {
	t.Helper()
	if d.AccountID == "" {
		d.AccountID = f.acct
	}
	if err := q.Add(f.ctx, d); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) stats(t *testing.T) (int64, int64) {
	t.Helper()
	p, k, err := f.q.Stats(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p, k
}

func (f *fixture) runOnce(t *testing.T, want int) {
	t.Helper()
	n, err := f.q.RunOnce(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("RunOnce claimed %d notifications, want %d", n, want)
	}
}

// notification is a delivery like the SNS store's.
func notification(endpoint, id string, p push.Policy) push.Delivery {
	h := http.Header{}
	h.Set("x-amz-sns-message-type", "Notification")
	h.Set("x-amz-sns-message-id", id)
	return push.Delivery{TopicARN: "arn:aws:sns:us-east-1:000000000001:t", Endpoint: endpoint, Header: h,
		Body: []byte(`{"Type":"Notification","MessageId":"` + id + `"}`), Policy: p}
}

func TestDeliver(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, push.Options{})
		sub := newSubscriber(t, nil)
		n := notification(sub.srv.URL+"/hook?x=1", "m-1", push.Policy{})
		n.SubscriptionARN = n.TopicARN + ":s1"
		f.add(t, f.q, n)
		if p, k := f.stats(t); p != 1 || k != 0 {
			t.Fatalf("stats %d pending %d parked, want 1 0", p, k)
		}
		f.runOnce(t, 1)
		got := sub.received()
		if len(got) != 1 {
			t.Fatalf("subscriber got %d requests, want 1", len(got))
		}
		r := got[0]
		if r.body != string(n.Body) || r.header.Get("x-amz-sns-message-id") != "m-1" || r.header.Get("x-amz-sns-message-type") != "Notification" {
			t.Errorf("request %v %q", r.header, r.body)
		}
		if ct, ua := r.header.Get("Content-Type"), r.header.Get("User-Agent"); ct != "text/plain; charset=UTF-8" || ua != "Amazon Simple Notification Service Agent" {
			t.Errorf("Content-Type %q, User-Agent %q: want SNS's defaults", ct, ua)
		}
		if p, k := f.stats(t); p != 0 || k != 0 {
			t.Errorf("after delivery: %d pending %d parked, want the row gone", p, k)
		}
		f.runOnce(t, 0)

		// A caller's Content-Type is kept; a zero Policy means DefaultPolicy.
		n = notification(sub.srv.URL, "m-2", push.Policy{})
		n.Header.Set("Content-Type", "application/json")
		f.add(t, f.q, n)
		f.runOnce(t, 1)
		if got := sub.received(); len(got) != 2 || got[1].header.Get("Content-Type") != "application/json" {
			t.Errorf("second request: %+v", got)
		}
	})
}

func TestAddRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, push.Options{})
		for _, tt := range []struct {
			d    push.Delivery
			want string
		}{
			{push.Delivery{Endpoint: "http://a.test/"}, "AccountID"},
			{push.Delivery{AccountID: f.acct, Endpoint: "ftp://a.test/"}, "http:// or https://"},
			{push.Delivery{AccountID: f.acct, Endpoint: "http:///x"}, "no host"},
			{push.Delivery{AccountID: f.acct, Endpoint: "http://a.test/", Policy: push.Policy{NumRetries: 1, NumMaxDelayRetries: 2}}, "must not exceed NumRetries"},
			{push.Delivery{AccountID: f.acct, Endpoint: "http://a.test/", Policy: push.Policy{NumRetries: 1, Backoff: "cubic"}}, "Backoff"},
		} {
			err := f.q.Add(f.ctx, tt.d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Add(%+v) = %v, want an error about %s", tt.d, err, tt.want)
			}
		}
		if p, k := f.stats(t); p != 0 || k != 0 {
			t.Errorf("refused deliveries were stored: %d %d", p, k)
		}
	})
}

// pendingRow reads what the queue holds of a row, for checking schedules.
func pendingRow(t *testing.T, d *db.DB) (attempts int, next time.Time, status int, lastErr string) {
	t.Helper()
	var ms int64
	if err := d.QueryRow(context.Background(), `SELECT attempts, next_attempt_at, last_status, last_error FROM push_deliveries`).Scan(&attempts, &ms, &status, &lastErr); err != nil {
		t.Fatal(err)
	}
	return attempts, db.Time(ms), status, lastErr
}

func TestRetryThenPark(t *testing.T) {
	// 500s, a timeout and a refused connection are all failed attempts,
	// retried under the policy; when it is spent the row is parked.
	policy := push.Policy{MinDelay: 2 * time.Second, MaxDelay: 8 * time.Second, NumRetries: 3, NumNoDelayRetries: 1, Backoff: "linear"}
	// Retries: 1 at once, then the backoff phase 2 s, 8 s.
	closed := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		l.Close()
		return "http://" + a + "/"
	}
	cases := []struct {
		name     string
		endpoint func(t *testing.T) string
		status   int
		errText  string
	}{
		{"500", func(t *testing.T) string {
			return newSubscriber(t, func(*http.Request) int { return 500 }).srv.URL
		}, 500, "HTTP 500"},
		{"503", func(t *testing.T) string {
			return newSubscriber(t, func(*http.Request) int { return 503 }).srv.URL
		}, 503, "HTTP 503"},
		{"429", func(t *testing.T) string {
			return newSubscriber(t, func(*http.Request) int { return 429 }).srv.URL
		}, 429, "HTTP 429"},
		{"timeout", func(t *testing.T) string {
			return newSubscriber(t, func(*http.Request) int { return 0 }).srv.URL
		}, 0, "no response within"},
		{"connection refused", closed, 0, "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				f := newFixture(t, d, push.Options{Timeout: 300 * time.Millisecond})
				f.add(t, f.q, notification(c.endpoint(t), "m", policy))
				start := f.clock.Now()
				for i, wait := range []time.Duration{0, 0, 2 * time.Second, 8 * time.Second} {
					if wait > 0 {
						f.clock.Advance(wait - time.Millisecond)
						f.runOnce(t, 0) // not due yet
						f.clock.Advance(time.Millisecond)
					}
					f.runOnce(t, 1)
					if i == 3 {
						break
					}
					attempts, next, status, lastErr := pendingRow(t, d)
					if attempts != i+1 || status != c.status || !strings.Contains(lastErr, c.errText) {
						t.Fatalf("after attempt %d: attempts %d status %d error %q", i+1, attempts, status, lastErr)
					}
					if want := f.clock.Now().Add(policy.Delay(i + 1)); !next.Equal(want) {
						t.Fatalf("after attempt %d: next attempt at %s, want %s", i+1, next, want)
					}
				}
				if p, k := f.stats(t); p != 0 || k != 1 {
					t.Fatalf("after the last retry: %d pending %d parked, want it parked", p, k)
				}
				parked, err := f.q.Failed(f.ctx, "", 0)
				if err != nil || len(parked) != 1 {
					t.Fatalf("Failed: %v %v", parked, err)
				}
				p := parked[0]
				if p.Attempts != 4 || p.LastStatus != c.status || !strings.Contains(p.LastError, c.errText) || p.AccountID != f.acct || !p.ParkedAt.Equal(start.Add(10*time.Second)) {
					t.Errorf("parked %+v", p)
				}
				f.clock.Advance(time.Hour)
				f.runOnce(t, 0) // parked rows are not attempted
			})
		})
	}
}

func TestPermanentFailureParks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, push.Options{})
		for _, code := range []int{400, 403, 404, 410, 301} {
			sub := newSubscriber(t, func(r *http.Request) int {
				if code == 301 {
					return 0 // never reached: redirects are not followed
				}
				return code
			})
			url := sub.srv.URL
			if code == 301 {
				redir := httptest.NewServer(http.RedirectHandler(sub.srv.URL, http.StatusMovedPermanently))
				t.Cleanup(redir.Close)
				url = redir.URL
			}
			f.add(t, f.q, notification(url, fmt.Sprint(code), push.DefaultPolicy))
			f.runOnce(t, 1)
			if code == 301 && sub.hits.Load() != 0 {
				t.Error("a redirect was followed")
			}
		}
		parked, err := f.q.Failed(f.ctx, f.acct, 10)
		if err != nil || len(parked) != 5 {
			t.Fatalf("Failed: %d %v, want all 5 parked after one attempt", len(parked), err)
		}
		for i, code := range []int{400, 403, 404, 410, 301} {
			if p := parked[i]; p.Attempts != 1 || p.LastStatus != code {
				t.Errorf("parked %+v, want status %d after 1 attempt", p, code)
			}
		}
	})
}

func TestRetryParked(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, push.Options{})
		var fail atomic.Bool
		fail.Store(true)
		sub := newSubscriber(t, func(*http.Request) int {
			if fail.Load() {
				return 500
			}
			return 200
		})
		once := push.Policy{MinDelay: time.Second, MaxDelay: time.Second} // no retries
		f.add(t, f.q, notification(sub.srv.URL, "a1", once))
		f.add(t, f.q, notification(sub.srv.URL, "a2", once))
		f.add(t, f.q, push.Delivery{AccountID: f.other, Endpoint: sub.srv.URL, Body: []byte("b1"), Policy: once})
		f.runOnce(t, 3)
		if p, k := f.stats(t); p != 0 || k != 3 {
			t.Fatalf("%d pending %d parked, want 3 parked", p, k)
		}
		// Each account sees only its own.
		mine, _ := f.q.Failed(f.ctx, f.acct, 0)
		theirs, _ := f.q.Failed(f.ctx, f.other, 0)
		if len(mine) != 2 || len(theirs) != 1 || theirs[0].AccountID != f.other {
			t.Fatalf("Failed per account: %+v / %+v", mine, theirs)
		}
		if all, _ := f.q.Failed(f.ctx, "", 2); len(all) != 2 || all[0].ID != mine[0].ID {
			t.Fatalf("Failed with a limit: %+v", all)
		}
		fail.Store(false)
		// One by id: only it comes back; an id that is not parked is ignored.
		if n, err := f.q.Retry(f.ctx, []int64{mine[1].ID, 999999}); err != nil || n != 1 {
			t.Fatalf("Retry one: %d %v", n, err)
		}
		if n, _ := f.q.Retry(f.ctx, []int64{}); n != 0 {
			t.Fatalf("Retry of no ids made %d due", n)
		}
		f.runOnce(t, 1)
		if got := sub.received(); len(got) != 1 || got[0].header.Get("x-amz-sns-message-id") != "a2" {
			t.Fatalf("after retrying a2: %+v", got)
		}
		// All: attempts reset, so the whole policy applies again.
		if n, err := f.q.Retry(f.ctx, nil); err != nil || n != 2 {
			t.Fatalf("Retry all: %d %v", n, err)
		}
		f.runOnce(t, 2)
		if p, k := f.stats(t); p != 0 || k != 0 {
			t.Errorf("%d pending %d parked after retrying all", p, k)
		}
	})
}

func TestAlive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var mu sync.Mutex
		alive := map[string]bool{"arn:live": true}
		var broken atomic.Bool
		f := newFixture(t, d, push.Options{Alive: func(ctx context.Context, arn string) (bool, error) {
			if broken.Load() {
				return false, errors.New("database unavailable")
			}
			mu.Lock()
			defer mu.Unlock()
			return alive[arn], nil
		}})
		sub := newSubscriber(t, nil)
		for _, arn := range []string{"arn:live", "arn:gone", ""} {
			n := notification(sub.srv.URL, "to "+arn, push.DefaultPolicy)
			n.SubscriptionARN = arn
			f.add(t, f.q, n)
		}
		f.runOnce(t, 3)
		got := sub.received()
		if len(got) != 2 || got[0].header.Get("x-amz-sns-message-id") == "to arn:gone" || got[1].header.Get("x-amz-sns-message-id") == "to arn:gone" {
			t.Fatalf("subscriber got %d: the gone subscription's notification must be dropped unsent", len(got))
		}
		if p, k := f.stats(t); p != 0 || k != 0 {
			t.Fatalf("%d pending %d parked: the dropped row must be gone", p, k)
		}
		// Alive failing is not a verdict: the row waits and is not counted
		// as an attempt.
		broken.Store(true)
		n := notification(sub.srv.URL, "later", push.DefaultPolicy)
		n.SubscriptionARN = "arn:live"
		f.add(t, f.q, n)
		f.runOnce(t, 1)
		attempts, next, _, _ := pendingRow(t, d)
		if attempts != 0 || !next.After(f.clock.Now()) || sub.hits.Load() != 2 {
			t.Fatalf("after Alive failed: attempts %d next %s", attempts, next)
		}
		broken.Store(false)
		f.clock.Advance(time.Minute)
		f.runOnce(t, 1)
		if len(sub.received()) != 3 {
			t.Fatal("the row was not delivered once Alive answered")
		}
	})
}

// TestDeadEndpointIsolation: a subscriber that hangs holds no more than
// PerHost workers; another subscriber's notifications go through at once.
func TestDeadEndpointIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var inflight, most atomic.Int64
		hung := newSubscriber(t, func(r *http.Request) int {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-r.Context().Done() // hang until the client gives up
			return 0
		})
		live := newSubscriber(t, nil)
		f := newFixture(t, d, push.Options{Workers: 4, PerHost: 2, Timeout: 10 * time.Second, Poll: 20 * time.Millisecond})
		for i := range 30 {
			f.add(t, f.q, notification(hung.srv.URL, fmt.Sprint("hung-", i), push.DefaultPolicy))
		}
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error)
		go func() { done <- f.q.Run(ctx) }()
		testkit.WaitFor(t, "the hung subscriber to hold requests", func() bool { return inflight.Load() == 2 })
		start := time.Now()
		for i := range 5 {
			f.add(t, f.q, notification(live.srv.URL, fmt.Sprint("live-", i), push.DefaultPolicy))
		}
		testkit.WaitFor(t, "the live subscriber's notifications", func() bool {
			p, _, _ := f.q.Stats(f.ctx)
			return len(live.received()) == 5 && p == 30
		})
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("the live subscriber waited %s behind the hung one", el)
		}
		if m := most.Load(); m != 2 {
			t.Errorf("%d requests in flight to the hung host at once, want PerHost = 2", m)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Shutdown hands the cut-short rows back uncounted.
		var attempted int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*) FROM push_deliveries WHERE attempts > 0 OR lease_owner <> ''`).Scan(&attempted); err != nil {
			t.Fatal(err)
		}
		if p, _ := f.stats(t); p != 30 || attempted != 0 {
			t.Errorf("after shutdown: %d pending (want 30), %d attempted or leased (want 0)", p, attempted)
		}
	})
}

// TestTwoQueuesOneDatabase: two nodes over one database deliver every
// notification exactly once.
func TestTwoQueuesOneDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var mu sync.Mutex
		seen := map[string]int{}
		subs := make([]*subscriber, 3)
		for i := range subs {
			subs[i] = newSubscriber(t, func(r *http.Request) int {
				mu.Lock()
				seen[r.Header.Get("x-amz-sns-message-id")]++
				mu.Unlock()
				time.Sleep(time.Millisecond)
				return 200
			})
		}
		f := newFixture(t, d, push.Options{Workers: 8, Poll: 10 * time.Millisecond})
		other := f.queue(t, push.Options{Workers: 8, Poll: 10 * time.Millisecond})
		const n = 300
		err := d.InTx(f.ctx, func(tx *db.Tx) error {
			for i := range n {
				dl := notification(subs[i%3].srv.URL, fmt.Sprint("m-", i), push.DefaultPolicy)
				dl.AccountID = f.acct
				if err := f.q.AddTx(f.ctx, tx, dl); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(f.ctx)
		var wg sync.WaitGroup
		for _, q := range []*push.Queue{f.q, other} {
			wg.Go(func() { q.Run(ctx) })
		}
		testkit.WaitFor(t, "every notification delivered", func() bool {
			p, _, _ := f.q.Stats(f.ctx)
			return p == 0
		})
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != n {
			t.Fatalf("%d distinct notifications delivered, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%s delivered %d times", id, c)
			}
		}
	})
}

// TestRestart: a new Queue over the same database delivers what was left,
// including rows a crashed worker held, once their lease has expired.
func TestRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := newSubscriber(t, nil)
		f := newFixture(t, d, push.Options{Lease: time.Minute})
		f.add(t, f.q, notification(sub.srv.URL, "left", push.DefaultPolicy))
		f.add(t, f.q, notification(sub.srv.URL, "held", push.DefaultPolicy))
		// A worker that crashed while holding "held".
		if _, err := d.Exec(f.ctx, `UPDATE push_deliveries SET lease_owner = 'push/crashed', lease_until = ? WHERE id = (SELECT MAX(id) FROM push_deliveries)`,
			db.Millis(f.clock.Now().Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
		f.q = f.queue(t, push.Options{Lease: time.Minute}) // the restart
		f.runOnce(t, 1)
		if got := sub.received(); len(got) != 1 || got[0].header.Get("x-amz-sns-message-id") != "left" {
			t.Fatalf("after restart: %+v", got)
		}
		f.clock.Advance(time.Minute)
		f.runOnce(t, 1)
		if got := sub.received(); len(got) != 2 || got[1].header.Get("x-amz-sns-message-id") != "held" {
			t.Fatalf("after the lease expired: %+v", got)
		}
	})
}

func TestMaxReceivesPerSecond(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := newSubscriber(t, nil)
		f := newFixture(t, d, push.Options{})
		p := push.DefaultPolicy
		p.MaxReceivesPerSecond = 20
		for i := range 6 {
			n := notification(sub.srv.URL, fmt.Sprint(i), p)
			n.SubscriptionARN = "arn:throttled"
			f.add(t, f.q, n)
		}
		f.runOnce(t, 6)
		got := sub.received()
		if len(got) != 6 {
			t.Fatalf("got %d", len(got))
		}
		first, last := got[0].at, got[0].at
		for _, r := range got {
			if r.at.Before(first) {
				first = r.at
			}
			if r.at.After(last) {
				last = r.at
			}
		}
		// Six requests at 20 per second span at least 5 × 50 ms.
		if span := last.Sub(first); span < 225*time.Millisecond {
			t.Errorf("6 requests at 20/s arrived within %s", span)
		}
	})
}

func TestCredentialsRedacted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := newSubscriber(t, func(r *http.Request) int {
			if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "s3cret" {
				return 500
			}
			return 403
		})
		f := newFixture(t, d, push.Options{})
		url := strings.Replace(sub.srv.URL, "http://", "http://user:s3cret@", 1)
		f.add(t, f.q, notification(url, "m", push.DefaultPolicy))
		f.runOnce(t, 1)
		parked, err := f.q.Failed(f.ctx, "", 0)
		if err != nil || len(parked) != 1 {
			t.Fatalf("Failed: %v %v", parked, err)
		}
		if p := parked[0]; p.LastStatus != 403 || strings.Contains(p.Endpoint, "s3cret") || !strings.Contains(p.Endpoint, "user:xxxxx@") {
			t.Errorf("parked %+v: basic auth must be sent and the password hidden", p)
		}
	})
}

// TestBacklogOfOneHostWithoutPolls: a backlog larger than one host's
// room is delivered by the wake-ups of finished requests alone, however
// fast they finish. Before, a claim that got the host's whole room while
// some of its requests had already finished was not seen as limited, and
// Run slept until the next poll with rows due: one claim per poll, 17
// notifications per second.
func TestBacklogOfOneHostWithoutPolls(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := newSubscriber(t, nil)
		f := newFixture(t, d, push.Options{PerHost: 4, Poll: time.Hour})
		const n = 60
		for i := range n {
			f.add(t, f.q, notification(sub.srv.URL, fmt.Sprint(i), push.DefaultPolicy))
		}
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() { done <- f.q.Run(ctx) }()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(20 * time.Second)
		for len(sub.received()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d delivered: Run waits for a poll with rows due", len(sub.received()), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestSign: a delivery queued with Sign is POSTed with the body
// Options.Sign makes of the stored one, on every attempt, without the
// mark; one without is POSTed as stored; a Sign error is a failed attempt,
// retried; a queue without Options.Sign refuses such deliveries.
func TestSign(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var calls atomic.Int64
		fail := atomic.Bool{}
		f := newFixture(t, d, push.Options{Sign: func(body []byte) ([]byte, error) {
			calls.Add(1)
			if fail.Load() {
				return nil, errors.New("no key today")
			}
			return append(body, " signed"...), nil
		}})
		sub := newSubscriber(t, nil)
		n := notification(sub.srv.URL, "m-1", push.Policy{MinDelay: time.Second, MaxDelay: time.Second, NumRetries: 1, Backoff: "linear"})
		n.Sign = true
		plain := notification(sub.srv.URL, "m-2", push.Policy{})
		fail.Store(true)
		f.add(t, f.q, n)
		f.add(t, f.q, plain)
		f.runOnce(t, 2)
		if calls.Load() != 1 {
			t.Errorf("Sign called %d times; want once (for the marked delivery only)", calls.Load())
		}
		got := sub.received()
		if len(got) != 1 || got[0].body != string(plain.Body) {
			t.Fatalf("subscriber got %+v; want the unmarked delivery as stored", got)
		}
		attempts, _, status, lastErr := pendingRow(t, d)
		if attempts != 1 || status != 0 || !strings.Contains(lastErr, "no key today") {
			t.Errorf("after a Sign error: attempts %d status %d error %q", attempts, status, lastErr)
		}
		fail.Store(false)
		f.clock.Advance(time.Second)
		f.runOnce(t, 1)
		got = sub.received()
		if len(got) != 2 || got[1].body != string(n.Body)+" signed" || got[1].header.Get("x-amz-sns-message-id") != "m-1" {
			t.Fatalf("subscriber got %+v", got)
		}
		for k := range got[1].header {
			if strings.Contains(strings.ToLower(k), "sign") {
				t.Errorf("header %s sent", k)
			}
		}

		q := f.queue(t, push.Options{})
		if err := q.Add(f.ctx, push.Delivery{AccountID: f.acct, Endpoint: sub.srv.URL, Sign: true}); !errors.Is(err, push.ErrInvalid) {
			t.Errorf("Add with Sign to a queue without Options.Sign: %v", err)
		}
	})
}

// TestHungAccountIsolation: an account whose endpoints all hang — several
// hosts, each under PerHost, or ports of one host — holds no more than
// PerAccount workers; another account's notifications go through at once.
func TestHungAccountIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var inflight, most atomic.Int64
		hang := func(r *http.Request) int {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-r.Context().Done() // hang until the client gives up
			return 0
		}
		hung := []*subscriber{newSubscriber(t, hang), newSubscriber(t, hang), newSubscriber(t, hang)}
		live := newSubscriber(t, nil)
		f := newFixture(t, d, push.Options{Workers: 4, PerHost: 2, PerAccount: 2, Timeout: 10 * time.Second, Poll: 20 * time.Millisecond})
		for i := range 30 {
			f.add(t, f.q, notification(hung[i%3].srv.URL, fmt.Sprint("hung-", i), push.DefaultPolicy))
		}
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error)
		go func() { done <- f.q.Run(ctx) }()
		testkit.WaitFor(t, "the hung subscribers to hold requests", func() bool { return inflight.Load() >= 2 })
		start := time.Now()
		for i := range 5 {
			n := notification(live.srv.URL, fmt.Sprint("live-", i), push.DefaultPolicy)
			n.AccountID = f.other
			f.add(t, f.q, n)
		}
		testkit.WaitFor(t, "the other account's notifications", func() bool { return len(live.received()) == 5 })
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("the other account waited %s behind the hung one", el)
		}
		if m := most.Load(); m != 2 {
			t.Errorf("%d requests of the hung account in flight at once, want PerAccount = 2", m)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestFailedAttemptsLogged: a failing endpoint shows in the log at its
// first failed attempt, once a minute per host, with the error and
// without the endpoint's password. Before, nothing was logged until a
// notification was parked, about 15 hours later under the default policy:
// a subscriber whose certificate Sesame did not trust never confirmed,
// and the log said nothing.
func TestFailedAttemptsLogged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := newSubscriber(t, func(*http.Request) int { return 503 })
		var logs testkit.LogBuffer
		f := newFixture(t, d, push.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		url := strings.Replace(sub.srv.URL, "http://", "http://user:s3cret@", 1)
		for _, id := range []string{"a", "b", "c"} {
			f.add(t, f.q, notification(url, id, push.DefaultPolicy))
		}
		count := func() int { return strings.Count(logs.String(), "could not be delivered") }
		f.runOnce(t, 3)
		out := logs.String()
		if count() != 1 || !strings.Contains(out, "HTTP 503") || !strings.Contains(out, "level=WARN") || strings.Contains(out, "s3cret") {
			t.Fatalf("after the first failures, want one warning with the error and no password; log:\n%s", out)
		}
		f.clock.Advance(30 * time.Second)
		f.runOnce(t, 3)
		if count() != 1 {
			t.Fatalf("failures within a minute of the last warning must not be logged again; log:\n%s", logs.String())
		}
		f.clock.Advance(31 * time.Second)
		f.runOnce(t, 3)
		if count() != 2 {
			t.Fatalf("a minute later the host's failures are logged again; log:\n%s", logs.String())
		}
	})
}
