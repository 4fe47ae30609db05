package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"

	"github.com/sesame-email/sesame/internal/deliver"
)

// TestCrashRecovery is the durability promise: `sesame serve`'s whole
// process group is killed with SIGKILL while 2,000 sends are under way
// (after about 1,000 were accepted), restarted on the same database, and every MessageId the API
// returned must reach the recipient's server at least once. A message may
// arrive twice only if it was being delivered at the kill: at most once
// per life of the server, and no more such duplicates than the rows the
// killed server can have held under lease.
//
// Rows the killed server held under lease are redelivered only when the
// lease expires, so the servers run with a short --delivery-lease
// (deliveryLease) and the test waits up to that long after the kill.
// deliveryLease is the servers' --delivery-lease: short, so the rows a
// killed server held come back quickly, yet long enough that on a loaded
// CI machine a batch finishes well inside it (a batch outliving its lease
// is redelivered by the same server: a duplicate the test would flag).
const deliveryLease = 20 * time.Second

func TestCrashRecovery(t *testing.T) {
	crashTest(t, crashLoad{total: 2000, killAt: 1000, senders: 8})
}

// TestCrashDuringGroupCommit kills the server while its admissions are
// committed in groups (db.InGroupTx): 48 clients keep the committer busy,
// so at the kill a batch is being written — closures run, COMMIT under
// way, or committed and its callers not yet answered — and another is
// forming. Every MessageId the API returned must still be delivered: a
// caller is answered only after the COMMIT holding its message.
func TestCrashDuringGroupCommit(t *testing.T) {
	crashTest(t, crashLoad{total: 2400, killAt: 1111, senders: 48})
}

// crashTest runs crashRecovery under load on each store.
func crashTest(t *testing.T, load crashLoad) {
	if testing.Short() {
		t.Skip("crash test: builds sesame, runs it as a child process, kills it and waits for its delivery leases to expire; skipped with -short")
	}
	bin := binary(t)
	eachStore(t, func(t *testing.T, st store) {
		t.Parallel()
		crashRecovery(t, bin, st, load)
	})
}

// crashLoad is a crash test's load: total sends attempted over both lives
// of the server, by senders concurrent API clients, the server killed once
// killAt sends were accepted.
type crashLoad struct{ total, killAt, senders int }

