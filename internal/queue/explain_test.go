package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// hotQueries are the statements the send path runs for every message (or
// every batch), as their packages write them: admission's lookups,
// enqueueing's reads, the delivery worker's claim and outcome, and the
// publisher's outbox claim. The copies must follow the originals
// (queue.go, account, identity, suppression, publish); INSERTs are left
// out (they search nothing). The args only give the placeholders values.
// index, when set, is the index the plan must search, and the only one of
// its table: a query that another index could also serve, badly, when the
// statistics mislead the planner.
var hotQueries = []struct {
	name, sql string
	args      []any
	pgOnly    bool
	index     string
}{
	{"account: key by access key id", `SELECT account_id, secret_sealed FROM access_keys WHERE access_key_id = ?`, []any{"AKIA"}, false, ""},
	{"account: by id", `SELECT id, name FROM accounts WHERE id = ?`, []any{"111122223333"}, false, ""},
	{"identity: the chain of an address (GetMany)", `SELECT id, name FROM identities WHERE account_id = ? AND name IN (?, ?, ?)`,
		[]any{"111122223333", "a@example.test", "example.test", "test"}, false, ""},
	{"suppression: the recipients on the account's list", `SELECT address_key FROM suppressed_destinations WHERE account_id = ? AND address_key IN (?, ?)`,
		[]any{"111122223333", "a@example.test", "b@example.test"}, false, ""},
	{"queue: the daily quota's count (SentSince)", `SELECT COALESCE(SUM(recipients), 0) FROM send_counts WHERE account_id = ? AND bucket >= ?`,
		[]any{"111122223333", int64(1)}, false, ""},
	{"queue: claim, the due rows", `SELECT id FROM recipients WHERE state = ? AND next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at, id LIMIT ?`,
		[]any{"queued", int64(1), int64(1), 100}, false, "recipients_due"},
	{"queue: claim, the lease", `UPDATE recipients SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id IN (SELECT id FROM recipients WHERE state = ? AND next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at, id LIMIT ?) RETURNING id`,
		[]any{"w", int64(1), int64(1), "queued", int64(1), int64(1), 100}, false, "recipients_due"},
	{"queue: claim, the claimed rows", `SELECT r.id, r.message_id, m.account_id, r.address, r.domain, m.mail_from, m.configuration_set, m.system, r.attempts, r.created_at
			FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.id IN (?, ?) ORDER BY r.next_attempt_at, r.id`, []any{1, 2}, false, ""},
	{"queue: Load", `SELECT m.mail_json, b.body FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.id = ?`, []any{"m"}, false, ""},
	{"queue: outcome, the message's lock", `SELECT 1 FROM messages WHERE id = ? FOR UPDATE`, []any{"m"}, true, ""},
	{"queue: outcome, the recipients", `UPDATE recipients SET state = ?, next_attempt_at = ?, last_reply = ?, lease_owner = '', lease_until = 0, updated_at = ?
			WHERE state = ? AND lease_owner = ? AND lease_until = ? AND id IN (?, ?) RETURNING id`, []any{"delivered", int64(1), "", int64(1), "queued", "w", int64(1), 1, 2}, false, ""},
	{"queue: outcome, the body dropped", `DELETE FROM message_bodies WHERE message_id = ? AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = ? AND state = ?)`,
		// Not recipients_due for state = 'queued': with the two indexes of
		// one column each, PostgreSQL without statistics ANDed them and read
		// every queued row's entry for each outcome (migration 0018).
		[]any{"m", "m", "queued"}, false, "recipients_message_state"},
	{"publish: the outbox's unpublished events", `SELECT e.id, e.account_id, e.message_id, e.configuration_set, e.event_type, e.payload, e.created_at, e.published_at, e.mail_ref, e.mail_tags, m.mail_json
		FROM events e LEFT JOIN messages m ON e.mail_ref AND m.id = e.message_id WHERE e.published_at = 0 AND e.id NOT IN (?) ORDER BY e.id LIMIT ?`, []any{1, 100}, false, ""},
	{"publish: the batch's still unpublished", `SELECT id FROM events WHERE published_at = 0 AND id IN (?, ?)`, []any{1, 2}, false, ""},
}

// TestHotQueriesUseIndexes checks with EXPLAIN that no hot query of the
// send path reads a whole table: on SQLite, no "SCAN <table>" step (a
// full scan, of the table or of one of its indexes) and no temporary
// B-tree for the claim's ORDER BY; on PostgreSQL, with enable_seqscan off
// (so that an empty test table does not make a sequential scan the
// cheapest plan), no "Seq Scan". A query with an index searches it and no
// other index of the same table.
func TestHotQueriesUseIndexes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		for _, q := range hotQueries {
			if q.pgOnly && d.Dialect != db.Postgres {
				continue
			}
			plan := explain(t, ctx, d, q.sql, q.args)
			for _, step := range plan {
				bad := false
				if d.Dialect == db.Postgres {
					bad = strings.Contains(step, "Seq Scan")
				} else {
					bad = strings.HasPrefix(step, "SCAN ") && step != "SCAN CONSTANT ROW" ||
						strings.HasPrefix(q.name, "queue: claim, the due rows") && strings.Contains(step, "TEMP B-TREE") || strings.HasPrefix(q.name, "queue: claim, the lease") && strings.Contains(step, "TEMP B-TREE")
				}
				if bad {
					t.Errorf("%s: the plan reads a whole table (%q):\n%s\n%s", q.name, step, q.sql, strings.Join(plan, "\n"))
				}
			}
			if q.index != "" {
				checkIndex(t, q.name, q.index, plan)
			}
		}
	})
}

// checkIndex fails t unless plan searches index and no other index of
// the same table (named table_...: recipients_due, recipients_message_state).
func checkIndex(t *testing.T, name, index string, plan []string) {
	t.Helper()
	table, _, _ := strings.Cut(index, "_")
	used := false
	for _, step := range plan {
		for _, w := range strings.FieldsFunc(step, func(r rune) bool { return r == ' ' || r == '(' || r == ')' || r == ',' }) {
			switch {
			case w == index:
				used = true
			case strings.HasPrefix(w, table+"_") && w != table+"_pkey" && !strings.HasPrefix(w, table+"_1"):
				t.Errorf("%s: the plan searches %s, not only %s:\n%s", name, w, index, strings.Join(plan, "\n"))
			}
		}
	}
	if !used {
		t.Errorf("%s: the plan does not search %s:\n%s", name, index, strings.Join(plan, "\n"))
	}
}

// explain returns the plan of query, one step per element.
func explain(t *testing.T, ctx context.Context, d *db.DB, query string, args []any) []string {
	t.Helper()
	var plan []string
	err := d.InTx(ctx, func(tx *db.Tx) error {
		prefix := "EXPLAIN QUERY PLAN "
		if tx.Dialect() == db.Postgres {
			prefix = "EXPLAIN "
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, prefix+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			var s any = vals[len(vals)-1] // SQLite: id, parent, notused, detail; PostgreSQL: QUERY PLAN
			switch v := s.(type) {
			case []byte:
				plan = append(plan, strings.TrimSpace(string(v)))
			case string:
				plan = append(plan, strings.TrimSpace(v))
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	return plan
}
