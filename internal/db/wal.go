package db

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// sqliteBusyTimeout is how long a SQLite connection waits for another
// process's lock (sesame's admin commands on the same file) before failing.
const sqliteBusyTimeout = 10 * time.Second

// walRestartBusy is how long a RESTART checkpoint waits for readers still
// using snapshots older than the end of the WAL before giving up until the
// next one. The writer waits while a RESTART runs (it holds SQLite's write
// lock), so this bounds most of the writer's stall; readers' statements
// are short.
const walRestartBusy = 20 * time.Millisecond

// walRunEvery is the least time between two checkpoint runs with the
// default bound; it scales with the bound (a bound of 256 KiB: 3 ms). The
// writer wakes the checkpointer after every batch while the WAL is over
// its bound, which would make it copy each batch's few frames (and fsync
// the database) by themselves; a page the writer keeps changing, such as
// an index's last leaf, would be copied again at each run. Runs this far
// apart copy it once for all the batches between: at the send path's
// rate the WAL grows by about 1.5 MB in 50 ms, well within
// walRestartFactor times the default bound.
const walRunEvery = 50 * time.Millisecond

// walRestartFactor is how many times its bound the WAL may hold before the
// checkpointer forces it back to its beginning with a RESTART checkpoint,
// instead of waiting for the writer to do it.
const walRestartFactor = 2

// walCheckpointer keeps SQLite's WAL bounded (see
// Options.WALCheckpointBytes) without holding up the writer. It runs on a
// connection of its own, in a goroutine the writer wakes (without waiting)
// when, after a transaction, the WAL file is larger than its bound.
//
// Each run is first a PASSIVE checkpoint, which copies the WAL's frames
// into the database while the writer goes on appending more: it takes no
// lock the writer needs. Once every frame is copied and no reader still
// uses the WAL, SQLite's next write transaction starts the WAL again from
// its beginning, and journal_size_limit truncates the file at its commit.
// Readers that always overlap (the read pool under load) keep that from
// happening: each holds a snapshot that needs the WAL. So once the WAL
// holds walRestartFactor times its bound, the run ends with a RESTART
// checkpoint, which takes the write lock, copies the few frames the
// PASSIVE one did not, waits up to walRestartBusy for the older readers
// and resets the WAL. The writer waits for that only: the checkpointer
// takes the gate, which every write transaction holds shared, so the
// writer queues in Go for exactly as long (and that wait is measured as
// the writer's stall) instead of sleeping in SQLite's busy handler.
type walCheckpointer struct {
	path  string // sesame.db-wal
	limit int64  // the size past which it checkpoints; <= 0: off
	log   *slog.Logger

	// gate is held shared by every transaction on the writer (InTx, group
	// batches) and exclusively by a RESTART checkpoint.
	gate sync.RWMutex

	db     *sql.DB            // the checkpointer's own connection; nil when off
	kick   chan struct{}      // wakes the goroutine (buffered: one pending wake)
	cancel context.CancelFunc // stops the goroutine
	done   chan struct{}      // closed when the goroutine has ended

	runs     atomic.Int64 // checkpoint runs
	restarts atomic.Int64 // of them, those that ended with a RESTART
	busy     atomic.Int64 // RESTARTs that readers kept from resetting the WAL
	longest  atomic.Int64 // the longest run, in nanoseconds
	stall    atomic.Int64 // the longest wait of a writer for the gate, in nanoseconds

	// every is the least time between two runs (walRunEvery, scaled).
	every time.Duration
	// hook, when set, runs in the goroutine before (true) and after
	// (false) each run (tests).
	hook atomic.Pointer[func(before bool)]
}

func newWALCheckpointer(dbPath string, limit int64, log *slog.Logger) *walCheckpointer {
	if limit == 0 {
		limit = DefaultWALCheckpointBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := time.Duration(float64(walRunEvery) * float64(max(limit, 0)) / DefaultWALCheckpointBytes)
	return &walCheckpointer{path: dbPath + "-wal", limit: limit, log: log, every: every}
}

// pragmas returns the writer's WAL settings. journal_size_limit truncates
// the WAL to the bound whenever SQLite itself resets it. SQLite's
// automatic checkpoint (PASSIVE, run inside a COMMIT while its callers
// wait) is left as a far backstop, at walRestartFactor × 4 times the bound
// (in pages of 4 KiB, SQLite's default page size), for when the
// checkpointer cannot run; it never does the checkpointer's work first.
func (w *walCheckpointer) pragmas() string {
	if w.limit <= 0 {
		return ""
	}
	return fmt.Sprintf("&_pragma=journal_size_limit(%d)&_pragma=wal_autocheckpoint(%d)", w.limit, max(4*walRestartFactor*w.limit/4096, 1))
}

// start opens the checkpointer's connection on dsn (the writer's
// settings, with busy_timeout walRestartBusy) and starts its goroutine; a
// no-op when the checkpointer is off.
func (w *walCheckpointer) start(dsn string) error {
	if w.limit <= 0 {
		return nil
	}
	c, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("db: open sqlite checkpointer: %w", err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	w.db = c
	w.kick = make(chan struct{}, 1)
	w.done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.loop(ctx)
	return nil
}

// close stops the goroutine, waiting for a run under way, and closes its
// connection.
func (w *walCheckpointer) close() error {
	if w == nil || w.db == nil {
		return nil
	}
	w.cancel()
	<-w.done
	return w.db.Close()
}

// loop runs a checkpoint each time it is woken, until close.
func (w *walCheckpointer) loop(ctx context.Context) {
	defer close(w.done)
	var pageSize int64
	last := 0 // the frames in the WAL at the last run's end
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		h := w.hook.Load()
		if h != nil {
			(*h)(true)
		}
		if pageSize == 0 {
			if err := w.db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
				if ctx.Err() == nil {
					w.log.Warn("db: WAL checkpoint failed", "err", fmt.Errorf("db: checkpoint: page size: %w", err))
				}
				continue
			}
		}
		last = w.run(ctx, pageSize, last)
		if h != nil {
			(*h)(false)
		}
		// Wakes meanwhile wait: one of them is kept in the channel.
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.every):
		}
	}
}

