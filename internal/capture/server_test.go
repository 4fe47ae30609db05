package capture_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestServer delivers to the capture MX over SMTP on loopback: a message
// whose return path names a message Sesame sent is stored under its
// account and MessageId; another is stored under none; a store that
// fails gives a temporary reply, so the sender retries instead of
// bouncing.
func TestServer(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=none")
	d := dbtest.SQLite(t)
	store, err := capture.NewStore(capture.StoreOptions{DB: d})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []*capture.Message
	srv, err := capture.NewServer(capture.ServerOptions{Hostname: "capture.localhost", Verifier: z.v, Store: store,
		Sent: func(_ context.Context, id string) (string, bool, error) {
			if id == "0100-known" {
				return "111111111111", true, nil
			}
			return "", false, nil
		},
		Captured: func(m *capture.Message) { mu.Lock(); seen = append(seen, m); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	send := func(from, msg string) error {
		t.Helper()
		c, err := smtp.Dial(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("mta.ex.example"); err != nil {
			t.Fatal(err)
		}
		return c.SendMail(from, []string{"a@rcpt.example", "b@rcpt.example"}, strings.NewReader(msg))
	}
	signed := string(z.signed(t, "App <app@ex.example>"))
	if err := send("0100-known@mail.ex.example", signed); err != nil {
		t.Fatal(err)
	}
	if err := send("stranger@mail.ex.example", "From: s@ex.example\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	list, _, err := store.List(context.Background(), "111111111111", capture.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("the account's captured: %v %v", list, err)
	}
	m := list[0]
	if m.MessageID != "0100-known" || m.MailFrom != "0100-known@mail.ex.example" || m.From != "App <app@ex.example>" || m.Subject != "hi" ||
		strings.Join(m.Recipients, " ") != "a@rcpt.example b@rcpt.example" || m.Verdicts.String() != "dkim=pass spf=pass dmarc=pass" {
		t.Errorf("captured %+v", m)
	}
	if l, _, _ := store.List(context.Background(), "", capture.Filter{}); len(l) != 1 || l[0].Subject != "café" || l[0].MessageID != "" {
		t.Errorf("unknown message: %+v", l)
	}
	mu.Lock()
	if len(seen) != 2 {
		t.Errorf("Captured told %d messages, want 2", len(seen))
	}
	mu.Unlock()

	d.Close()
	if got := testkit.SMTPReply(send("0100-known@mail.ex.example", signed)); !strings.HasPrefix(got, "451 4.3.0") {
		t.Errorf("with the store down: %s, want 451 4.3.0", got)
	}
}

// TestServerStopsWhenCancelledEarly: Serve with a context that ends
// before (or while) it starts still returns and closes its listener —
// `sesame dev` cancels it at once when the rest fails to start. (The
// context's watcher could close the SMTP server before go-smtp had taken
// the listener, and Accept then waited for ever.)
func TestServerStopsWhenCancelledEarly(t *testing.T) {
	store, err := capture.NewStore(capture.StoreOptions{DB: dbtest.SQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		srv, err := capture.NewServer(capture.ServerOptions{Hostname: "capture.localhost", Verifier: &capture.Verifier{}, Store: store,
			Sent: func(context.Context, string) (string, bool, error) { return "", false, nil }})
		if err != nil {
			t.Fatal(err)
		}
		ln := loopback(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: Serve: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			ln.Close()
			t.Fatalf("run %d: Serve did not return after its context ended", i)
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("run %d: the listener is still open: Accept %v", i, err)
		}
	}
}

// loopback is a TCP listener on a free loopback port.
func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
