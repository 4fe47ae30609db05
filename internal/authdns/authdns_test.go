package authdns

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"

	"github.com/sesame-email/sesame/internal/connlimit"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	testZone   = "sesame.example.test."
	testRegion = "us-east-1"
)

// fakeDKIMKey is a made-up 2048-bit-sized DKIM record (> 255 bytes).
var fakeDKIMKey = "v=DKIM1; k=rsa; p=" + fakeBase64(294, "tok1")

// fakeBase64 returns n pseudo-random bytes derived from seed, base64-encoded.
func fakeBase64(n int, seed string) string {
	var b []byte
	sum := sha256.Sum256([]byte(seed))
	for len(b) < n {
		b = append(b, sum[:]...)
		sum = sha256.Sum256(sum[:])
	}
	return base64.StdEncoding.EncodeToString(b[:n])
}

// oddRecord has bytes miekg/dns escapes in presentation form.
var oddRecord = "v=DKIM1; n=a\"quote\\backslash\x01ctl\xffhigh; p=" + fakeBase64(200, "odd")

// manyRecords are returned for token "many": too much for one UDP answer.
var manyRecords = func() []string {
	var out []string
	for i := range 12 {
		out = append(out, "v=DKIM1; k=rsa; p="+fakeBase64(220, fmt.Sprint("many", i)))
	}
	return out
}()

// keyStore plays the DKIM key store behind Options.DKIMRecords.
type keyStore struct {
	mu   sync.Mutex
	seen []string
}

func (k *keyStore) records(ctx context.Context, token string) ([]string, error) {
	k.mu.Lock()
	k.seen = append(k.seen, token)
	k.mu.Unlock()
	switch token {
	case "tok1":
		return []string{fakeDKIMKey}, nil
	case "many":
		return manyRecords, nil
	case "broken":
		return nil, errors.New("database is down")
	case "panic":
		panic("key store exploded")
	case "odd":
		return []string{oddRecord}, nil
	}
	return nil, fmt.Errorf("token %q: %w", token, ErrNoSuchKey)
}

func (k *keyStore) sawToken(token string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Contains(k.seen, token)
}

// startServer runs s on 127.0.0.1:0 (UDP and TCP) until the test ends.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		cancel()
		t.Fatalf("ListenAndServe: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("ListenAndServe returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return addr
}

