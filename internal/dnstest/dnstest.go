// Package dnstest is a test kit for code that looks up customers' DNS
// records: a real DNS server, listening on loopback over UDP and TCP, that
// answers authoritatively from a zone held in memory which tests may change
// while it runs. It can also be told to fail (answer with an error rcode) or
// to drop queries for chosen names, so callers can exercise the difference
// between evidence of absence and a failed lookup.
//
// It is meant to be imported from tests only.
package dnstest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	sesdns "github.com/sesame-email/sesame/internal/dns"
)

// maxCNAMEChain bounds how many CNAMEs the server follows within its data.
const maxCNAMEChain = 16

// serverUDPSize is the EDNS0 UDP payload size the server advertises.
const serverUDPSize = 1232

// Server is an in-process DNS server on 127.0.0.1 (UDP and TCP on the same
// port) answering from a mutable zone held in memory. Safe for concurrent
// use; records can be added and removed while it runs.
//
// It answers every query authoritatively (AA set) for any name:
//
//   - NXDOMAIN when no RR at all exists at the name;
//   - NOERROR with an empty answer (NODATA) when the name has RRs of other
//     types only;
//   - if the name has a CNAME and the query type is neither CNAME nor ANY,
//     the CNAME, followed (if the target has RRs in this server's data) by
//     the target's records, chains included, as an authoritative server
//     does within its zone. A target with no data ends the answer with
//     NOERROR, as for a target outside the zone.
//
// Over UDP, answers larger than the client's advertised size (512 bytes, or
// the EDNS0 size) are truncated with TC set; over TCP they are sent whole.
// Names are case-insensitive. Empty non-terminals are not modelled: a name
// with no RRs of its own is NXDOMAIN even if names below it have RRs.
type Server struct {
	t    testing.TB
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	queries atomic.Int64

	mu    sync.RWMutex
	zone  map[string][]dns.RR // lower-case FQDN -> all RRs at that name
	fail  map[string]int      // lower-case FQDN -> rcode
	drops map[string]bool     // lower-case FQDN -> drop queries
}

// NewServer starts a Server on a free loopback port. t.Cleanup shuts it
// down.
func NewServer(t testing.TB) *Server {
	t.Helper()
	pc, l, err := listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s := &Server{
		t:     t,
		addr:  pc.LocalAddr().String(),
		zone:  make(map[string][]dns.RR),
		fail:  make(map[string]int),
		drops: make(map[string]bool),
	}
	h := dns.HandlerFunc(s.serveDNS)

	var started sync.WaitGroup
	started.Add(2)
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done}
	s.tcp = &dns.Server{Listener: l, Handler: h, NotifyStartedFunc: started.Done}
	errc := make(chan error, 2)
	var done sync.WaitGroup
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		done.Go(func() { errc <- srv.ActivateAndServe() })
	}
	ready := make(chan struct{})
	go func() { started.Wait(); close(ready) }()
	select {
	case <-ready:
	case err := <-errc:
		pc.Close()
		l.Close()
		t.Fatalf("dnstest: starting server: %v", err)
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.udp.ShutdownContext(ctx)
		_ = s.tcp.ShutdownContext(ctx)
		done.Wait()
	})
	return s
}

// listen opens a UDP socket and a TCP listener on the same loopback port.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP: %w", lastErr)
}

// Addr returns the server's address, "127.0.0.1:port"; the same port serves
// UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Resolver returns a client from package internal/dns pointed at s with a
// one-second timeout and a single attempt: ample for a loaded CI machine,
// and short enough for tests of dropped queries.
func (s *Server) Resolver() *sesdns.Client {
	return &sesdns.Client{
		Servers:  []string{s.addr},
		Timeout:  time.Second,
		Attempts: 1,
	}
}

// Queries returns the number of queries received so far (over UDP and TCP,
// including failed and dropped ones).
func (s *Server) Queries() int64 { return s.queries.Load() }

