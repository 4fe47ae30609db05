package feedback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is returned by receive when the bytes held across connections
// are at their bound and none came free within the wait: the sender
// should try again later (451 4.3.2).
var ErrBusy = errors.New("feedback: too many report bytes held; try again later")

// heldBudget bounds the report bytes the feedback MX holds in memory
// across all its connections.
type heldBudget struct {
	sem  *semaphore.Weighted
	wait time.Duration // how long a connection waits for bytes to come free
	held atomic.Int64
}

func newHeldBudget(max int64, wait time.Duration) *heldBudget {
	return &heldBudget{sem: semaphore.NewWeighted(max), wait: wait}
}

// take reserves n bytes, waiting at most b.wait for them.
func (b *heldBudget) take(ctx context.Context, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		return ErrBusy
	}
	b.held.Add(n)
	return nil
}

// give returns n bytes taken.
func (b *heldBudget) give(n int64) {
	if n > 0 {
		b.held.Add(-n)
		b.sem.Release(n)
	}
}

// firstReservation is what a report's prefix reserves first; the
// reservation then doubles as the prefix grows, up to its limit.
const firstReservation = 64 << 10

// received is a report as the feedback MX read it.
type received struct {
	prefix   []byte // the first bytes of the message, at most the prefix limit
	size     int64  // every byte read (the rest was discarded)
	reserved int64  // bytes taken from the budget for prefix; give them back
}

// receive reads the message r to its end (the caller's reader enforces
// the size limit): it keeps the first limit bytes, taken from the budget b
// as they come, discards the rest, and copies every byte to also when it
// is not nil (a DKIM verifier reading the whole stream). On an error the
// bytes taken are already given back.
func receive(ctx context.Context, r io.Reader, limit int64, b *heldBudget, also io.Writer) (*received, error) {
	rc := &received{}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			rc.size += int64(n)
			if room := limit - int64(len(rc.prefix)); room > 0 {
				k := min(int64(n), room)
				if int64(len(rc.prefix))+k > rc.reserved {
					if gerr := rc.grow(ctx, int64(len(rc.prefix))+k, limit, b); gerr != nil {
						b.give(rc.reserved)
						return nil, gerr
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
			b.give(rc.reserved)
			return nil, fmt.Errorf("feedback: read report: %w", err)
		}
	}
}

// grow reserves room for at least need bytes of prefix (doubling the
// reservation, at most limit) and moves the prefix into a buffer of
// exactly that capacity, so that what is held is what was reserved.
func (rc *received) grow(ctx context.Context, need, limit int64, b *heldBudget) error {
	size := max(rc.reserved*2, firstReservation)
	for size < need {
		size *= 2
	}
	size = min(size, limit)
	if err := b.take(ctx, size-rc.reserved); err != nil {
		return err
	}
	rc.reserved = size
	nb := make([]byte, len(rc.prefix), size)
	copy(nb, rc.prefix)
	rc.prefix = nb
	return nil
}
