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
		accepted := make(chan net.Conn, 1)
		go func() {
			for {
				c, err := lln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
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
