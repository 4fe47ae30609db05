package db_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestCommitsAreDurable: an accepted message is on disk before the API
// answers, so every connection of the pool must run with SQLite's
// synchronous=FULL (NORMAL in WAL mode may roll back a committed
// transaction after power loss) and PostgreSQL's synchronous_commit on.
func TestCommitsAreDurable(t *testing.T) {
	ctx := context.Background()
	// settingOnConns reads query on n connections held at once, so the
	// whole pool is checked, not only its first connection.
	settingOnConns := func(t *testing.T, d *db.DB, query string, n int) []string {
		t.Helper()
		var mu sync.Mutex
		var out []string
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				err := d.InTx(ctx, func(tx *db.Tx) error {
					var v string
					if err := tx.QueryRow(ctx, query).Scan(&v); err != nil {
						return err
					}
					mu.Lock()
					out = append(out, v)
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		return out
	}
	t.Run("sqlite", func(t *testing.T) {
		d := dbtest.SQLite(t)
		for _, v := range settingOnConns(t, d, `PRAGMA synchronous`, 4) {
			if v != "2" { // 2 = FULL
				t.Fatalf("PRAGMA synchronous = %s, want 2 (FULL)", v)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		for _, setting := range []string{"", "off"} {
			u, err := url.Parse(dbtest.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			if setting != "" {
				// A URL (or server) that weakens commits is overridden.
				q := u.Query()
				q.Set("synchronous_commit", setting)
				u.RawQuery = q.Encode()
			}
			d, err := db.Open(ctx, db.Options{URL: u.String()})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range settingOnConns(t, d, `SHOW synchronous_commit`, 4) {
				if v == "off" {
					t.Errorf("synchronous_commit=%q in the URL: a connection runs with synchronous_commit=off", setting)
				}
			}
			d.Close()
		}
	})
}