// run checkpoints the WAL: PASSIVE, then RESTART if the WAL holds more than
// walRestartFactor times its bound and has not been started again since
// the last run, which held last frames (see walCheckpointer). It returns
// the frames the WAL holds at its end.
func (w *walCheckpointer) run(ctx context.Context, pageSize int64, last int) int {
	start := time.Now()
	_, frames, copied, err := w.checkpoint(ctx, "PASSIVE")
	// Fewer frames than at the last run: the writer started the WAL again
	// since, and will again once readers allow it.
	restart := err == nil && frames >= last && int64(frames)*(pageSize+24) > walRestartFactor*w.limit
	busy := false
	if restart {
		w.gate.Lock()
		busy, frames, copied, err = w.checkpoint(ctx, "RESTART")
		w.gate.Unlock()
		w.restarts.Add(1)
	}
	took := time.Since(start)
	w.runs.Add(1)
	if took > time.Duration(w.longest.Load()) {
		w.longest.Store(int64(took)) // only this goroutine stores it
	}
	switch {
	case err != nil:
		if ctx.Err() == nil {
			w.log.Warn("db: WAL checkpoint failed", "err", err)
		}
	case busy:
		w.busy.Add(1)
		w.log.Warn("db: WAL checkpoint could not reset the log: a reader kept an old snapshot", "wait", walRestartBusy, "frames", frames, "copied", copied)
	default:
		w.log.Debug("db: WAL checkpointed", "restart", restart, "frames", frames, "copied", copied, "took", took)
	}
	return frames
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on the checkpointer's
// connection and returns its result: whether it was blocked from
// completing, the frames in the WAL and those copied to the database.
func (w *walCheckpointer) checkpoint(ctx context.Context, mode string) (busy bool, frames, copied int, err error) {
	var b int
	if err := w.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &frames, &copied); err != nil {
		return false, 0, 0, fmt.Errorf("db: checkpoint %s: %w", mode, err)
	}
	return b != 0, frames, copied, nil
}

// enter is called by a write transaction before it begins, leave once it
// has ended: while a RESTART checkpoint runs, enter waits for it, and
// records the wait as a stall of the writer. Both are no-ops without a
// checkpointer (PostgreSQL, or off).
func (w *walCheckpointer) enter() {
	if w == nil || w.db == nil {
		return
	}
	if w.gate.TryRLock() {
		return
	}
	t := time.Now()
	w.gate.RLock()
	took := int64(time.Since(t))
	for {
		s := w.stall.Load()
		if took <= s || w.stall.CompareAndSwap(s, took) {
			return
		}
	}
}

func (w *walCheckpointer) leave() {
	if w == nil || w.db == nil {
		return
	}
	w.gate.RUnlock()
}

// kickWAL wakes the checkpointer if the WAL has grown past its bound,
// without waiting; a no-op on PostgreSQL or with the checkpointer off. The
// cost is one stat of the WAL file.
func (d *DB) kickWAL() {
	w := d.wal
	if w == nil || w.db == nil {
		return
	}
	if fi, err := os.Stat(w.path); err != nil || fi.Size() <= w.limit {
		return
	}
	select {
	case w.kick <- struct{}{}:
	default: // a wake is pending already
	}
}

// WALStats are the WAL checkpointer's counters since the database was
// opened (zero on PostgreSQL).
type WALStats struct {
	Checkpoints int64         // checkpoint runs
	Restarts    int64         // of them, those that ended with a RESTART (the writer waited)
	Busy        int64         // RESTARTs that readers kept from resetting the WAL
	Longest     time.Duration // the longest run (the writer goes on beside it)
	WriterStall time.Duration // the longest a write transaction waited for a RESTART
}

// WALStats returns the WAL checkpointer's counters.
func (d *DB) WALStats() WALStats {
	w := d.wal
	if w == nil {
		return WALStats{}
	}
	return WALStats{Checkpoints: w.runs.Load(), Restarts: w.restarts.Load(), Busy: w.busy.Load(),
		Longest: time.Duration(w.longest.Load()), WriterStall: time.Duration(w.stall.Load())}
}
