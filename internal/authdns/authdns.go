// Package authdns is Sesame's embedded authoritative DNS server for the
// service domain (package github.com/miekg/dns, over UDP and TCP).
//
// For a service domain Z (e.g. "sesame.example.test.") and a region R
// (e.g. "us-east-1") it serves, with Options.TTL (default 300 s) on every
// record:
//
//	Z                      SOA   <first NS> hostmaster.Z <Serial> 3600 600 604800 <TTL>
//	Z                      NS    Options.NameServers (default ns1.Z)
//	Z                      TXT   "v=spf1 ip4:... ip6:... ~all" (Options.SPFIPs; "v=spf1 ~all" if none)
//	R.Z                    MX    10 feedback-smtp.R.Z.            (the default MAIL FROM domain)
//	R.Z                    TXT   "v=spf1 include:Z ~all"
//	feedback-smtp.R.Z      A/AAAA Options.FeedbackIPs             (the feedback MX host)
//	<ns>.Z                 A/AAAA Options.NameServerIPs           (name servers inside the zone)
//	<token>.dkim.Z         TXT   the DKIM public key record(s) from Options.DKIMRecords
//	<sel>._domainkey.Z     TXT   Options.ServiceDKIMRecord: the key of Sesame's own mail
//
// The DKIM records are looked up on every query with the token lower-cased;
// a text longer than 255 bytes is split into several character strings of
// one TXT record (RFC 6376 section 3.6.2.2; verifiers concatenate them).
// A lookup error wrapping ErrNoSuchKey answers NXDOMAIN, any other error
// SERVFAIL (and is logged). Only tokens made of letters, digits, '-' and '_'
// are looked up; other labels under dkim.Z are NXDOMAIN without a lookup.
// When both a static name (e.g. a name server called x.dkim.Z) and a token
// match, the static name wins.
//
// Behaviour in detail:
//
//   - Names outside Z: REFUSED (without AA). Classes other than IN: REFUSED.
//     Zone transfers (AXFR, IXFR): REFUSED. Opcodes other than QUERY: NOTIMP.
//   - Names inside Z that do not exist: NXDOMAIN with Z's SOA in the
//     authority section (RFC 2308). Existing names without the asked type,
//     including the empty non-terminals dkim.Z and (when only a deeper name
//     is configured) its ancestors: NOERROR/NODATA with the SOA. The SOA's
//     minimum field equals the TTL, so negative answers are cached no longer
//     than positive ones (a DKIM key published right after a failed lookup
//     becomes visible within one TTL).
//   - ANY is answered minimally (RFC 8482): with one RRset of the name, the
//     first present of SOA, NS, MX, TXT, A, AAAA; NODATA if there is none.
//   - Answers are authoritative (AA). The question is echoed as asked and
//     answer records carry the query name as written, so mixed-case
//     ("0x20") queries match; lookups themselves are case-insensitive.
//   - The NS answer carries the addresses of in-zone name servers, and the
//     MX answer those of the feedback host, in the additional section.
//   - EDNS(0): a query with an OPT record gets one back advertising a UDP
//     payload of 1232 bytes with the DO bit copied; an EDNS version other
//     than 0 gets BADVERS. UDP answers are limited to the client's payload
//     size (512 without EDNS, at most 1232) and truncated with the TC bit
//     set when larger, so clients retry over TCP, where up to 65535 bytes
//     are sent.
//   - TCP: at most DefaultMaxTCPConns connections are open at once (more
//     wait for a free one), unless Options.TCPConns bounds them otherwise
//     (Sesame's serve makes a newcomer over the caps close a silent or idle
//     connection rather than wait); a connection has 2 s to send its
//     query, 2 s to take the answer and 8 s of idleness before it is
//     closed. UDP is served whatever TCP holds.
package authdns

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// ErrNoSuchKey is returned (possibly wrapped) by Options.DKIMRecords when no
// key is published under the token; the server answers NXDOMAIN.
var ErrNoSuchKey = errors.New("authdns: no such key")

