// Package dbtest gives tests fresh databases: a new SQLite file per test,
// always, and a new PostgreSQL schema per test when SESAME_TEST_DATABASE_URL
// names a server. With SESAME_REQUIRE_POSTGRES=1 a missing or unreachable
// PostgreSQL fails the test instead of skipping it (CI sets both).
//
// It is imported only from _test.go files.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// EnvURL and EnvRequire are the environment variables read by this package.
const (
	EnvURL     = "SESAME_TEST_DATABASE_URL"
	EnvRequire = "SESAME_REQUIRE_POSTGRES"
)

// Each runs fn as two subtests, "sqlite" and "postgres", each on a fresh,
// migrated database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Dialects runs fn once per dialect as a benchmark; see Each.
func Dialects(b *testing.B, fn func(b *testing.B, d *db.DB)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) { fn(b, SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, Postgres(b)) })
}

// SQLite opens a fresh SQLite database in a temporary directory.
func SQLite(tb testing.TB) *db.DB {
	tb.Helper()
	d, err := db.Open(context.Background(), db.Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Postgres opens a fresh schema on the PostgreSQL server named by
// SESAME_TEST_DATABASE_URL; the schema is dropped when the test ends. It
// skips the test when the variable is unset or the server is unreachable,
// unless SESAME_REQUIRE_POSTGRES=1, in which case it fails.
func Postgres(tb testing.TB) *db.DB {
	tb.Helper()
	d, err := db.Open(context.Background(), db.Options{URL: PostgresURL(tb)})
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// PostgresURL creates a fresh schema on the server named by
// SESAME_TEST_DATABASE_URL, dropped when the test ends, and returns a URL
// whose search_path is that schema (for a child process under test). It
// skips or fails like Postgres.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvURL)
	require := os.Getenv(EnvRequire) == "1"
	if base == "" {
		if require {
			tb.Fatalf("%s=1 but %s is not set", EnvRequire, EnvURL)
		}
		tb.Skipf("PostgreSQL not configured: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run this test on PostgreSQL", EnvURL)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open %s: %v", EnvURL, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if require {
			tb.Fatalf("PostgreSQL at %s is unreachable and %s=1: %v", EnvURL, EnvRequire, err)
		}
		tb.Skipf("PostgreSQL at %s is unreachable: %v", EnvURL, err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "t_" + hex.EncodeToString(rnd[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
