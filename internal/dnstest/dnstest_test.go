package dnstest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/dnstest"
)

func query(t testing.TB, s *dnstest.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return resp
}

func answerTypes(m *dns.Msg) string {
	var parts []string
	for _, rr := range m.Answer {
		parts = append(parts, strings.ToLower(rr.Header().Name)+" "+dns.TypeToString[rr.Header().Rrtype])
	}
	return strings.Join(parts, ", ")
}

func TestServer(t *testing.T) {
	s := dnstest.NewServer(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q", s.Addr())
	}
	s.Add(`Example.Test. 300 IN TXT "hello"`)
	s.Add(`example.test. 300 IN TXT "hello"`) // duplicate, ignored
	s.Add(`example.test. 300 IN A 192.0.2.1`)
	s.Add(`www.example.test. 300 IN CNAME example.test.`)
	s.Add(`out.example.test. 300 IN CNAME elsewhere.test.`)

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := query(t, s, network, "EXAMPLE.test", dns.TypeTXT)
			if !r.Authoritative || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("TXT: %v", r)
			}
			if got := r.Answer[0].(*dns.TXT).Txt; len(got) != 1 || got[0] != "hello" {
				t.Fatalf("TXT = %q", got)
			}

			r = query(t, s, network, "nope.example.test", dns.TypeTXT)
			if r.Rcode != dns.RcodeNameError || !r.Authoritative {
				t.Fatalf("missing name: rcode %s", dns.RcodeToString[r.Rcode])
			}

			r = query(t, s, network, "example.test", dns.TypeMX)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
				t.Fatalf("NODATA: %v", r)
			}

			r = query(t, s, network, "www.example.test", dns.TypeA)
			if got, want := answerTypes(r), "www.example.test. CNAME, example.test. A"; got != want {
				t.Fatalf("CNAME chase: answer %q, want %q", got, want)
			}
			r = query(t, s, network, "www.example.test", dns.TypeCNAME)
			if got, want := answerTypes(r), "www.example.test. CNAME"; got != want {
				t.Fatalf("CNAME query: answer %q, want %q", got, want)
			}
			r = query(t, s, network, "out.example.test", dns.TypeTXT)
			if got, want := answerTypes(r), "out.example.test. CNAME"; got != want || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("out-of-data CNAME: answer %q rcode %s", got, dns.RcodeToString[r.Rcode])
			}
			r = query(t, s, network, "example.test", dns.TypeANY)
			if len(r.Answer) != 2 {
				t.Fatalf("ANY: %v", r)
			}
		})
	}
}

func TestServerMutations(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "a"`)
	s.Add(`example.test. 300 IN TXT "b"`)
	s.Add(`example.test. 300 IN MX 10 mx.example.test.`)

	s.Set("EXAMPLE.TEST", dns.TypeTXT, `example.test. 300 IN TXT "c"`)
	r := query(t, s, "udp", "example.test", dns.TypeTXT)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "c" {
		t.Fatalf("after Set: %v", r.Answer)
	}

	s.Remove("example.test.", dns.TypeTXT)
	r = query(t, s, "udp", "example.test", dns.TypeTXT)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("after Remove TXT: want NODATA, got %v", r)
	}

	s.Remove("example.test", dns.TypeANY)
	r = query(t, s, "udp", "example.test", dns.TypeMX)
	if r.Rcode != dns.RcodeNameError {
		t.Fatalf("after Remove ANY: want NXDOMAIN, got %v", r)
	}

	s.Set("example.test", dns.TypeMX, `example.test. MX 5 a.test.`, `example.test. MX 10 b.test.`)
	if r := query(t, s, "udp", "example.test", dns.TypeMX); len(r.Answer) != 2 {
		t.Fatalf("after Set MX: %v", r.Answer)
	}
	s.Set("example.test", dns.TypeMX)
	if r := query(t, s, "udp", "example.test", dns.TypeMX); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after empty Set: %v", r)
	}
}

func TestServerFailAndDrop(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "a"`)

	s.Fail("Example.Test.", dns.RcodeServerFailure)
	if r := query(t, s, "udp", "example.test", dns.TypeTXT); r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
		t.Fatalf("Fail: %v", r)
	}
	if r := query(t, s, "tcp", "example.test", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("Fail (other type, TCP): %v", r)
	}
	s.Fail("example.test", dns.RcodeSuccess)
	if r := query(t, s, "udp", "example.test", dns.TypeTXT); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("Fail(RcodeSuccess): %v", r)
	}
	s.Fail("example.test", dns.RcodeRefused)
	s.Unfail("example.test")
	if r := query(t, s, "udp", "example.test", dns.TypeTXT); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("Unfail: %v", r)
	}

	s.Drop("example.test", true)
	before := s.Queries()
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("example.test.", dns.TypeTXT)
		c := &dns.Client{Net: network, Timeout: 100 * time.Millisecond}
		if _, _, err := c.Exchange(m, s.Addr()); err == nil {
			t.Fatalf("Drop over %s: got an answer", network)
		}
	}
	if s.Queries()-before != 2 {
		t.Fatalf("dropped queries not counted: %d", s.Queries()-before)
	}
	s.Drop("example.test", false)
	if r := query(t, s, "udp", "example.test", dns.TypeTXT); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("Drop off: %v", r)
	}
}

func TestServerTruncates(t *testing.T) {
	s := dnstest.NewServer(t)
	for i := range 30 {
		s.Add(fmt.Sprintf(`big.test. IN TXT "%03d %s"`, i, strings.Repeat("y", 100)))
	}
	r := query(t, s, "udp", "big.test", dns.TypeTXT)
	if !r.Truncated {
		t.Fatalf("UDP reply of %d answers not truncated", len(r.Answer))
	}
	r = query(t, s, "tcp", "big.test", dns.TypeTXT)
	if r.Truncated || len(r.Answer) != 30 {
		t.Fatalf("TCP reply: TC=%v, %d answers", r.Truncated, len(r.Answer))
	}
}

func TestServerResolver(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "a"`)
	got, err := s.Resolver().LookupTXT(context.Background(), "example.test")
	if err != nil || len(got) != 1 || got[0] != "a" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestServerConcurrent(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "a"`)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			name := fmt.Sprintf("n%d.example.test.", i)
			for j := range 20 {
				s.Add(fmt.Sprintf(`%s 300 IN TXT "%d"`, name, j))
				query(t, s, "udp", "example.test", dns.TypeTXT)
				s.Remove(name, dns.TypeTXT)
			}
		})
	}
	wg.Wait()
	if s.Queries() != 400 {
		t.Fatalf("Queries = %d, want 400", s.Queries())
	}
}

func BenchmarkServer(b *testing.B) {
	s := dnstest.NewServer(b)
	s.Add(`example.test. 300 IN TXT "a"`)
	r := s.Resolver()
	r.Timeout = 2 * time.Second
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupTXT(context.Background(), "example.test"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
