package origin

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sesame-email/sesame/internal/dns"
)

// PTRResolver is what a Checker's Resolver must also implement for the
// reverse-DNS rule; *dns.Client does. Without it that rule is skipped (and
// the Reason says so).
type PTRResolver interface {
	// LookupAddr returns the PTR names of ip as lower-case FQDNs, with
	// dns.ErrNotFound for none and a *dns.LookupError for a failed lookup.
	LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error)
}

// errBudget is returned by a budget resolver once its lookups are spent.
var errBudget = errors.New("origin: DNS lookup budget of the check exhausted")

// budget is a dns.Resolver (and PTRResolver) that passes at most n lookups
// to the underlying resolver and fails the rest with errBudget. It
// remembers every answer (failures too), so asking the same question
// again within a check costs no lookup: SPF's second evaluation (for a
// documentation address) repeats most of the first's. One is made per
// Check, and forgotten with it.
type budget struct {
	r    dns.Resolver
	left atomic.Int64

	mu   sync.Mutex
	memo map[string]answer
}

// answer is a remembered lookup: its result (a []string, []dns.MX, string
// or []netip.Addr) and error.
type answer struct {
	v   any
	err error
}

func newBudget(r dns.Resolver, n int) *budget {
	b := &budget{r: r, memo: map[string]answer{}}
	b.left.Store(int64(n))
	return b
}

// spent reports whether a lookup has been refused for want of budget.
func (b *budget) spent() bool { return b.left.Load() < 0 }

// lookup answers the question key from the memo, or asks f within the
// budget and remembers its answer.
func lookup[T any](b *budget, key string, f func() (T, error)) (T, error) {
	b.mu.Lock()
	a, ok := b.memo[key]
	b.mu.Unlock()
	if ok {
		return a.v.(T), a.err
	}
	if b.left.Add(-1) < 0 {
		var zero T
		return zero, errBudget
	}
	v, err := f()
	b.mu.Lock()
	b.memo[key] = answer{v: v, err: err}
	b.mu.Unlock()
	return v, err
}

func (b *budget) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookup(b, "TXT "+name, func() ([]string, error) { return b.r.LookupTXT(ctx, name) })
}

func (b *budget) LookupMX(ctx context.Context, name string) ([]dns.MX, error) {
	return lookup(b, "MX "+name, func() ([]dns.MX, error) { return b.r.LookupMX(ctx, name) })
}

func (b *budget) LookupCNAME(ctx context.Context, name string) (string, error) {
	return lookup(b, "CNAME "+name, func() (string, error) { return b.r.LookupCNAME(ctx, name) })
}

func (b *budget) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookup(b, "IP "+name, func() ([]netip.Addr, error) { return b.r.LookupIP(ctx, name) })
}

// LookupAddr implements PTRResolver if the underlying resolver does;
// otherwise it fails with errNoPTR.
func (b *budget) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error) {
	p, ok := b.r.(PTRResolver)
	if !ok {
		return nil, errNoPTR
	}
	return lookup(b, "PTR "+ip.String(), func() ([]string, error) { return p.LookupAddr(ctx, ip) })
}

var errNoPTR = errors.New("origin: the resolver cannot look up PTR records")

// isTemporary reports whether a lookup error is a failure that a retry may
// cure (timeout, SERVFAIL, network), as opposed to evidence of absence or
// the check's own limits.
func isTemporary(err error) bool {
	return err != nil && !dns.IsNotFound(err) && !errors.Is(err, errBudget) && !errors.Is(err, errNoPTR)
}

// spfResolver adapts a dns.Resolver to blitiri.com.ar/go/spf's resolver,
// which tells absence from failure by *net.DNSError's IsNotFound and
// IsTemporary.
type spfResolver struct{ r *budget }

func (s spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := s.r.LookupTXT(ctx, name)
	return txts, netError(name, err)
}

func (s spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mxs, err := s.r.LookupMX(ctx, name)
	if err != nil {
		return nil, netError(name, err)
	}
	out := make([]*net.MX, 0, len(mxs))
	for _, m := range mxs {
		out = append(out, &net.MX{Host: m.Host, Pref: m.Pref})
	}
	return out, nil
}

func (s spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := s.r.LookupIP(ctx, host)
	if err != nil {
		return nil, netError(host, err)
	}
	out := make([]net.IPAddr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: ip.AsSlice()})
	}
	return out, nil
}

func (s spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr}
	}
	names, err := s.r.LookupAddr(ctx, ip)
	return names, netError(addr, err)
}

// netError turns a dns package error into the *net.DNSError the spf
// package understands: absence is IsNotFound, a failed lookup IsTemporary,
// an exhausted budget neither (SPF's permerror: a retry would not help).
func netError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case dns.IsNotFound(err):
		return &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	case isTemporary(err):
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	default:
		return &net.DNSError{Err: strings.TrimPrefix(err.Error(), "origin: "), Name: name}
	}
}
