package feedback

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/origin"
)

// Defaults of ServerOptions' bounds on the work one report may cause.
const (
	DefaultMaxReportLookups = 120              // DNS lookups for one report, DKIM keys included
	DefaultReportLookupTime = 20 * time.Second // time spent waiting for them
	DefaultMaxReportDomains = 10               // distinct recipient domains checked
)

// reportCheck decides where one report comes from, for every message it
// was addressed to, within the report's bounds: its DNS lookups (origin's
// checks and the DKIM key lookups of its signatures) share one budget of
// lookups and of time spent waiting for them, at most maxDomains distinct
// recipient domains are checked (others are not verified, "too many
// domains"), and a verdict is made once per recipient domain and sending
// side (every other piece of evidence is the same for the whole report),
// however many messages it is applied to. Its checks end with the SMTP
// session the report came in (the one context kept in a struct: go-smtp's
// sessions have none, STYLE.md), whatever context they are given. Its
// methods are safe for concurrent use.
type reportCheck struct {
	session    context.Context
	checker    origin.Checker // the server's, looking up through budget
	budget     *lookupBudget
	maxDomains int

	mu       sync.Mutex
	verdicts map[string]origin.Verdict // by recipient domain and sender domains
	domains  map[string]bool           // recipient domains checked
}

// newReportCheck returns the check of one report received in the session
// whose context is session: c's rules, its lookups through a budget of
// lookups and of time on c's Resolver.
func newReportCheck(session context.Context, c *origin.Checker, lookups int, lookupTime time.Duration, maxDomains int) *reportCheck {
	rc := &reportCheck{session: session, checker: *c, budget: newLookupBudget(lookups, lookupTime), maxDomains: maxDomains,
		verdicts: map[string]origin.Verdict{}, domains: map[string]bool{}}
	rc.checker.Resolver = rc.budget.wrap(c.Resolver)
	return rc
}

// Resolver is the report's resolver, for its DKIM key lookups.
func (rc *reportCheck) Resolver() dns.Resolver { return rc.checker.Resolver }

// Check is origin.Checker.Check within the report's bounds. A verdict
// that is temporary only because the report's budget ran out is made
// permanent: the report would use up its budget again when retried.
func (rc *reportCheck) Check(_ context.Context, ev origin.Evidence, recipientDomain string) origin.Verdict {
	d := strings.ToLower(strings.TrimSuffix(recipientDomain, "."))
	key := d + "\x00" + strings.Join(ev.SenderDomains, " ")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if v, ok := rc.verdicts[key]; ok {
		return v
	}
	if !rc.domains[d] && len(rc.domains) >= rc.maxDomains {
		v := origin.Verdict{Reason: fmt.Sprintf("not checked: too many domains (the report names recipients at more than %d domains; the first %d are checked)",
			rc.maxDomains, rc.maxDomains)}
		rc.verdicts[key] = v
		return v
	}
	rc.domains[d] = true
	// The session's context: the one Apply is given carries its values
	// but outlives it (what was found is stored after the session).
	v := rc.checker.Check(rc.session, ev, d)
	if v.Temporary && rc.budget.spent() {
		v.Temporary = false
		v.Reason = fmt.Sprintf("not checked to the end: the report used up its DNS budget (%d lookups, %s of lookup time); %s",
			rc.budget.lookups, rc.budget.limit, v.Reason)
	}
	rc.verdicts[key] = v
	return v
}

// errReportBudget fails a lookup beyond a report's budget.
var errReportBudget = errors.New("feedback: the report's DNS lookup budget is spent")

// lookupBudget bounds the DNS lookups made for one report: at most
// lookups of them, and limit of time spent waiting for them in all (each
// lookup's context ends when the time left is up). Time between lookups
// (while the report streams in) does not count.
type lookupBudget struct {
	lookups int
	limit   time.Duration

	left    atomic.Int64
	refused atomic.Bool // a lookup was refused for want of budget

	mu   sync.Mutex
	used time.Duration
}

func newLookupBudget(lookups int, limit time.Duration) *lookupBudget {
	b := &lookupBudget{lookups: lookups, limit: limit}
	b.left.Store(int64(lookups))
	return b
}

// begin takes one lookup from the budget and returns the context to make
// it in, and the function to call when it is done.
func (b *lookupBudget) begin(ctx context.Context) (context.Context, func(), error) {
	b.mu.Lock()
	rest := b.limit - b.used
	b.mu.Unlock()
	if b.left.Add(-1) < 0 || rest <= 0 {
		b.refused.Store(true)
		return nil, nil, errReportBudget
	}
	ctx, cancel := context.WithTimeout(ctx, rest)
	start := time.Now() // network time: the lookup's real duration, as its deadline
	return ctx, func() {
		cancel()
		b.mu.Lock()
		b.used += time.Since(start)
		b.mu.Unlock()
	}, nil
}

// spent reports whether the budget ran out: a lookup was refused, or the
// time is used up (so the last lookups were cut short).
func (b *lookupBudget) spent() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused.Load() || b.used >= b.limit
}

// wrap returns r looking up through b: an origin.PTRResolver too when r
// is one (so that origin applies its reverse-DNS rule exactly when it
// would without the budget).
func (b *lookupBudget) wrap(r dns.Resolver) dns.Resolver {
	br := budgetResolver{r: r, b: b}
	if p, ok := r.(origin.PTRResolver); ok {
		return budgetPTRResolver{budgetResolver: br, p: p}
	}
	return br
}

// budgetResolver is a dns.Resolver within a lookupBudget.
type budgetResolver struct {
	r dns.Resolver
	b *lookupBudget
}

// lookup makes one lookup f within b.
func lookup[T any](ctx context.Context, b *lookupBudget, f func(context.Context) (T, error)) (T, error) {
	ctx, done, err := b.begin(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer done()
	return f(ctx)
}

func (r budgetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookup(ctx, r.b, func(ctx context.Context) ([]string, error) { return r.r.LookupTXT(ctx, name) })
}

func (r budgetResolver) LookupMX(ctx context.Context, name string) ([]dns.MX, error) {
	return lookup(ctx, r.b, func(ctx context.Context) ([]dns.MX, error) { return r.r.LookupMX(ctx, name) })
}

func (r budgetResolver) LookupCNAME(ctx context.Context, name string) (string, error) {
	return lookup(ctx, r.b, func(ctx context.Context) (string, error) { return r.r.LookupCNAME(ctx, name) })
}

func (r budgetResolver) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookup(ctx, r.b, func(ctx context.Context) ([]netip.Addr, error) { return r.r.LookupIP(ctx, name) })
}

// budgetPTRResolver is a budgetResolver whose resolver looks up PTR
// records too.
type budgetPTRResolver struct {
	budgetResolver
	p origin.PTRResolver
}

func (r budgetPTRResolver) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error) {
	return lookup(ctx, r.b, func(ctx context.Context) ([]string, error) { return r.p.LookupAddr(ctx, ip) })
}
