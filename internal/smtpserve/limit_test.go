package smtpserve

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestLimitRefusals: a connection over the cap, or one Refuse names, is
// told why and closed; on a Quiet listener (implicit TLS) it is closed
// without a byte, since its client expects a TLS handshake.
func TestLimitRefusals(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lln := Limit(ln, Limits{Max: 1, PerNetwork: 1, Quiet: quiet, Refuse: func(ip string) string {
			if ip == "127.0.0.2" {
				return "421 4.7.0 Go away"
			}
			return ""
		}})
		accepted := acceptAll(lln)
		first, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held := <-accepted // the one slot is taken
		for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			c, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang is a failure, not a pass
			got, err := io.ReadAll(bufio.NewReader(c))
			c.Close()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("quiet %v, from %s: not closed", quiet, from)
			}
			want := ""
			if !quiet {
				want = map[string]string{"127.0.0.1": TooMany, "127.0.0.2": "421 4.7.0 Go away"}[from] + "\r\n"
			}
			if string(got) != want {
				t.Errorf("quiet %v, from %s: got %q; want %q", quiet, from, got, want)
			}
		}
		held.Close()
		first.Close()
		lln.Close()
	}
}

// TestLimitOverall: Max bounds the connections of all clients together,
// each from its own network and within PerNetwork; a closed connection
// frees its slot.
func TestLimitOverall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := Limit(ln, Limits{Max: 2, PerNetwork: 5})
	defer lln.Close()
	accepted := acceptAll(lln)
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// reply is what a connection gets before it is closed ("" for a
	// connection that stays open: its read times out).
	reply := func(c net.Conn) string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		got, _ := io.ReadAll(c)
		return string(got)
	}
	dial("127.0.0.1")
	held := <-accepted
	dial("127.0.1.1") // another /24
	<-accepted
	third := dial("127.0.2.1")
	if got := reply(third); got != TooMany+"\r\n" {
		t.Fatalf("a third network over Max 2: %q; want %q", got, TooMany)
	}
	held.Close()
	fourth := dial("127.0.3.1")
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection after one closed was not accepted")
	}
	if got := reply(fourth); got != "" {
		t.Errorf("a connection within Max after a close: %q", got)
	}
}

// acceptAll accepts ln's connections until it is closed, handing each
// over on the channel it returns.
func acceptAll(ln net.Listener) <-chan net.Conn {
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return accepted
}
