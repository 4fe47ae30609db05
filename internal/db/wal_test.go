package db_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// TestWALStaysBounded writes about 13 MB through group commits and InTx
// while readers keep overlapping snapshots open all the time, as the
// read pool does under load: SQLite's automatic checkpoint can then never
// reset the WAL, which grows by everything written. The checkpointer keeps
// sesame.db-wal within a small multiple of its bound (one batch past it,
// at most) and empties it.
func TestWALStaysBounded(t *testing.T) {
	const limit = 256 << 10
	dir := t.TempDir()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{DataDir: dir, WALCheckpointBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, `CREATE TABLE wal_rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	wal := filepath.Join(dir, "sesame.db-wal")
	var peak atomic.Int64
	sample := func() {
		if fi, err := os.Stat(wal); err == nil && fi.Size() > peak.Load() {
			peak.Store(fi.Size()) // a race between samplers only lowers the peak a little
		}
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i := range 3 {
		readers.Go(func() {
			// Staggered, so that one of them always holds a snapshot.
			time.Sleep(time.Duration(i) * time.Millisecond)
			for {
				select {
				case <-stop:
					return
				default:
				}
				rows, err := d.Query(ctx, `SELECT id FROM wal_rows`)
				if err != nil {
					t.Error(err)
					return
				}
				rows.Next()
				time.Sleep(3 * time.Millisecond)
				rows.Close()
			}
		})
	}

	body := strings.Repeat("x", 2000)
	const writers, each = 8, 800
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				var err error
				if i%10 == 0 {
					err = d.InTx(ctx, func(tx *db.Tx) error {
						_, err := tx.Exec(ctx, `INSERT INTO wal_rows (body) VALUES (?)`, body)
						return err
					})
				} else {
					err = d.InGroupTx(ctx, func(tx *db.Tx) error {
						_, err := tx.Exec(ctx, `INSERT INTO wal_rows (body) VALUES (?)`, body)
						return err
					})
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				sample()
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	sample()

	var n int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM wal_rows`).Scan(&n); err != nil || n != writers*each {
		t.Fatalf("rows = %d, %v; want %d", n, err, writers*each)
	}
	st := d.WALStats()
	t.Logf("WAL peak %d KiB (bound %d KiB); %d checkpoints, %d busy, longest %v", peak.Load()>>10, limit>>10, st.Checkpoints, st.Busy, st.Longest)
	if p := peak.Load(); p > 4*limit {
		t.Errorf("the WAL reached %d KiB, want at most %d KiB (4 × its bound of %d KiB)", p>>10, 4*limit>>10, limit>>10)
	}
	if st.Checkpoints == 0 {
		t.Errorf("WALStats = %+v: no checkpoint ran", st)
	}
}