// ErrInvalidOptions is wrapped by every error New returns for bad Options.
var ErrInvalidOptions = errors.New("authdns: invalid options")

const (
	defaultTTL = 300

	// advertisedUDPSize is the EDNS(0) payload size this server advertises
	// and the largest UDP answer it sends (DNS flag day 2020).
	advertisedUDPSize = 1232
	// udpReadSize is the buffer for incoming UDP queries.
	udpReadSize = 4096

	// dkimLookupTimeout bounds one Options.DKIMRecords call; resolvers give
	// up and retry long before this.
	dkimLookupTimeout = 2 * time.Second
	// shutdownTimeout bounds the wait for in-flight queries on shutdown.
	shutdownTimeout = 5 * time.Second

	// DefaultMaxTCPConns bounds open TCP connections when Options.TCPConns
	// is not set.
	// Resolvers use TCP only after a truncated UDP answer, one query at a
	// time; this leaves room for many while bounding the goroutines and
	// buffers held.
	DefaultMaxTCPConns = 256
	// tcpReadTimeout bounds the wait for a query's bytes and tcpWriteTimeout
	// the writing of an answer (miekg/dns's defaults, stated here);
	// tcpIdleTimeout is how long a TCP connection may wait for its next
	// query (RFC 7766 section 6.2.3 asks for an idle timeout of seconds).
	tcpReadTimeout  = 2 * time.Second
	tcpWriteTimeout = 2 * time.Second
	tcpIdleTimeout  = 8 * time.Second

	// SOA timers.
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 604800
)

// Options configure a Server.
type Options struct {
	// Zone is the service domain, e.g. "sesame.example.test" (with or
	// without trailing dot). Required.
	Zone string
	// Region is the deployment's region, e.g. "us-east-1". Required; must be
	// a valid DNS label.
	Region string
	// NameServers are the host names of the zone's name servers; default
	// ["ns1.<zone>"]. The first one is the SOA's MNAME.
	NameServers []string
	// NameServerIPs are the addresses served for the name servers inside
	// the zone (optional; ignored when no name server is inside the zone).
	NameServerIPs []netip.Addr
	// SPFIPs are published in the zone apex SPF record.
	SPFIPs []netip.Addr
	// FeedbackIPs are the A/AAAA records of feedback-smtp.<region>.<zone>.
	FeedbackIPs []netip.Addr
	// DKIMRecords returns the TXT record texts (e.g. "v=DKIM1; k=rsa; p=...")
	// published at <token>.dkim.<zone>; token is lower-case. It returns an
	// error wrapping ErrNoSuchKey when there is no such key. nil: no key is
	// published (every token is NXDOMAIN).
	DKIMRecords func(ctx context.Context, token string) ([]string, error)
	// ServiceDKIMSelector and ServiceDKIMRecord publish the key Sesame
	// signs its own mail with (d=<zone>) at
	// <ServiceDKIMSelector>._domainkey.<zone>; both or neither.
	ServiceDKIMSelector string
	ServiceDKIMRecord   []string
	// TTL of every record, and the SOA minimum (negative caching TTL).
	// 0: 300.
	TTL uint32
	// Serial is the SOA serial. 0: a stable number derived from the static
	// zone content (same across restarts, changes with the configuration).
	Serial uint32
	// Logger; nil: slog.New(slog.DiscardHandler).
	Logger *slog.Logger
	// TCPConns, if set, wraps the TCP listener to bound its connections;
	// nil: at most DefaultMaxTCPConns, further ones waiting in the
	// kernel's backlog until one closes. The connections it returns are closed by
	// the server when done; a write to one is an answer, after which the
	// connection waits idle for its next query.
	TCPConns func(net.Listener) net.Listener
}

// Names are the well-known names of a service domain and region. They are
// lower-case and written without a trailing dot, as shown to users (the
// DNS server itself works on the fully qualified forms).
type Names struct {
	zone   string // fqdn, lower-case
	region string // lower-case label
}

