package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/dnstest"
)

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !sesdns.IsNotFound(err) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
	var le *sesdns.LookupError
	if errors.As(err, &le) {
		t.Fatalf("%s: ErrNotFound is also a *LookupError: %v", what, err)
	}
}

func wantLookupError(t *testing.T, what string, err error, rcode string) *sesdns.LookupError {
	t.Helper()
	var le *sesdns.LookupError
	if !errors.As(err, &le) {
		t.Fatalf("%s: err = %v (%T), want *LookupError", what, err, err)
	}
	if sesdns.IsNotFound(err) {
		t.Fatalf("%s: failed lookup reported as not found: %v", what, err)
	}
	if le.Rcode != rcode {
		t.Fatalf("%s: Rcode = %q, want %q (err %v)", what, le.Rcode, rcode, err)
	}
	if !le.Temporary() {
		t.Fatalf("%s: Temporary() = false", what)
	}
	return le
}

func TestLookupTXT(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "v=spf1 " "include:amazonses.com" " -all"`)
	s.Add(`example.test. 300 IN TXT "sesame-verification=abc"`)
	r := s.Resolver()
	got, err := r.LookupTXT(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v=spf1 include:amazonses.com -all", "sesame-verification=abc"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLookupTXTViaCNAMEChain(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`_dmarc.example.test. 300 IN CNAME _dmarc.hop.test.`)
	s.Add(`_dmarc.hop.test. 300 IN CNAME _DMARC.Final.TEST.`)
	s.Add(`_dmarc.final.test. 300 IN TXT "v=DMARC1; p=none"`)
	s.Add(`_dmarc.final.test. 300 IN A 192.0.2.1`)
	r := s.Resolver()
	got, err := r.LookupTXT(context.Background(), "_dmarc.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v=DMARC1; p=none"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	// A CNAME whose target has no TXT: NODATA at the end of the chain.
	s.Add(`alias.example.test. 300 IN CNAME _dmarc.final.test.`)
	s.Remove("_dmarc.final.test", mdns.TypeTXT)
	_, err = r.LookupTXT(context.Background(), "alias.example.test")
	wantNotFound(t, "chain to NODATA", err)

	// A CNAME to a name with no data at all.
	s.Add(`dangling.example.test. 300 IN CNAME nowhere.test.`)
	_, err = r.LookupTXT(context.Background(), "dangling.example.test")
	wantNotFound(t, "dangling CNAME", err)
}

func TestNotFound(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`host.example.test. 300 IN A 192.0.2.1`)
	s.Add(`txt.example.test. 300 IN TXT "x"`)
	r := s.Resolver()
	ctx := context.Background()

	// NXDOMAIN.
	_, err := r.LookupTXT(ctx, "missing.example.test")
	wantNotFound(t, "TXT NXDOMAIN", err)
	_, err = r.LookupMX(ctx, "missing.example.test")
	wantNotFound(t, "MX NXDOMAIN", err)
	_, err = r.LookupCNAME(ctx, "missing.example.test")
	wantNotFound(t, "CNAME NXDOMAIN", err)
	_, err = r.LookupIP(ctx, "missing.example.test")
	wantNotFound(t, "IP NXDOMAIN", err)

	// NODATA.
	_, err = r.LookupTXT(ctx, "host.example.test")
	wantNotFound(t, "TXT NODATA", err)
	_, err = r.LookupMX(ctx, "host.example.test")
	wantNotFound(t, "MX NODATA", err)
	_, err = r.LookupCNAME(ctx, "host.example.test")
	wantNotFound(t, "CNAME NODATA", err)
	_, err = r.LookupIP(ctx, "txt.example.test")
	wantNotFound(t, "IP NODATA", err)
}

func TestErrorRcodes(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "x"`)
	r := s.Resolver()
	ctx := context.Background()

	s.Fail("example.test", mdns.RcodeServerFailure)
	_, err := r.LookupTXT(ctx, "example.test")
	le := wantLookupError(t, "SERVFAIL", err, "SERVFAIL")
	if le.Name != "example.test." || le.Type != "TXT" {
		t.Fatalf("Name, Type = %q, %q", le.Name, le.Type)
	}
	if !strings.Contains(err.Error(), "SERVFAIL") || !strings.Contains(err.Error(), "example.test.") {
		t.Fatalf("error text %q lacks rcode or name", err)
	}
	_, err = r.LookupIP(ctx, "example.test")
	wantLookupError(t, "SERVFAIL IP", err, "SERVFAIL")
	_, err = r.LookupCNAME(ctx, "example.test")
	wantLookupError(t, "SERVFAIL CNAME", err, "SERVFAIL")

	s.Fail("example.test", mdns.RcodeRefused)
	_, err = r.LookupMX(ctx, "example.test")
	wantLookupError(t, "REFUSED", err, "REFUSED")

	s.Unfail("example.test")
	if _, err := r.LookupTXT(ctx, "example.test"); err != nil {
		t.Fatalf("after Unfail: %v", err)
	}
}

