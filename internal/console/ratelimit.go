package console

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// limiter counts sign-in attempts per client address (an IPv6 /64) in
// fixed windows: more than max in one window are refused until it ends.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	slots map[netip.Prefix]*slot
}

type slot struct {
	start time.Time
	n     int
}

// clientPrefix is the address of remoteAddr ("ip:port"), as a /32 or a /64.
func clientPrefix(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// allow counts one attempt from remoteAddr at now and reports whether it
// is within the limit.
func (l *limiter) allow(remoteAddr string, now time.Time) bool {
	p := clientPrefix(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = map[netip.Prefix]*slot{}
	}
	if len(l.slots) > 10000 { // forget finished windows when the map grows
		for k, s := range l.slots {
			if now.Sub(s.start) >= l.window {
				delete(l.slots, k)
			}
		}
	}
	s := l.slots[p]
	if s == nil || now.Sub(s.start) >= l.window {
		s = &slot{start: now}
		l.slots[p] = s
	}
	s.n++
	return s.n <= l.max
}
