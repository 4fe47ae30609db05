package smtpsubmit

import (
	"context"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/testkit"
)

// TestAuthGuard: failures from one address make its attempts wait longer
// and longer, then refuse it for the block time; a success of the user
// that failed clears the count, another user's does not; failures are
// forgotten; IPv6 addresses count by /64.
func TestAuthGuard(t *testing.T) {
	clock := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newAuthGuard(clock.Now, 2, 5, time.Second, time.Hour)
	var slept []time.Duration
	g.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	ctx := context.Background()
	const ip = "192.0.2.1"
	for i := range 5 {
		if err := g.wait(ctx, ip); err != nil {
			t.Fatalf("attempt %d refused: %v", i, err)
		}
		n, blocked := g.fail(ip, "AKIAVICTIM000001")
		if n != i+1 || blocked != (i == 4) {
			t.Fatalf("failure %d: n %d blocked %v", i, n, blocked)
		}
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; len(slept) != 3 || slept[0] != want[0] || slept[1] != want[1] || slept[2] != want[2] {
		t.Errorf("waits %v; want %v", slept, want)
	}
	if err := g.wait(ctx, ip); err == nil || g.refuseConn(ip) == "" {
		t.Fatal("blocked address not refused")
	}
	if g.refuseConn("192.0.2.2") != "" || g.wait(ctx, "192.0.2.2") != nil {
		t.Fatal("another address refused")
	}
	g.success(ip, "AKIAVICTIM000001") // a success does not lift a block
	if g.refuseConn(ip) == "" {
		t.Fatal("a success lifted the block")
	}
	clock.Advance(time.Hour)
	if g.refuseConn(ip) != "" {
		t.Fatal("still refused after the block")
	}
	clock.Advance(time.Hour)
	if d, b := g.check(ip); d != 0 || b != 0 {
		t.Fatalf("failures not forgotten: wait %v, blocked %v", d, b)
	}

	// A success of the user that failed (a mistyped password) clears
	// the count.
	g.fail(ip, "AKIAUSER00000001")
	g.fail(ip, "AKIAUSER00000001")
	g.success(ip, "AKIAUSER00000001")
	if d, _ := g.check(ip); d != 0 {
		t.Fatalf("wait %v after a success", d)
	}

	// A success with another key does not: a client holding one valid
	// key cannot wipe its guesses at others' keys and guess on.
	g.fail(ip, "AKIAVICTIM000001")
	g.fail(ip, "AKIAVICTIM000001")
	g.success(ip, "AKIAOWNKEY000001")
	if d, _ := g.check(ip); d != time.Second {
		t.Fatalf("wait %v after another key's success; want %v", d, time.Second)
	}
	// Nor once failures for several users were counted.
	g.fail(ip, "AKIAOWNKEY000001")
	g.success(ip, "AKIAOWNKEY000001")
	if n, _ := g.fail(ip, "AKIAVICTIM000001"); n != 4 {
		t.Fatalf("count %d after a success among mixed failures; want 4", n)
	}
	clock.Advance(2 * time.Hour)

	// One IPv6 /64 is one client.
	for range 5 {
		g.fail("2001:db8:1:2::1", "u")
	}
	if g.refuseConn("2001:db8:1:2:ffff::9") == "" || g.refuseConn("2001:db8:1:3::1") != "" {
		t.Fatal("IPv6 addresses not counted by /64")
	}
}

// TestLoginServer: the LOGIN exchange, with and without the user name as
// initial response.
func TestLoginServer(t *testing.T) {
	for _, ir := range [][]byte{nil, []byte("user")} {
		var gotUser, gotPass string
		s := &loginServer{auth: func(u, p string) error { gotUser, gotPass = u, p; return nil }}
		ch, done, err := s.Next(ir)
		if ir == nil {
			if string(ch) != "Username:" || done || err != nil {
				t.Fatalf("first challenge %q %v %v", ch, done, err)
			}
			ch, done, err = s.Next([]byte("user"))
		}
		if string(ch) != "Password:" || done || err != nil {
			t.Fatalf("password challenge %q %v %v", ch, done, err)
		}
		if _, done, err = s.Next([]byte("pass")); !done || err != nil || gotUser != "user" || gotPass != "pass" {
			t.Fatalf("end: %v %v, %q %q", done, err, gotUser, gotPass)
		}
		if _, _, err := s.Next(nil); err == nil {
			t.Fatal("a response after the end accepted")
		}
	}
}
