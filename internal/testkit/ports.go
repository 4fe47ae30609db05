package testkit

import (
	"net"
	"strconv"
	"testing"
)

// FreePorts returns the first of n consecutive ports that are free on
// 127.0.0.1 for both TCP and UDP (for `sesame dev --port`), failing the
// test when it finds none. Another process may still take one before the
// caller binds it.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+n > 65535 {
			continue
		}
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatal("testkit: no block of free ports")
	return 0
}

func portsFree(base, n int) bool {
	var held []interface{ Close() error }
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	for p := base; p < base+n; p++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		held = append(held, l)
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		held = append(held, u)
	}
	return true
}
