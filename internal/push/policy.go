package push

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The backoff functions of SNS's healthyRetryPolicy.
const (
	Linear      = "linear"
	Arithmetic  = "arithmetic"
	Geometric   = "geometric"
	Exponential = "exponential"
)

// DefaultPolicy is Sesame's retry policy for an endpoint whose
// subscription and topic set none: 100 retries over about 15 hours (see
// the package documentation for why it is not SNS's 3 retries).
var DefaultPolicy = Policy{
	MinDelay:           time.Second,
	MaxDelay:           10 * time.Minute,
	NumRetries:         100,
	NumMaxDelayRetries: 88,
	Backoff:            Exponential,
}

// SNS's bounds and defaults for a healthyRetryPolicy.
const (
	maxRetries      = 100
	minDelaySeconds = 1
	maxDelaySeconds = 3600
	maxTotalSeconds = 3600 // the whole schedule: SNS's one-hour limit
	snsDefaultDelay = 20   // seconds, minDelayTarget and maxDelayTarget
	snsDefaultTries = 3
)

// ErrInvalidPolicy is wrapped by Validate's errors, and so by AddTx's for
// a Policy that cannot be followed.
var ErrInvalidPolicy = errors.New("invalid delivery policy")

// backoffPhase is the number of retries of the backoff phase.
func (p Policy) backoffPhase() int {
	return p.NumRetries - p.NumNoDelayRetries - p.NumMinDelayRetries - p.NumMaxDelayRetries
}

// Delay is the wait before retry number retry (1 for the first retry,
// which follows the first attempt), without jitter; see the package
// documentation for the phases and backoff functions. Retries beyond
// NumRetries get MaxDelay.
func (p Policy) Delay(retry int) time.Duration {
	if p == (Policy{}) {
		p = DefaultPolicy
	}
	switch n := p.backoffPhase(); {
	case retry <= p.NumNoDelayRetries:
		return 0
	case retry <= p.NumNoDelayRetries+p.NumMinDelayRetries:
		return p.MinDelay
	case retry <= p.NumNoDelayRetries+p.NumMinDelayRetries+n:
		k := retry - p.NumNoDelayRetries - p.NumMinDelayRetries - 1
		if n <= 1 || p.MaxDelay <= p.MinDelay {
			return p.MinDelay
		}
		t := float64(k) / float64(n-1)
		lo, hi := float64(p.MinDelay), float64(p.MaxDelay)
		var d float64
		switch strings.ToLower(p.Backoff) {
		case Arithmetic:
			d = lo + (hi-lo)*t*t
		case Geometric:
			d = lo + (hi-lo)*t*t*t
		case Exponential:
			if lo <= 0 {
				d = hi * t // no ratio from zero: grow linearly
			} else {
				d = lo * math.Pow(hi/lo, t)
			}
		default: // linear
			d = lo + (hi-lo)*t
		}
		return min(max(time.Duration(math.Round(d)), p.MinDelay), p.MaxDelay)
	default:
		return p.MaxDelay
	}
}

// Total is the sum of the delays of all NumRetries retries: how long
// after a first failed attempt the last retry comes (attempt times and
// jitter aside).
func (p Policy) Total() time.Duration {
	if p == (Policy{}) {
		p = DefaultPolicy
	}
	var t time.Duration
	for r := 1; r <= p.NumRetries; r++ {
		t += p.Delay(r)
	}
	return t
}

// Validate reports whether the queue can follow p: counts not negative,
// the phases within NumRetries, MinDelay ≤ MaxDelay, a known backoff
// function ("" is linear). It does not apply SNS's bounds (the SNS
// service checks a DeliveryPolicy attribute against them): DefaultPolicy
// is beyond them.
func (p Policy) Validate() error {
	switch {
	case p.NumRetries < 0 || p.NumNoDelayRetries < 0 || p.NumMinDelayRetries < 0 || p.NumMaxDelayRetries < 0:
		return fmt.Errorf("%w: retry counts must not be negative", ErrInvalidPolicy)
	case p.backoffPhase() < 0:
		return fmt.Errorf("%w: NumNoDelayRetries + NumMinDelayRetries + NumMaxDelayRetries (%d) must not exceed NumRetries (%d)",
			ErrInvalidPolicy, p.NumNoDelayRetries+p.NumMinDelayRetries+p.NumMaxDelayRetries, p.NumRetries)
	case p.MinDelay < 0 || p.MaxDelay < p.MinDelay:
		return fmt.Errorf("%w: MinDelay (%s) must be at least 0 and at most MaxDelay (%s)", ErrInvalidPolicy, p.MinDelay, p.MaxDelay)
	case p.MaxReceivesPerSecond < 0:
		return fmt.Errorf("%w: MaxReceivesPerSecond must not be negative", ErrInvalidPolicy)
	}
	switch strings.ToLower(p.Backoff) {
	case "", Linear, Arithmetic, Geometric, Exponential:
		return nil
	}
	return fmt.Errorf("%w: Backoff %q is not linear, arithmetic, geometric or exponential", ErrInvalidPolicy, p.Backoff)
}
