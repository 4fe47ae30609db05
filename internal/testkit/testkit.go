// Package testkit holds small helpers shared by tests: a settable clock
// and a fast source of real DKIM keys. It is imported only from tests.
package testkit

import (
	"fmt"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/dkim"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var (
	keyMu   sync.Mutex
	keyPool = map[string][]*dkim.Key{}
	keyNext = map[string]int{}
)

// FastKeys is an identity.Options.GenerateKey that hands out keys from a
// small pool made once per process (RSA generation is slow and tests make
// many identities). The keys are real; they are only shared between
// identities.
func FastKeys(alg dkim.Algorithm, bits int) (*dkim.Key, error) {
	keyMu.Lock()
	defer keyMu.Unlock()
	id := fmt.Sprintf("%s/%d", alg, bits)
	if len(keyPool[id]) < 3 {
		k, err := dkim.Generate(alg, bits)
		if err != nil {
			return nil, err
		}
		keyPool[id] = append(keyPool[id], k)
		return k, nil
	}
	k := keyPool[id][keyNext[id]%len(keyPool[id])]
	keyNext[id]++
	return k, nil
}
