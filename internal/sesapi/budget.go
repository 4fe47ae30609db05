package sesapi

import (
	"context"
	"sync"
)

// budget bounds the request body bytes all requests hold at once.
//
// It is not golang.org/x/sync/semaphore because that serves waiters in
// order: a 1 KB call would queue behind a 40 MB upload waiting for room.
// Here whoever fits takes, so small calls pass large waiting ones; a large
// one can be passed over until its wait ends (then it is throttled and the
// client retries), which is the better failure for an API of small calls.
type budget struct {
	mu    sync.Mutex
	free  int64
	freed chan struct{} // closed, and replaced, whenever bytes are given back
}

func newBudget(n int64) *budget {
	return &budget{free: n, freed: make(chan struct{})}
}

// take takes n bytes, waiting for them until ctx ends.
func (b *budget) take(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if n <= b.free {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// give gives back n bytes taken before.
func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// available returns the bytes free now.
func (b *budget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}
