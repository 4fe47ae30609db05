package origin

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/sesame-email/sesame/internal/dmarcrule"
	"github.com/sesame-email/sesame/internal/dns"
)

// Evidence is what the feedback MX knows about where a report came from.
type Evidence struct {
	RemoteIP netip.Addr   // the connecting client's address
	HELO     string       // the EHLO/HELO name it gave
	MailFrom string       // the envelope sender; "" for the null sender <>
	DKIM     []DKIMResult // the report's DKIM signatures, as verified by VerifyDKIM

	// SenderDomains are the domains of the sending side of the original
	// message the report is about: its From domain, its MAIL FROM domain
	// and the d= of its DKIM signatures. Every recipient holds the original,
	// signature and all, and can replay it, so a DKIM signature whose d= is
	// under the organisational domain of one of these proves nothing and is
	// ignored. May be empty (then nothing is ignored on this ground).
	SenderDomains []string

	// HeaderFrom holds the address(es) of the report's own From header
	// field(s) (not the enclosed original's), as parsed and as written
	// (not lower-cased: Check folds ASCII case only, so that Unicode
	// folding cannot make "feedbacK" with a Kelvin sign a role name);
	// empty when the field is absent or unparsable. A DKIM signature
	// counts only when this is exactly one address whose local part is a
	// role name of a mail system (mailer-daemon, postmaster, ...) and whose
	// domain is aligned with the signature's d=.
	HeaderFrom []string
	// Complaint is true for a complaint (an ARF report), false for a
	// bounce (a DSN). A complaint's non-null envelope sender must be a
	// role address for the client rules to count; a bounce's must be null.
	Complaint bool
}

// Verdict says whether a report may change anything for a recipient.
type Verdict struct {
	OK     bool
	How    string // which rule passed, e.g. "spf pass for example.org"
	Reason string // when !OK: why, naming what was checked, for logs and `sesame feedback` output
	// Temporary is set when !OK and a lookup that might have shown the
	// report genuine failed (timeout, SERVFAIL): the feedback MX may answer
	// 4xx so that the reporting MTA retries. Reason then starts with
	// "temporary DNS failure".
	Temporary bool
}

// Defaults for the zero values of Checker's fields.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxLookups = 60
)

// Bounds of one Check.
const (
	maxMXHosts  = 10 // MX hosts whose addresses are looked up
	maxPTRNames = 5  // PTR names confirmed forward
	maxDKIM     = 2 * MaxSignatures
)

// Checker decides whether a report comes from the recipient's side. It is
// safe for concurrent use and keeps no state between calls: every Check
// looks everything up afresh through Resolver, within Timeout and at most
// MaxLookups lookups.
type Checker struct {
	// Resolver is required. If it also implements PTRResolver (as
	// *dns.Client does), the reverse-DNS rule is applied.
	Resolver dns.Resolver
	// Timeout bounds one Check, all its lookups together; 0: DefaultTimeout.
	Timeout time.Duration
	// MaxLookups bounds the lookups of one Check (each Resolver call
	// counts one, SPF's included); 0: DefaultMaxLookups.
	MaxLookups int
	// Own lists Sesame's own domains (the service domain, the default MAIL
	// FROM domain). DKIM signatures, MX hosts, PTR and HELO names under
	// them never count for a recipient: a report relayed by Sesame proves
	// nothing about the recipient's side.
	Own []string
	// Aliases maps a provider domain (the organisational domain of an MX
	// host) to the other domains it signs its reports with; nil: the
	// built-in table (see the package documentation).
	Aliases map[string][]string
}