// key returns the zone map key for name.
func key(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// parse parses a zone-file line, failing the test on error.
func (s *Server) parse(line string) dns.RR {
	s.t.Helper()
	rr, err := dns.NewRR(line)
	if err != nil {
		s.t.Fatalf("dnstest: parsing RR %q: %v", line, err)
	}
	if rr == nil {
		s.t.Fatalf("dnstest: no RR in %q", line)
	}
	return rr
}

// Add adds a record given as a zone-file line, e.g.
//
//	bounce.example.test. 300 IN MX 10 feedback-smtp.us-east-1.sesame.test.
//
// A record identical to one already present is not added twice. It fails
// the test (t.Fatalf) if the line does not parse.
func (s *Server) Add(rr string) {
	s.t.Helper()
	r := s.parse(rr)
	k := key(r.Header().Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[k] = addRR(s.zone[k], r)
}

// addRR returns a new slice with r appended to rrs unless a duplicate is
// present. Stored slices are never modified in place, so answers being
// written may keep referring to them.
func addRR(rrs []dns.RR, r dns.RR) []dns.RR {
	for _, old := range rrs {
		if dns.IsDuplicate(old, r) {
			return rrs
		}
	}
	out := make([]dns.RR, 0, len(rrs)+1)
	out = append(out, rrs...)
	return append(out, r)
}

// Remove removes all RRs of type rrtype at name; dns.TypeANY removes all
// RRs at name.
func (s *Server) Remove(name string, rrtype uint16) {
	k := key(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(k, rrtype)
}

func (s *Server) removeLocked(k string, rrtype uint16) {
	if rrtype == dns.TypeANY {
		delete(s.zone, k)
		return
	}
	var keep []dns.RR
	for _, rr := range s.zone[k] {
		if rr.Header().Rrtype != rrtype {
			keep = append(keep, rr)
		}
	}
	if len(keep) == 0 {
		delete(s.zone, k)
	} else {
		s.zone[k] = keep
	}
}

// Set atomically replaces the RRs of type rrtype at name (all RRs at name
// for dns.TypeANY) with rrs, given as zone-file lines. With no rrs it is
// Remove. Each RR must be owned by name and, unless rrtype is dns.TypeANY,
// be of type rrtype; otherwise, or on a parse error, the test fails.
func (s *Server) Set(name string, rrtype uint16, rrs ...string) {
	s.t.Helper()
	k := key(name)
	parsed := make([]dns.RR, 0, len(rrs))
	for _, line := range rrs {
		r := s.parse(line)
		h := r.Header()
		if key(h.Name) != k {
			s.t.Fatalf("dnstest: Set(%q): RR %q is owned by another name", name, line)
		}
		if rrtype != dns.TypeANY && h.Rrtype != rrtype {
			s.t.Fatalf("dnstest: Set(%q, %s): RR %q has type %s", name, dns.TypeToString[rrtype], line, dns.TypeToString[h.Rrtype])
		}
		parsed = append(parsed, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(k, rrtype)
	for _, r := range parsed {
		s.zone[k] = addRR(s.zone[k], r)
	}
}

// Fail makes the server answer every query for name (any type) with rcode,
// e.g. dns.RcodeServerFailure or dns.RcodeRefused, and no records.
// Fail(name, dns.RcodeSuccess) clears it, like Unfail.
func (s *Server) Fail(name string, rcode int) {
	k := key(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.fail, k)
	} else {
		s.fail[k] = rcode
	}
}

// Unfail undoes Fail for name.
func (s *Server) Unfail(name string) { s.Fail(name, dns.RcodeSuccess) }

// Drop makes the server not answer at all queries for name (on) or answer
// them again (off); a client querying a dropped name times out.
func (s *Server) Drop(name string, on bool) {
	k := key(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.drops[k] = true
	} else {
		delete(s.drops, k)
	}
}

// serveDNS answers one query.
func (s *Server) serveDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true

	if r.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		_ = w.WriteMsg(m)
		return
	}
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	qname := key(q.Name)

	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(serverUDPSize, false)
	}

	if !s.answer(m, qname, q.Qtype) {
		return // dropped
	}

	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// answer fills m for a query of qtype at qname (a key) from the zone. It
// returns false if the query is to be dropped.
func (s *Server) answer(m *dns.Msg, qname string, qtype uint16) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()

	if s.drops[qname] {
		return false
	}
	if rcode, ok := s.fail[qname]; ok {
		m.Rcode = rcode
		return true
	}

	cur := qname
	for hop := 0; hop <= maxCNAMEChain; hop++ {
		rrs, ok := s.zone[cur]
		if !ok {
			if hop == 0 {
				m.Rcode = dns.RcodeNameError
			}
			// Otherwise a CNAME target with no data here: stop, as for a
			// target outside the zone.
			return true
		}
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t == qtype || qtype == dns.TypeANY {
				m.Answer = append(m.Answer, rr)
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname = c
			}
		}
		if found || cname == nil || qtype == dns.TypeCNAME {
			return true // answer, or NODATA
		}
		m.Answer = append(m.Answer, cname)
		cur = key(cname.Target)
	}
	return true
}
