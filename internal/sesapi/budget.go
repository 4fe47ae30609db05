package sesapi

import (
	"context"
	"sync"
	"time"
)

// budget bounds the request body bytes all requests hold at once, and the
// bytes the requests of one account hold (its share), so that no account
// — nor anyone who knows one of its access key ids — can take the whole.
//
// It is not golang.org/x/sync/semaphore because that serves waiters in
// order: a 1 KB call would queue behind a 40 MB upload waiting for room.
// Here whoever fits takes, so small calls pass large ones waiting; a large
// one can be passed over until its wait ends (then it is throttled and the
// client retries), which is the better failure for an API of small calls.
type budget struct {
	mu    sync.Mutex
	free  int64
	share int64            // the most one account may hold
	held  map[string]int64 // by account; absent: 0
	// freed is closed, and replaced, when bytes are given back while
	// someone waits (waiters > 0).
	freed   chan struct{}
	waiters int
}

func newBudget(total, share int64) *budget {
	return &budget{free: total, share: share, held: map[string]int64{}, freed: make(chan struct{})}
}

// take takes n bytes, counted in account acct's share unless acct is "",
// waiting for them at most wait (or until ctx ends). It reports whether it
// had to wait. Taking bytes that are free costs no timer: one is made only
// to wait.
func (b *budget) take(ctx context.Context, wait time.Duration, acct string, n int64) (waited bool, err error) {
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if n <= b.free && (acct == "" || b.held[acct]+n <= b.share) {
			b.free -= n
			if acct != "" {
				b.held[acct] += n
			}
			b.mu.Unlock()
			return waited, nil
		}
		freed := b.freed
		b.waiters++
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		waited = true
		select {
		case <-freed:
		case <-timeout:
			err = context.DeadlineExceeded
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
		if err != nil {
			return waited, err
		}
	}
}

// give gives back n bytes taken before, of which shared were counted in
// acct's share.
func (b *budget) give(acct string, n, shared int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	if shared > 0 {
		if b.held[acct] -= shared; b.held[acct] <= 0 {
			delete(b.held, acct)
		}
	}
	if b.waiters > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}

// available returns the bytes free now.
func (b *budget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}