// NewNames validates zone and region the way New does and returns their
// well-known names, for code that needs the names without running a server.
func NewNames(zone, region string) (Names, error) {
	z, err := normalizeZone(zone)
	if err != nil {
		return Names{}, err
	}
	r, err := normalizeRegion(region)
	if err != nil {
		return Names{}, err
	}
	n := Names{zone: z, region: r}
	if _, ok := dns.IsDomainName(n.fqdnFeedbackHost()); !ok || len(n.fqdnFeedbackHost()) > 254 {
		return Names{}, fmt.Errorf("%w: zone %q and region %q make a name that is too long", ErrInvalidOptions, zone, region)
	}
	return n, nil
}

// Zone returns the service domain, e.g. "sesame.example.test".
func (n Names) Zone() string { return strings.TrimSuffix(n.zone, ".") }

// Region returns the region, e.g. "us-east-1".
func (n Names) Region() string { return n.region }

// FeedbackHost returns the feedback MX host, "feedback-smtp.<region>.<zone>".
func (n Names) FeedbackHost() string { return strings.TrimSuffix(n.fqdnFeedbackHost(), ".") }

// DefaultMailFrom returns the default MAIL FROM domain, "<region>.<zone>".
func (n Names) DefaultMailFrom() string { return strings.TrimSuffix(n.fqdnMailFrom(), ".") }

// DKIMName returns the name of a DKIM key record, "<token>.dkim.<zone>",
// with the token lower-cased: the target of the customer's CNAME
// "<token>._domainkey.<domain>".
func (n Names) DKIMName(token string) string {
	return strings.ToLower(token) + "." + strings.TrimSuffix(n.fqdnDKIMParent(), ".")
}

// SPFInclude returns the TXT text published at the default MAIL FROM domain
// and asked of customers for custom MAIL FROM domains:
// "v=spf1 include:<zone> ~all".
func (n Names) SPFInclude() string { return "v=spf1 include:" + n.Zone() + " ~all" }

func (n Names) fqdnFeedbackHost() string { return "feedback-smtp." + n.region + "." + n.zone }
func (n Names) fqdnMailFrom() string     { return n.region + "." + n.zone }
func (n Names) fqdnDKIMParent() string   { return "dkim." + n.zone }

// Server is the authoritative DNS server. It is safe for concurrent use; one
// Server may serve any number of connections.
type Server struct {
	names   Names
	ttl     uint32
	soa     *dns.SOA
	nodes   map[string]*node // every existing static name, incl. empty non-terminals
	nsGlue  []dns.RR         // A/AAAA of in-zone name servers (additional section of NS)
	mxGlue  []dns.RR         // A/AAAA of the feedback host (additional section of MX)
	dkim    func(ctx context.Context, token string) ([]string, error)
	log     *slog.Logger
	dkimDot string                          // ".dkim.<zone>", lower-case fqdn
	limit   func(net.Listener) net.Listener // the TCP listener's bound
}

// node is one name of the static part of the zone.
type node struct {
	rrsets map[uint16][]dns.RR // empty for empty non-terminals
}

