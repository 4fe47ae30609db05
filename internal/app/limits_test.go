package app_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestAPIConnectionCap: with --api-max-conns connections open, the API
// serves no other until one of them closes.
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
	get := func(timeout time.Duration) (*http.Response, error) {
		c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + r.ready.API + "/v2/email/account")
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	// Well inside the server's header timeout, after which it drops the
	// silent connections itself.
	if resp, err := get(300 * time.Millisecond); err == nil {
		t.Fatalf("a third connection was served with two open and a cap of 2: %s", resp.Status)
	}
	held[0].Close()
	resp, err := get(5 * time.Second)
	if err != nil {
		t.Fatalf("no answer once a connection closed: %v", err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: %s, want 403", resp.Status)
	}
}