func newTestServer(t *testing.T, ks *keyStore) *Server {
	t.Helper()
	s, err := New(Options{
		Zone:          "Sesame.Example.Test", // no trailing dot, mixed case
		Region:        testRegion,
		NameServers:   []string{"ns1.sesame.example.test", "ns2.other.test."},
		NameServerIPs: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")},
		SPFIPs:        []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
		FeedbackIPs:   []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.25"), netip.MustParseAddr("2001:db8::25")},
		DKIMRecords:   ks.records,

		ServiceDKIMSelector: "Sesame",
		ServiceDKIMRecord:   []string{"v=DKIM1; k=rsa; p=SERVICEKEY"},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// query asks addr over netw ("udp" or "tcp") with the given EDNS payload
// size (0: no OPT record).
func query(t *testing.T, netw, addr, name string, qtype uint16, ednsSize uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if ednsSize > 0 {
		m.SetEdns0(ednsSize, false)
	}
	return exchange(t, netw, addr, m)
}

func exchange(t *testing.T, netw, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", netw, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	if resp.Id != m.Id {
		t.Fatalf("answer id %d, want %d", resp.Id, m.Id)
	}
	if len(resp.Question) != 1 || resp.Question[0] != m.Question[0] {
		t.Fatalf("question not preserved: got %v, want %v", resp.Question, m.Question)
	}
	return resp
}

// txtJoin joins the character strings of a TXT record as a verifier does.
func txtJoin(rr dns.RR) string {
	return strings.Join(rr.(*dns.TXT).Txt, "")
}

func wantRcode(t *testing.T, m *dns.Msg, rcode int) {
	t.Helper()
	if m.Rcode != rcode {
		t.Fatalf("rcode %s, want %s\n%v", dns.RcodeToString[m.Rcode], dns.RcodeToString[rcode], m)
	}
}

// wantNegative checks an authoritative NXDOMAIN or NODATA answer.
func wantNegative(t *testing.T, m *dns.Msg, rcode int) {
	t.Helper()
	wantRcode(t, m, rcode)
	if !m.Authoritative {
		t.Error("AA not set")
	}
	if len(m.Answer) != 0 {
		t.Errorf("answer section not empty: %v", m.Answer)
	}
	if len(m.Ns) != 1 {
		t.Fatalf("authority section %v, want the SOA", m.Ns)
	}
	soa, ok := m.Ns[0].(*dns.SOA)
	if !ok || soa.Hdr.Name != testZone {
		t.Fatalf("authority section %v, want the SOA of %s", m.Ns, testZone)
	}
	if soa.Minttl != 300 || soa.Hdr.Ttl != 300 {
		t.Errorf("negative caching TTLs %d/%d, want 300", soa.Hdr.Ttl, soa.Minttl)
	}
}

// wantAnswer checks an authoritative answer of n records of type qtype and
// returns them.
func wantAnswer(t *testing.T, m *dns.Msg, qtype uint16, n int) []dns.RR {
	t.Helper()
	wantRcode(t, m, dns.RcodeSuccess)
	if !m.Authoritative {
		t.Error("AA not set")
	}
	if m.Truncated {
		t.Error("TC set")
	}
	if len(m.Answer) != n {
		t.Fatalf("%d answers, want %d: %v", len(m.Answer), n, m.Answer)
	}
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype != qtype {
			t.Errorf("answer %v is not %s", rr, dns.TypeToString[qtype])
		}
		if h.Ttl != 300 {
			t.Errorf("answer %v: TTL %d, want 300", rr, h.Ttl)
		}
		if !strings.EqualFold(h.Name, m.Question[0].Name) {
			t.Errorf("answer owner %q, want %q", h.Name, m.Question[0].Name)
		}
	}
	return m.Answer
}

func TestServer(t *testing.T) {
	ks := &keyStore{}
	s := newTestServer(t, ks)
	addr := startServer(t, s)

	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw, func(t *testing.T) {
			q := func(t *testing.T, name string, qtype uint16) *dns.Msg {
				t.Helper()
				return query(t, netw, addr, name, qtype, 0)
			}

			t.Run("SOA", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, testZone, dns.TypeSOA), dns.TypeSOA, 1)
				soa := rrs[0].(*dns.SOA)
				if soa.Ns != "ns1."+testZone || soa.Mbox != "hostmaster."+testZone {
					t.Errorf("SOA mname/rname %s %s", soa.Ns, soa.Mbox)
				}
				if soa.Serial == 0 || soa.Refresh != 3600 || soa.Retry != 600 || soa.Expire != 604800 || soa.Minttl != 300 {
					t.Errorf("SOA timers: %v", soa)
				}
			})

			t.Run("NS with glue", func(t *testing.T) {
				m := q(t, testZone, dns.TypeNS)
				rrs := wantAnswer(t, m, dns.TypeNS, 2)
				if rrs[0].(*dns.NS).Ns != "ns1."+testZone || rrs[1].(*dns.NS).Ns != "ns2.other.test." {
					t.Errorf("NS: %v", rrs)
				}
				var glue []string
				for _, rr := range m.Extra {
					switch rr := rr.(type) {
					case *dns.A:
						glue = append(glue, rr.Hdr.Name+" "+rr.A.String())
					case *dns.AAAA:
						glue = append(glue, rr.Hdr.Name+" "+rr.AAAA.String())
					}
				}
				want := []string{"ns1." + testZone + " 192.0.2.53", "ns1." + testZone + " 2001:db8::53"}
				if !slices.Equal(glue, want) {
					t.Errorf("glue %v, want %v", glue, want)
				}
			})

			t.Run("apex SPF", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, testZone, dns.TypeTXT), dns.TypeTXT, 1)
				if got, want := txtJoin(rrs[0]), "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ~all"; got != want {
					t.Errorf("SPF %q, want %q", got, want)
				}
			})

			t.Run("feedback host A", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "feedback-smtp.us-east-1."+testZone, dns.TypeA), dns.TypeA, 1)
				if got := rrs[0].(*dns.A).A.String(); got != "192.0.2.25" {
					t.Errorf("A %s", got)
				}
			})

			t.Run("feedback host AAAA", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "feedback-smtp.us-east-1."+testZone, dns.TypeAAAA), dns.TypeAAAA, 1)
				if got := rrs[0].(*dns.AAAA).AAAA.String(); got != "2001:db8::25" {
					t.Errorf("AAAA %s", got)
				}
			})

			t.Run("default MAIL FROM MX", func(t *testing.T) {
				m := q(t, "us-east-1."+testZone, dns.TypeMX)
				rrs := wantAnswer(t, m, dns.TypeMX, 1)
				mx := rrs[0].(*dns.MX)
				if mx.Preference != 10 || mx.Mx != "feedback-smtp.us-east-1."+testZone {
					t.Errorf("MX %v", mx)
				}
				if len(m.Extra) != 2 {
					t.Errorf("MX additional section %v, want the feedback host's A and AAAA", m.Extra)
				}
			})

			t.Run("default MAIL FROM TXT", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "us-east-1."+testZone, dns.TypeTXT), dns.TypeTXT, 1)
				if got, want := txtJoin(rrs[0]), "v=spf1 include:sesame.example.test ~all"; got != want {
					t.Errorf("TXT %q, want %q", got, want)
				}
			})

			t.Run("in-zone name server A", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "ns1."+testZone, dns.TypeA), dns.TypeA, 1)
				if got := rrs[0].(*dns.A).A.String(); got != "192.0.2.53" {
					t.Errorf("A %s", got)
				}
			})

			t.Run("service DKIM key", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "sesame._domainkey."+testZone, dns.TypeTXT), dns.TypeTXT, 1)
				if txt := rrs[0].(*dns.TXT).Txt; len(txt) != 1 || txt[0] != "v=DKIM1; k=rsa; p=SERVICEKEY" {
					t.Errorf("service DKIM TXT = %q", txt)
				}
			})

			t.Run("DKIM key split into strings", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "tok1.dkim."+testZone, dns.TypeTXT), dns.TypeTXT, 1)
				txt := rrs[0].(*dns.TXT)
				if len(fakeDKIMKey) <= 255 {
					t.Fatalf("test key too short (%d bytes) to exercise splitting", len(fakeDKIMKey))
				}
				if len(txt.Txt) < 2 {
					t.Errorf("%d character strings, want the key split", len(txt.Txt))
				}
				for i, str := range txt.Txt {
					if len(str) > 255 {
						t.Errorf("string %d has %d bytes", i, len(str))
					}
				}
				if got := txtJoin(txt); got != fakeDKIMKey {
					t.Errorf("joined key\n%q\nwant\n%q", got, fakeDKIMKey)
				}
			})

			t.Run("mixed case names", func(t *testing.T) {
				rrs := wantAnswer(t, q(t, "TOK1.Dkim.SESAME.example.TeSt.", dns.TypeTXT), dns.TypeTXT, 1)
				if rrs[0].Header().Name != "TOK1.Dkim.SESAME.example.TeSt." {
					t.Errorf("answer owner %q, want the name as asked", rrs[0].Header().Name)
				}
				if txtJoin(rrs[0]) != fakeDKIMKey {
					t.Error("wrong key for upper-case token")
				}
				if !ks.sawToken("tok1") || ks.sawToken("TOK1") {
					t.Errorf("DKIMRecords saw tokens %v, want lower-case only", ks.seen)
				}
				wantAnswer(t, q(t, "Feedback-SMTP.US-EAST-1.Sesame.Example.Test.", dns.TypeA), dns.TypeA, 1)
			})

			t.Run("unknown token NXDOMAIN", func(t *testing.T) {
				wantNegative(t, q(t, "nosuchtoken.dkim."+testZone, dns.TypeTXT), dns.RcodeNameError)
			})

			t.Run("DKIMRecords error SERVFAIL", func(t *testing.T) {
				m := q(t, "broken.dkim."+testZone, dns.TypeTXT)
				wantRcode(t, m, dns.RcodeServerFailure)
				if len(m.Answer) != 0 {
					t.Errorf("answer %v", m.Answer)
				}
			})

			t.Run("NXDOMAIN", func(t *testing.T) {
				for _, name := range []string{
					"nope." + testZone,
					"www.us-east-1." + testZone,
					"x.tok1.dkim." + testZone,
					"bad\\.token.dkim." + testZone,
				} {
					wantNegative(t, q(t, name, dns.TypeA), dns.RcodeNameError)
				}
			})

			t.Run("NODATA", func(t *testing.T) {
				for _, c := range []struct {
					name  string
					qtype uint16
				}{
					{"feedback-smtp.us-east-1." + testZone, dns.TypeMX},
					{"us-east-1." + testZone, dns.TypeA},
					{"dkim." + testZone, dns.TypeTXT}, // empty non-terminal
					{"tok1.dkim." + testZone, dns.TypeA},
					{"ns1." + testZone, dns.TypeTXT},
					{testZone, dns.TypeA},
				} {
					wantNegative(t, q(t, c.name, c.qtype), dns.RcodeSuccess)
				}
			})

			t.Run("out of zone REFUSED", func(t *testing.T) {
				for _, name := range []string{"example.test.", "other.test.", ".", "sesame.example.test.evil."} {
					m := q(t, name, dns.TypeA)
					wantRcode(t, m, dns.RcodeRefused)
					if m.Authoritative || len(m.Answer) != 0 {
						t.Errorf("%s: refused answer with AA or records: %v", name, m)
					}
				}
			})

			t.Run("ANY minimal", func(t *testing.T) {
				wantAnswer(t, q(t, testZone, dns.TypeANY), dns.TypeSOA, 1)
				wantAnswer(t, q(t, "tok1.dkim."+testZone, dns.TypeANY), dns.TypeTXT, 1)
			})

			t.Run("zone transfer REFUSED", func(t *testing.T) {
				wantRcode(t, q(t, testZone, dns.TypeAXFR), dns.RcodeRefused)
			})

			t.Run("EDNS", func(t *testing.T) {
				m := query(t, netw, addr, testZone, dns.TypeSOA, 4096)
				wantAnswer(t, m, dns.TypeSOA, 1)
				opt := m.IsEdns0()
				if opt == nil || opt.UDPSize() != 1232 || opt.Version() != 0 {
					t.Errorf("OPT %v, want one advertising 1232", opt)
				}
				if m := q(t, testZone, dns.TypeSOA); m.IsEdns0() != nil {
					t.Error("OPT in the answer to a query without one")
				}

				req := new(dns.Msg)
				req.SetQuestion(testZone, dns.TypeSOA)
				req.SetEdns0(1232, true)
				req.IsEdns0().SetVersion(1)
				m = exchange(t, netw, addr, req)
				wantRcode(t, m, dns.RcodeBadVers)
			})

			t.Run("NOTIMP for other opcodes", func(t *testing.T) {
				req := new(dns.Msg)
				req.SetNotify(testZone)
				c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
				m, _, err := c.Exchange(req, addr)
				if err != nil {
					t.Fatal(err)
				}
				wantRcode(t, m, dns.RcodeNotImplemented)
			})
		})
	}
}

