// Package devdns is the DNS server of `sesame dev`: the one resolver that
// Sesame's own checker, its delivery worker and the capture MX use, so that
// identities verify and mail is delivered through the real code paths
// without any public DNS.
//
// It answers, on UDP and TCP, as a recursive resolver would (recursion
// available, CNAME chains followed within its own data):
//
//   - names in the service zone (Options.Zone): whatever Options.Service
//     (Sesame's authoritative server, package authdns) answers;
//   - the records of Options.Records, computed on every query: the records
//     Sesame tells the customer to publish for the identities that exist
//     (Easy DKIM CNAMEs into the service zone, the custom MAIL FROM MX and
//     SPF TXT, the _dmarc TXT); a CNAME is followed, into the service zone
//     too, so a TXT query for a DKIM selector gets the CNAME and the key;
//   - Options.CaptureHost: A (and AAAA) records with Options.CaptureIPs;
//   - MX for every other name: `10 <CaptureHost>`, so every recipient
//     domain's mail goes to the capture MX; a name with an MX of its own in
//     Options.Records (a MAIL FROM domain) keeps it;
//   - anything else: NOERROR with no answer (NODATA).
//
// Nothing is invented for names that have no identity: no DKIM key, no SPF
// and no DMARC record exist until the identity does.
package devdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/authdns"
)

// Record is a published record: Name without the trailing dot, Type one of
// CNAME, TXT, MX; Value as identity.DNSRecord has it (the MX host, the
// CNAME target, the unquoted TXT text).
type Record struct {
	Name     string
	Type     string
	Value    string
	Priority int
}

// Options configure a Server.
type Options struct {
	// Zone is the service domain, answered by Service.
	Zone string
	// Service answers the queries for names in Zone (required).
	Service dns.Handler
	// Records returns the customer records to publish; it is called on
	// every query that is not for Zone (required).
	Records func(ctx context.Context) ([]Record, error)
	// CaptureHost is the MX host of every recipient domain (required).
	CaptureHost string
	// CaptureIPs are CaptureHost's addresses (required).
	CaptureIPs []netip.Addr
	// TTL of the answers; 0 means 5 seconds (records change as identities do).
	TTL uint32
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server answers DNS queries as the package doc says.
type Server struct {
	opts Options
	zone string // lower-case FQDN
	mx   string // lower-case FQDN of CaptureHost
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Service == nil || opts.Records == nil || opts.Zone == "" || opts.CaptureHost == "" || len(opts.CaptureIPs) == 0 {
		return nil, errors.New("devdns: Zone, Service, Records, CaptureHost and CaptureIPs are required")
	}
	if opts.TTL == 0 {
		opts.TTL = 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, zone: fqdn(opts.Zone), mx: fqdn(opts.CaptureHost)}, nil
}

func fqdn(s string) string { return dns.Fqdn(strings.ToLower(s)) }

// inZone reports whether name (lower-case FQDN) is the service zone or
// under it.
func (s *Server) inZone(name string) bool {
	return name == s.zone || strings.HasSuffix(name, "."+s.zone)
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := s.answer(context.Background(), r)
	if m == nil {
		return
	}
	if !isStream(w) {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(max(opt.UDPSize(), dns.MinMsgSize))
		}
		m.Truncate(size)
	}
	if err := w.WriteMsg(m); err != nil {
		s.opts.Logger.Debug("dns answer not sent", "err", err)
	}
}

func isStream(w dns.ResponseWriter) bool {
	a := w.LocalAddr()
	return a != nil && strings.HasPrefix(a.Network(), "tcp")
}

func (s *Server) answer(ctx context.Context, r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m.SetRcode(r, dns.RcodeFormatError)
		return m
	}
	q := r.Question[0]
	name := fqdn(q.Name)
	if s.inZone(name) {
		return s.service(r)
	}
	m.SetReply(r)
	m.RecursionAvailable = true
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(1232, opt.Do())
	}
	if q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		return m
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	recs, err := s.opts.Records(ctx)
	if err != nil {
		s.opts.Logger.Error("dev dns: records", "err", err)
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	rcode, answer := s.resolve(r, recs, name, q.Qtype, 0)
	m.Rcode = rcode
	m.Answer = answer
	return m
}