func TestAttemptsRetryFailures(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Fail("example.test", mdns.RcodeServerFailure)
	r := &sesdns.Client{Servers: []string{s.Addr()}, Timeout: time.Second, Attempts: 3}
	before := s.Queries()
	_, err := r.LookupTXT(context.Background(), "example.test")
	wantLookupError(t, "SERVFAIL", err, "SERVFAIL")
	if n := s.Queries() - before; n != 3 {
		t.Fatalf("server got %d queries, want 3 (one per attempt)", n)
	}

	// NXDOMAIN is final: no retry.
	before = s.Queries()
	_, err = r.LookupTXT(context.Background(), "missing.example.test")
	wantNotFound(t, "NXDOMAIN", err)
	if n := s.Queries() - before; n != 1 {
		t.Fatalf("server got %d queries for NXDOMAIN, want 1", n)
	}
}

func TestDropTimesOut(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "x"`)
	s.Drop("example.test", true)
	r := s.Resolver()
	r.Timeout = 100 * time.Millisecond

	start := time.Now()
	_, err := r.LookupTXT(context.Background(), "example.test")
	elapsed := time.Since(start)
	wantLookupError(t, "dropped", err, "")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout net.Error inside", err)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("took %v", elapsed)
	}

	s.Drop("example.test", false)
	if _, err := r.LookupTXT(context.Background(), "example.test"); err != nil {
		t.Fatalf("after Drop off: %v", err)
	}
}

func TestContextCanceled(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "x"`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Resolver().LookupTXT(ctx, "example.test")
	wantLookupError(t, "canceled", err, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestNoServers(t *testing.T) {
	_, err := (&sesdns.Client{}).LookupTXT(context.Background(), "example.test")
	wantLookupError(t, "no servers", err, "")
}

func TestLookupMXSorted(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN MX 20 b.mx.test.`)
	s.Add(`example.test. 300 IN MX 10 Z.MX.test.`)
	s.Add(`example.test. 300 IN MX 10 a.mx.test.`)
	s.Add(`example.test. 300 IN MX 5 c.mx.test.`)
	got, err := s.Resolver().LookupMX(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []sesdns.MX{{"c.mx.test.", 5}, {"a.mx.test.", 10}, {"z.mx.test.", 10}, {"b.mx.test.", 20}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestLookupMXViaCNAME(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`bounce.example.test. 300 IN CNAME mail.example.test.`)
	s.Add(`mail.example.test. 300 IN MX 10 feedback-smtp.us-east-1.sesame.test.`)
	got, err := s.Resolver().LookupMX(context.Background(), "bounce.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if want := []sesdns.MX{{"feedback-smtp.us-east-1.sesame.test.", 10}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestLookupCNAME(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`tok1._domainkey.example.test. 300 IN CNAME Tok1.DKIM.Sesame.TEST.`)
	s.Add(`tok1.dkim.sesame.test. 300 IN CNAME next.sesame.test.`)
	s.Add(`next.sesame.test. 300 IN TXT "v=DKIM1; p=abc"`)
	r := s.Resolver()
	got, err := r.LookupCNAME(context.Background(), "TOK1._domainkey.example.test")
	if err != nil {
		t.Fatal(err)
	}
	// One hop, not the end of the chain.
	if want := "tok1.dkim.sesame.test."; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The TXT lookup follows the whole chain.
	txt, err := r.LookupTXT(context.Background(), "tok1._domainkey.example.test")
	if err != nil || !slices.Equal(txt, []string{"v=DKIM1; p=abc"}) {
		t.Fatalf("TXT via chain = %q, %v", txt, err)
	}
}

func TestLookupIP(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`mx.example.test. 300 IN A 192.0.2.1`)
	s.Add(`mx.example.test. 300 IN A 192.0.2.2`)
	s.Add(`mx.example.test. 300 IN AAAA 2001:db8::1`)
	s.Add(`v4.example.test. 300 IN A 192.0.2.9`)
	r := s.Resolver()
	got, err := r.LookupIP(context.Background(), "mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("2001:db8::1"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	got, err = r.LookupIP(context.Background(), "v4.example.test")
	if err != nil || !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.9")}) {
		t.Fatalf("v4 only: got %v, %v", got, err)
	}
	if !got[0].Is4() {
		t.Fatalf("%v is not a plain IPv4 address", got[0])
	}
}

// bigTXT adds n TXT records of about 200 bytes at name and returns them.
func bigTXT(s *dnstest.Server, name string, n int) []string {
	var want []string
	for i := range n {
		v := fmt.Sprintf("record-%03d-%s", i, strings.Repeat("x", 190))
		s.Add(fmt.Sprintf(`%s 300 IN TXT "%s"`, name, v))
		want = append(want, v)
	}
	return want
}

func TestTruncationFallsBackToTCP(t *testing.T) {
	s := dnstest.NewServer(t)
	// ~8 KB: over both 512 bytes and the client's EDNS0 size.
	want := bigTXT(s, "big.example.test.", 40)

	// Check the server really truncates over UDP, so the test means
	// something.
	m := new(mdns.Msg)
	m.SetQuestion("big.example.test.", mdns.TypeTXT)
	m.SetEdns0(1232, false)
	resp, _, err := (&mdns.Client{Net: "udp"}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Truncated || len(resp.Answer) >= len(want) {
		t.Fatalf("UDP reply not truncated: TC=%v, %d answers", resp.Truncated, len(resp.Answer))
	}

	got, err := s.Resolver().LookupTXT(context.Background(), "big.example.test")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
}

func TestTruncatedAndTCPFails(t *testing.T) {
	// A UDP-only server that always answers with TC set; nothing listens
	// on TCP.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Truncated = true
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })

	r := &sesdns.Client{Servers: []string{pc.LocalAddr().String()}, Timeout: 300 * time.Millisecond, Attempts: 1}
	_, err = r.LookupTXT(context.Background(), "example.test")
	wantLookupError(t, "truncated, no TCP", err, "")
}

func TestSecondServer(t *testing.T) {
	good := dnstest.NewServer(t)
	good.Add(`example.test. 300 IN TXT "from good"`)
	ctx := context.Background()

	t.Run("SERVFAIL", func(t *testing.T) {
		bad := dnstest.NewServer(t)
		bad.Fail("example.test", mdns.RcodeServerFailure)
		r := &sesdns.Client{Servers: []string{bad.Addr(), good.Addr()}, Timeout: time.Second, Attempts: 1}
		got, err := r.LookupTXT(ctx, "example.test")
		if err != nil || !slices.Equal(got, []string{"from good"}) {
			t.Fatalf("got %q, %v", got, err)
		}
		if bad.Queries() != 1 {
			t.Fatalf("bad server got %d queries, want 1", bad.Queries())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		bad := dnstest.NewServer(t)
		bad.Drop("example.test", true)
		r := &sesdns.Client{Servers: []string{bad.Addr(), good.Addr()}, Timeout: 100 * time.Millisecond, Attempts: 1}
		got, err := r.LookupTXT(ctx, "example.test")
		if err != nil || !slices.Equal(got, []string{"from good"}) {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		// A closed port: UDP gets "connection refused" on loopback.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := pc.LocalAddr().String()
		pc.Close()
		r := &sesdns.Client{Servers: []string{dead, good.Addr()}, Timeout: 300 * time.Millisecond, Attempts: 1}
		got, err := r.LookupTXT(ctx, "example.test")
		if err != nil || !slices.Equal(got, []string{"from good"}) {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("NXDOMAIN is final", func(t *testing.T) {
		empty := dnstest.NewServer(t)
		before := good.Queries()
		r := &sesdns.Client{Servers: []string{empty.Addr(), good.Addr()}, Timeout: time.Second}
		_, err := r.LookupTXT(ctx, "example.test")
		wantNotFound(t, "NXDOMAIN from first server", err)
		if n := good.Queries() - before; n != 0 {
			t.Fatalf("second server got %d queries after NXDOMAIN", n)
		}
	})
	t.Run("all fail", func(t *testing.T) {
		bad1 := dnstest.NewServer(t)
		bad1.Fail("example.test", mdns.RcodeServerFailure)
		bad2 := dnstest.NewServer(t)
		bad2.Fail("example.test", mdns.RcodeRefused)
		r := &sesdns.Client{Servers: []string{bad1.Addr(), bad2.Addr()}, Timeout: time.Second}
		_, err := r.LookupTXT(ctx, "example.test")
		wantLookupError(t, "all fail", err, "REFUSED")
		if bad1.Queries() != 2 || bad2.Queries() != 2 {
			t.Fatalf("queries = %d, %d; want 2 each (default Attempts)", bad1.Queries(), bad2.Queries())
		}
		for _, a := range []string{bad1.Addr(), bad2.Addr()} {
			if !strings.Contains(err.Error(), a) {
				t.Fatalf("error %q does not mention server %s", err, a)
			}
		}
	})
}

func TestNameForms(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`Mixed.Example.Test. 300 IN TXT "hello"`)
	r := s.Resolver()
	for _, name := range []string{
		"mixed.example.test",
		"mixed.example.test.",
		"MIXED.EXAMPLE.TEST",
		"MiXeD.eXaMpLe.TeSt.",
	} {
		got, err := r.LookupTXT(context.Background(), name)
		if err != nil || !slices.Equal(got, []string{"hello"}) {
			t.Errorf("%q: got %q, %v", name, got, err)
		}
	}
}

func TestInvalidName(t *testing.T) {
	s := dnstest.NewServer(t)
	_, err := s.Resolver().LookupTXT(context.Background(), strings.Repeat("a", 64)+".test")
	if err == nil || sesdns.IsNotFound(err) {
		t.Fatalf("err = %v, want a failure", err)
	}
	if s.Queries() != 0 {
		t.Fatalf("invalid name was sent to the server")
	}
}

func TestFqdn(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":  "example.com.",
		"example.com.": "example.com.",
		"":             ".",
		".":            ".",
	} {
		if got := sesdns.Fqdn(in); got != want {
			t.Errorf("Fqdn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServersFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	conf := "search corp.example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:5\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := sesdns.ServersFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, []byte("search corp.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sesdns.ServersFromFile(empty); err == nil {
		t.Fatal("no error for a resolv.conf without servers")
	}
	if _, err := sesdns.ServersFromFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestSystemServers(t *testing.T) {
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		t.Skip("no /etc/resolv.conf")
	}
	servers, err := sesdns.SystemServers()
	if err != nil {
		t.Skipf("SystemServers: %v", err)
	}
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			t.Errorf("server %q is not host:port: %v", s, err)
		}
	}
}

func TestConcurrentLookups(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`example.test. 300 IN TXT "x"`)
	r := s.Resolver()
	r.Timeout = 2 * time.Second
	errc := make(chan error, 200)
	for range 200 {
		go func() {
			_, err := r.LookupTXT(context.Background(), "example.test")
			errc <- err
		}()
	}
	for range 200 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestLookupAddr(t *testing.T) {
	s := dnstest.NewServer(t)
	s.Add(`7.2.0.192.in-addr.arpa. 300 IN PTR Mail-1.Provider.TEST.`)
	s.Add(`7.2.0.192.in-addr.arpa. 300 IN PTR mail-2.provider.test.`)
	// RFC 2317 classless delegation: the PTR is reached through a CNAME.
	s.Add(`9.2.0.192.in-addr.arpa. 300 IN CNAME 9.0-63.2.0.192.in-addr.arpa.`)
	s.Add(`9.0-63.2.0.192.in-addr.arpa. 300 IN PTR delegated.example.test.`)
	s.Add(`1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR six.example.test.`)
	s.Fail("8.2.0.192.in-addr.arpa.", mdns.RcodeServerFailure)
	r := s.Resolver()
	ctx := context.Background()

	for _, tc := range []struct {
		ip   string
		want []string
	}{
		{"192.0.2.7", []string{"mail-1.provider.test.", "mail-2.provider.test."}},
		{"::ffff:192.0.2.7", []string{"mail-1.provider.test.", "mail-2.provider.test."}},
		{"192.0.2.9", []string{"delegated.example.test."}},
		{"2001:db8::1", []string{"six.example.test."}},
	} {
		got, err := r.LookupAddr(ctx, netip.MustParseAddr(tc.ip))
		if err != nil {
			t.Fatalf("%s: %v", tc.ip, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%s: got %q, want %q", tc.ip, got, tc.want)
		}
	}

	_, err := r.LookupAddr(ctx, netip.MustParseAddr("192.0.2.10"))
	wantNotFound(t, "no PTR", err)
	_, err = r.LookupAddr(ctx, netip.MustParseAddr("192.0.2.8"))
	wantLookupError(t, "SERVFAIL", err, "SERVFAIL")
	_, err = r.LookupAddr(ctx, netip.Addr{})
	var le *sesdns.LookupError
	if !errors.As(err, &le) {
		t.Fatalf("invalid address: err = %v, want *LookupError", err)
	}
}