// New validates opts and builds the zone.
func New(opts Options) (*Server, error) {
	names, err := NewNames(opts.Zone, opts.Region)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	zone := names.zone

	nsNames, err := normalizeNameServers(opts.NameServers, zone)
	if err != nil {
		return nil, err
	}
	nsIPs, err := normalizeAddrs("NameServerIPs", opts.NameServerIPs)
	if err != nil {
		return nil, err
	}
	spfIPs, err := normalizeAddrs("SPFIPs", opts.SPFIPs)
	if err != nil {
		return nil, err
	}
	fbIPs, err := normalizeAddrs("FeedbackIPs", opts.FeedbackIPs)
	if err != nil {
		return nil, err
	}

	s := &Server{
		names:   names,
		ttl:     ttl,
		nodes:   make(map[string]*node),
		dkim:    opts.DKIMRecords,
		log:     log,
		dkimDot: "." + names.fqdnDKIMParent(),
	}
	s.limit = opts.TCPConns
	if s.limit == nil {
		s.limit = func(ln net.Listener) net.Listener { return netutil.LimitListener(ln, DefaultMaxTCPConns) }
	}

	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	addrRRs := func(name string, ips []netip.Addr) []dns.RR {
		var rrs []dns.RR
		for _, ip := range ips {
			if ip.Is4() {
				rrs = append(rrs, &dns.A{Hdr: hdr(name, dns.TypeA), A: net.IP(ip.AsSlice())})
			} else {
				rrs = append(rrs, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: net.IP(ip.AsSlice())})
			}
		}
		return rrs
	}

	// Apex: NS and SPF (SOA last, its serial hashes everything else).
	for _, ns := range nsNames {
		s.add(zone, &dns.NS{Hdr: hdr(zone, dns.TypeNS), Ns: ns})
	}
	s.add(zone, &dns.TXT{Hdr: hdr(zone, dns.TypeTXT), Txt: splitTXT(spfRecord(spfIPs))})

	// Default MAIL FROM domain and feedback host.
	mailFrom, fbHost := names.fqdnMailFrom(), names.fqdnFeedbackHost()
	s.add(mailFrom, &dns.MX{Hdr: hdr(mailFrom, dns.TypeMX), Preference: 10, Mx: fbHost})
	s.add(mailFrom, &dns.TXT{Hdr: hdr(mailFrom, dns.TypeTXT), Txt: splitTXT(names.SPFInclude())})
	s.addNode(fbHost)
	s.add(fbHost, addrRRs(fbHost, fbIPs)...)

	// The DKIM parent is an empty non-terminal even before any key exists.
	s.addNode(names.fqdnDKIMParent())

	// The key of Sesame's own mail.
	if opts.ServiceDKIMSelector != "" && len(opts.ServiceDKIMRecord) > 0 {
		name := strings.ToLower(opts.ServiceDKIMSelector) + "._domainkey." + zone
		s.add(name, &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: opts.ServiceDKIMRecord})
	}

	// Name servers inside the zone.
	inZone := 0
	for _, ns := range nsNames {
		if !dns.IsSubDomain(zone, ns) {
			continue
		}
		inZone++
		s.addNode(ns)
		s.add(ns, addrRRs(ns, nsIPs)...)
		if len(nsIPs) == 0 {
			log.Warn("authdns: name server inside the zone has no address (set NameServerIPs)", "name_server", ns)
		}
	}
	if inZone == 0 && len(nsIPs) > 0 {
		log.Warn("authdns: NameServerIPs ignored: no name server is inside the zone", "zone", zone)
	}

	// Glue for additional sections, taken from the final node contents
	// (a name may carry addresses from several options).
	for _, ns := range nsNames {
		if n := s.nodes[ns]; n != nil {
			s.nsGlue = append(s.nsGlue, n.rrsets[dns.TypeA]...)
			s.nsGlue = append(s.nsGlue, n.rrsets[dns.TypeAAAA]...)
		}
	}
	if n := s.nodes[fbHost]; n != nil {
		s.mxGlue = append(s.mxGlue, n.rrsets[dns.TypeA]...)
		s.mxGlue = append(s.mxGlue, n.rrsets[dns.TypeAAAA]...)
	}

	s.soa = &dns.SOA{
		Hdr:     hdr(zone, dns.TypeSOA),
		Ns:      nsNames[0],
		Mbox:    "hostmaster." + zone,
		Serial:  opts.Serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  ttl,
	}
	if s.soa.Serial == 0 {
		s.soa.Serial = s.serial()
	}
	s.add(zone, s.soa)
	return s, nil
}

// add puts rrs at name (creating the name and its ancestors up to the zone),
// dropping duplicates.
func (s *Server) add(name string, rrs ...dns.RR) {
	n := s.addNode(name)
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if slices.ContainsFunc(n.rrsets[t], func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
			continue
		}
		n.rrsets[t] = append(n.rrsets[t], rr)
	}
}