// resolve answers (name, qtype) from the published records, following a
// CNAME, into the service zone too.
func (s *Server) resolve(r *dns.Msg, recs []Record, name string, qtype uint16, depth int) (int, []dns.RR) {
	if depth > 8 {
		return dns.RcodeServerFailure, nil
	}
	if s.inZone(name) {
		q := r.Copy()
		q.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
		a := s.service(q)
		if a == nil {
			return dns.RcodeServerFailure, nil
		}
		return a.Rcode, a.Answer
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.opts.TTL}
	}
	if name == s.mx {
		var out []dns.RR
		for _, ip := range s.opts.CaptureIPs {
			switch {
			case ip.Is4() && qtype == dns.TypeA:
				out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(ip.AsSlice())})
			case ip.Is6() && qtype == dns.TypeAAAA:
				out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IP(ip.AsSlice())})
			}
		}
		return dns.RcodeSuccess, out
	}
	var out []dns.RR
	hasMX := false
	for _, rec := range recs {
		if fqdn(rec.Name) != name {
			continue
		}
		switch rec.Type {
		case "CNAME":
			c := &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: fqdn(rec.Value)}
			if qtype == dns.TypeCNAME {
				return dns.RcodeSuccess, []dns.RR{c}
			}
			rcode, more := s.resolve(r, recs, c.Target, qtype, depth+1)
			return rcode, append([]dns.RR{c}, more...)
		case "MX":
			hasMX = true
			if qtype == dns.TypeMX {
				out = append(out, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(rec.Priority), Mx: fqdn(rec.Value)})
			}
		case "TXT":
			if qtype == dns.TypeTXT {
				out = append(out, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: splitTXT(rec.Value)})
			}
		}
	}
	if qtype == dns.TypeMX && !hasMX {
		out = append(out, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: 10, Mx: s.mx})
	}
	return dns.RcodeSuccess, out
}

// service asks Options.Service for the answer to q.
func (s *Server) service(q *dns.Msg) *dns.Msg {
	w := &recorder{}
	s.opts.Service.ServeDNS(w, q)
	if w.msg == nil {
		return nil
	}
	w.msg.RecursionAvailable = true
	return w.msg
}

// splitTXT splits a TXT value into character strings of at most 255 bytes
// (RFC 6376 section 3.6.2.2: verifiers concatenate them).
func splitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}

// recorder is the ResponseWriter of an in-process query to
// Options.Service. It says it is a TCP connection, so the answer is never
// truncated; ServeDNS truncates what it sends.
type recorder struct{ msg *dns.Msg }

var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

func (w *recorder) LocalAddr() net.Addr         { return loopback }
func (w *recorder) RemoteAddr() net.Addr        { return loopback }
func (w *recorder) WriteMsg(m *dns.Msg) error   { w.msg = m; return nil }
func (w *recorder) Write(b []byte) (int, error) { return 0, errors.New("devdns: raw write") }
func (w *recorder) Close() error                { return nil }
func (w *recorder) TsigStatus() error           { return nil }
func (w *recorder) TsigTimersOnly(bool)         {}
func (w *recorder) Hijack()                     {}

// ListenAndServe serves on addr (UDP and TCP, the same port) until ctx
// ends; started, if not nil, is told the bound address.
func (s *Server) ListenAndServe(ctx context.Context, addr string, started func(addr string)) error {
	pc, ln, err := authdns.ListenBoth(ctx, addr)
	if err != nil {
		return fmt.Errorf("dev dns: %w", err)
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: s},
		{Listener: ln, Handler: s, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second},
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		up := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(up) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ActivateAndServe(); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
		select {
		case <-up:
		case err := <-errs:
			for _, s := range servers {
				s.Shutdown()
			}
			return fmt.Errorf("dev dns: %w", err)
		}
	}
	if started != nil {
		started(pc.LocalAddr().String())
	}
	var err2 error
	select {
	case <-ctx.Done():
	case err2 = <-errs:
	}
	for _, srv := range servers {
		srv.Shutdown()
	}
	wg.Wait()
	if err2 != nil {
		return fmt.Errorf("dev dns: %w", err2)
	}
	return nil
}
