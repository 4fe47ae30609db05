package testkit

import (
	"context"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
)

// Before0007 puts a migrated database back to the schema before migration
// 0007 (identity hardening), as a database written by the previous
// version has it: no verification_mails or identities_name, a
// pending_mail table, and 0007 not recorded. The next db.Open applies
// 0007 again.
func Before0007(t testing.TB, q db.Querier) {
	t.Helper()
	for _, stmt := range []string{
		`DROP TABLE verification_mails`,
		`DROP INDEX identities_name`,
		`CREATE TABLE pending_mail (id BIGINT PRIMARY KEY, account_id TEXT NOT NULL, identity_id BIGINT, kind TEXT NOT NULL, recipient TEXT NOT NULL,
			subject TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, sent_at BIGINT NOT NULL DEFAULT 0)`,
		`DELETE FROM schema_migrations WHERE version = 7`,
	} {
		if _, err := q.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}
