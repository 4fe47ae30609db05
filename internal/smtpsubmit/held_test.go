package smtpsubmit

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/smtpserve"
)

// TestReadHeld: a message's buffer doubles from 64 KiB up to the size
// limit, and what it holds beyond its first 64 KiB is taken from the
// budget; a message of exactly the limit is read whole, one byte more is
// go-smtp's 552.
func TestReadHeld(t *testing.T) {
	ctx := context.Background()
	b := smtpserve.NewBudget(1<<20, 1<<20, time.Minute) // free: the wait is never used
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
	} {
		msg := bytes.Repeat([]byte("m"), int(tc.size))
		h := b.Open("192.0.2.0/24")
		got, err := readHeld(ctx, bytes.NewReader(msg), h, tc.limit)
		if err != nil || !bytes.Equal(got, msg) || h.Taken() != tc.taken || int64(cap(got)) > max(tc.taken+heldStep, min(heldStep, tc.limit)) {
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
