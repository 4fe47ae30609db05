package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/push"
)

func TestEventsFailedAndRetry(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"acme", "other"} {
		if out, err := sesame(t, dir, "account", "create", "--name", name); err != nil {
			t.Fatalf("account create: %v\n%s", err, out)
		}
	}
	// Park one notification of each account: the endpoint refuses it for good.
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer srv.Close()
	d, err := db.Open(ctx, db.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	q, err := push.New(push.Options{DB: d})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme", "other"} {
		var id string
		if err := d.QueryRow(ctx, `SELECT id FROM accounts WHERE name = ?`, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if err := q.Add(ctx, push.Delivery{AccountID: id, Endpoint: srv.URL + "/" + name, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("RunOnce: %d %v", n, err)
	}
	d.Close()

	out, err := sesame(t, dir, "events", "failed", "--account", "acme")
	if err != nil || !strings.Contains(out, srv.URL+"/acme") || strings.Contains(out, "/other") || !strings.Contains(out, "403") {
		t.Fatalf("events failed --account acme: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "events", "failed")
	if err != nil || !strings.Contains(out, "/acme") || !strings.Contains(out, "/other") {
		t.Fatalf("events failed: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"events", "retry"}, {"events", "retry", "--all", "1"}, {"events", "retry", "x"}} {
		if out, err := sesame(t, dir, args...); err == nil {
			t.Errorf("%v accepted:\n%s", args, out)
		}
	}
	out, err = sesame(t, dir, "events", "retry", "1")
	if err != nil || !strings.Contains(out, "1 parked notifications will be sent again") {
		t.Fatalf("events retry 1: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "events", "retry", "--all")
	if err != nil || !strings.Contains(out, "1 parked notifications will be sent again") {
		t.Fatalf("events retry --all: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "events", "failed")
	if err != nil || strings.Contains(out, srv.URL) {
		t.Fatalf("events failed after retry: %v\n%s", err, out)
	}
}