func TestTruncationOverUDP(t *testing.T) {
	s := newTestServer(t, &keyStore{})
	addr := startServer(t, s)
	name := "many.dkim." + testZone

	for _, size := range []uint16{0, 4096} {
		m := query(t, "udp", addr, name, dns.TypeTXT, size)
		wantRcode(t, m, dns.RcodeSuccess)
		if !m.Truncated {
			t.Fatalf("EDNS %d: TC not set on a %d-record answer", size, len(manyRecords))
		}
		if len(m.Answer) >= len(manyRecords) {
			t.Errorf("EDNS %d: %d answers in a truncated message", size, len(m.Answer))
		}
		limit := 512
		if size > 0 {
			limit = 1232
		}
		if l := m.Len(); l > limit {
			t.Errorf("EDNS %d: UDP answer of %d bytes, limit %d", size, l, limit)
		}
	}

	m := query(t, "tcp", addr, name, dns.TypeTXT, 0)
	rrs := wantAnswer(t, m, dns.TypeTXT, len(manyRecords))
	for i, rr := range rrs {
		if got := txtJoin(rr); got != manyRecords[i] {
			t.Errorf("record %d over TCP: %q, want %q", i, got, manyRecords[i])
		}
	}
}

// TestCustomerCNAMEResolvesToKey plays a customer's zone with the Easy DKIM
// CNAME and follows it to this server, as a recursive resolver would.
func TestCustomerCNAMEResolvesToKey(t *testing.T) {
	s := newTestServer(t, &keyStore{})
	sesameAddr := startServer(t, s)
	customerAddr := startCustomerZone(t, "example.test.", map[string]string{
		"tok1._domainkey.example.test.": s.DKIMName("TOK1") + ".",
	})

	r := &miniResolver{servers: map[string]string{
		"example.test.": customerAddr,
		testZone:        sesameAddr,
	}}
	for _, netw := range []string{"udp", "tcp"} {
		chain, texts, err := r.lookupTXT(netw, "tok1._domainkey.example.test.")
		if err != nil {
			t.Fatalf("%s: %v", netw, err)
		}
		wantChain := []string{"tok1._domainkey.example.test.", "tok1.dkim." + testZone}
		if !slices.Equal(chain, wantChain) {
			t.Errorf("%s: followed %v, want %v", netw, chain, wantChain)
		}
		if len(texts) != 1 || texts[0] != fakeDKIMKey {
			t.Errorf("%s: key %q, want %q", netw, texts, fakeDKIMKey)
		}
	}
}

