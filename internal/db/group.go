package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The bounds of a group-commit batch: it takes no more closures once it
// holds groupMaxClosures, or once groupMaxWait has passed since it began,
// and commits. Closures arriving after that wait for the next batch.
const (
	groupMaxClosures = 128
	groupMaxWait     = 5 * time.Millisecond
)

// pgGroupLanes is how many group transactions run at once on PostgreSQL
// (SQLite, with its one writer, runs one). PostgreSQL already shares one
// WAL flush among the commits of concurrent transactions, so there a
// batch saves no fsync, only the BEGIN and COMMIT round trips, and costs
// a SAVEPOINT and a RELEASE per closure; one batch at a time made
// BenchmarkInsertSelect 3.7 times slower than a transaction per caller,
// and 16 lanes are as fast as one. So on PostgreSQL each lane's
// transaction takes one closure (no savepoint: InTx's behaviour, through
// at most 16 lanes): batches of several would hold several callers' row
// locks until one COMMIT, which can deadlock between lanes and nodes
// (send_counts, messages FOR UPDATE) where a transaction per caller
// cannot. The pool keeps 4 of its 20 connections for the other work.
const pgGroupLanes = 16

// groupMaxTries is how many times a closure that ended in a deadlock runs
// again before its error is returned.
const groupMaxTries = 3

// errAgain marks a closure to run again in the next batch.
var errAgain = errors.New("db: run again")

// retryable reports whether err ended a closure only because of other
// transactions running at the same time: a PostgreSQL deadlock
// (40P01) or serialization failure (40001). Several closures' locks held
// until one COMMIT can deadlock with another node's batch where the
// transactions of one closure each could not.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 40P01") || strings.Contains(s, "SQLSTATE 40001")
}

// requeue puts closures to run again at the head of the queue.
func (g *groupCommitter) requeue(rs []*groupReq) {
	if len(rs) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range rs {
		r.taken = false
	}
	g.queue = append(rs, g.queue...)
	// The committer goroutine is running: it requeues from its batch and
	// takes the queue again before it can stop.
}

// groupSavepoint is the name of the savepoint each closure of a batch runs
// in; it is released (or rolled back to) before the next closure starts.
const groupSavepoint = "sesame_group"

// groupCommitter runs the closures given to DB.InGroupTx. Closures wait in
// a queue; a goroutine (a lane: one on SQLite, pgGroupLanes on
// PostgreSQL), started when a closure arrives and no more lanes run, and
// ending when the queue is empty, takes them in batches: one transaction
// per batch, each closure in a savepoint of its own, one COMMIT (one
// fsync) for the whole batch. At low load a batch is the one closure that
// is waiting, so it starts at once; under load the closures that arrived
// while the previous batch was committing form the next one.
type groupCommitter struct {
	mu      sync.Mutex
	queue   []*groupReq
	running int    // committer goroutines (lanes) running
	lanes   int    // the most that run at once; 0 means 1
	busy    uint64 // the numbers of the lanes running, a bit each (see Tx.Lane)
	// batch is the most closures a batch takes; 0 means
	// groupMaxClosures. PostgreSQL takes one (see pgGroupLanes).
	batch int

	commits  atomic.Int64 // batches committed (a test and benchmark counter)
	closures atomic.Int64 // closures committed in them
}

// groupReq is one InGroupTx call waiting for its batch.
type groupReq struct {
	fn    func(*Tx) error
	taken bool       // a batch took it: it runs, the caller waits for done
	tries int        // runs that ended in a deadlock (see retryable)
	done  chan error // receives the call's result once
	panic any        // fn's panic, re-raised in the caller
}

