package smtpsubmit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// authGuard counts failed AUTH attempts per client address and says how
// long the next attempt waits, or that the address is refused (package
// doc).
type authGuard struct {
	now                    func() time.Time
	delayAfter, blockAfter int
	delay, block           time.Duration
	sleep                  func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	m  map[netip.Addr]*failures
}

// failures are an address's failed attempts since the count was last
// cleared: how many, and for which user name (mixed once two differ), so
// that only a success of that same user clears them.
type failures struct {
	n            int
	last         time.Time
	blockedUntil time.Time
	user         string
	mixed        bool
}

// maxTracked bounds the addresses tracked; past it, those whose failures
// are forgotten are dropped, and if none are, the oldest.
const maxTracked = 100000

func newAuthGuard(now func() time.Time, delayAfter, blockAfter int, delay, block time.Duration) *authGuard {
	return &authGuard{now: now, delayAfter: delayAfter, blockAfter: blockAfter, delay: delay, block: block, sleep: sleepCtx, m: map[netip.Addr]*failures{}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// key is what failures are counted by: an IPv4 address, an IPv6 /64.
func key(ip string) netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// current returns the address's live failures, forgetting stale ones;
// g.mu is held.
func (g *authGuard) current(k netip.Addr, now time.Time) *failures {
	f := g.m[k]
	if f != nil && g.stale(f, now) {
		delete(g.m, k)
		return nil
	}
	return f
}

// stale says f is forgotten: its last failure is a block's length ago,
// and no block is running.
func (g *authGuard) stale(f *failures, now time.Time) bool {
	return now.Sub(f.last) >= g.block && !now.Before(f.blockedUntil)
}

// check returns how long an attempt from ip waits, or that it is refused
// (blockedFor > 0).
func (g *authGuard) check(ip string) (wait, blockedFor time.Duration) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.current(key(ip), now)
	switch {
	case f == nil:
		return 0, 0
	case now.Before(f.blockedUntil):
		return 0, f.blockedUntil.Sub(now)
	case f.n >= g.delayAfter:
		return g.delay * time.Duration(min(f.n-g.delayAfter+1, 10)), 0
	}
	return 0, 0
}

// wait delays an attempt from ip as its failures require, or refuses it.
func (g *authGuard) wait(ctx context.Context, ip string) error {
	d, blocked := g.check(ip)
	if blocked > 0 {
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: fmt.Sprintf("Too many failed authentication attempts from your address; try again in %s", roundUp(blocked))}
	}
	if d > 0 {
		if g.sleep(ctx, d) != nil {
			return errAuthTemp // the session ended meanwhile
		}
	}
	return nil
}

// refuseConn is smtpserve.Limits.Refuse: a blocked address's connections
// are told why and closed.
func (g *authGuard) refuseConn(ip string) string {
	if _, blocked := g.check(ip); blocked > 0 {
		return fmt.Sprintf("421 4.7.0 Too many failed authentication attempts from your address; try again in %s", roundUp(blocked))
	}
	return ""
}

// fail counts a failure from ip for user: it returns the count and
// whether this failure blocked the address.
func (g *authGuard) fail(ip, user string) (n int, blocked bool) {
	if len(user) > 128 { // longer than any access key id: never succeeds
		user = user[:128]
	}
	user = strings.Clone(user) // not the client's whole line
	now := g.now()
	k := key(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.current(k, now)
	if f == nil {
		if len(g.m) >= maxTracked {
			g.prune(now)
		}
		f = &failures{user: user}
		g.m[k] = f
	}
	if user != f.user {
		f.mixed = true
	}
	f.n++
	f.last = now
	if f.n >= g.blockAfter && !now.Before(f.blockedUntil) {
		f.blockedUntil = now.Add(g.block)
		return f.n, true
	}
	return f.n, false
}

// prune makes room; g.mu is held.
func (g *authGuard) prune(now time.Time) {
	var oldest netip.Addr
	var at time.Time
	for k, f := range g.m {
		if g.stale(f, now) {
			delete(g.m, k)
		} else if at.IsZero() || f.last.Before(at) {
			oldest, at = k, f.last
		}
	}
	if len(g.m) >= maxTracked {
		delete(g.m, oldest)
	}
}

// success clears ip's failures when user succeeded after failing alone
// (a mistyped password), unless the address is blocked. Failures for
// other user names stay: a client that holds one valid key must not be
// able to wipe its failed guesses at other keys by logging in with it.
func (g *authGuard) success(ip, user string) {
	now := g.now()
	k := key(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[k]; f != nil && !now.Before(f.blockedUntil) && !f.mixed && f.user == user {
		delete(g.m, k)
	}
}

// roundUp shows a wait in whole seconds, at least one.
func roundUp(d time.Duration) time.Duration {
	return max(time.Second, d.Round(time.Second))
}

// loginServer is the server side of SASL LOGIN (draft-murchison-sasl-login),
// which go-sasl no longer has: "Username:" and "Password:" challenges, or
// the user name as the initial response.
type loginServer struct {
	auth func(user, pass string) error
	step int
	user string
}

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		if len(response) > 0 { // AUTH LOGIN <user>
			s.user, s.step = string(response), 2
			return []byte("Password:"), false, nil
		}
		s.step = 1
		return []byte("Username:"), false, nil
	case 1:
		s.user, s.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.auth(s.user, string(response))
	}
	return nil, false, errors.New("unexpected client response")
}
