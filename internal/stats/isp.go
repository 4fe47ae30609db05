package stats

import (
	"container/list"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/event"
)

// The ISP names Sesame gives besides those of the provider table.
const (
	// ISPSimulator is the ISP of mailbox-simulator recipients.
	ISPSimulator = "Simulator"
	// ISPOther is the ISP of a recipient whose domain's MX hosts could
	// not be found: the lookup failed or ran out of time, or the domain
	// accepts no mail (a null MX).
	ISPOther = "Other"
)

// provider is one row of the provider table: an MX host equal to or under
// Domain (and, when Prefix is set, whose name starts with Prefix) belongs
// to the mailbox provider Name.
type provider struct {
	Domain, Prefix, Name string
}

// providers maps the organisational domains of well-known mailbox
// providers' MX hosts to the ISP names SES's Virtual Deliverability
// Manager shows. Rows with a Prefix come before the row of their Domain,
// so the first match wins. Any other MX host maps to its organisational
// domain (the public suffix plus one label: mx1.mail.example.co.uk →
// example.co.uk), so providers that are not listed still get one name per
// provider, not one per MX host.
var providers = []provider{
	{"google.com", "", "Gmail"}, // gmail-smtp-in.l.google.com, aspmx.l.google.com (Google Workspace)
	{"googlemail.com", "", "Gmail"},
	{"outlook.com", "", "Hotmail"}, // *.mail.protection.outlook.com (Microsoft 365), *.olc.protection.outlook.com (outlook.com, hotmail.com, live.com)
	{"hotmail.com", "", "Hotmail"},
	{"yahoodns.net", "mx-aol.", "AOL"}, // mx-aol.mail.gm0.yahoodns.net: AOL's MX, run by Yahoo
	{"yahoodns.net", "", "Yahoo"},      // mta5.am0.yahoodns.net
	{"yahoo.com", "", "Yahoo"},
	{"aol.com", "", "AOL"},
	{"icloud.com", "", "iCloud"}, // mx01.mail.icloud.com (icloud.com, me.com, mac.com)
	{"apple.com", "", "iCloud"},
	{"comcast.net", "", "Comcast"},
	{"prodigy.net", "", "AT&T"}, // att.net, sbcglobal.net, bellsouth.net
	{"cox.net", "", "Cox"},
	{"charter.net", "", "Spectrum"},
	{"verizon.net", "", "Verizon"},
	{"orange.fr", "", "Orange"},
	{"free.fr", "", "Free"},
	{"sfr.fr", "", "SFR"},
	{"gmx.net", "", "GMX"},
	{"web.de", "", "Web.de"},
	{"t-online.de", "", "T-Online"},
	{"libero.it", "", "Libero"},
	{"yandex.net", "", "Yandex"},
	{"yandex.ru", "", "Yandex"},
	{"mail.ru", "", "Mail.ru"},
	{"qq.com", "", "QQ"},
	{"netease.com", "", "NetEase"}, // 163.com, 126.com
	{"zoho.com", "", "Zoho"},
	{"zoho.eu", "", "Zoho"},
	{"protonmail.ch", "", "Proton"},
	{"messagingengine.com", "", "Fastmail"},
}

// ISPForMX returns the mailbox provider of an MX host: the name of the
// provider table's first row that host falls under, else extra's (keys
// are organisational domains, checked like the table's rows and before
// them), else the host's organisational domain. The host is compared
// case-insensitively, with or without its trailing dot. A null MX (".")
// or an empty host is ISPOther.
func ISPForMX(host string, extra map[string]string) string {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if h == "" {
		return ISPOther
	}
	under := func(d string) bool { return h == d || strings.HasSuffix(h, "."+d) }
	// Longest matching extra domain wins.
	best, bestName := "", ""
	for d, name := range extra {
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if d != "" && under(d) && len(d) > len(best) {
			best, bestName = d, name
		}
	}
	if best != "" {
		return bestName
	}
	for _, p := range providers {
		if under(p.Domain) && strings.HasPrefix(h, p.Prefix) {
			return p.Name
		}
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		// h is itself a public suffix (or malformed): name it as it is.
		return h
	}
	return org
}

// Defaults of the ISP resolution's Options.
const (
	DefaultCacheTTL      = 6 * time.Hour
	DefaultFailureTTL    = time.Minute
	DefaultCacheSize     = 10000
	DefaultLookupTimeout = 2 * time.Second
	DefaultPrepareBudget = 3 * time.Second
	DefaultMaxLookups    = 64
	DefaultLookupWorkers = 8
)

