package feedback

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestReservationFollowsPrefix: a report reserves what its prefix holds,
// rounded up to 64 KiB, not the next power of two, less its first 64 KiB
// (every connection's own): 300 KiB read hold 320 KiB, 256 KiB of them
// from the budget (they reserved 512), and all of it comes back on
// release.
func TestReservationFollowsPrefix(t *testing.T) {
	// The budget is free: a long wait is never used (a 1 ms one could run
	// out on a loaded machine before the semaphore is even asked).
	b := newHeldBudget(1<<20, 1<<20, time.Minute)
	rc, err := receive(context.Background(), bytes.NewReader(bytes.Repeat([]byte("x"), 300<<10)), 1<<20, b.open("192.0.2.0/24"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.prefix) != 300<<10 || cap(rc.prefix) != 320<<10 || b.held.Load() != 256<<10 {
		t.Fatalf("prefix %d bytes in %d; held %d; want 300 KiB in 320 KiB, 256 KiB held", len(rc.prefix), cap(rc.prefix), b.held.Load())
	}
	rc.release()
	if b.held.Load() != 0 || len(b.nets) != 0 {
		t.Fatalf("after release: held %d, %d networks", b.held.Load(), len(b.nets))
	}
}

// TestPrefixCutWhenFull: with no bytes free in the budget, a report is
// still read to its end and keeps its first 64 KiB (every connection's
// own), marked cut; before, it was refused (451) for as long as others
// held the budget.
func TestPrefixCutWhenFull(t *testing.T) {
	ctx := context.Background()
	b := newHeldBudget(256<<10, 256<<10, time.Millisecond)
	hog := b.open("198.51.100.0/24")
	if err := hog.take(ctx, 256<<10); err != nil {
		t.Fatal(err)
	}
	defer hog.close()
	msg := bytes.Repeat([]byte("y"), 200<<10)
	rc, err := receive(ctx, bytes.NewReader(msg), 1<<20, b.open("192.0.2.0/24"), nil)
	if err != nil {
		t.Fatalf("a report while the budget is full: %v", err)
	}
	defer rc.release()
	if len(rc.prefix) != 64<<10 || !rc.cut || rc.size != 200<<10 || b.held.Load() != 256<<10 {
		t.Fatalf("prefix %d bytes, cut %v, size %d, held %d; want 64 KiB kept, cut, 200 KiB read, 256 KiB held", len(rc.prefix), rc.cut, rc.size, b.held.Load())
	}
	if !bytes.Equal(rc.prefix, msg[:64<<10]) {
		t.Fatal("the prefix is not the message's first 64 KiB")
	}
}

// TestNetworkShare: what one client network holds is bounded by its
// share, whatever the whole budget has left; another network still gets
// its bytes.
func TestNetworkShare(t *testing.T) {
	ctx := context.Background()
	b := newHeldBudget(1<<20, 256<<10, 100*time.Millisecond) // long enough for a loaded machine
	h1, h2, other := b.open("192.0.2.0/24"), b.open("192.0.2.0/24"), b.open("198.51.100.0/24")
	if err := h1.take(ctx, 200<<10); err != nil {
		t.Fatal(err)
	}
	if err := h2.take(ctx, 100<<10); err != ErrBusy {
		t.Fatalf("beyond the network's share: %v; want ErrBusy", err)
	}
	if err := other.take(ctx, 256<<10); err != nil {
		t.Fatalf("another network: %v", err)
	}
	for _, h := range []*holder{h1, h2, other} {
		h.close()
	}
	if b.held.Load() != 0 || len(b.nets) != 0 {
		t.Fatalf("after close: held %d, %d networks", b.held.Load(), len(b.nets))
	}
}
