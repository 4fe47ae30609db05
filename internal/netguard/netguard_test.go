package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/netguard"
)

func TestWhy(t *testing.T) {
	refused := []string{"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "fd00:ec2::254",
		"169.254.169.254", "fe80::1", "0.0.0.0", "::", "100.100.100.200", "224.0.0.1", "ff02::1", "255.255.255.255",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "198.18.0.1", "0.1.2.3"}
	for _, s := range refused {
		if netguard.Why(netip.MustParseAddr(s)) == "" {
			t.Errorf("%s is allowed", s)
		}
	}
	allowed := []string{"8.8.8.8", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "172.32.0.1", "100.128.0.1"}
	for _, s := range allowed {
		if why := netguard.Why(netip.MustParseAddr(s)); why != "" {
			t.Errorf("%s is refused: %s", s, why)
		}
	}
}

// fakeResolver answers every name with its addresses.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestCheckURL(t *testing.T) {
	r := fakeResolver{
		"public.example":   {netip.MustParseAddr("93.184.216.34")},
		"rebind.example":   {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("169.254.169.254")},
		"internal.example": {netip.MustParseAddr("10.1.2.3")},
	}
	for raw, ok := range map[string]bool{
		"https://public.example/hook":             true,
		"http://nxdomain.example/":                true,
		"http://93.184.216.34:8080/":              true,
		"http://127.0.0.1:9000/":                  false,
		"http://[::1]/":                           false,
		"http://169.254.169.254/latest/meta-data": false,
		"http://[::ffff:a9fe:a9fe]/":              false,
		"http://localhost:8080/":                  false,
		"http://LOCALHOST./":                      false,
		"http://api.localhost/":                   false,
		"http://rebind.example/":                  false,
		"https://internal.example/":               false,
	} {
		err := netguard.CheckURL(t.Context(), r, raw)
		if ok != (err == nil) {
			t.Errorf("CheckURL(%s) = %v; want allowed %v", raw, err, ok)
		}
		if err != nil && !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("CheckURL(%s) = %v; not ErrForbidden", raw, err)
		}
	}
}

// TestTransport: a client on Transport does not reach a loopback server,
// by address or by a name resolving to it, and says why.
func TestTransport(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	c := &http.Client{Transport: netguard.Transport(), Timeout: 5 * time.Second}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		_, err := c.Get(u)
		if err == nil || !errors.Is(err, netguard.ErrForbidden) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("GET %s: %v; want a refusal naming the loopback address", u, err)
		}
	}
	if hit {
		t.Error("the loopback server was reached")
	}
}
