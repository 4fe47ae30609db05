package smtpsubmit

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/smtpserve"
)

// TestReadHeld: a message's buffer doubles from 64 KiB to 1 MiB, then
// grows by a quarter, up to the size limit, and what it holds beyond its first 64 KiB is taken from the
// budget; a message of exactly the limit is read whole, one byte more is
// go-smtp's 552.
func TestReadHeld(t *testing.T) {
	ctx := context.Background()
	b := smtpserve.NewBudget(8<<20, 8<<20, time.Minute) // free: the wait is never used
	for _, tc := range []struct {
		size, limit, taken int64
	}{
		{1000, 400 << 10, 0},
		{64 << 10, 400 << 10, 0},
		{64<<10 + 1, 400 << 10, 64 << 10},
		{300 << 10, 1 << 20, 448 << 10}, // in 512 KiB
		{300 << 10, 400 << 10, 336 << 10},
		{400 << 10, 400 << 10, 336 << 10},
		{10, 10, 0},
		{1<<20 + 1, 4 << 20, 1280<<10 - heldStep}, // 1 MiB + 1/4
		{2 << 20, 4 << 20, 2048<<10 - heldStep},   // 1.25, 1.5625 (rounded up to 64 KiB: 1600 KiB), 2000 → 2048 KiB
	} {
		msg := bytes.Repeat([]byte("m"), int(tc.size))
		h := b.Open("192.0.2.0/24")
		got, err := readHeld(ctx, bytes.NewReader(msg), h, tc.limit)
		wantCap := min(heldStep, tc.limit)
		if tc.taken > 0 {
			wantCap = tc.taken + heldStep
		}
		if err != nil || !bytes.Equal(got, msg) || h.Taken() != tc.taken || int64(cap(got)) != wantCap {
			t.Errorf("%d bytes (limit %d): %d read in %d, %v; taken %d, want %d", tc.size, tc.limit, len(got), cap(got), err, h.Taken(), tc.taken)
		}
		h.Close()
	}
	h := b.Open("192.0.2.0/24")
	defer h.Close()
	if _, err := readHeld(ctx, bytes.NewReader(make([]byte, 100<<10+1)), h, 100<<10); err != smtp.ErrDataTooLarge {
		t.Errorf("a byte beyond the limit: %v; want ErrDataTooLarge", err)
	}
}

// BenchmarkReadHeld reads a 10 MB message as Data does (a buffer
// growing from 64 KiB, within a budget); ReadAll is what Data did
// before, for comparison.
func BenchmarkReadHeld(b *testing.B) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	budget := smtpserve.NewBudget(1<<30, 1<<30, time.Minute)
	b.Run("held", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			h := budget.Open("192.0.2.0/24")
			if _, err := readHeld(context.Background(), bytes.NewReader(msg), h, 40<<20); err != nil {
				b.Fatal(err)
			}
			h.Close()
		}
	})
	b.Run("ReadAll", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.ReadAll(bytes.NewReader(msg)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