// Check says whether ev shows the report comes from the side of
// recipientDomain (the domain of the original recipient the report is
// about). The rules, tried in this order, are in the package
// documentation; the first that passes decides.
func (c *Checker) Check(ctx context.Context, ev Evidence, recipientDomain string) Verdict {
	rd, err := normDomain(recipientDomain)
	if err != nil {
		return Verdict{Reason: fmt.Sprintf("recipient domain %q: %v", recipientDomain, err)}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	maxLookups := c.MaxLookups
	if maxLookups <= 0 {
		maxLookups = DefaultMaxLookups
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	s := &check{
		ctx: ctx,
		ev:  ev,
		res: newBudget(c.Resolver, maxLookups),
		rd:  rd,
		org: dmarcrule.OrgDomain(rd),
		ip:  ev.RemoteIP.Unmap(),

		aliases: c.Aliases,
	}
	if s.aliases == nil {
		s.aliases = signerAliases
	}
	for _, d := range c.Own {
		if d, err := normDomain(d); err == nil {
			s.own = append(s.own, d)
		}
	}
	for _, d := range ev.SenderDomains {
		if d, err := normDomain(d); err == nil {
			s.senders = append(s.senders, dmarcrule.OrgDomain(d))
		}
	}
	if s.isOwn(rd) {
		return Verdict{Reason: fmt.Sprintf("recipient domain %s is Sesame's own: no report about it is taken as genuine", rd)}
	}
	return s.run()
}

// check is the state of one Check.
type check struct {
	ctx     context.Context
	ev      Evidence
	res     *budget
	rd, org string     // recipient domain, its organisational domain
	ip      netip.Addr // ev.RemoteIP, IPv4-mapped addresses unmapped
	own     []string   // Checker.Own, normalised
	senders []string   // organisational domains of ev.SenderDomains
	aliases map[string][]string

	mx        []string   // MX hosts of rd (no trailing dot), at most maxMXHosts
	providers []provider // organisational domains of mx

	checked []string // what was checked and did not pass, for Reason
	temp    bool     // a lookup that mattered failed
}

// provider is a mailbox provider domain of the recipient domain.
type provider struct {
	domain string // organisational domain of the MX host
	host   string // the MX host it came from
}

func (s *check) note(format string, args ...any) {
	s.checked = append(s.checked, fmt.Sprintf(format, args...))
}

func (s *check) failed(what string, err error) {
	if isTemporary(err) {
		s.temp = true
	}
	s.note("%s: %v", what, err)
}

func (s *check) isOwn(d string) bool {
	return slices.ContainsFunc(s.own, func(o string) bool { return under(d, o) })
}

func (s *check) run() Verdict {
	// DKIM for the recipient's own domain needs no lookup.
	if v, ok := s.dkim(false); ok {
		return v
	}
	s.lookupMX()
	if v, ok := s.dkim(true); ok {
		return v
	}
	if v, ok := s.client(); ok {
		return v
	}
	reason := fmt.Sprintf("no evidence that the report comes from %s's side: %s", s.rd, strings.Join(s.checked, "; "))
	if s.temp {
		reason = "temporary DNS failure, the report may be retried: " + reason
	}
	return Verdict{Reason: reason, Temporary: s.temp}
}

// named says how a domain that the report's sender names itself — a DKIM
// d=, the domain of the From or envelope sender address, the HELO name —
// belongs to the recipient's side: "" if it does not. The recipient's own
// side is R, its subdomains and its parents up to its organisational
// domain. A provider's is its domain exactly, or one of its aliases
// exactly: names under a provider's domain may be its customers' (a hoster
// handing out subdomains, signing or publishing SPF for them). providers
// says whether the MX-derived rules may be used (the MX lookup has been
// made).
func (s *check) named(d string, providers bool) string {
	return s.side(d, providers, func(d, p string) bool { return d == p })
}

// host says how a host name of the client, found by reverse DNS, belongs
// to the recipient's side: "" if it does not. Providers' outbound hosts
// are named under their domains (Gmail's mail-*.google.com), so any name
// under a provider's domain or alias counts; the name must also be
// forward-confirmed, which is reverse's business.
func (s *check) host(d string) string {
	return s.side(d, true, under)
}

// side is named and host, with match saying whether d counts for a
// provider domain or alias p.
func (s *check) side(d string, providers bool, match func(d, p string) bool) string {
	if s.isOwn(d) {
		return ""
	}
	if under(d, s.rd) || (under(s.rd, d) && under(d, s.org)) {
		return "the recipient's domain"
	}
	if !providers {
		return ""
	}
	for _, p := range s.providers {
		if match(d, p.domain) {
			return fmt.Sprintf("mailbox provider of %s (MX %s)", s.rd, p.host)
		}
	}
	for _, p := range s.providers {
		for _, a := range s.aliases[p.domain] {
			if match(d, a) {
				return fmt.Sprintf("signing domain of %s, mailbox provider of %s (MX %s)", p.domain, s.rd, p.host)
			}
		}
	}
	return ""
}

// dkim applies the DKIM rule: a passing signature whose d= is on the
// recipient's side, over a report From a role address aligned with d=.
// Without providers only the recipient's own domain is considered, and
// nothing is noted.
func (s *check) dkim(providers bool) (Verdict, bool) {
	note := func(format string, args ...any) {
		if providers {
			s.note(format, args...)
		}
	}
	if len(s.ev.DKIM) == 0 {
		note("no DKIM signature")
	}
	for i, r := range s.ev.DKIM {
		if i == maxDKIM {
			note("%d further DKIM signatures not considered", len(s.ev.DKIM)-maxDKIM)
			break
		}
		d, err := normDomain(r.Domain)
		if err != nil {
			note("dkim d=%q: %v", r.Domain, err)
			continue
		}
		if slices.ContainsFunc(s.senders, func(o string) bool { return under(d, o) }) {
			note("dkim d=%s ignored: the original message's sending side (a replayed original verifies for it)", d)
			continue
		}
		how := s.named(d, providers)
		if how == "" {
			note("dkim d=%s: neither the recipient's domain nor exactly its mailbox provider's domain", d)
			continue
		}
		if why := s.fromFor(d, providers); why != "" {
			note("dkim d=%s not considered: %s", d, why)
			continue
		}
		if r.Pass {
			return Verdict{OK: true, How: fmt.Sprintf("dkim d=%s: %s", d, how)}, true
		}
		if providers {
			if r.Temporary {
				s.temp = true
			}
			s.note("dkim d=%s (%s) did not verify: %s", d, how, r.Err)
		}
	}
	return Verdict{}, false
}

// fromFor says why the report's From does not let a signature by d (on the
// recipient's side) count, or "" when it does: it must be one address,
// with a role name as its local part (a system wrote the report, not a
// person: providers sign their users' own mail too), its domain on the
// recipient's side by the same rules as d= and in the same organisational
// domain as d= (aligned).
func (s *check) fromFor(d string, providers bool) string {
	switch n := len(s.ev.HeaderFrom); {
	case n == 0:
		return "the report has no parsable From address"
	case n > 1:
		return fmt.Sprintf("the report's From holds %d addresses, not one", n)
	}
	from := s.ev.HeaderFrom[0]
	fd, role := roleAddress(from)
	local, _ := roleLocal(from)
	switch {
	case !role:
		return fmt.Sprintf("the report's From %s is not a role address of a mail system (a person's report proves nothing, whoever signs it)", from)
	case !s.ev.Complaint && !bounceRoleNames[local]:
		return fmt.Sprintf("the report's From %s is not a bounce's (MAILER-DAEMON or postmaster)", from)
	case !dmarcrule.Aligned(dmarc.AlignmentRelaxed, fd, d):
		return fmt.Sprintf("the report's From domain %s is not aligned with it", fd)
	case s.named(fd, providers) == "":
		return fmt.Sprintf("the report's From domain %s is not on %s's side", fd, s.rd)
	}
	return ""
}

// lookupMX finds the recipient domain's MX hosts (or its implicit MX, the
// domain itself) and their providers.
func (s *check) lookupMX() {
	mxs, err := s.res.LookupMX(s.ctx, s.rd)
	switch {
	case dns.IsNotFound(err):
		s.mx = []string{s.rd} // implicit MX, RFC 5321 §5.1
	case err != nil:
		s.failed("MX of "+s.rd, err)
		return
	case len(mxs) == 1 && mxs[0].Host == ".":
		s.note("%s has a null MX (accepts no mail)", s.rd)
		return
	default:
		for _, m := range mxs {
			h, err := normDomain(m.Host)
			if err != nil || slices.Contains(s.mx, h) {
				continue
			}
			if len(s.mx) == maxMXHosts {
				s.note("MX hosts of %s beyond the first %d not considered", s.rd, maxMXHosts)
				break
			}
			s.mx = append(s.mx, h)
		}
	}
	for _, h := range s.mx {
		// A host under the recipient domain (and the implicit MX) is
		// covered by the recipient's own domain: taking its
		// organisational domain would trust the recipient's siblings.
		p := dmarcrule.OrgDomain(h)
		if s.isOwn(h) || under(h, s.rd) || !strings.Contains(p, ".") {
			continue
		}
		if !slices.ContainsFunc(s.providers, func(q provider) bool { return q.domain == p }) {
			s.providers = append(s.providers, provider{domain: p, host: h})
		}
	}
}

// client applies the rules about the connecting client: MX host, reverse
// DNS, SPF.
func (s *check) client() (Verdict, bool) {
	if !s.ip.IsValid() {
		s.note("no client address")
		return Verdict{}, false
	}
	if s.ev.MailFrom != "" {
		// Only a mail system speaks from the null sender or a role
		// address; a system on the recipient's side relaying a person's
		// mail (a shared provider's user, a forwarder) says nothing about
		// who wrote it.
		d, role := roleAddress(s.ev.MailFrom)
		var why string
		switch {
		case !s.ev.Complaint:
			why = fmt.Sprintf("a bounce's envelope sender must be null, not <%s>", s.ev.MailFrom)
		case !role:
			why = fmt.Sprintf("envelope sender <%s> is not a role address of a mail system", s.ev.MailFrom)
		case s.named(d, true) == "":
			why = fmt.Sprintf("envelope sender <%s> is not on %s's side", s.ev.MailFrom, s.rd)
		}
		if why != "" {
			s.note("%s, so client %s proves nothing", why, s.ip)
			return Verdict{}, false
		}
	}
	for _, rule := range []func() (Verdict, bool){s.mxHost, s.reverse, s.spfRecipient, s.spfHELOAndSender} {
		if v, ok := rule(); ok {
			return v, ok
		}
	}
	return Verdict{}, false
}

// mxHost: the client is an address of one of the recipient domain's MX
// hosts.
func (s *check) mxHost() (Verdict, bool) {
	for _, h := range s.mx {
		ips, err := s.res.LookupIP(s.ctx, h)
		if err != nil && !dns.IsNotFound(err) {
			s.failed("addresses of MX host "+h, err)
			continue
		}
		if slices.Contains(unmap(ips), s.ip) {
			return Verdict{OK: true, How: fmt.Sprintf("client %s is an MX host of %s (%s)", s.ip, s.rd, h)}, true
		}
	}
	if len(s.mx) > 0 {
		s.note("client %s is not an MX host of %s (%s)", s.ip, s.rd, strings.Join(s.mx, ", "))
	}
	return Verdict{}, false
}

// reverse: the client's forward-confirmed reverse DNS name is on the
// recipient's side (under the recipient domain or a provider domain).
func (s *check) reverse() (Verdict, bool) {
	names, err := s.res.LookupAddr(s.ctx, s.ip)
	switch {
	case dns.IsNotFound(err):
		s.note("client %s has no reverse DNS name", s.ip)
		return Verdict{}, false
	case isTemporary(err):
		// Not temporary: whoever holds the client's address holds its
		// reverse zone, and could break it to have a forged report
		// retried rather than refused.
		s.note("reverse DNS of %s failed (%v), taken as no reverse DNS name: the client controls its reverse zone", s.ip, err)
		return Verdict{}, false
	case err != nil:
		s.failed(fmt.Sprintf("reverse DNS of %s", s.ip), err)
		return Verdict{}, false
	}
	for i, n := range names {
		if i == maxPTRNames {
			break
		}
		name, err := normDomain(n)
		if err != nil {
			continue
		}
		how := s.host(name)
		if how == "" {
			s.note("client %s is %s, neither under %s nor under a mailbox provider's domain", s.ip, name, s.rd)
			continue
		}
		ips, err := s.res.LookupIP(s.ctx, name)
		if err != nil && !dns.IsNotFound(err) {
			s.failed("addresses of "+name, err)
			continue
		}
		if slices.Contains(unmap(ips), s.ip) {
			return Verdict{OK: true, How: fmt.Sprintf("client %s is %s (forward-confirmed): %s", s.ip, name, how)}, true
		}
		s.note("client %s claims to be %s but %s does not resolve to it", s.ip, name, name)
	}
	return Verdict{}, false
}

// spfRecipient: the client passes SPF for the recipient domain.
func (s *check) spfRecipient() (Verdict, bool) {
	if s.spf(s.rd, "postmaster@"+s.rd) {
		return Verdict{OK: true, How: "spf pass for " + s.rd}, true
	}
	return Verdict{}, false
}

// spfHELOAndSender: the client passes SPF for its HELO name or the
// envelope sender's domain, when that domain is on the recipient's side.
func (s *check) spfHELOAndSender() (Verdict, bool) {
	if helo, err := normDomain(s.ev.HELO); err == nil && helo != s.rd {
		if how := s.named(helo, true); how == "" {
			s.note("helo %s is not on %s's side", helo, s.rd)
		} else if s.spf(helo, "postmaster@"+helo) {
			return Verdict{OK: true, How: fmt.Sprintf("spf pass for helo %s: %s", helo, how)}, true
		}
	}
	if s.ev.MailFrom == "" {
		return Verdict{}, false
	}
	// client has made sure the sender is a role address on the
	// recipient's side.
	if d, err := domainOf(s.ev.MailFrom); err == nil && d != s.rd {
		if s.spf(d, s.ev.MailFrom) {
			return Verdict{OK: true, How: fmt.Sprintf("spf pass for envelope sender %s: %s", d, s.named(d, true))}, true
		}
	}
	return Verdict{}, false
}

// Documentation addresses (RFC 5737, RFC 3849): no genuine SPF record
// authorises them, so a record that passes them passes everyone.
var (
	probe4 = netip.MustParseAddr("192.0.2.1")
	probe6 = netip.MustParseAddr("2001:db8::1")
)

// spf reports whether the client passes SPF for domain (as the envelope
// sender's domain) with a record that does not also pass a documentation
// address, noting the result otherwise. The second evaluation repeats the
// first's lookups, which the check's memo answers.
func (s *check) spf(domain, sender string) bool {
	res, err := s.spfResult(s.ip, domain, sender)
	switch res {
	case spf.Pass:
	case spf.TempError:
		s.temp = true
		s.note("spf for %s: temperror (%v)", domain, err)
		return false
	case spf.PermError:
		s.note("spf for %s: permerror (%v)", domain, err)
		return false
	default:
		s.note("spf for %s: %s", domain, res)
		return false
	}
	probe := probe4
	if s.ip.Is6() {
		probe = probe6
	}
	res, err = s.spfResult(probe, domain, sender)
	switch {
	case res == spf.Pass:
		s.note("spf for %s: pass, but also for %s (a documentation address): the record authorises everyone and proves nothing", domain, probe)
		return false
	case res == spf.TempError:
		s.temp = true
		s.note("spf for %s: pass, but whether the record also passes everyone is unknown: temperror for %s (%v)", domain, probe, err)
		return false
	case s.res.spent():
		// A permerror for the probe is the record's own (it authorises
		// nobody beyond what it lists), unless the check's budget made it.
		s.note("spf for %s: pass, but whether the record also passes everyone is unknown: %v", domain, errBudget)
		return false
	}
	return true
}

// spfResult evaluates SPF for ip and domain within the check's context and
// budget.
func (s *check) spfResult(ip netip.Addr, domain, sender string) (spf.Result, error) {
	helo := s.ev.HELO
	if helo == "" {
		helo = domain
	}
	return spf.CheckHostWithSender(net.IP(ip.AsSlice()), helo, sender,
		spf.WithContext(s.ctx), spf.WithResolver(spfResolver{s.res}))
}

func unmap(ips []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		out[i] = ip.Unmap()
	}
	return out
}
