package smtpserve

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is returned by Holder.Take when the bytes held across
// connections, or from the client's network, are at their bound and none
// came free within the budget's wait.
var ErrBusy = errors.New("smtpserve: too many message bytes held; try again later")

// Budget bounds the message bytes an SMTP server holds in memory: across
// all its connections, and from one client network (ClientNetwork) at
// most a share of them, so that a few stalled senders cannot take all of
// it. Each message takes bytes through its own Holder.
type Budget struct {
	sem    *semaphore.Weighted
	perNet int64
	wait   time.Duration // how long a Take waits for bytes to come free
	held   atomic.Int64

	mu   sync.Mutex
	nets map[string]*netHeld // networks holding bytes or waiting for them
}

// netHeld is what one client network holds.
type netHeld struct {
	sem   *semaphore.Weighted // perNet bytes
	users int                 // holders open
}

// NewBudget returns a Budget of max bytes in all, perNet from one client
// network; a Take waits at most wait for bytes to come free.
func NewBudget(max, perNet int64, wait time.Duration) *Budget {
	return &Budget{sem: semaphore.NewWeighted(max), perNet: perNet, wait: wait, nets: map[string]*netHeld{}}
}

// Held is how many bytes the budget's holders hold now.
func (b *Budget) Held() int64 { return b.held.Load() }

// networks is how many client networks hold bytes or a holder (for
// tests: none once every holder is closed).
func (b *Budget) networks() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.nets)
}

// Open returns a holder for one message from the client network network;
// the caller closes it.
func (b *Budget) Open(network string) *Holder {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.nets[network]
	if n == nil {
		n = &netHeld{sem: semaphore.NewWeighted(b.perNet)}
		b.nets[network] = n
	}
	n.users++
	return &Holder{b: b, network: network, n: n}
}

// Holder is what one message holds of a Budget. It is used by one
// goroutine at a time.
type Holder struct {
	b       *Budget
	network string
	n       *netHeld
	taken   int64
	closed  bool
}

// Take reserves k more bytes, from the network's share and from the
// whole, waiting at most the budget's wait for them (less when ctx ends
// first); ErrBusy when they did not come free.
func (h *Holder) Take(ctx context.Context, k int64) error {
	ctx, cancel := context.WithTimeout(ctx, h.b.wait)
	defer cancel()
	if err := h.n.sem.Acquire(ctx, k); err != nil {
		return ErrBusy
	}
	if err := h.b.sem.Acquire(ctx, k); err != nil {
		h.n.sem.Release(k)
		return ErrBusy
	}
	h.taken += k
	h.b.held.Add(k)
	return nil
}

// Taken is how many bytes h holds.
func (h *Holder) Taken() int64 { return h.taken }

// Close gives back everything h took; h is not used again. Closing twice
// does nothing.
func (h *Holder) Close() {
	if h.closed {
		return
	}
	h.closed = true
	if h.taken > 0 {
		h.b.held.Add(-h.taken)
		h.b.sem.Release(h.taken)
		h.n.sem.Release(h.taken)
		h.taken = 0
	}
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	if h.n.users--; h.n.users == 0 {
		delete(h.b.nets, h.network)
	}
}
