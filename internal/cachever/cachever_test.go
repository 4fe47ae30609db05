package cachever_test

import (
	"testing"

	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTriggers: after every migration, each cached table still has the
// triggers that bump its account's counter on insert, update and delete.
// A migration that rebuilds a table (SQLite's create, copy, drop, rename)
// drops its triggers silently, and the caches would then serve stale rows.
func TestTriggers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		for _, table := range cachever.Tables {
			var n int
			var err error
			switch d.Dialect {
			case db.SQLite:
				// One trigger per operation: cache_<table>_insert, _update, _delete.
				err = d.QueryRow(t.Context(), `SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?
					AND (sql LIKE '%AFTER INSERT%' OR sql LIKE '%AFTER UPDATE%' OR sql LIKE '%AFTER DELETE%') AND sql LIKE '%cache_versions%'`, table).Scan(&n)
			default:
				// One trigger for all three (tgtype bits: INSERT 4, DELETE 8, UPDATE 16).
				var types int
				err = d.QueryRow(t.Context(), `SELECT COALESCE(BIT_OR(t.tgtype::int & 28), 0) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace AND t.tgname LIKE 'cache_%' AND NOT t.tgisinternal`, table).Scan(&types)
				if types == 28 {
					n = 3
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Errorf("table %s: %d of its 3 cache-version triggers (insert, update, delete)", table, n)
			}
		}
	})
}
