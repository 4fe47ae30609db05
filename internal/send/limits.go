package send

import (
	"math"
	"sync"
	"time"
)

// limits holds this node's sending-rate buckets and the recipients of
// messages it is admitting right now (counted against the daily quota
// until they are in the database).
type limits struct {
	mu       sync.Mutex
	buckets  map[string]*bucket
	inFlight map[string]int
}

// bucket is a token bucket of recipients for one account: it holds at most
// max(rate, 1) tokens and refills at rate per second. A message may take the
// bucket into debt — it needs only min(recipients, capacity) tokens to go,
// then costs all its recipients — so a message with more recipients than
// the rate is not refused forever, and the average stays at the rate.
type bucket struct {
	tokens float64
	last   time.Time
}

func newLimits() *limits {
	return &limits{buckets: map[string]*bucket{}, inFlight: map[string]int{}}
}

// takeRate takes cost tokens from the account's bucket at now and reports
// whether the message may go. rate <= 0 means no limit.
func (l *limits) takeRate(accountID string, rate float64, cost int, now time.Time) bool {
	if rate <= 0 || cost == 0 {
		return true
	}
	capacity := math.Max(rate, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[accountID]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		l.buckets[accountID] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(capacity, b.tokens+el*rate)
		b.last = now
	}
	b.tokens = math.Min(b.tokens, capacity) // the rate may have been lowered
	if b.tokens < math.Min(float64(cost), capacity) {
		return false
	}
	b.tokens -= float64(cost)
	return true
}

// refundRate gives back what takeRate took, for a message that was not
// accepted after all.
func (l *limits) refundRate(accountID string, rate float64, cost int) {
	if rate <= 0 || cost == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[accountID]; b != nil {
		b.tokens = math.Min(math.Max(rate, 1), b.tokens+float64(cost))
	}
}

// reserve counts n recipients of the account as in flight and returns the
// function that releases them.
func (l *limits) reserve(accountID string, n int) (release func()) {
	l.mu.Lock()
	l.inFlight[accountID] += n
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		if l.inFlight[accountID] -= n; l.inFlight[accountID] <= 0 {
			delete(l.inFlight, accountID)
		}
		l.mu.Unlock()
	}
}

func (l *limits) inFlightOf(accountID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight[accountID]
}