// ispCache is a bounded LRU cache of recipient domain → ISP with an
// expiry per entry. Expired entries are still returned by get (stale is
// better than "Other" inside a transaction) but are looked up again by
// Prepare.
type ispCache struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front: most recently used; values *ispEntry
	items map[string]*list.Element
}

type ispEntry struct {
	domain  string
	isp     string
	expires time.Time
}

func newISPCache(size int) *ispCache {
	return &ispCache{size: size, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the domain's ISP and whether it is still fresh at now.
func (c *ispCache) get(domain string, now time.Time) (isp string, fresh, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[domain]
	if !ok {
		return "", false, false
	}
	c.ll.MoveToFront(el)
	e := el.Value.(*ispEntry)
	return e.isp, now.Before(e.expires), true
}

func (c *ispCache) put(domain, isp string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[domain]; ok {
		e := el.Value.(*ispEntry)
		e.isp, e.expires = isp, expires
		c.ll.MoveToFront(el)
		return
	}
	c.items[domain] = c.ll.PushFront(&ispEntry{domain: domain, isp: isp, expires: expires})
	for c.ll.Len() > c.size {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*ispEntry).domain)
	}
}

func (c *ispCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// resolveISP looks up domain's MX hosts and names its ISP. ok is false
// when the lookup failed (no evidence: the caller caches ISPOther only
// briefly). A domain without MX records receives mail at its own address
// (RFC 5321 §5.1's implicit MX), so its ISP is named after the domain.
func (s *Store) resolveISP(ctx context.Context, domain string) (isp string, ok bool) {
	mxs, err := s.resolver.LookupMX(ctx, domain)
	switch {
	case dns.IsNotFound(err):
		return ISPForMX(domain, s.extra), true
	case err != nil:
		var le *dns.LookupError
		if !errors.As(err, &le) && ctx.Err() == nil {
			s.log.Warn("stats: MX lookup failed", "domain", domain, "err", err)
		}
		return ISPOther, false
	case len(mxs) == 0:
		return ISPForMX(domain, s.extra), true
	}
	// LookupMX sorts by preference: the first host is where mail goes.
	return ISPForMX(mxs[0].Host, s.extra), true
}

// Prepare resolves, before the publisher's transaction, the ISPs of the
// recipients' domains of events that the cache does not hold fresh, so
// that AddTx, which runs inside the transaction, never waits for DNS. At
// most Options.MaxLookups domains are looked up per call, several at a
// time, each within Options.LookupTimeout and all within
// Options.PrepareBudget; domains left over (and lookups that fail) count
// as ISPOther, the failures cached for Options.FailureTTL only so they are
// tried again soon. Mailbox-simulator domains are never looked up.
func (s *Store) Prepare(ctx context.Context, events []*event.Event) {
	if s.resolver == nil {
		return
	}
	now := s.now()
	seen := map[string]bool{}
	var todo []string
	for _, e := range events {
		addrs, _, _ := counted(e)
		for _, a := range addrs {
			d := domainOf(a)
			if d == "" || seen[d] || s.sim[d] {
				continue
			}
			seen[d] = true
			if _, fresh, _ := s.cache.get(d, now); fresh {
				continue
			}
			todo = append(todo, d)
		}
	}
	if len(todo) > s.maxLookups {
		s.log.Debug("stats: too many domains to look up in one batch; the rest count as Other", "domains", len(todo), "max", s.maxLookups)
		todo = todo[:s.maxLookups]
	}
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.prepareBudget)
	defer cancel()
	work := make(chan string)
	var wg sync.WaitGroup
	workers := min(s.workers, len(todo))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				lctx, lcancel := context.WithTimeout(ctx, s.lookupTimeout)
				isp, ok := s.resolveISP(lctx, d)
				lcancel()
				ttl := s.cacheTTL
				if !ok {
					ttl = s.failureTTL
				}
				s.cache.put(d, isp, s.now().Add(ttl))
			}
		}()
	}
	for _, d := range todo {
		select {
		case work <- d:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
}

// ispOf returns the ISP of a recipient domain from the cache (stale
// entries included), ISPSimulator for a simulator domain, ISPOther for a
// domain Prepare did not resolve.
func (s *Store) ispOf(domain string) string {
	if s.sim[domain] {
		return ISPSimulator
	}
	if domain == "" {
		return ISPOther
	}
	if isp, _, ok := s.cache.get(domain, s.now()); ok {
		return isp
	}
	return ISPOther
}
