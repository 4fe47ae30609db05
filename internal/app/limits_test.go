package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

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
