package feedback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is returned by a holder's take when the bytes held across
// connections, or from the client's network, are at their bound and none
// came free within the wait; the report's prefix then stops growing.
var ErrBusy = errors.New("feedback: too many report bytes held; try again later")

// heldBudget bounds the report bytes the feedback MX holds in memory:
// across all its connections, and from one client network (smtpserve.ClientNetwork)
// at most perNet of them, so that a few stalled senders cannot take all
// of it.
type heldBudget struct {
	sem    *semaphore.Weighted
	perNet int64
	wait   time.Duration // how long a connection waits for bytes to come free
	held   atomic.Int64

	mu   sync.Mutex
	nets map[string]*netHeld // networks holding bytes or waiting for them
}

// netHeld is what one client network holds.
type netHeld struct {
	sem   *semaphore.Weighted // perNet bytes
	users int                 // holders open
}

func newHeldBudget(max, perNet int64, wait time.Duration) *heldBudget {
	return &heldBudget{sem: semaphore.NewWeighted(max), perNet: perNet, wait: wait, nets: map[string]*netHeld{}}
}

// open returns a holder for one report from the client network network.
func (b *heldBudget) open(network string) *holder {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.nets[network]
	if n == nil {
		n = &netHeld{sem: semaphore.NewWeighted(b.perNet)}
		b.nets[network] = n
	}
	n.users++
	return &holder{b: b, network: network, n: n}
}

// holder is what one report holds of a heldBudget.
type holder struct {
	b       *heldBudget
	network string
	n       *netHeld
	taken   int64
}

// take reserves k more bytes, from the network's share and from the
// whole, waiting at most b.wait for them.
func (h *holder) take(ctx context.Context, k int64) error {
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

// close gives back everything h took; h is not used again.
func (h *holder) close() {
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

// reserveStep is how a report's reservation grows: by what its prefix
// holds, rounded up to this.
const reserveStep = 64 << 10

// received is a report as the feedback MX read it.
type received struct {
	prefix []byte // the first bytes of the message, at most the prefix limit
	size   int64  // every byte read (the rest was discarded)
	// cut says the prefix stopped short of the prefix limit because no
	// held bytes were free (logged with the report).
	cut bool
	h   *holder
}

// release gives back the bytes held for rc's prefix.
func (rc *received) release() { rc.h.close() }

// receive reads the message r to its end (the caller's reader enforces
// the size limit): it keeps the first limit bytes, taken from h as they
// come, discards the rest, and copies every byte to also when it is not
// nil (a DKIM verifier reading the whole stream). On success the caller
// releases the result; on an error h is already closed.
func receive(ctx context.Context, r io.Reader, limit int64, h *holder, also io.Writer) (*received, error) {
	rc := &received{h: h}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			rc.size += int64(n)
			if room := limit - int64(len(rc.prefix)); room > 0 {
				k := min(int64(n), room)
				if need := int64(len(rc.prefix)) + k; need > int64(cap(rc.prefix)) {
					rc.grow(ctx, need, limit)
					if free := int64(cap(rc.prefix) - len(rc.prefix)); k > free {
						// No room beyond what is held: keep that (a DSN's
						// or ARF's machine-readable parts come first) and
						// discard the rest, rather than refuse a report
						// because others stall.
						k, limit, rc.cut = free, int64(len(rc.prefix))+free, true
					}
				}
				rc.prefix = append(rc.prefix, buf[:k]...)
			}
			if also != nil {
				also.Write(buf[:n]) // a verifier that stopped reading does not stop the report
			}
		}
		if err == io.EOF {
			return rc, nil
		}
		if err != nil {
			rc.release()
			return nil, fmt.Errorf("feedback: read report: %w", err)
		}
	}
}

// grow reserves room for need bytes of prefix (rounded up to reserveStep,
// at most limit) and moves the prefix into a buffer of exactly that
// capacity, so that what is held is what was reserved, and the
// reservation follows what the prefix holds.
//
// The first step is every connection's own: it is not taken from the
// budget, so a report always gets at least that far however many others
// stall (what that costs is bounded by the connection limit: MaxConns ×
// 64 KiB). When the budget has no room within its wait, the prefix does
// not grow beyond what it has (or that first step).
func (rc *received) grow(ctx context.Context, need, limit int64) {
	size := min((need+reserveStep-1)/reserveStep*reserveStep, limit)
	if charge := size - max(int64(cap(rc.prefix)), reserveStep); charge > 0 {
		if err := rc.h.take(ctx, charge); err != nil {
			size = max(int64(cap(rc.prefix)), min(reserveStep, limit))
			if size == int64(cap(rc.prefix)) {
				return
			}
		}
	}
	nb := make([]byte, len(rc.prefix), size)
	copy(nb, rc.prefix)
	rc.prefix = nb
}
