package db_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
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
		upgradeFeedback(t, db.SQLite, filepath.Join(t.TempDir(), "sesame.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		upgradeFeedback(t, db.Postgres, dbtest.PostgresURL(t))
	})
}

func upgradeFeedback(t *testing.T, dialect db.Dialect, dsn string) {
	ctx := context.Background()
	d, err := db.OpenAt(ctx, dialect, dsn, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
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
	if err := d.Migrate(ctx); err != nil {
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
