package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestUpgradeFeedbackApplied: a database at migration 0005 with rows —
// messages, recipients, suppressed addresses, reports applied — upgrades
// on both stores, and 0006 carries over what is portable of the reports
// applied: each address suppressed for BOUNCE or COMPLAINT because of a
// message still kept, that it was a recipient of, gets its
// once-per-recipient key for that message, so that a report about it
// arriving after the upgrade is a duplicate. (0006 dropped
// feedback_reports and remembered nothing.)
func TestUpgradeFeedbackApplied(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db")+"?_pragma=foreign_keys(1)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		upgradeFeedback(t, &DB{sql: s, Dialect: SQLite})
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("SESAME_TEST_DATABASE_URL")
		if base == "" {
			if os.Getenv("SESAME_REQUIRE_POSTGRES") == "1" {
				t.Fatal("SESAME_REQUIRE_POSTGRES=1 but SESAME_TEST_DATABASE_URL is not set")
			}
			t.Skip("PostgreSQL not configured: set SESAME_TEST_DATABASE_URL")
		}
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		var b [6]byte
		rand.Read(b[:])
		schema := "upgrade_" + hex.EncodeToString(b[:])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := sql.Open("pgx", u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		upgradeFeedback(t, &DB{sql: s, Dialect: Postgres})
	})
}

func upgradeFeedback(t *testing.T, d *DB) {
	ctx := context.Background()
	ms, err := loadMigrations(d.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > 5 {
			break
		}
		for _, st := range splitStatements(m.sql) {
			if _, err := d.Exec(ctx, st); err != nil {
				t.Fatalf("%s: %v", m.name, err)
			}
		}
		if _, err := d.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'a', 0), ('a2', 'b', 0)`,
		`INSERT INTO messages (id, account_id, source, mail_from, mail_json, body, size, created_at) VALUES
			('m1', 'a1', 's@x.test', 'm1@y.test', '{}', '', 0, 0),
			('m2', 'a1', 's@x.test', 'm2@y.test', '{}', '', 0, 0),
			('m3', 'a2', 's@x.test', 'm3@y.test', '{}', '', 0, 0)`,
		`INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, created_at, updated_at) VALUES
			('m1', 'Bob@rcpt.test', 'rcpt.test', 'bounced', 0, 0, 0),
			('m1', 'carol@rcpt.test', 'rcpt.test', 'delivered', 0, 0, 0),
			('m2', 'dave@rcpt.test', 'rcpt.test', 'delivered', 0, 0, 0),
			('m3', 'erin@rcpt.test', 'rcpt.test', 'delivered', 0, 0, 0)`,
		// Bob bounced and Dave complained about a1's messages; Frank was
		// added by hand; Erin is suppressed in a1's list naming a2's
		// message (not a1's: nothing to carry over); Gina names a message
		// that is gone.
		`INSERT INTO suppressed_destinations (account_id, address_key, address, reason, message_id, feedback_id, updated_at) VALUES
			('a1', 'bob@rcpt.test', 'bob@rcpt.test', 'BOUNCE', 'm1', 'f1', 7),
			('a1', 'dave@rcpt.test', 'dave@rcpt.test', 'COMPLAINT', 'm2', 'f2', 8),
			('a1', 'frank@rcpt.test', 'frank@rcpt.test', 'BOUNCE', '', '', 9),
			('a1', 'erin@rcpt.test', 'erin@rcpt.test', 'BOUNCE', 'm3', 'f3', 10),
			('a1', 'gina@rcpt.test', 'gina@rcpt.test', 'BOUNCE', 'gone', 'f4', 11)`,
		`INSERT INTO feedback_reports (message_id, digest, kind, received_at) VALUES ('m1', 'abc', 'bounce', 0)`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := d.migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	rows, err := d.Query(ctx, `SELECT message_id, recipient, kind, applied_at FROM feedback_applied ORDER BY message_id, recipient`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type key struct {
		msg, rcpt, kind string
		at              int64
	}
	var got []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.msg, &k.rcpt, &k.kind, &k.at); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []key{{"m1", "bob@rcpt.test", "bounce", 7}, {"m2", "dave@rcpt.test", "complaint", 8}}
	if !slices.Equal(got, want) {
		t.Fatalf("feedback_applied after the upgrade = %+v; want %+v", got, want)
	}
}
