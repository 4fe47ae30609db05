package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestUpgradeSendCountShards: 0017 keeps the daily-quota counts of a
// database from before shards, on both stores, as shard 0's, and a
// second shard of a bucket then adds to the same total.
func TestUpgradeSendCountShards(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		upgradeSendCounts(t, db.SQLite, filepath.Join(t.TempDir(), "sesame.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		upgradeSendCounts(t, db.Postgres, dbtest.PostgresURL(t))
	})
}

func upgradeSendCounts(t *testing.T, dialect db.Dialect, dsn string) {
	ctx := context.Background()
	d, err := db.OpenAt(ctx, dialect, dsn, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, `INSERT INTO send_counts (account_id, bucket, recipients) VALUES ('a1', 100, 7), ('a1', 101, 5), ('a2', 100, 3)`); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	rows, err := d.Query(ctx, `SELECT account_id, bucket, shard, recipients FROM send_counts ORDER BY account_id, bucket, shard`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		acct              string
		bucket            int64
		shard, recipients int
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.acct, &r.bucket, &r.shard, &r.recipients); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	rows.Close()
	want := []row{{"a1", 100, 0, 7}, {"a1", 101, 0, 5}, {"a2", 100, 0, 3}}
	if len(got) != len(want) {
		t.Fatalf("send_counts after the upgrade = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("send_counts after the upgrade = %+v; want %+v", got, want)
		}
	}
	for _, shard := range []int{3, 0} {
		if _, err := d.Exec(ctx, `INSERT INTO send_counts (account_id, bucket, shard, recipients) VALUES ('a1', 100, ?, 2)
			ON CONFLICT (account_id, bucket, shard) DO UPDATE SET recipients = send_counts.recipients + excluded.recipients`, shard); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.QueryRow(ctx, `SELECT COALESCE(SUM(recipients), 0) FROM send_counts WHERE account_id = ? AND bucket >= ?`, "a1", 100).Scan(&n); err != nil || n != 16 {
		t.Fatalf("a1's count = %d, %v; want 16 (12 kept, 2 in shard 3, 2 more in shard 0)", n, err)
	}
}