// addNode makes name and all its ancestors up to the zone exist.
func (s *Server) addNode(name string) *node {
	n := s.nodes[name]
	if n == nil {
		n = &node{rrsets: make(map[uint16][]dns.RR)}
		s.nodes[name] = n
	}
	for p := name; p != s.names.zone; {
		i, end := dns.NextLabel(p, 0)
		if end {
			break
		}
		p = p[i:]
		if s.nodes[p] == nil {
			s.nodes[p] = &node{rrsets: make(map[uint16][]dns.RR)}
		}
	}
	return n
}

// serial is a stable SOA serial: a hash of the static zone content, so it
// stays the same across restarts and changes when the configuration does.
func (s *Server) serial() uint32 {
	var lines []string
	for _, n := range s.nodes {
		for _, rrs := range n.rrsets {
			for _, rr := range rrs {
				lines = append(lines, rr.String())
			}
		}
	}
	slices.Sort(lines)
	h := fnv.New32a()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}

// Names returns the well-known names served.
func (s *Server) Names() Names { return s.names }

// Zone returns the service domain, e.g. "sesame.example.test".
func (s *Server) Zone() string { return s.names.Zone() }

// FeedbackHost returns "feedback-smtp.<region>.<zone>".
func (s *Server) FeedbackHost() string { return s.names.FeedbackHost() }

// DefaultMailFrom returns "<region>.<zone>".
func (s *Server) DefaultMailFrom() string { return s.names.DefaultMailFrom() }

// DKIMName returns "<token>.dkim.<zone>" with the token lower-cased.
func (s *Server) DKIMName(token string) string { return s.names.DKIMName(token) }

// ServeDNS answers one query; it implements dns.Handler. DKIM lookups run
// with a background context (bounded by a timeout); Serve and
// ListenAndServe use their own context instead.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.handle(context.Background(), w, r)
}

// Serve answers on both pc (UDP) and ln (TCP) until ctx ends, then shuts
// down (waiting a few seconds for queries in flight) and returns nil. One of
// pc and ln may be nil. Serve closes pc and ln before it returns. If a
// transport fails, Serve stops the other and returns the error.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	return s.serve(ctx, pc, ln, nil)
}

// ListenAndServe listens on addr ("host:port") for UDP and TCP on the same
// port and serves until ctx ends, then returns nil. If addr's port is 0 it
// picks one port that is free for both. started, if not nil, is called with
// the bound address ("host:port") once both transports are answering.
func (s *Server) ListenAndServe(ctx context.Context, addr string, started func(addr string)) error {
	pc, ln, err := ListenBoth(ctx, addr)
	if err != nil {
		return err
	}
	bound := ln.Addr().String()
	s.log.Info("authdns: listening", "addr", bound, "zone", s.names.zone)
	var notify func()
	if started != nil {
		notify = func() { started(bound) }
	}
	return s.serve(ctx, pc, ln, notify)
}

// ListenBoth opens a UDP and a TCP socket on the same address; with port 0
// it picks one port free for both (retrying when the kernel's pick for TCP
// is taken for UDP). sesame dev's DNS listens with it too.
func ListenBoth(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("authdns: listen address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	if port != "0" && port != "" {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("authdns: listen tcp %s: %w", addr, err)
		}
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("authdns: listen udp %s: %w", addr, err)
		}
		return pc, ln, nil
	}
	// Port 0: let the kernel pick a TCP port, then take the same UDP port;
	// retry when that one is taken for UDP.
	var lastErr error
	for range 32 {
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("authdns: listen tcp %s: %w", addr, err)
		}
		_, p, err := net.SplitHostPort(ln.Addr().String())
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("authdns: bound address %q: %w", ln.Addr(), err)
		}
		pc, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, p))
		if err == nil {
			return pc, ln, nil
		}
		ln.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("authdns: no port free for both udp and tcp on %s: %w", addr, lastErr)
}