func crashRecovery(t *testing.T, bin string, st store, load crashLoad) {
	total, killAt, senders := load.total, load.killAt, load.senders
	// The rows a killed server can hold under lease, hence the most
	// deliveries that can be in flight at the kill: its two batches being
	// delivered (deliver's inFlightBatches) of DefaultBatch rows each.
	const maxInFlight = 2 * deliver.DefaultBatch

	zone := customerZone(t)
	mx := newSink(t)
	setUpAccount(t, bin, st, "-1")
	opts := serveOptions{apiPort: freePort(t, false), dnsPort: freePort(t, true), resolver: zone.Addr(), smtpPort: mx.port}
	first := startServer(t, bin, st, opts)
	verifyDomain(t, v2Client(first.api, 1), zone)
	text := body(1000)

	var (
		mu         sync.Mutex
		accepted   []string // MessageIds the API returned
		lost       int      // sends that failed because the server was gone
		unexpected []error
		next       atomic.Int64 // the last message number taken
		killed     atomic.Bool
		killOnce   sync.Once
		killTime   time.Time
		stop       = make(chan struct{})
	)
	kill := func() {
		killOnce.Do(func() {
			killed.Store(true)
			killTime = time.Now()
			if err := killGroup(first.cmd.Process); err != nil {
				t.Errorf("SIGKILL: %v", err)
			}
			close(stop)
		})
	}
	// send sends messages numbered up to total through c; in the first
	// life, until the kill. Before the kill every send must succeed; after it,
	// connection failures are the expected fate of the sends in flight.
	send := func(c *sesv2.Client, firstLife bool) {
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						if firstLife {
							return
						}
					default:
					}
					i := int(next.Add(1))
					if i > total {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					id, err := sendOne(ctx, c, i, text)
					cancel()
					mu.Lock()
					var apiErr smithy.APIError
					switch {
					case err == nil:
						accepted = append(accepted, id)
						if firstLife && len(accepted) == killAt {
							kill()
						}
					case firstLife && killed.Load() && !errors.As(err, &apiErr):
						lost++
					default:
						unexpected = append(unexpected, fmt.Errorf("message %d: %w", i, err))
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}

	// First life: send until the kill.
	start := time.Now()
	send(v2Client(first.api, senders), true)
	select {
	case <-first.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the server has not exited 10s after SIGKILL")
	}
	if !killed.Load() {
		t.Fatalf("the server was never killed: only %d of %d sends accepted; errors: %v", len(accepted), total, unexpected)
	}
	acceptedFirst, attemptedFirst := len(accepted), int(next.Load())
	mx.mu.Lock()
	arrivedFirst := len(mx.first)
	mx.mu.Unlock()
	t.Logf("first life: %d sends attempted in %v, %d accepted, %d lost to the kill; %d messages had arrived at the kill",
		attemptedFirst, killTime.Sub(start).Round(time.Millisecond), acceptedFirst, lost, arrivedFirst)

	// Second life: the same binary on the same database; the rest of the
	// sends go to it while it recovers the first life's queue.
	mx.gen.Store(2)
	restart := time.Now()
	second := startServer(t, bin, st, opts)
	t.Logf("restarted in %v", time.Since(restart).Round(time.Millisecond))
	next.Store(int64(attemptedFirst))
	send(v2Client(second.api, senders), false)
	if len(unexpected) > 0 {
		for _, err := range unexpected[:min(len(unexpected), 10)] {
			t.Errorf("send failed while the server was up: %v", err)
		}
		t.Errorf("%d sends failed while the server was up", len(unexpected))
	}
	t.Logf("second life: %d more sends accepted (%d in all)", len(accepted)-acceptedFirst, len(accepted))

	// Every accepted message arrives, at the latest once the killed
	// server's leases have expired.
	// A lease, and room for one retry after a temporary failure (the first
	// backoff is a minute, ±10%): on a loaded machine a delivery cut short
	// by the kill or by its lease can need one.
	deadline := killTime.Add(deliveryLease + 3*time.Minute)
	report := time.Now().Add(15 * time.Second)
	var missing []string
	var last time.Time
	for {
		missing, last = mx.missing(accepted)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d of %d accepted messages never arrived (waited until %v after the kill: a delivery lease and room for one retry); first: %v",
				len(missing), len(accepted), time.Since(killTime).Round(time.Second), missing[:min(len(missing), 5)])
			break
		}
		if time.Now().After(report) {
			t.Logf("%v after the kill: %d accepted messages still to arrive", time.Since(killTime).Round(time.Second), len(missing))
			report = time.Now().Add(30 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing) == 0 {
		t.Logf("all %d accepted messages arrived, the last %v after the restart", len(accepted), last.Sub(restart).Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second) // let duplicates of the last redeliveries land

	// Duplicates: only messages delivered in the first life, being
	// delivered at the kill (so their outcome was never recorded), may
	// arrive again in the second; no message twice in one life.
	mx.mu.Lock()
	defer mx.mu.Unlock()
	if len(mx.badFrom) > 0 {
		t.Errorf("%d messages with an envelope sender that is not <MessageId>@domain, e.g. %q", len(mx.badFrom), mx.badFrom[0])
	}
	known := make(map[string]bool, len(accepted))
	for _, id := range accepted {
		known[id] = true
	}
	var dups, unknown, late int
	var oldestDup time.Duration
	for id, gens := range mx.arrivals {
		if !known[id] {
			unknown++ // accepted, but the response was lost to the kill
		}
		n1, n2 := count(gens, 1), count(gens, 2)
		if n1 > 1 || n2 > 1 {
			t.Errorf("message %s arrived %d times in the first life and %d in the second: a duplicate not caused by the kill", id, n1, n2)
		}
		if n1 > 0 && n2 > 0 {
			dups++
			oldestDup = max(oldestDup, killTime.Sub(mx.first[id]))
		}
		if at := mx.first[id]; at.After(restart.Add(time.Minute)) {
			late++
		}
	}
	if dups > maxInFlight {
		t.Errorf("%d messages arrived again after the restart; at most %d deliveries can be in flight at a kill", dups, maxInFlight)
	}
	t.Logf("%d deliveries for %d distinct MessageIds (%d accepted; %d accepted but their response lost to the kill); "+
		"%d duplicates (delivered before the kill and again after it; the oldest first arrived %v before the kill); "+
		"%d waited for the killed server's leases to expire (arrived more than a minute after the restart); total %v",
		mx.total, len(mx.arrivals), len(accepted), unknown, dups, oldestDup.Round(time.Millisecond), late, time.Since(start).Round(time.Second))
}

func count(gens []int32, g int32) int {
	return len(slices.DeleteFunc(slices.Clone(gens), func(x int32) bool { return x != g }))
}