// startCustomerZone runs a tiny authoritative server for zone with the given
// CNAMEs, on UDP and TCP.
func startCustomerZone(t *testing.T, zone string, cnames map[string]string) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		soa := &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "ns." + zone, Mbox: "hostmaster." + zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60}
		switch target, ok := cnames[name]; {
		case !dns.IsSubDomain(zone, name):
			m.Rcode = dns.RcodeRefused
			m.Authoritative = false
		case ok:
			m.Answer = append(m.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60},
				Target: target,
			})
		default:
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		}
		_ = w.WriteMsg(m)
	})

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			_ = srv.Shutdown()
			<-done
		})
	}
	return pc.LocalAddr().String()
}

// miniResolver does what a recursive resolver does for the test: it asks
// the server of the closest enclosing zone it knows, and follows CNAMEs.
type miniResolver struct {
	servers map[string]string // zone → address
}

func (r *miniResolver) serverFor(name string) (string, bool) {
	best, addr := -1, ""
	for zone, a := range r.servers {
		if dns.IsSubDomain(zone, name) && dns.CountLabel(zone) > best {
			best, addr = dns.CountLabel(zone), a
		}
	}
	return addr, best >= 0
}

// lookupTXT returns the names visited and the TXT texts found at the end.
func (r *miniResolver) lookupTXT(netw, name string) ([]string, []string, error) {
	var chain []string
	for range 8 {
		name = strings.ToLower(name)
		chain = append(chain, name)
		addr, ok := r.serverFor(name)
		if !ok {
			return chain, nil, fmt.Errorf("no server for %s", name)
		}
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeTXT)
		q.RecursionDesired = false
		resp, _, err := (&dns.Client{Net: netw, Timeout: 5 * time.Second}).Exchange(q, addr)
		if err != nil {
			return chain, nil, fmt.Errorf("query %s: %w", name, err)
		}
		if resp.Rcode != dns.RcodeSuccess {
			return chain, nil, fmt.Errorf("query %s: %s", name, dns.RcodeToString[resp.Rcode])
		}
		var texts []string
		next := ""
		for _, rr := range resp.Answer {
			switch rr := rr.(type) {
			case *dns.TXT:
				texts = append(texts, strings.Join(rr.Txt, ""))
			case *dns.CNAME:
				next = rr.Target
			}
		}
		if len(texts) > 0 {
			return chain, texts, nil
		}
		if next == "" {
			return chain, nil, fmt.Errorf("query %s: no TXT and no CNAME", name)
		}
		name = next
	}
	return chain, nil, errors.New("CNAME chain too long")
}