// InGroupTx runs fn in a transaction shared with other callers' closures
// (group commit) and returns when that transaction's COMMIT — which makes
// fn's writes durable — has succeeded, or with the error that stopped it.
// For the caller it behaves as InTx: fn's writes are committed when fn
// returns nil, and undone when fn returns an error, which InGroupTx
// returns as is (only fn's own writes are undone: each closure runs in a
// savepoint of the shared transaction). A failed COMMIT fails every
// closure of its batch.
//
// fn must use only tx: the shared transaction holds the writer, so a call
// of d.Exec (or a Query that is not a SELECT), InTx or InGroupTx from fn
// waits forever on SQLite. fn must keep no state outside the transaction
// that would be wrong once its writes are rolled back. fn sees the writes
// of the closures run before it in the batch, as later transactions would.
//
// ctx is honoured while the call waits for a batch (ctx.Err() is returned
// and fn never runs); once fn has started, its batch commits or fails as a
// whole, and InGroupTx waits for that outcome. For the same reason fn
// should run its statements with a context that is not cancelled when
// its caller goes away (context.WithoutCancel(ctx)): on PostgreSQL a
// statement cancelled midway closes the connection, and so fails the
// whole batch. It should keep ctx's deadline, though: a statement waiting
// for a lock another session never releases would otherwise hold the
// batch, and every caller in it, forever.
//
// fn runs on the committer's goroutine, not the caller's: it must not call
// runtime.Goexit (t.FailNow in a test), which would end that goroutine
// with its batch unanswered. A panic is undone and re-raised in the
// caller.
func (d *DB) InGroupTx(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g := &d.group
	r := &groupReq{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.running < max(g.lanes, 1) {
		g.running++
		go d.runGroups(g.claimLane())
	}
	g.mu.Unlock()
	select {
	case err := <-r.done:
		return r.result(err)
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !r.taken {
		i := 0
		for i < len(g.queue) && g.queue[i] != r {
			i++
		}
		if i < len(g.queue) {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
		}
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Unlock()
	return r.result(<-r.done)
}

// result re-raises fn's panic in the caller's goroutine, or returns err.
func (r *groupReq) result(err error) error {
	if r.panic != nil {
		panic(r.panic)
	}
	return err
}

// claimLane returns the lowest lane number no running lane has, and marks
// it taken; g.mu is held. Past 64 lanes (only SetGroupLanes allows that)
// the rest share 63.
func (g *groupCommitter) claimLane() int {
	n := bits.TrailingZeros64(^g.busy)
	if n == 64 {
		return 63
	}
	g.busy |= 1 << n
	return n
}

// take removes up to max closures from the queue, marked as taken; the
// goroutine of lane ends (one lane fewer running, its number free again)
// when there are none.
func (g *groupCommitter) take(max int, stop bool, lane int) []*groupReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(max, len(g.queue))
	out := make([]*groupReq, n)
	copy(out, g.queue[:n])
	g.queue = append(g.queue[:0], g.queue[n:]...)
	for _, r := range out {
		r.taken = true
	}
	if n == 0 && stop {
		g.running--
		g.busy &^= 1 << lane
	}
	return out
}

// runGroups commits batches, as lane number lane, until the queue is
// empty.
func (d *DB) runGroups(lane int) {
	for {
		most := d.group.maxBatch()
		batch := d.group.take(most, true, lane)
		if len(batch) == 0 {
			return
		}
		d.wal.enter()
		d.runBatch(batch, most, lane)
		d.wal.leave()
		d.kickWAL()
	}
}

// runBatch runs batch, and the closures that arrive while it runs within
// the batch's bounds (at most most closures), in one transaction, and
// sends each its result. lane is the number of the lane running it.
func (d *DB) runBatch(batch []*groupReq, most, lane int) {
	start := time.Now()
	results := make([]error, 0, len(batch))
	var missed []string
	committed := false // set once the COMMIT has succeeded
	finish := func(results []error, commitErr error) {
		// Count first, so that a caller released below already sees its
		// commit in GroupStats.
		if committed {
			ok := 0
			for i, r := range batch {
				if results[i] == nil && r.panic == nil {
					ok++
				}
			}
			d.group.commits.Add(1)
			d.group.closures.Add(int64(ok))
		}
		var again []*groupReq
		for i, r := range batch {
			err := results[i]
			if errors.Is(err, errAgain) {
				again = append(again, r)
				continue
			}
			if err == nil && r.panic == nil {
				err = commitErr
			}
			r.done <- err
		}
		for _, q := range missed {
			d.stmts.get(context.Background(), q)
		}
		d.group.requeue(again)
	}
	// The batch's transaction serves many callers: no caller's
	// cancellation ends it.
	ctx := context.Background()
	stx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		for range batch {
			results = append(results, fmt.Errorf("db: begin: %w", err))
		}
		finish(results, nil)
		return
	}
	// A batch of one closure runs without a savepoint, as InTx would: its
	// error rolls back the transaction. Savepoints are used, and more
	// closures taken, only when several were waiting.
	single := len(batch) == 1
	run := func(r *groupReq) (err error) {
		tx := &Tx{tx: stx, dialect: d.Dialect, stmts: d.stmts, lane: lane}
		defer func() {
			missed = append(missed, tx.missed...)
			if p := recover(); p != nil {
				r.panic = p
				err = fmt.Errorf("db: group transaction: panic: %v", p)
			}
		}()
		return r.fn(tx)
	}
	if single {
		results = append(results, run(batch[0]))
		if retryable(results[0]) && batch[0].tries < groupMaxTries {
			batch[0].tries++
			results[0] = errAgain
		}
		if results[0] != nil {
			_ = stx.Rollback()
			finish(results, nil)
			return
		}
	} else {
		for i := 0; i < len(batch); i++ {
			if _, err := stx.ExecContext(ctx, "SAVEPOINT "+groupSavepoint); err != nil {
				finish(failBatch(stx, len(batch), results, fmt.Errorf("db: savepoint: %w", err)), nil)
				return
			}
			fnErr := run(batch[i])
			if retryable(fnErr) && batch[i].tries < groupMaxTries {
				// Its writes are undone with its savepoint, and its locks
				// released; it runs again in the next batch, once this
				// one has released the locks it waited for.
				batch[i].tries++
				fnErr = errAgain
			}
			results = append(results, fnErr)
			if err := endSavepoint(ctx, stx, fnErr != nil); err != nil {
				finish(failBatch(stx, len(batch), results, err), nil)
				return
			}
			if i == len(batch)-1 && len(batch) < most && time.Since(start) < groupMaxWait {
				batch = append(batch, d.group.take(most-len(batch), false, lane)...)
			}
		}
	}
	if err := stx.Commit(); err != nil {
		finish(results, fmt.Errorf("db: commit: %w", err))
		return
	}
	committed = true
	finish(results, nil)
}

// endSavepoint ends the closure's savepoint: released, after being rolled
// back to when the closure failed.
func endSavepoint(ctx context.Context, stx *sql.Tx, rollback bool) error {
	if rollback {
		if _, err := stx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+groupSavepoint); err != nil {
			return fmt.Errorf("db: roll back to savepoint: %w", err)
		}
	}
	if _, err := stx.ExecContext(ctx, "RELEASE SAVEPOINT "+groupSavepoint); err != nil {
		return fmt.Errorf("db: release savepoint: %w", err)
	}
	return nil
}

