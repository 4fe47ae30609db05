package send

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/account"
)

// MsgVerificationPaused is the refusal of mail Sesame would send on a
// paused account's behalf (Admit).
const MsgVerificationPaused = "Sending is paused for this account, and a verification email is mail it sends: none is sent until sending is resumed."

// Admit applies the account's sending state, daily quota and sending rate
// — the same checks, with the same per-node token bucket and in-flight
// reservations, as Submit — to recipients of a message Sesame sends
// because the account asked for it: an address verification mail. The
// sandbox's rule on recipients does not apply (that mail is how sandbox
// accounts get verified recipients). A rejection is an *Error of
// KindSendingPaused (MsgVerificationPaused), KindDailyQuotaExceeded or
// KindRateExceeded. On success the caller must call done once: with true
// after the message (counted in the quota) is committed to the queue,
// with false when it was not, which gives the rate back.
func (s *Sender) Admit(ctx context.Context, accountID string, recipients int) (done func(queued bool), err error) {
	acct, err := s.sendingAccount(ctx, accountID, MsgVerificationPaused)
	if err != nil {
		return nil, err
	}
	return s.limit(ctx, acct, recipients, recipients, s.now())
}

// limit checks the daily quota for quotaN more recipients and takes rateN
// tokens from the sending-rate bucket, in that order. It returns the
// function to call once with whether the message was accepted: it gives
// the tokens back when not, and releases the in-flight reservation.
func (s *Sender) limit(ctx context.Context, acct *account.Account, quotaN, rateN int, now time.Time) (done func(accepted bool), err error) {
	release := func() {}
	if acct.Max24HourSend >= 0 && quotaN > 0 {
		release = s.lim.reserve(acct.ID, quotaN)
		// In-flight first, then the database: a concurrent send that
		// releases its reservation has committed before it does, so it is
		// counted by one reading or the other (perhaps both: the safe side).
		inFlight := s.lim.inFlightOf(acct.ID)
		sent, err := s.opts.Queue.SentSince(ctx, acct.ID, now.Add(-24*time.Hour))
		if err != nil {
			release()
			return nil, err
		}
		if float64(sent+inFlight) > acct.Max24HourSend {
			release()
			return nil, reject(KindDailyQuotaExceeded, "", MsgDailyQuotaExceeded)
		}
	}
	if !s.lim.takeRate(acct.ID, acct.MaxSendRate, rateN, now) {
		release()
		return nil, reject(KindRateExceeded, "", MsgRateExceeded)
	}
	return func(accepted bool) {
		if !accepted {
			s.lim.refundRate(acct.ID, acct.MaxSendRate, rateN)
		}
		release()
	}, nil
}

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
