package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/reputation"
)

// createSet creates the configuration set of the account (by name) in the
// data directory dir, as the API would.
func createSet(t *testing.T, dir, acctName, set string) {
	t.Helper()
	a, err := app.Open(context.Background(), config.Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	acct, err := a.Accounts.Find(context.Background(), acctName)
	if err == nil {
		err = a.ConfigSets.Create(context.Background(), configset.NewSet(acct.ID, set))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestReputationCommands: `configset threshold` sets and clears a set's
// threshold with checked rates; `account reinstate` lifts a SHUTDOWN,
// resumes sending and queues a notice to the owner.
func TestReputationCommands(t *testing.T) {
	dir := t.TempDir()
	if out, err := sesame(t, dir, "account", "create", "--name", "acme", "--email", "ops@acme.example"); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	// A threshold needs the set: none yet.
	if out, err := sesame(t, dir, "configset", "threshold", "acme", "news", "--bounce-rate", "5%"); err == nil || !strings.Contains(err.Error(), `no configuration set "news"`) {
		t.Fatalf("threshold of a set that does not exist: %v\n%s", err, out)
	}
	createSet(t, dir, "acme", "news")
	out, err := sesame(t, dir, "configset", "threshold", "acme", "news", "--bounce-rate", "5%", "--complaint-rate", "0.001")
	if err != nil || !strings.Contains(out, "bounce rate threshold     5%") || !strings.Contains(out, "complaint rate threshold  0.1%") {
		t.Fatalf("configset threshold: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"configset", "threshold", "acme", "news", "--bounce-rate", "150%"},
		{"configset", "threshold", "acme", "news", "--complaint-rate", "x"},
		{"configset", "threshold", "acme", "news", "--clear", "--bounce-rate", "0.1"},
		{"configset", "threshold", "acme"},
		{"configset", "threshold", "nosuch", "news", "--bounce-rate", "0.1"},
	} {
		if out, err := sesame(t, dir, bad...); err == nil {
			t.Fatalf("%v accepted:\n%s", bad, out)
		}
	}
	out, err = sesame(t, dir, "configset", "threshold", "acme", "news", "--clear")
	if err != nil || !strings.Contains(out, "bounce rate threshold     none") {
		t.Fatalf("configset threshold --clear: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "account", "reinstate", "acme"); err == nil || !strings.Contains(err.Error(), "HEALTHY") {
		t.Fatalf("reinstating a HEALTHY account: %v\n%s", err, out)
	}

	// Shut the account down the way the server would.
	ctx := context.Background()
	a, err := app.Open(ctx, config.Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	acct, err := a.Accounts.Find(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	g, err := reputation.New(reputation.Options{DB: a.DB,
		Totals: func(context.Context, string, string, time.Time) (reputation.Totals, error) {
			return reputation.Totals{Sends: 1000, Complaints: 5}, nil
		},
		PauseAccount: func(ctx context.Context, id string) error { return a.Accounts.SetSendingEnabled(ctx, id, false) },
		PauseSet:     func(context.Context, string, string) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Evaluate(ctx, acct.ID, nil); err != nil {
		t.Fatal(err)
	}
	if s, _ := g.Status(ctx, acct.ID); s != reputation.Shutdown {
		t.Fatalf("status %s", s)
	}
	a.Close()

	out, err = sesame(t, dir, "account", "reinstate", "acme")
	if err != nil || !strings.Contains(out, "is reinstated") {
		t.Fatalf("account reinstate: %v\n%s", err, out)
	}
	a, err = app.Open(ctx, config.Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if s, _ := a.Reputation.Status(ctx, acct.ID); s != reputation.Healthy {
		t.Fatalf("status after reinstate %s", s)
	}
	if x, _ := a.Accounts.Get(ctx, acct.ID); !x.SendingEnabled {
		t.Fatal("sending still paused")
	}
	var n int
	if err := a.DB.QueryRow(ctx, `SELECT COUNT(*) FROM recipients WHERE address = ?`, "ops@acme.example").Scan(&n); err != nil || n != 1 {
		t.Fatalf("notices queued to the owner: %d, %v", n, err)
	}
}
