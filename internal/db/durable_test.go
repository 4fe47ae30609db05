package db_test

import (
	"context"
	"database/sql"
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
		// Every read-only connection, held at once, runs every pragma the
		// writer does.
		const q = `SELECT s.synchronous, f.foreign_keys, b.timeout, j.journal_mode, o.query_only
			FROM pragma_synchronous s, pragma_foreign_keys f, pragma_busy_timeout b, pragma_journal_mode j, pragma_query_only o`
		var held []*sql.Rows
		defer func() {
			for _, r := range held {
				r.Close()
			}
		}()
		for range 4 {
			rows, err := d.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, rows)
			if !rows.Next() {
				t.Fatal(rows.Err())
			}
			var got [5]string
			if err := rows.Scan(&got[0], &got[1], &got[2], &got[3], &got[4]); err != nil {
				t.Fatal(err)
			}
			if want := [5]string{"2", "1", "10000", "wal", "1"}; got != want {
				t.Fatalf("reader: synchronous, foreign_keys, busy_timeout, journal_mode, query_only = %v, want %v", got, want)
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
