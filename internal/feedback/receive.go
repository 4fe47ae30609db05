package feedback

import (
	"context"
	"fmt"
	"io"

	"github.com/sesame-email/sesame/internal/smtpserve"
)

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
	h   *smtpserve.Holder
}

// release gives back the bytes held for rc's prefix.
func (rc *received) release() { rc.h.Close() }

// receive reads the message r to its end (the caller's reader enforces
// the size limit): it keeps the first limit bytes, taken from h as they
// come, discards the rest, and copies every byte to also when it is not
// nil (a DKIM verifier reading the whole stream). On success the caller
// releases the result; on an error h is already closed.
func receive(ctx context.Context, r io.Reader, limit int64, h *smtpserve.Holder, also io.Writer) (*received, error) {
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
		if err := rc.h.Take(ctx, charge); err != nil {
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
