// Package stage counts the time Sesame's send path spends in each of its
// stages — admission, DKIM signing, enqueueing, claiming, SMTP delivery
// and outcome recording — so that a benchmark (or an operator) can see
// where a message's time goes from the process's own counters
// (sesame_stage_seconds_total{stage=...} on /metrics).
//
// The figures are wall-clock time summed over every goroutine in the
// stage, not CPU time: a stage that waits (for an fsync, a lock, the
// remote SMTP server) counts its waiting too. Counting costs one
// time.Now per stage boundary and one atomic add, with no allocation; a
// nil *Timer counts nothing.
package stage

import (
	"sync/atomic"
	"time"
)

// Stage is one stage of the send path.
type Stage uint8

// The stages, in a message's order.
const (
	// Admission is the API's checks of a send: parsing, the account,
	// identities, configuration set, quota, composing and rendering; up to
	// signing.
	Admission Stage = iota
	// Signing is DKIM signing (every signature of a message).
	Signing
	// Enqueue is the suppression check and the queue's write transaction
	// (the message, its recipients and its Send event).
	Enqueue
	// Claim is the delivery worker's claim of a batch of due recipients.
	Claim
	// Delivery is loading a claimed message and its SMTP transaction with
	// the recipients' server (connecting, when a new connection is needed,
	// included).
	Delivery
	// Outcome is recording a recipient's outcome (its event and the
	// queue's transition).
	Outcome

	count
)

// Stages lists every stage, in order.
var Stages = [...]Stage{Admission, Signing, Enqueue, Claim, Delivery, Outcome}

var names = [count]string{"admission", "signing", "enqueue", "claim", "delivery", "outcome"}

// String is the stage's label value: "admission", "signing", ....
func (s Stage) String() string {
	if s >= count {
		return "unknown"
	}
	return names[s]
}

// Timer sums the time spent in each stage. Its methods are safe for
// concurrent use; the zero value is ready, and a nil *Timer counts
// nothing.
type Timer struct {
	ns [count]atomic.Int64
}

// Start returns the time a stage starts (zero for a nil Timer).
func (t *Timer) Start() time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Now()
}

// Since adds the time from t0 to now to stage s and returns now, the
// start of the next stage.
func (t *Timer) Since(s Stage, t0 time.Time) time.Time {
	if t == nil || s >= count {
		return time.Time{}
	}
	now := time.Now()
	t.ns[s].Add(int64(now.Sub(t0)))
	return now
}

// Seconds returns the total time spent in stage s, in seconds.
func (t *Timer) Seconds(s Stage) float64 {
	if t == nil || s >= count {
		return 0
	}
	return time.Duration(t.ns[s].Load()).Seconds()
}
