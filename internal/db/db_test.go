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
