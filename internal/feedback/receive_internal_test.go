package feedback

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/smtpserve"
)

// TestReservationFollowsPrefix: a report reserves what its prefix holds,
// rounded up to 64 KiB, not the next power of two, less its first 64 KiB
// (every connection's own): 300 KiB read hold 320 KiB, 256 KiB of them
// from the budget (they reserved 512), and all of it comes back on
// release.
func TestReservationFollowsPrefix(t *testing.T) {
	// The budget is free: a long wait is never used (a 1 ms one could run
	// out on a loaded machine before the semaphore is even asked).
	b := smtpserve.NewBudget(1<<20, 1<<20, time.Minute)
	rc, err := receive(context.Background(), bytes.NewReader(bytes.Repeat([]byte("x"), 300<<10)), 1<<20, b.Open("192.0.2.0/24"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.prefix) != 300<<10 || cap(rc.prefix) != 320<<10 || b.Held() != 256<<10 {
		t.Fatalf("prefix %d bytes in %d; held %d; want 300 KiB in 320 KiB, 256 KiB held", len(rc.prefix), cap(rc.prefix), b.Held())
	}
	rc.release()
	if b.Held() != 0 {
		t.Fatalf("after release: held %d", b.Held())
	}
}

// TestPrefixCutWhenFull: with no bytes free in the budget, a report is
// still read to its end and keeps its first 64 KiB (every connection's
// own), marked cut; before, it was refused (451) for as long as others
// held the budget.
func TestPrefixCutWhenFull(t *testing.T) {
	ctx := context.Background()
	b := smtpserve.NewBudget(256<<10, 256<<10, time.Millisecond)
	hog := b.Open("198.51.100.0/24")
	if err := hog.Take(ctx, 256<<10); err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	msg := bytes.Repeat([]byte("y"), 200<<10)
	rc, err := receive(ctx, bytes.NewReader(msg), 1<<20, b.Open("192.0.2.0/24"), nil)
	if err != nil {
		t.Fatalf("a report while the budget is full: %v", err)
	}
	defer rc.release()
	if len(rc.prefix) != 64<<10 || !rc.cut || rc.size != 200<<10 || b.Held() != 256<<10 {
		t.Fatalf("prefix %d bytes, cut %v, size %d, held %d; want 64 KiB kept, cut, 200 KiB read, 256 KiB held", len(rc.prefix), rc.cut, rc.size, b.Held())
	}
	if !bytes.Equal(rc.prefix, msg[:64<<10]) {
		t.Fatal("the prefix is not the message's first 64 KiB")
	}
}
