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
	t.Logf("WAL peak %d KiB (bound %d KiB); %d checkpoints, %d restarts, %d busy, longest %v, writer stall %v", peak.Load()>>10, limit>>10, st.Checkpoints, st.Restarts, st.Busy, st.Longest, st.WriterStall)
	if p := peak.Load(); p > 4*limit {
		t.Errorf("the WAL reached %d KiB, want at most %d KiB (4 × its bound of %d KiB)", p>>10, 4*limit>>10, limit>>10)
	}
	if st.Checkpoints == 0 {
		t.Errorf("WALStats = %+v: no checkpoint ran", st)
	}
}

// TestWALCheckpointKeepsWriterGoing checkpoints a WAL of 32 MB, which
// takes a while (copying it into the database and its fsync), and commits
// group transactions meanwhile: some must complete while the checkpoint
// runs, which they could not if it held the writer connection. The
// checkpointer is held until the WAL is large, and a reader's snapshot
// keeps SQLite's automatic checkpoint from copying it first.
func TestWALCheckpointKeepsWriterGoing(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{DataDir: dir, WALCheckpointBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	release := make(chan struct{})
	ended := make(chan time.Time, 1)
	var first atomic.Bool
	d.SetWALHook(func(before bool) {
		if !first.Load() {
			if before {
				<-release
			} else {
				first.Store(true)
				ended <- time.Now()
			}
		}
	})
	if _, err := d.Exec(ctx, `CREATE TABLE wal_rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, `INSERT INTO wal_rows (body) VALUES (x'00')`); err != nil {
		t.Fatal(err)
	}
	// A statement with a row to come keeps its snapshot.
	rows, err := d.Query(ctx, `SELECT id FROM wal_rows`)
	if err != nil || !rows.Next() {
		t.Fatalf("query: %v", err)
	}
	for range 32 {
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			for range 256 {
				if _, err := tx.Exec(ctx, `INSERT INTO wal_rows (body) VALUES (randomblob(4000))`); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	dbFile := filepath.Join(dir, "sesame.db")
	size := func() int64 {
		fi, err := os.Stat(dbFile)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	s0 := size()
	close(release)
	// The checkpoint is under way once the database file grows; no commit
	// runs before, so that SQLite's automatic checkpoint cannot start it.
	started := time.Now()
	for size() == s0 {
		if time.Since(started) > 10*time.Second {
			t.Fatal("the checkpoint did not start")
		}
		time.Sleep(100 * time.Microsecond)
	}
	var during int
	var slowest time.Duration
	var end time.Time
	for end.IsZero() {
		start := time.Now()
		if err := d.InGroupTx(ctx, func(tx *db.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO wal_rows (body) VALUES (x'00')`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		done := time.Now()
		select {
		case end = <-ended:
		default:
		}
		if end.IsZero() || done.Before(end) {
			during++
			slowest = max(slowest, done.Sub(start))
		}
	}
	st := d.WALStats()
	t.Logf("checkpoint of a 32 MB WAL took %v (%+v); %d commits completed meanwhile, the slowest in %v", end.Sub(started), st, during, slowest)
	// Commits run one after the other: had the checkpoint held the
	// writer, the first would have waited for all of it, and only it
	// could have beaten the checkpointer's goroutine to the end.
	if during < 2 {
		t.Errorf("%d commits completed while the checkpoint ran (%v), want at least 2", during, end.Sub(started))
	}
}