// transport is one running dns.Server.
type transport struct {
	name    string
	srv     *dns.Server
	started chan struct{}
	done    chan struct{}
	err     error // valid after done is closed
}

func (s *Server) serve(ctx context.Context, pc net.PacketConn, ln net.Listener, started func()) error {
	if pc == nil && ln == nil {
		return errors.New("authdns: Serve needs a packet conn or a listener")
	}
	defer func() {
		// The dns.Servers close them too; closing twice is harmless.
		if pc != nil {
			pc.Close()
		}
		if ln != nil {
			ln.Close()
		}
	}()

	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { s.handle(ctx, w, r) })
	var ts []*transport
	if pc != nil {
		ts = append(ts, &transport{name: "udp", srv: &dns.Server{PacketConn: pc, Handler: handler, UDPSize: udpReadSize}})
	}
	if ln != nil {
		ts = append(ts, &transport{name: "tcp", srv: &dns.Server{Listener: s.limit(ln), Handler: handler,
			ReadTimeout: tcpReadTimeout, WriteTimeout: tcpWriteTimeout, IdleTimeout: func() time.Duration { return tcpIdleTimeout }}})
	}
	exited := make(chan *transport, len(ts))
	for _, t := range ts {
		t.started = make(chan struct{})
		t.done = make(chan struct{})
		var once sync.Once
		t.srv.NotifyStartedFunc = func() { once.Do(func() { close(t.started) }) }
		go func() {
			defer func() { exited <- t }()
			defer close(t.done)
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("authdns: panic in server goroutine", "transport", t.name, "panic", v, "stack", string(debug.Stack()))
					t.err = fmt.Errorf("authdns: %s server panicked: %v", t.name, v)
				}
			}()
			t.err = t.srv.ActivateAndServe()
		}()
	}

	// Wait until every transport answers (or has failed).
	allUp := true
	for _, t := range ts {
		select {
		case <-t.started:
		case <-t.done:
			allUp = false
		}
	}
	if allUp && started != nil && ctx.Err() == nil {
		started()
	}

	var failed *transport
	select {
	case <-ctx.Done():
	case failed = <-exited:
	}

	for _, t := range ts {
		select {
		case <-t.done:
			continue
		default:
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := t.srv.ShutdownContext(sctx); err != nil {
			s.log.Warn("authdns: shutdown", "transport", t.name, "err", err)
		}
		cancel()
	}
	for _, t := range ts {
		<-t.done
	}

	if failed != nil && ctx.Err() == nil {
		if failed.err == nil {
			return fmt.Errorf("authdns: %s server stopped unexpectedly", failed.name)
		}
		return fmt.Errorf("authdns: %s server: %w", failed.name, failed.err)
	}
	s.log.Info("authdns: stopped", "zone", s.names.zone)
	return nil
}

// handle answers one query. ctx bounds DKIM lookups.
func (s *Server) handle(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) {
	written := false
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("authdns: panic answering query", "panic", v, "stack", string(debug.Stack()))
			if !written {
				m := new(dns.Msg)
				m.SetRcode(r, dns.RcodeServerFailure)
				_ = w.WriteMsg(m)
			}
		}
	}()

	m := s.answer(ctx, w, r)
	written = true
	if len(r.Question) > 0 && s.log.Enabled(ctx, slog.LevelDebug) {
		q := r.Question[0]
		s.log.Debug("authdns: query", "name", q.Name, "type", dns.TypeToString[q.Qtype],
			"rcode", dns.RcodeToString[m.Rcode], "answers", len(m.Answer), "truncated", m.Truncated, "remote", w.RemoteAddr())
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("authdns: writing answer", "remote", w.RemoteAddr(), "err", err)
	}
}

