package testkit

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// SilentConns opens n TCP connections to addr from the local addresses
// from (loopback ones such as 127.0.0.2) in turn, and sends nothing on
// them: a client holding connections open. It returns them in the order
// opened; they are closed when the test ends.
func SilentConns(t testing.TB, addr string, from []string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from[i%len(from)])}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// Loopbacks returns n loopback addresses other than 127.0.0.1: 127.0.0.2,
// 127.0.0.3, ... (all of 127/8 is loopback on Linux).
func Loopbacks(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("127.0.0.%d", i+2))
	}
	return out
}

// Closed reports whether the peer closed c: a read within wait returns an
// error other than a timeout.
func Closed(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// WaitFor polls cond every millisecond for up to 5 seconds, and fails the
// test if it does not hold by then.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
