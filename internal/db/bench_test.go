package db_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// BenchmarkInsertSelect: one op is a representative write and read, from
// many goroutines at once: "standalone" an INSERT then a SELECT of the row
// outside a transaction (a lookup path), "tx" a transaction that inserts,
// reads the row back and updates it (an admission path), then a read of it
// outside the transaction; "read" a lookup by key alone (no fsync in the
// way, so the statement and connection costs show).
// Each also reports the process's CPU time per op (user+system), which a
// disk shared with other work disturbs less than the wall time.
func BenchmarkInsertSelect(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		var n atomic.Int64
		b.Run("standalone", func(b *testing.B) {
			defer cpuPerOp(b)()
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
				if _, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, fmt.Sprintf("r%d", i), "v"); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			defer cpuPerOp(b)()
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
		// "tx" runs the transaction with InTx, "group" with InGroupTx
		// (group commit: many callers' transactions in one COMMIT), from 16
		// goroutines per core, as API requests arrive.
		for _, mode := range []string{"tx", "group"} {
			inTx := d.InTx
			if mode == "group" {
				inTx = d.InGroupTx
			}
			b.Run(mode, func(b *testing.B) {
				b.SetParallelism(16)
				s0 := d.GroupStats()
				defer cpuPerOp(b)()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						name := fmt.Sprintf("t%d", n.Add(1))
						err := inTx(ctx, func(tx *db.Tx) error {
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
				if s := d.GroupStats(); s.Commits > s0.Commits {
					b.ReportMetric(float64(s.Closures-s0.Closures)/float64(s.Commits-s0.Commits), "tx/commit")
				}
			})
		}
	})
}

// cpuPerOp reports the CPU time this process spends per op, from the call
// to the call of the function it returns.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}