// answer builds the complete, size-limited response to r.
func (s *Server) answer(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = false

	stream := isStream(w)
	maxSize := dns.MaxMsgSize
	reqOpt := r.IsEdns0()
	if !stream {
		maxSize = dns.MinMsgSize
		if reqOpt != nil {
			maxSize = min(max(int(reqOpt.UDPSize()), dns.MinMsgSize), advertisedUDPSize)
		}
	}
	finish := func() *dns.Msg {
		if reqOpt != nil {
			m.SetEdns0(advertisedUDPSize, reqOpt.Do())
		}
		m.Truncate(maxSize)
		return m
	}

	switch {
	case r.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return finish()
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return finish()
	case reqOpt != nil && reqOpt.Version() != 0:
		m.Rcode = dns.RcodeBadVers
		return finish()
	}

	q := r.Question[0]
	qname := strings.ToLower(dns.Fqdn(q.Name))
	if q.Qclass != dns.ClassINET || !dns.IsSubDomain(s.names.zone, qname) {
		m.Rcode = dns.RcodeRefused
		return finish()
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		m.Rcode = dns.RcodeRefused
		return finish()
	}

	m.Authoritative = true
	rcode, rrsets := s.lookup(ctx, qname)
	switch rcode {
	case dns.RcodeServerFailure:
		m.Authoritative = false
		m.Rcode = rcode
		return finish()
	case dns.RcodeNameError:
		m.Rcode = rcode
		m.Ns = []dns.RR{s.soa}
		return finish()
	}

	var ans []dns.RR
	if q.Qtype == dns.TypeANY {
		for _, t := range []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeTXT, dns.TypeA, dns.TypeAAAA} {
			if len(rrsets[t]) > 0 {
				ans = rrsets[t]
				break
			}
		}
	} else {
		ans = rrsets[q.Qtype]
	}
	if len(ans) == 0 {
		m.Ns = []dns.RR{s.soa}
		return finish()
	}
	for _, rr := range ans {
		c := dns.Copy(rr)
		c.Header().Name = q.Name // as asked, so 0x20 case survives
		m.Answer = append(m.Answer, c)
	}
	if q.Qtype == dns.TypeNS && qname == s.names.zone {
		m.Extra = append(m.Extra, s.nsGlue...)
	}
	if q.Qtype == dns.TypeMX && qname == s.names.fqdnMailFrom() {
		m.Extra = append(m.Extra, s.mxGlue...)
	}
	return finish()
}

// lookup finds the RRsets of qname (lower-case fqdn inside the zone). It
// returns RcodeSuccess with the name's RRsets (possibly none), RcodeNameError
// or RcodeServerFailure.
func (s *Server) lookup(ctx context.Context, qname string) (int, map[uint16][]dns.RR) {
	if n := s.nodes[qname]; n != nil {
		return dns.RcodeSuccess, n.rrsets
	}
	token, ok := strings.CutSuffix(qname, s.dkimDot)
	if !ok || !validToken(token) {
		return dns.RcodeNameError, nil
	}
	if s.dkim == nil {
		return dns.RcodeNameError, nil
	}
	lctx, cancel := context.WithTimeout(ctx, dkimLookupTimeout)
	defer cancel()
	texts, err := s.dkim(lctx, token)
	switch {
	case errors.Is(err, ErrNoSuchKey):
		return dns.RcodeNameError, nil
	case err != nil:
		s.log.Error("authdns: DKIM record lookup failed", "token", token, "err", err)
		return dns.RcodeServerFailure, nil
	case len(texts) == 0:
		return dns.RcodeNameError, nil
	}
	rrs := make([]dns.RR, 0, len(texts))
	for _, text := range texts {
		rrs = append(rrs, &dns.TXT{
			Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: s.ttl},
			Txt: splitTXT(text),
		})
	}
	return dns.RcodeSuccess, map[uint16][]dns.RR{dns.TypeTXT: rrs}
}

// isStream tells whether w is a stream (TCP) connection.
func isStream(w dns.ResponseWriter) bool {
	if a := w.LocalAddr(); a != nil {
		return strings.HasPrefix(a.Network(), "tcp")
	}
	return false
}

