// Package dns is the narrow DNS resolver used by Sesame's domain-verification
// checker and by the delivery code.
//
// Its key job is to keep two outcomes apart that the Go standard library
// resolver tends to blur:
//
//   - Evidence of absence. A server answered and said the record is not
//     there: NXDOMAIN (the name does not exist) or NOERROR with no record of
//     the requested type in the answer (NODATA). Lookups report this as
//     [ErrNotFound]; test for it with [IsNotFound]. A checker may act on it,
//     for example by marking a DKIM token as not (or no longer) published.
//
//   - No evidence either way. The lookup failed: SERVFAIL, REFUSED or another
//     error rcode, a timeout, a network error, a malformed or mismatched
//     reply, or a truncated UDP reply whose TCP retry failed. Lookups report
//     this as a [*LookupError]. A checker must not change a domain's state
//     because of it; it should try again later.
//
// Names are always treated as absolute: a trailing dot is added when missing
// and no search domains are ever applied. Records are matched
// case-insensitively and names returned by lookups are lower-case and fully
// qualified (trailing dot).
//
// [Client] is the production implementation of [Resolver]; it sends
// recursion-desired queries with github.com/miekg/dns to a list of
// (recursive) servers, over UDP with fallback to TCP on truncation.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// ErrNotFound reports that the name or the record type does not exist
// (NXDOMAIN or NODATA): evidence of absence.
var ErrNotFound = errors.New("dns: no such record")

// IsNotFound reports whether err is (or wraps) [ErrNotFound], i.e. whether a
// server positively answered that the record does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// LookupError is a failed lookup: no server gave a usable answer, so there is
// no evidence either way about the record.
type LookupError struct {
	Name  string // queried name, lower-case FQDN
	Type  string // query type, e.g. "TXT"
	Rcode string // last error rcode seen, e.g. "SERVFAIL"; "" if none (network errors only)
	Err   error  // underlying error(s), one per failed attempt, joined
}

// Error implements error.
func (e *LookupError) Error() string {
	msg := "dns: lookup " + e.Type + " " + e.Name + " failed"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	} else if e.Rcode != "" {
		msg += ": " + e.Rcode
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *LookupError) Unwrap() error { return e.Err }

// Temporary reports true: a failed lookup may succeed if retried later.
func (e *LookupError) Temporary() bool { return true }

// MX is a mail exchanger record.
type MX struct {
	Host string // lower-case FQDN with trailing dot ("." for a null MX)
	Pref uint16
}

// Resolver is what the checker and the delivery code use. Names may be given
// with or without the trailing dot; they are made absolute (no search domains,
// ever).
//
// Every method returns [ErrNotFound] when a server answered NXDOMAIN or NODATA
// and a [*LookupError] when the lookup failed.
type Resolver interface {
	// LookupTXT returns the TXT records at name, each RR's character
	// strings concatenated into one string, in answer order.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupMX returns the MX records at name sorted by Pref, then Host.
	LookupMX(ctx context.Context, name string) ([]MX, error)
	// LookupCNAME returns the target of the CNAME record at exactly name
	// (lower-case FQDN), or ErrNotFound if name has no CNAME.
	LookupCNAME(ctx context.Context, name string) (string, error)
	// LookupIP returns the A and AAAA addresses of name.
	LookupIP(ctx context.Context, name string) ([]netip.Addr, error)
}

// Fqdn returns name lower-cased with a trailing dot.
func Fqdn(name string) string {
	return strings.ToLower(mdns.Fqdn(name))
}

// Defaults for the zero values of Client's fields.
const (
	DefaultTimeout  = 3 * time.Second
	DefaultAttempts = 2
)

// maxCNAMEChain bounds how many CNAMEs are followed within one answer.
const maxCNAMEChain = 16

// ednsUDPSize is the EDNS0 UDP payload size advertised in queries (the
// DNS Flag Day 2020 recommendation); larger answers come back truncated and
// are retried over TCP.
const ednsUDPSize = 1232

