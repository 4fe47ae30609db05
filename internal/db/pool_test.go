package db_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestStmtCache: on SQLite a statement is prepared once and reused, in and
// out of transactions; texts built per call beyond the bounds, and DDL,
// are not kept. PostgreSQL keeps none (pgx caches per connection).
func TestStmtCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		p0, c0 := d.StmtStats()
		for i := range 20 {
			name := fmt.Sprintf("k%d", i)
			if _, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, "v"); err != nil {
				t.Fatal(err)
			}
			var v string
			if err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil || v != "v" {
				t.Fatalf("read back %q: %q %v", name, v, err)
			}
			err := d.InTx(ctx, func(tx *db.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE settings SET value = ? WHERE name = ?`, "w", name)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// A long IN list and DDL run, unprepared.
		args := make([]any, 100)
		for i := range args {
			args[i] = fmt.Sprintf("k%d", i)
		}
		var n int
		in := `SELECT COUNT(*) FROM settings WHERE value = 'w' AND name IN (?` + strings.Repeat(", ?", len(args)-1) + `)`
		if err := d.QueryRow(ctx, in, args...).Scan(&n); err != nil || n != 20 {
			t.Fatalf("IN list: n=%d err=%v", n, err)
		}
		if _, err := d.Exec(ctx, `CREATE TABLE scratch (x INTEGER)`); err != nil {
			t.Fatal(err)
		}
		p, c := d.StmtStats()
		if d.Dialect == db.Postgres {
			if p != p0 || c != c0 {
				t.Fatalf("PostgreSQL: %d prepared, %d cached, want none (pgx caches)", p-p0, c-c0)
			}
			return
		}
		// INSERT, SELECT, UPDATE (the UPDATE once the first transaction
		// has ended): one preparation each.
		if p-p0 != 3 || c-c0 != 3 {
			t.Fatalf("SQLite: %d prepared, %d cached, want 3 and 3", p-p0, c-c0)
		}
	})
}

// TestTxQuerySameTextNested: while a query's rows are open in a
// transaction, the same text runs again in it (a query per row) and both
// give their own results. SQLite only: pgx refuses any second statement
// on a transaction while rows are open ("conn busy"), so code that runs on
// both stores never does this, but a reused SQLite statement handle would
// silently reset the outer rows.
func TestTxQuerySameTextNested(t *testing.T) {
	{
		d := dbtest.SQLite(t)
		ctx := context.Background()
		for i := range 3 {
			d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprintf("n%d", i), fmt.Sprintf("n%d", (i+1)%3))
		}
		const q = `SELECT name, value FROM settings WHERE name >= ? ORDER BY name`
		for round := range 3 { // the first round caches the text
			err := d.InTx(ctx, func(tx *db.Tx) error {
				rows, err := tx.Query(ctx, q, "n")
				if err != nil {
					return err
				}
				defer rows.Close()
				var got []string
				for rows.Next() {
					var name, next string
					if err := rows.Scan(&name, &next); err != nil {
						return err
					}
					var inner []string
					rs, err := tx.Query(ctx, q, next)
					if err != nil {
						return err
					}
					for rs.Next() {
						var a, b string
						rs.Scan(&a, &b)
						inner = append(inner, a)
					}
					rs.Close()
					var v string
					if err := tx.QueryRow(ctx, q, name).Scan(&v, new(string)); err != nil || v != name {
						return fmt.Errorf("QueryRow %s: %q %v", name, v, err)
					}
					got = append(got, name+":"+strings.Join(inner, ","))
				}
				if err := rows.Err(); err != nil {
					return err
				}
				if want := "n0:n1,n2 n1:n2 n2:n0,n1,n2"; strings.Join(got, " ") != want {
					return fmt.Errorf("round %d: %q, want %q", round, strings.Join(got, " "), want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if p, _ := d.StmtStats(); p == 0 {
			t.Fatal("the query was never prepared for the cache")
		}
	}
}

// TestConcurrentReadersAndWriters: many goroutines write in transactions
// and outside them while others read; none fails (no SQLITE_BUSY), and a
// read right after a commit sees it.
func TestConcurrentReadersAndWriters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 25 {
					name := fmt.Sprintf("w%d-%d", w, i)
					var err error
					if i%2 == 0 {
						err = d.InTx(ctx, func(tx *db.Tx) error {
							var n int
							if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM settings WHERE name = ?`, name).Scan(&n); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, "v")
							return err
						})
					} else {
						_, err = d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, "v")
					}
					if err != nil {
						t.Errorf("write %s: %v", name, err)
						return
					}
					var v string
					if err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
						t.Errorf("read after commit %s: %v", name, err)
						return
					}
				}
			})
		}
		for range 8 {
			wg.Go(func() {
				for range 50 {
					rows, err := d.Query(ctx, `SELECT name FROM settings ORDER BY name`)
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
					for rows.Next() {
					}
					if err := rows.Close(); err != nil {
						t.Errorf("read: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		var n int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM settings WHERE name LIKE 'w%'`).Scan(&n); err != nil || n != 200 {
			t.Fatalf("rows = %d, %v; want 200", n, err)
		}
	})
}

// TestCloseReleasesAll: Close closes the cached statements and every
// connection; its goroutines end.
func TestCloseReleasesAll(t *testing.T) {
	ctx := context.Background()
	for _, open := range []func(testing.TB) *db.DB{dbtest.SQLite, dbtest.Postgres} {
		d := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprint(i), "v")
				d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, fmt.Sprint(i)).Scan(new(string))
			})
		}
		wg.Wait()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if _, c := d.StmtStats(); c != 0 {
			t.Fatalf("%s: %d statements cached after Close", d.Dialect, c)
		}
		if _, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES ('x', 'v')`); err == nil {
			t.Fatalf("%s: Exec after Close succeeded", d.Dialect)
		}
		if err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, "1").Scan(new(string)); err == nil {
			t.Fatalf("%s: QueryRow after Close succeeded", d.Dialect)
		}
	}
	// The pools' goroutines end (database/sql's opener, modernc's none).
	base := runtime.NumGoroutine()
	for range 20 {
		d := dbtest.SQLite(t)
		d.QueryRow(ctx, `SELECT COUNT(*) FROM settings`).Scan(new(int))
		d.Exec(ctx, `DELETE FROM settings`)
		d.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base+2 {
		t.Fatalf("%d goroutines after opening and closing 20 databases, %d before", g, base)
	}
}
