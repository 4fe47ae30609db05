package queue_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestSendCountsConcurrent: admissions of one account from many
// goroutines at once, as the API's clients make them, are all counted —
// SentSince sums every shard of the bucket — and each bucket's shards are
// within the group-commit lanes: SQLite's one writer keeps one row, and
// PostgreSQL at most one per lane.
func TestSendCountsConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const workers, each = 16, 12
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					id := fmt.Sprintf("m-%d-%d", w, i)
					m, send := f.message(id, "x@one.example", "y@two.example", "z@three.example")
					m.Counted = 2 // one recipient is not counted (the mailbox simulator's)
					if err := f.q.Enqueue(f.ctx, m, send); err != nil {
						t.Errorf("%s: %v", id, err)
						return
					}
				}
			})
		}
		wg.Wait()
		n, err := f.q.SentSince(f.ctx, f.acct, f.clock.Now().Add(-24*time.Hour))
		if err != nil || n != workers*each*2 {
			t.Fatalf("SentSince = %d, %v; want %d", n, err, workers*each*2)
		}
		var rows, top int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*), COALESCE(MAX(shard), 0) FROM send_counts WHERE account_id = ?`, f.acct).Scan(&rows, &top); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d rows, highest shard %d", rows, top)
		switch {
		case d.Dialect == db.SQLite && (rows != 1 || top != 0):
			t.Errorf("SQLite: %d rows, highest shard %d; want one row, shard 0", rows, top)
		case d.Dialect == db.Postgres && (rows < 1 || rows > 16 || top > 15):
			t.Errorf("PostgreSQL: %d rows, highest shard %d; want 1 to 16 rows, shards 0 to 15", rows, top)
		}
	})
}
