package db_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// BenchmarkInsertSelect: one op is a representative write and read, from
// many goroutines at once: "standalone" an INSERT then a SELECT of the row
// outside a transaction (a lookup path), "tx" a transaction that inserts,
// reads the row back and updates it (an admission path), then a read of it
// outside the transaction; "read" a lookup by key alone (no fsync in the
// way, so the statement and connection costs show).
func BenchmarkInsertSelect(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		var n atomic.Int64
		b.Run("standalone", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					name := fmt.Sprintf("s%d", n.Add(1))
					if _, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, "v"); err != nil {
						b.Fatal(err)
					}
					var v string
					if err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("read", func(b *testing.B) {
			for i := range 100 {
				if _, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprintf("r%d", i), "v"); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					var v string
					if err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, fmt.Sprintf("r%d", i%100)).Scan(&v); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("tx", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					name := fmt.Sprintf("t%d", n.Add(1))
					err := d.InTx(ctx, func(tx *db.Tx) error {
						if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, "v"); err != nil {
							return err
						}
						var v string
						if err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, `UPDATE settings SET value = ? WHERE name = ?`, v+"w", name)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					var v string
					if err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil || v != "vw" {
						b.Fatalf("read after commit: %q %v", v, err)
					}
				}
			})
		})
	})
}