// validToken accepts one label of letters, digits, '-' and '_' (already
// lower-cased), which covers Sesame's tokens and BYODKIM-style selectors.
func validToken(t string) bool {
	if t == "" || len(t) > 63 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// splitTXT splits text into character strings of at most 255 bytes, escaped
// for miekg/dns (which interprets backslash escapes when packing TXT).
func splitTXT(text string) []string {
	if text == "" {
		return []string{""}
	}
	var out []string
	for len(text) > 0 {
		n := min(len(text), 255)
		out = append(out, escapeTXT(text[:n]))
		text = text[n:]
	}
	return out
}

// escapeTXT writes the raw bytes of s in miekg/dns's presentation form.
func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('\\')
			d := strconv.Itoa(int(c))
			b.WriteString(strings.Repeat("0", 3-len(d)) + d)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// spfRecord builds the apex SPF record.
func spfRecord(ips []netip.Addr) string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, ip := range ips {
		if ip.Is4() {
			b.WriteString(" ip4:")
		} else {
			b.WriteString(" ip6:")
		}
		b.WriteString(ip.String())
	}
	b.WriteString(" ~all")
	return b.String()
}

// normalizeZone returns zone as a lower-case fqdn, or an error.
func normalizeZone(zone string) (string, error) {
	z := strings.ToLower(strings.TrimSpace(zone))
	if z == "" {
		return "", fmt.Errorf("%w: Zone is required", ErrInvalidOptions)
	}
	z = dns.Fqdn(z)
	if err := checkHostName(z); err != nil {
		return "", fmt.Errorf("%w: Zone %q: %w", ErrInvalidOptions, zone, err)
	}
	return z, nil
}

// normalizeRegion returns region lower-cased, or an error unless it is a
// valid DNS label (letters, digits, hyphens; 1-63; no hyphen at the ends).
func normalizeRegion(region string) (string, error) {
	r := strings.ToLower(region)
	if r == "" {
		return "", fmt.Errorf("%w: Region is required", ErrInvalidOptions)
	}
	if err := checkLabel(r); err != nil {
		return "", fmt.Errorf("%w: Region %q: %w", ErrInvalidOptions, region, err)
	}
	return r, nil
}

// checkHostName accepts a lower-case fqdn of valid labels, not the root.
func checkHostName(name string) error {
	if name == "." {
		return errors.New("the root is not allowed")
	}
	if len(name) > 254 {
		return errors.New("longer than 253 characters")
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("label %q: %w", l, err)
		}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return errors.New("not a valid domain name")
	}
	return nil
}

// checkLabel accepts a lower-case host name label; '_' is allowed too
// (it appears in service names).
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return errors.New("label longer than 63 characters")
	case l[0] == '-' || l[len(l)-1] == '-':
		return errors.New("label starts or ends with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// normalizeNameServers returns the name servers as unique lower-case fqdns,
// defaulting to ns1.<zone>.
func normalizeNameServers(in []string, zone string) ([]string, error) {
	if len(in) == 0 {
		return []string{"ns1." + zone}, nil
	}
	var out []string
	for _, ns := range in {
		n := dns.Fqdn(strings.ToLower(strings.TrimSpace(ns)))
		if err := checkHostName(n); err != nil {
			return nil, fmt.Errorf("%w: NameServers %q: %w", ErrInvalidOptions, ns, err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// normalizeAddrs unmaps IPv4-mapped addresses, drops zones and duplicates,
// and rejects invalid (zero) addresses.
func normalizeAddrs(field string, in []netip.Addr) ([]netip.Addr, error) {
	var out []netip.Addr
	for i, ip := range in {
		if !ip.IsValid() {
			return nil, fmt.Errorf("%w: %s[%d] is not a valid IP address", ErrInvalidOptions, field, i)
		}
		ip = ip.Unmap().WithZone("")
		if !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	return out, nil
}