// failBatch rolls back a batch whose transaction broke with err: every
// closure that ran and succeeded, and every one not run yet, gets err; a
// closure that failed keeps its own error. It returns the n results.
func failBatch(stx *sql.Tx, n int, results []error, err error) []error {
	_ = stx.Rollback()
	for i := range results {
		if results[i] == nil {
			results[i] = err
		}
	}
	for len(results) < n {
		results = append(results, err)
	}
	return results
}

// GroupStats are InGroupTx's counters since the database was opened.
type GroupStats struct {
	Commits  int64 // batches committed
	Closures int64 // closures committed in them
	Waiting  int   // closures waiting for a batch now
}

// GroupStats returns InGroupTx's counters: Closures/Commits is the mean
// batch size.
func (d *DB) GroupStats() GroupStats {
	g := &d.group
	g.mu.Lock()
	waiting := len(g.queue)
	g.mu.Unlock()
	return GroupStats{Commits: g.commits.Load(), Closures: g.closures.Load(), Waiting: waiting}
}

// SetGroupLanes sets how many group transactions may run at once (at
// least 1; on SQLite more than one only queue for the writer) and lets
// each batch take up to groupMaxClosures closures, as on SQLite. For
// tests of the batching on PostgreSQL, which set 1; call it before
// InGroupTx is used.
func (d *DB) SetGroupLanes(n int) {
	d.group.mu.Lock()
	defer d.group.mu.Unlock()
	d.group.lanes = max(n, 1)
	d.group.batch = groupMaxClosures
}

// maxBatch is the most closures a batch takes.
func (g *groupCommitter) maxBatch() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.batch <= 0 {
		return groupMaxClosures
	}
	return g.batch
}