// Client is a Resolver that sends queries with miekg/dns to one or more
// servers (host:port), in order, with a per-query timeout, over UDP with
// fallback to TCP on truncation. It sends recursion-desired queries, so the
// servers are expected to be recursive resolvers (or authoritative for the
// names asked).
//
// For each lookup the servers are tried in order; the whole list is tried up
// to Attempts times. The next server or attempt is used only after a failure
// (error rcode, timeout, network error, failed TCP retry), never after
// NXDOMAIN or NODATA, which are final answers.
//
// A Client's fields must not be changed while lookups are in flight; the
// zero value of Timeout and Attempts select the defaults. A Client with no
// Servers fails every lookup with a *LookupError.
type Client struct {
	Servers  []string      // host:port
	Timeout  time.Duration // per query (one exchange with one server); 0: 3s
	Attempts int           // passes over Servers; 0: 2
}

var _ Resolver = (*Client)(nil)

// SystemServers reads /etc/resolv.conf and returns its name servers as
// host:port; it returns an error if there are none.
func SystemServers() ([]string, error) {
	return serversFromFile("/etc/resolv.conf")
}

func serversFromFile(path string) ([]string, error) {
	conf, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dns: reading %s: %w", path, err)
	}
	port := conf.Port
	if port == "" {
		port = "53"
	}
	servers := make([]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		servers = append(servers, net.JoinHostPort(s, port))
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("dns: no name servers in %s", path)
	}
	return servers, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) attempts() int {
	if c.Attempts > 0 {
		return c.Attempts
	}
	return DefaultAttempts
}

// LookupTXT implements Resolver.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.lookup(ctx, name, mdns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*mdns.TXT).Txt, ""))
	}
	return out, nil
}

// LookupMX implements Resolver.
func (c *Client) LookupMX(ctx context.Context, name string) ([]MX, error) {
	rrs, err := c.lookup(ctx, name, mdns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*mdns.MX)
		out = append(out, MX{Host: Fqdn(mx.Mx), Pref: mx.Preference})
	}
	slices.SortFunc(out, func(a, b MX) int {
		if a.Pref != b.Pref {
			return int(a.Pref) - int(b.Pref)
		}
		return strings.Compare(a.Host, b.Host)
	})
	return out, nil
}

// LookupCNAME implements Resolver. It sends a CNAME query and returns the
// target of the CNAME record owned by exactly name (one hop, not the end of
// a chain).
func (c *Client) LookupCNAME(ctx context.Context, name string) (string, error) {
	rrs, err := c.lookup(ctx, name, mdns.TypeCNAME)
	if err != nil {
		return "", err
	}
	return Fqdn(rrs[0].(*mdns.CNAME).Target), nil
}

// LookupIP implements Resolver. It queries A and AAAA concurrently and
// returns the IPv4 addresses, then the IPv6 addresses, each in answer order.
//
// It returns ErrNotFound only if both types were answered NXDOMAIN or
// NODATA. If one type failed and the other returned no addresses, the
// *LookupError is returned. If one type returned addresses, they are
// returned with a nil error even if the other type failed (as the standard
// library does): the addresses found are evidence the name exists, but then
// the result says nothing about the absence of the other family.
func (c *Client) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	var (
		wg         sync.WaitGroup
		rr4, rr6   []mdns.RR
		err4, err6 error
	)
	wg.Go(func() { rr4, err4 = c.lookup(ctx, name, mdns.TypeA) })
	wg.Go(func() { rr6, err6 = c.lookup(ctx, name, mdns.TypeAAAA) })
	wg.Wait()

	var out []netip.Addr
	for _, rr := range rr4 {
		if a, ok := netip.AddrFromSlice(rr.(*mdns.A).A.To4()); ok {
			out = append(out, a)
		}
	}
	for _, rr := range rr6 {
		if a, ok := netip.AddrFromSlice(rr.(*mdns.AAAA).AAAA.To16()); ok {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	// Prefer reporting a failure over ErrNotFound: absence of one family
	// is no evidence about the name if the other could not be looked up.
	for _, err := range []error{err4, err6} {
		if err != nil && !IsNotFound(err) {
			return nil, err
		}
	}
	return nil, ErrNotFound
}

// LookupAddr returns the names of the PTR records for ip (reverse DNS:
// <reversed octets>.in-addr.arpa or <reversed nibbles>.ip6.arpa), lower-case
// FQDNs in answer order, following CNAMEs as RFC 2317 classless delegation
// uses them. It is not part of [Resolver]: callers that need reverse DNS
// ask for it with a type assertion. The names are what the address's owner
// claims; a caller must confirm them forward (LookupIP of each name contains
// ip) before trusting one.
func (c *Client) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error) {
	if !ip.IsValid() {
		return nil, &LookupError{Type: "PTR", Err: errors.New("invalid IP address")}
	}
	rev, err := mdns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return nil, &LookupError{Type: "PTR", Err: fmt.Errorf("reverse name of %s: %w", ip, err)}
	}
	rrs, err := c.lookup(ctx, rev, mdns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, Fqdn(rr.(*mdns.PTR).Ptr))
	}
	return out, nil
}

