package app_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestAPIConnectionCap: with --api-max-conns connections open and silent,
// a newcomer is served at once: the oldest silent connection is closed to
// make room (it used to wait in the kernel's backlog until one closed).
func TestAPIConnectionCap(t *testing.T) {
	r := startWith(t, dbtest.SQLite(t), func(c *config.Config) { c.APIMaxConns = 2 })
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", r.ready.API)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + r.ready.API + "/v2/email/account")
	if err != nil {
		t.Fatalf("a third connection with two silent ones open and a cap of 2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: %s, want 403", resp.Status)
	}
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the oldest silent connection after a newcomer at the cap: %v, want it closed", err)
	}
}

// TestAPISilentFlood is the review's hog.py: thousands of connections
// that send nothing, from one address (over --api-max-conns-per-ip) or
// from ten (together over --api-max-conns), and a real SDK call is still
// answered at once (it used to take 26-30 s).
func TestAPISilentFlood(t *testing.T) {
	r := startWith(t, dbtest.SQLite(t), func(c *config.Config) { c.APIMaxConnsPerIP = config.DefaultAPIMaxConnsPerIP })
	for _, c := range []struct {
		name string
		from []string
	}{
		{"one address", []string{"127.0.0.1"}},
		{"ten addresses", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9", "127.0.0.10", "127.0.0.11"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			silentConns(t, r.ready.API, c.from, 3000)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, v2 := clients("http://"+r.ready.API, r.key.AccessKeyID, r.key.Secret) // a new connection
			start := time.Now()
			_, err := v2.GetAccount(ctx, &sesv2.GetAccountInput{})
			took := time.Since(start)
			if err != nil || took > 2*time.Second {
				t.Errorf("GetAccount with %d silent connections from %d addresses: %v after %v, want an answer within 2s", 3000, len(c.from), err, took.Round(time.Millisecond))
			}
			t.Logf("GetAccount answered in %v", took.Round(time.Millisecond))
		})
	}
}

// silentConns opens n connections to addr from the given loopback
// addresses in turn and sends nothing on them; they are closed when the
// test ends.
func silentConns(t *testing.T, addr string, from []string, n int) {
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
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
