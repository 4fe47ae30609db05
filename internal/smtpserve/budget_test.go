package smtpserve

import (
	"context"
	"testing"
	"time"
)

// TestNetworkShare: what one client network holds is bounded by its
// share, whatever the whole budget has left; another network still gets
// its bytes; everything comes back on Close, and the networks are
// forgotten.
func TestNetworkShare(t *testing.T) {
	ctx := context.Background()
	b := NewBudget(1<<20, 256<<10, 100*time.Millisecond) // long enough for a loaded machine
	h1, h2, other := b.Open("192.0.2.0/24"), b.Open("192.0.2.0/24"), b.Open("198.51.100.0/24")
	if err := h1.Take(ctx, 200<<10); err != nil {
		t.Fatal(err)
	}
	if err := h2.Take(ctx, 100<<10); err != ErrBusy {
		t.Fatalf("beyond the network's share: %v; want ErrBusy", err)
	}
	if err := other.Take(ctx, 256<<10); err != nil {
		t.Fatalf("another network: %v", err)
	}
	if b.Held() != 456<<10 || h1.Taken() != 200<<10 || h2.Taken() != 0 {
		t.Fatalf("held %d (h1 %d, h2 %d); want 456 KiB (200 KiB, 0)", b.Held(), h1.Taken(), h2.Taken())
	}
	for _, h := range []*Holder{h1, h2, other} {
		h.Close()
	}
	h1.Close() // a second Close gives back nothing more
	if b.Held() != 0 || b.networks() != 0 {
		t.Fatalf("after close: held %d, %d networks", b.Held(), b.networks())
	}
}

// TestBudgetWholeBound: the whole budget bounds networks together; a
// Take waiting for bytes gets them when another holder closes within the
// wait.
func TestBudgetWholeBound(t *testing.T) {
	ctx := context.Background()
	b := NewBudget(256<<10, 256<<10, time.Minute) // the wait ends by the Close below, not by time
	a, c := b.Open("192.0.2.0/24"), b.Open("198.51.100.0/24")
	if err := a.Take(ctx, 256<<10); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Take(ctx, 64<<10) }()
	a.Close()
	if err := <-done; err != nil {
		t.Fatalf("Take after bytes came free: %v", err)
	}
	c.Close()
	if b.Held() != 0 || b.networks() != 0 {
		t.Fatalf("after close: held %d, %d networks", b.Held(), b.networks())
	}
}
