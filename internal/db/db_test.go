package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

func TestMigrateTwiceAndTx(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var n int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n < 1 {
			t.Fatalf("schema_migrations: n=%d err=%v", n, err)
		}
		// A rolled-back transaction leaves nothing behind.
		errBoom := context.Canceled
		err := d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`, "000000000001", "a", 1); err != nil {
				return err
			}
			return errBoom
		})
		if err != errBoom {
			t.Fatalf("InTx returned %v, want the function's error", err)
		}
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled back insert is visible: n=%d err=%v", n, err)
		}
		// Booleans round-trip as Go bools on both dialects.
		if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, sandbox, created_at) VALUES (?, ?, ?, ?)`, "000000000002", "b", false, 2); err != nil {
			t.Fatal(err)
		}
		var sandbox bool
		if err := d.QueryRow(ctx, `SELECT sandbox FROM accounts WHERE id = ?`, "000000000002").Scan(&sandbox); err != nil || sandbox {
			t.Fatalf("sandbox = %v, %v; want false", sandbox, err)
		}
		_, err = d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`, "000000000003", "b", 3)
		if !db.IsUniqueViolation(err) {
			t.Fatalf("duplicate name: err = %v, want a unique violation", err)
		}
	})
}

func TestLease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0)
		ok, err := d.AcquireLease(ctx, "checker", "node-a", now, time.Minute)
		if err != nil || !ok {
			t.Fatalf("first acquire: %v %v", ok, err)
		}
		if ok, _ := d.AcquireLease(ctx, "checker", "node-b", now.Add(30*time.Second), time.Minute); ok {
			t.Fatal("node-b took a lease node-a holds")
		}
		if ok, _ := d.AcquireLease(ctx, "checker", "node-a", now.Add(30*time.Second), time.Minute); !ok {
			t.Fatal("node-a could not renew its lease")
		}
		if ok, _ := d.AcquireLease(ctx, "checker", "node-b", now.Add(2*time.Minute), time.Minute); !ok {
			t.Fatal("node-b could not take an expired lease")
		}
		if err := d.ReleaseLease(ctx, "checker", "node-b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := d.AcquireLease(ctx, "checker", "node-a", now.Add(2*time.Minute), time.Minute); !ok {
			t.Fatal("released lease not free")
		}
	})
}

func TestSettings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, ok, err := d.Setting(ctx, "region"); ok || err != nil {
			t.Fatalf("unset setting: %v %v", ok, err)
		}
		d.SetSetting(ctx, "region", "us-east-1")
		d.SetSetting(ctx, "region", "eu-west-1")
		if v, ok, err := d.Setting(ctx, "region"); v != "eu-west-1" || !ok || err != nil {
			t.Fatalf("setting = %q %v %v", v, ok, err)
		}
		// InitSetting: the first value stays.
		if v, err := d.InitSetting(ctx, "key", "first"); v != "first" || err != nil {
			t.Fatalf("InitSetting = %q %v", v, err)
		}
		if v, err := d.InitSetting(ctx, "key", "second"); v != "first" || err != nil {
			t.Fatalf("second InitSetting = %q %v; want the first value", v, err)
		}
	})
}

// TestIDsNotReused: a deleted row's id is never given to a new row, so a
// check or a change in flight for a deleted identity cannot land on
// another one.
func TestIDsNotReused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ('000000000001', 'a', 1)`)
		ins := func() int64 {
			var id int64
			if err := d.QueryRow(ctx, `INSERT INTO identities (account_id, name, kind, domain, created_at, verification_status, verification_token, verification_since) VALUES ('000000000001', 'x.test', 'Domain', 'x.test', 1, 'Pending', 't', 1) RETURNING id`).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		first := ins()
		d.Exec(ctx, `DELETE FROM identities WHERE id = ?`, first)
		if second := ins(); second == first {
			t.Fatalf("id %d reused", first)
		}
	})
}
