// Package netguard keeps customer-given URLs (SNS http/https subscription
// endpoints) away from the deployment's own network: loopback, private,
// link-local (the cloud metadata address 169.254.169.254), shared
// (carrier-grade NAT, 100.64.0.0/10) and other special-purpose addresses.
// Endpoints are checked twice: when subscribed (CheckURL: an address given
// literally, a localhost name, a name resolving to such an address), and
// at every connection (Dialer), against the address actually dialled, so
// a name that resolves elsewhere later (DNS rebinding) is caught too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is what the errors of refused addresses are (errors.Is).
var ErrForbidden = errors.New("netguard: address not allowed")

// forbidden is the error of a refused address: its message says which and
// why, without a prefix (it is shown to customers).
type forbidden string

func (e forbidden) Error() string        { return string(e) }
func (e forbidden) Is(target error) bool { return target == ErrForbidden }

func forbid(format string, args ...any) error { return forbidden(fmt.Sprintf(format, args...)) }

// special are the special-purpose ranges (RFC 6890 and successors) that
// netip's predicates do not cover.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space (CGNAT; some clouds' metadata)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
}

// The IPv6 ranges that embed an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Why says why ip may not be connected to ("" when it may): loopback,
// private, link-local, multicast, unspecified or special-purpose. IPv4
// addresses embedded in IPv6 ones (IPv4-mapped, NAT64 64:ff9b::/96, 6to4
// 2002::/16) are judged as the IPv4 address.
func Why(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return Why(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return Why(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address (such as the metadata service's)"
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	for _, p := range special {
		if p.Contains(ip) {
			return "a special-purpose address"
		}
	}
	return ""
}

// refused is the error for ip (the address of host) being what why says.
func refused(host string, ip netip.Addr, why string) error {
	if host != "" && host != ip.String() {
		return forbid("%s resolves to %s, %s", host, ip, why)
	}
	return forbid("%s is %s", ip, why)
}

// Resolver looks up a host's addresses (net.Resolver's LookupNetIP).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL refuses an http(s) URL whose host is a refused address, a
// localhost name, or a name that r (nil: net.DefaultResolver) resolves,
// within 2 seconds, to at least one refused address. A name that does not
// resolve is accepted: it may exist later, and Dialer checks every
// connection.
func CheckURL(ctx context.Context, r Resolver, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := Why(ip); why != "" {
			return refused("", ip, why)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return forbid("%s is a loopback name", host)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if why := Why(ip); why != "" {
			return refused(host, ip, why)
		}
	}
	return nil
}

// control is a net.Dialer Control refusing the address about to be
// connected to, after any name resolution.
func control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return forbid("%s is not an IP address and port", address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return forbid("%s is not an IP address and port", address)
	}
	if why := Why(ip); why != "" {
		return refused("", ip, why)
	}
	return nil
}

// Dialer returns a dialer that refuses to connect to the addresses Why
// refuses, whatever name they were reached by.
func Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: control}
}

// Transport returns an HTTP transport like http.DefaultTransport that
// dials through Dialer and uses no proxy (a proxy would connect on its
// behalf, unchecked).
func Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = Dialer(30 * time.Second).DialContext
	return t
}
