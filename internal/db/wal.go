package db

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// sqliteBusyTimeout is how long a SQLite connection waits for another
// process's lock (sesame's admin commands on the same file) before failing.
const sqliteBusyTimeout = 10 * time.Second

// walCheckpointBusy is how long a checkpoint waits for readers still
// using snapshots older than the end of the WAL before giving up until the
// next one. Readers' statements are short; the writer, and so every
// admission, waits while the checkpoint does.
const walCheckpointBusy = 100 * time.Millisecond

// walCheckpointer keeps SQLite's WAL bounded (see
// Options.WALCheckpointBytes). It runs on the writer connection between
// transactions: after each group commit, once the batch's callers have
// their answers, and after each InTx commit; the writer being SQLite's
// only write connection, a checkpoint never runs beside a batch.
type walCheckpointer struct {
	path  string // sesame.db-wal
	limit int64  // the size past which it checkpoints; <= 0: off
	log   *slog.Logger

	running atomic.Bool  // a checkpoint is under way (the others skip theirs)
	runs    atomic.Int64 // checkpoints run
	busy    atomic.Int64 // checkpoints that could not empty the WAL (readers)
	longest atomic.Int64 // the longest checkpoint, in nanoseconds
}

func newWALCheckpointer(dbPath string, limit int64, log *slog.Logger) *walCheckpointer {
	if limit == 0 {
		limit = DefaultWALCheckpointBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &walCheckpointer{path: dbPath + "-wal", limit: limit, log: log}
}

// pragmas returns the DSN's WAL settings. journal_size_limit truncates the
// WAL to the bound whenever SQLite itself resets it; wal_autocheckpoint (in
// pages of 4 KiB, SQLite's default page size) is set to twice the bound,
// so that SQLite's automatic PASSIVE checkpoint, which runs inside a
// COMMIT while its callers wait, stays a backstop for when the
// checkpointer could not run, instead of doing the checkpointer's work
// first.
func (w *walCheckpointer) pragmas() string {
	if w.limit <= 0 {
		return ""
	}
	return fmt.Sprintf("&_pragma=journal_size_limit(%d)&_pragma=wal_autocheckpoint(%d)", w.limit, max(2*w.limit/4096, 1))
}

// checkpointWAL checkpoints and empties SQLite's WAL if it has grown past
// its bound; a no-op on PostgreSQL, with the checkpointer off, or while
// another checkpoint runs. The cost when nothing is to be done is one
// stat of the WAL file.
func (d *DB) checkpointWAL() {
	w := d.wal
	if w == nil || w.limit <= 0 {
		return
	}
	if fi, err := os.Stat(w.path); err != nil || fi.Size() <= w.limit {
		return
	}
	if !w.running.CompareAndSwap(false, true) {
		return
	}
	defer w.running.Store(false)
	start := time.Now()
	busy, frames, err := d.truncateWAL(context.Background())
	took := time.Since(start)
	w.runs.Add(1)
	if took > time.Duration(w.longest.Load()) {
		w.longest.Store(int64(took)) // only one checkpoint runs at a time
	}
	switch {
	case err != nil:
		w.log.Warn("db: WAL checkpoint failed", "err", err)
	case busy:
		w.busy.Add(1)
		w.log.Warn("db: WAL checkpoint could not empty the log: a reader kept an old snapshot", "wait", walCheckpointBusy, "frames", frames)
	default:
		w.log.Debug("db: WAL checkpointed and emptied", "frames", frames, "took", took)
	}
}

// truncateWAL runs wal_checkpoint(TRUNCATE) on the writer connection,
// waiting at most walCheckpointBusy for older readers, and reports whether
// it had to stop short (busy) and how many frames the WAL held.
func (d *DB) truncateWAL(ctx context.Context) (busy bool, frames int, err error) {
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("db: checkpoint: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", walCheckpointBusy.Milliseconds())); err != nil {
		return false, 0, fmt.Errorf("db: checkpoint: %w", err)
	}
	var b, moved int
	cerr := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&b, &frames, &moved)
	_, rerr := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", sqliteBusyTimeout.Milliseconds()))
	if cerr != nil {
		return false, 0, fmt.Errorf("db: checkpoint: %w", cerr)
	}
	if rerr != nil {
		// The connection would keep the short wait for other processes'
		// locks: drop it, so the pool opens a fresh one with the DSN's.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return b != 0, frames, fmt.Errorf("db: checkpoint: restore busy_timeout: %w", rerr)
	}
	return b != 0, frames, nil
}

// WALStats are the WAL checkpointer's counters since the database was
// opened (zero on PostgreSQL).
type WALStats struct {
	Checkpoints int64         // checkpoints run
	Busy        int64         // of them, those a reader kept from emptying the WAL
	Longest     time.Duration // the longest one
}

// WALStats returns the WAL checkpointer's counters.
func (d *DB) WALStats() WALStats {
	if d.wal == nil {
		return WALStats{}
	}
	return WALStats{Checkpoints: d.wal.runs.Load(), Busy: d.wal.busy.Load(), Longest: time.Duration(d.wal.longest.Load())}
}
