package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestAPIConnectionCap: with --api-max-conns connections open and silent,
// a newcomer is served at once: the oldest silent connection is closed to
// make room (it used to wait in the kernel's backlog until one closed).
func TestAPIConnectionCap(t *testing.T) {
	r := startWith(t, dbtest.SQLite(t), func(c *config.Config) { c.APIMaxConns = 2 })
	held := testkit.SilentConns(t, r.ready.API, []string{"127.0.0.1"}, 2)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + r.ready.API + "/v2/email/account")
	if err != nil {
		t.Fatalf("a third connection with two silent ones open and a cap of 2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: %s, want 403", resp.Status)
	}
	if !testkit.Closed(held[0], 5*time.Second) {
		t.Error("the oldest silent connection is open after a newcomer at the cap")
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
		{"ten addresses", testkit.Loopbacks(10)},
	} {
		t.Run(c.name, func(t *testing.T) {
			testkit.SilentConns(t, r.ready.API, c.from, 3000)
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

// TestAPIHalfHeadFlood: connections that fill the caps with half a
// request head each (1,024 of them from 8 addresses, 128 per address)
// keep no one out: a connection is busy only once its head is whole, so a
// newcomer takes the place of one of them. (Bytes used to make a
// connection busy at once, and every newcomer was closed.)
func TestAPIHalfHeadFlood(t *testing.T) {
	r := startWith(t, dbtest.SQLite(t), func(c *config.Config) { c.APIMaxConnsPerIP = config.DefaultAPIMaxConnsPerIP })
	for _, c := range testkit.SilentConns(t, r.ready.API, testkit.Loopbacks(8), config.DefaultAPIMaxConns) {
		c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\n"))
	}
	time.Sleep(200 * time.Millisecond) // the server reads the half heads
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, v2 := clients("http://"+r.ready.API, r.key.AccessKeyID, r.key.Secret) // a new connection
	start := time.Now()
	_, err := v2.GetAccount(ctx, &sesv2.GetAccountInput{})
	if took := time.Since(start); err != nil || took > 2*time.Second {
		t.Errorf("GetAccount with the caps held by half-sent heads: %v after %v, want an answer within 2s", err, took.Round(time.Millisecond))
	}
}

// TestDNSSilentFlood: a thousand silent TCP connections to the DNS
// server, from one address and from ten (together over its 256), keep
// neither a TCP query nor a UDP one out, and are closed within the
// server's 2 s for a query.
func TestDNSSilentFlood(t *testing.T) {
	r := start(t, dbtest.SQLite(t))
	zone := svc + "."
	for _, from := range [][]string{{"127.0.0.1"}, testkit.Loopbacks(10)} {
		begin := time.Now()
		conns := testkit.SilentConns(t, r.ready.DNS, from, 1000)
		for _, netw := range []string{"udp", "tcp"} {
			m := new(dns.Msg)
			m.SetQuestion(zone, dns.TypeSOA)
			c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
			start := time.Now()
			resp, _, err := c.Exchange(m, r.ready.DNS)
			if took := time.Since(start); err != nil || resp.Rcode != dns.RcodeSuccess || took > time.Second {
				t.Errorf("%s query during a flood of silent TCP connections from %d addresses: %v after %v", netw, len(from), err, took)
			}
		}
		// The youngest, not closed for room: closed for its silence.
		if !testkit.Closed(conns[len(conns)-1], 5*time.Second) {
			t.Error("a silent TCP connection is open after 5 s")
		} else if took := time.Since(begin); took > 3*time.Second {
			t.Errorf("a silent TCP connection closed after %v, want within 2 s", took)
		}
	}
}