func TestServeWithGivenConns(t *testing.T) {
	s, err := New(Options{Zone: "sesame.example.test.", Region: "eu-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, pc, ln) }()

	// Default name server, empty SPF, no DKIM function.
	m := query(t, "udp", pc.LocalAddr().String(), testZone, dns.TypeTXT, 0)
	if got := txtJoin(wantAnswer(t, m, dns.TypeTXT, 1)[0]); got != "v=spf1 ~all" {
		t.Errorf("empty SPF record %q", got)
	}
	m = query(t, "tcp", ln.Addr().String(), testZone, dns.TypeNS, 0)
	if got := wantAnswer(t, m, dns.TypeNS, 1)[0].(*dns.NS).Ns; got != "ns1."+testZone {
		t.Errorf("default NS %s", got)
	}
	wantNegative(t, query(t, "tcp", ln.Addr().String(), "ns1."+testZone, dns.TypeA, 0), dns.RcodeSuccess)
	wantNegative(t, query(t, "udp", pc.LocalAddr().String(), "tok1.dkim."+testZone, dns.TypeTXT, 0), dns.RcodeNameError)
	wantAnswer(t, query(t, "udp", pc.LocalAddr().String(), "eu-west-2."+testZone, dns.TypeMX, 0), dns.TypeMX, 1)

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open after Serve returned")
	}

	if err := s.Serve(context.Background(), nil, nil); err == nil {
		t.Error("Serve(nil, nil) succeeded")
	}
}

func TestConcurrentQueries(t *testing.T) {
	s := newTestServer(t, &keyStore{})
	addr := startServer(t, s)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			netw := []string{"udp", "tcp"}[i%2]
			for range 10 {
				c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
				m := new(dns.Msg)
				m.SetQuestion("tok1.dkim."+testZone, dns.TypeTXT)
				m.SetEdns0(1232, false)
				resp, _, err := c.Exchange(m, addr)
				if err != nil {
					t.Error(err)
					return
				}
				if len(resp.Answer) != 1 || txtJoin(resp.Answer[0]) != fakeDKIMKey {
					t.Errorf("bad answer %v", resp)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNames(t *testing.T) {
	s, err := New(Options{Zone: "Sesame.Example.Test.", Region: "US-East-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{s.Zone(), "sesame.example.test"},
		{s.FeedbackHost(), "feedback-smtp.us-east-1.sesame.example.test"},
		{s.DefaultMailFrom(), "us-east-1.sesame.example.test"},
		{s.DKIMName("AbC123"), "abc123.dkim.sesame.example.test"},
		{s.Names().Region(), "us-east-1"},
		{s.Names().SPFInclude(), "v=spf1 include:sesame.example.test ~all"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	n, err := NewNames("sesame.example.test", "us-east-1")
	if err != nil || n != s.Names() {
		t.Errorf("NewNames = %v, %v; want %v", n, err, s.Names())
	}
}

func TestOptionsValidation(t *testing.T) {
	valid := func() Options {
		return Options{Zone: "sesame.example.test", Region: "us-east-1"}
	}
	for _, c := range []struct {
		name   string
		modify func(*Options)
		ok     bool
	}{
		{"valid", func(*Options) {}, true},
		{"valid with trailing dot and everything set", func(o *Options) {
			o.Zone = "sesame.example.test."
			o.NameServers = []string{"ns1.sesame.example.test.", "ns.elsewhere.test"}
			o.NameServerIPs = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
			o.SPFIPs = []netip.Addr{netip.MustParseAddr("192.0.2.2")}
			o.FeedbackIPs = []netip.Addr{netip.MustParseAddr("2001:db8::1")}
			o.TTL = 60
		}, true},
		{"valid single-label zone", func(o *Options) { o.Zone = "test" }, true},
		{"missing zone", func(o *Options) { o.Zone = "" }, false},
		{"root zone", func(o *Options) { o.Zone = "." }, false},
		{"empty label in zone", func(o *Options) { o.Zone = "sesame..example.test" }, false},
		{"space in zone", func(o *Options) { o.Zone = "sesame example.test" }, false},
		{"escaped dot in zone", func(o *Options) { o.Zone = `ses\.ame.example.test` }, false},
		{"label too long in zone", func(o *Options) { o.Zone = strings.Repeat("a", 64) + ".test" }, false},
		{"zone too long", func(o *Options) { o.Zone = strings.Repeat(strings.Repeat("a", 60)+".", 4) + "test" }, false},
		{"missing region", func(o *Options) { o.Region = "" }, false},
		{"region with dot", func(o *Options) { o.Region = "us.east-1" }, false},
		{"region with leading hyphen", func(o *Options) { o.Region = "-us-east-1" }, false},
		{"region with trailing hyphen", func(o *Options) { o.Region = "us-east-" }, false},
		{"region with underscore-free bad char", func(o *Options) { o.Region = "us east" }, false},
		{"region too long", func(o *Options) { o.Region = strings.Repeat("a", 64) }, false},
		{"bad name server", func(o *Options) { o.NameServers = []string{"ns1..example.test"} }, false},
		{"root name server", func(o *Options) { o.NameServers = []string{"."} }, false},
		{"invalid name server IP", func(o *Options) { o.NameServerIPs = []netip.Addr{{}} }, false},
		{"invalid SPF IP", func(o *Options) { o.SPFIPs = []netip.Addr{{}} }, false},
		{"invalid feedback IP", func(o *Options) { o.FeedbackIPs = []netip.Addr{netip.MustParseAddr("192.0.2.1"), {}} }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := valid()
			c.modify(&o)
			s, err := New(o)
			if c.ok {
				if err != nil || s == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

// unescapeTXT undoes miekg/dns's presentation escaping of a character string.
func unescapeTXT(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		if i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			b = append(b, (s[i]-'0')*100+(s[i+1]-'0')*10+(s[i+2]-'0'))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func TestSpecialBytesAndPanics(t *testing.T) {
	s := newTestServer(t, &keyStore{})
	addr := startServer(t, s)
	for _, netw := range []string{"udp", "tcp"} {
		rrs := wantAnswer(t, query(t, netw, addr, "odd.dkim."+testZone, dns.TypeTXT, 1232), dns.TypeTXT, 1)
		var got string
		for _, str := range rrs[0].(*dns.TXT).Txt {
			got += unescapeTXT(str)
		}
		if got != oddRecord {
			t.Errorf("%s: record with special bytes\n%q\nwant\n%q", netw, got, oddRecord)
		}

		// A panicking key store answers SERVFAIL and the server lives on.
		wantRcode(t, query(t, netw, addr, "panic.dkim."+testZone, dns.TypeTXT, 0), dns.RcodeServerFailure)
		wantAnswer(t, query(t, netw, addr, testZone, dns.TypeSOA, 0), dns.TypeSOA, 1)
	}
}

// TestServeDNSAsHandler mounts the Server on a plain dns.Server, and checks
// the TTL and Serial options.
func TestServeDNSAsHandler(t *testing.T) {
	s, err := New(Options{Zone: testZone, Region: testRegion, TTL: 60, Serial: 2024010101,
		FeedbackIPs: []netip.Addr{netip.MustParseAddr("192.0.2.25")}})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: s}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	<-started
	defer func() {
		_ = srv.Shutdown()
		<-done
	}()

	m := query(t, "udp", pc.LocalAddr().String(), testZone, dns.TypeSOA, 0)
	if len(m.Answer) != 1 {
		t.Fatalf("answer %v", m)
	}
	soa := m.Answer[0].(*dns.SOA)
	if soa.Serial != 2024010101 || soa.Hdr.Ttl != 60 || soa.Minttl != 60 {
		t.Errorf("SOA %v, want serial 2024010101 and TTL/minimum 60", soa)
	}
	m = query(t, "udp", pc.LocalAddr().String(), "feedback-smtp.us-east-1."+testZone, dns.TypeA, 0)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 60 {
		t.Errorf("A %v, want TTL 60", m.Answer)
	}
}

func TestStableSerial(t *testing.T) {
	opts := Options{Zone: testZone, Region: testRegion, SPFIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
	a, _ := New(opts)
	b, _ := New(opts)
	if a.soa.Serial != b.soa.Serial {
		t.Errorf("serial not stable: %d != %d", a.soa.Serial, b.soa.Serial)
	}
	opts.SPFIPs = []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	c, _ := New(opts)
	if c.soa.Serial == a.soa.Serial {
		t.Error("serial did not change with the zone content")
	}
}

func TestListenAndServeFixedPort(t *testing.T) {
	s, err := New(Options{Zone: testZone, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ListenAndServe(context.Background(), "no-port", nil); err == nil {
		t.Error("ListenAndServe with a bad address succeeded")
	}

	// Find a port free for both, release it and listen on it explicitly.
	pc, ln, err := ListenBoth(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	pc.Close()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	addrc := make(chan string, 1)
	go func() { errc <- s.ListenAndServe(ctx, addr, func(a string) { addrc <- a }) }()
	select {
	case got := <-addrc:
		if got != addr {
			t.Errorf("started with %s, want %s", got, addr)
		}
	case err := <-errc:
		cancel()
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	wantAnswer(t, query(t, "udp", addr, testZone, dns.TypeSOA, 0), dns.TypeSOA, 1)
	wantAnswer(t, query(t, "tcp", addr, testZone, dns.TypeSOA, 0), dns.TypeSOA, 1)

	// The port is in use now: a second server fails cleanly.
	if err := s.ListenAndServe(context.Background(), addr, nil); err == nil {
		t.Error("second ListenAndServe on a used port succeeded")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
}

// TestTCPConnectionCap: with a listener bound of 2 connections open, the
// next one is not served until one of them closes.
func TestTCPConnectionCap(t *testing.T) {
	s, err := New(Options{Zone: testZone, Region: testRegion, TCPConns: func(ln net.Listener) net.Listener { return netutil.LimitListener(ln, 2) }})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	m := new(dns.Msg)
	m.SetQuestion(testZone, dns.TypeSOA)
	// Well inside tcpReadTimeout, after which the server drops the silent
	// connections itself.
	c := &dns.Client{Net: "tcp", Timeout: 300 * time.Millisecond}
	if r, _, err := c.Exchange(m, addr); err == nil {
		t.Fatalf("a third TCP connection was served with two open and a cap of 2: %v", r)
	}
	held[0].Close()
	c.Timeout = 5 * time.Second
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("no answer once a connection closed: %v", err)
	}
	wantRcode(t, r, dns.RcodeSuccess)
}

// TestTCPConns: Options.TCPConns bounds the TCP connections; with Sesame's (package connlimit, answers making a
// connection idle), silent connections at the cap do not keep a query
// out, and UDP is answered meanwhile.
func TestTCPConns(t *testing.T) {
	lim := connlimit.New(connlimit.Options{Max: 2, IdleOnWrite: true})
	s, err := New(Options{Zone: testZone, Region: testRegion, TCPConns: lim.Listener})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	held := testkit.SilentConns(t, addr, []string{"127.0.0.1"}, 2)
	for _, netw := range []string{"udp", "tcp"} {
		start := time.Now()
		wantAnswer(t, query(t, netw, addr, testZone, dns.TypeSOA, 0), dns.TypeSOA, 1)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s query with the TCP cap held by silent connections answered after %v", netw, took)
		}
	}
	if !testkit.Closed(held[0], time.Second) {
		t.Error("the oldest silent connection is open after a newcomer at the cap")
	}
	if st := lim.Stats(); st.Evicted != 1 {
		t.Errorf("limiter stats %+v, want 1 evicted", st)
	}
}