// lookup queries the servers for name/qtype and returns the RRs of qtype
// owned by name or, following CNAMEs within the answer section, by the end
// of its chain. For qtype CNAME it returns the CNAME RR owned by name. It
// never returns an empty slice with a nil error.
func (c *Client) lookup(ctx context.Context, name string, qtype uint16) ([]mdns.RR, error) {
	qname := Fqdn(name)
	typ := mdns.TypeToString[qtype]
	if _, ok := mdns.IsDomainName(qname); !ok {
		return nil, &LookupError{Name: qname, Type: typ, Err: fmt.Errorf("invalid domain name %q", name)}
	}

	var (
		errs      []error
		lastRcode string
	)
	fail := func() error {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no servers configured"))
		}
		return &LookupError{Name: qname, Type: typ, Rcode: lastRcode, Err: errors.Join(errs...)}
	}

	for attempt := 0; attempt < c.attempts(); attempt++ {
		for _, server := range c.Servers {
			if err := ctx.Err(); err != nil {
				errs = append(errs, err)
				return nil, fail()
			}
			resp, err := c.exchange(ctx, server, qname, qtype)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", server, err))
				continue
			}
			switch resp.Rcode {
			case mdns.RcodeSuccess:
				rrs := extract(resp.Answer, qname, qtype)
				if len(rrs) == 0 {
					return nil, ErrNotFound // NODATA
				}
				return rrs, nil
			case mdns.RcodeNameError:
				return nil, ErrNotFound // NXDOMAIN
			default:
				lastRcode = rcodeString(resp.Rcode)
				errs = append(errs, fmt.Errorf("%s: answered %s", server, lastRcode))
			}
		}
	}
	return nil, fail()
}

// exchange sends one query to server over UDP, retrying over TCP if the
// reply is truncated. Each exchange (UDP, then TCP) gets its own timeout.
func (c *Client) exchange(ctx context.Context, server, qname string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = true
	m.SetEdns0(ednsUDPSize, false)

	resp, err := c.exchangeNet(ctx, "udp", server, m)
	if err != nil {
		return nil, err
	}
	if resp.Truncated {
		resp, err = c.exchangeNet(ctx, "tcp", server, m)
		if err != nil {
			return nil, fmt.Errorf("truncated UDP reply, TCP retry: %w", err)
		}
		if resp.Truncated {
			return nil, errors.New("truncated reply over TCP")
		}
	}
	return resp, nil
}

func (c *Client) exchangeNet(ctx context.Context, network, server string, m *mdns.Msg) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	mc := &mdns.Client{Net: network, Timeout: c.timeout(), UDPSize: ednsUDPSize}
	resp, _, err := mc.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	if len(resp.Question) > 0 {
		q := resp.Question[0]
		if !strings.EqualFold(q.Name, m.Question[0].Name) || q.Qtype != m.Question[0].Qtype {
			return nil, fmt.Errorf("%s: reply for another question (%s %s)", network, q.Name, mdns.TypeToString[q.Qtype])
		}
	}
	return resp, nil
}

// extract returns the RRs of qtype owned by qname, or by the end of the
// CNAME chain starting at qname, within answer. For qtype CNAME only the
// CNAME owned by qname itself is returned.
func extract(answer []mdns.RR, qname string, qtype uint16) []mdns.RR {
	cur := qname
	for range maxCNAMEChain + 1 {
		var found []mdns.RR
		var next string
		for _, rr := range answer {
			h := rr.Header()
			if h.Class != mdns.ClassINET || !strings.EqualFold(h.Name, cur) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				found = append(found, rr)
			case h.Rrtype == mdns.TypeCNAME && next == "":
				next = rr.(*mdns.CNAME).Target
			}
		}
		if len(found) > 0 {
			return found
		}
		if qtype == mdns.TypeCNAME || next == "" {
			return nil
		}
		cur = next
	}
	return nil
}

func rcodeString(rcode int) string {
	if s, ok := mdns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
