package db_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// groupTables creates the tables the group-commit tests write: gc_child
// rows need a gc_parent row, checked only at COMMIT.
func groupTables(t *testing.T, d *db.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`DROP TABLE IF EXISTS gc_child`,
		`DROP TABLE IF EXISTS gc_parent`,
		`CREATE TABLE gc_parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE gc_child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = d.Exec(ctx, `DROP TABLE IF EXISTS gc_child`)
		_, _ = d.Exec(ctx, `DROP TABLE IF EXISTS gc_parent`)
	})
}

// blockGroup starts a group transaction whose closure waits until the
// returned release is called, so that the closures given meanwhile queue
// up for the next batch; done receives the blocked call's result.
func blockGroup(t *testing.T, d *db.DB) (release func(), done <-chan error) {
	t.Helper()
	d.SetGroupLanes(1) // PostgreSQL runs several batches at once
	entered, unblock := make(chan struct{}), make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- d.InGroupTx(context.Background(), func(tx *db.Tx) error {
			close(entered)
			<-unblock
			_, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, 1_000_000)
			return err
		})
	}()
	<-entered
	return func() { close(unblock) }, res
}

// waitQueued waits until n closures wait for a batch.
func waitQueued(t *testing.T, d *db.DB, n int) {
	t.Helper()
	for d.GroupStats().Waiting < n {
		runtime.Gosched()
	}
}

// groupCalls runs n InGroupTx calls at once, the i-th with fn(i), and
// returns their results once all have returned. The calls all wait for
// one batch: they are given while a blocked closure holds the writer.
func groupCalls(t *testing.T, d *db.DB, n int, fn func(i int, tx *db.Tx) error) []error {
	t.Helper()
	release, first := blockGroup(t, d)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.InGroupTx(context.Background(), func(tx *db.Tx) error { return fn(i, tx) })
		}()
	}
	waitQueued(t, d, n)
	release()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("the blocking closure: %v", err)
	}
	return errs
}

func count(t *testing.T, d *db.DB, table string) int {
	t.Helper()
	var n int
	if err := d.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGroupCommitBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		groupTables(t, d)
		s0 := d.GroupStats()
		const n = 40
		errs := groupCalls(t, d, n, func(i int, tx *db.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, i)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("closure %d: %v", i, err)
			}
		}
		s := d.GroupStats()
		if got := s.Closures - s0.Closures; got != n+1 {
			t.Fatalf("%d closures committed, want %d", got, n+1)
		}
		// The blocked closure's batch, then the n that waited meanwhile.
		if got := s.Commits - s0.Commits; got != 2 {
			t.Fatalf("%d commits for %d closures, want 2", got, n+1)
		}
		if got := count(t, d, "gc_parent"); got != n+1 {
			t.Fatalf("%d rows, want %d", got, n+1)
		}
	})
}

func TestGroupCommitOneClosureFails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		groupTables(t, d)
		boom := errors.New("boom")
		const n, bad = 10, 4
		errs := groupCalls(t, d, n, func(i int, tx *db.Tx) error {
			ctx := context.Background()
			if _, err := tx.Exec(ctx, `INSERT INTO gc_parent (id) VALUES (?)`, i); err != nil {
				return err
			}
			switch i {
			case bad: // its own insert is undone, the others stay
				return boom
			case bad + 1: // a failed statement: the transaction goes on
				_, err := tx.Exec(ctx, `INSERT INTO gc_parent (id) VALUES (?)`, i)
				if !db.IsUniqueViolation(err) {
					return fmt.Errorf("duplicate insert: %v", err)
				}
				return err
			}
			return nil
		})
		for i, err := range errs {
			switch {
			case i == bad && err != boom:
				t.Fatalf("closure %d returned %v, want its own error", i, err)
			case i == bad+1 && !db.IsUniqueViolation(err):
				t.Fatalf("closure %d returned %v, want a unique violation", i, err)
			case i != bad && i != bad+1 && err != nil:
				t.Fatalf("closure %d: %v", i, err)
			}
		}
		var rows []int
		rs, err := d.Query(context.Background(), `SELECT id FROM gc_parent WHERE id < ? ORDER BY id`, n)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for rs.Next() {
			var id int
			if err := rs.Scan(&id); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, id)
		}
		if want := []int{0, 1, 2, 3, 6, 7, 8, 9}; fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("rows %v, want %v", rows, want)
		}
	})
}

func TestGroupCommitFailureFailsBatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		groupTables(t, d)
		const n, orphan = 6, 2
		errs := groupCalls(t, d, n, func(i int, tx *db.Tx) error {
			parent := i
			if i == orphan {
				parent = -1 // no such parent: the batch's COMMIT fails
			} else if _, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, i); err != nil {
				return err
			}
			_, err := tx.Exec(context.Background(), `INSERT INTO gc_child (id, parent) VALUES (?, ?)`, i, parent)
			return err
		})
		for i, err := range errs {
			if err == nil {
				t.Fatalf("closure %d succeeded in a batch whose COMMIT failed", i)
			}
		}
		if got := count(t, d, "gc_child"); got != 0 {
			t.Fatalf("%d child rows after a failed commit", got)
		}
		if got := count(t, d, "gc_parent"); got != 1 { // the blocking closure's batch
			t.Fatalf("%d parent rows after a failed commit, want 1", got)
		}
		// The writer is usable again.
		err := d.InGroupTx(context.Background(), func(tx *db.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, 7)
			return err
		})
		if err != nil {
			t.Fatalf("after a failed commit: %v", err)
		}
	})
}

// TestGroupStatsCountOnlyCommits: a batch rolled back, its one closure
// having failed, is not counted as committed.
func TestGroupStatsCountOnlyCommits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s0 := d.GroupStats()
		boom := errors.New("boom")
		if err := d.InGroupTx(context.Background(), func(*db.Tx) error { return boom }); err != boom {
			t.Fatalf("InGroupTx: %v, want the closure's error", err)
		}
		if s := d.GroupStats(); s.Commits != s0.Commits || s.Closures != s0.Closures {
			t.Fatalf("after a rolled-back batch: %+v, want %+v", s, s0)
		}
	})
}

func TestGroupCommitCancelWhileWaiting(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		groupTables(t, d)
		release, first := blockGroup(t, d)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		ran := false
		go func() {
			res <- d.InGroupTx(ctx, func(tx *db.Tx) error { ran = true; return nil })
		}()
		waitQueued(t, d, 1)
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled while waiting: %v", err)
		}
		if d.GroupStats().Waiting != 0 {
			t.Fatal("the cancelled call still waits for a batch")
		}
		release()
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if ran {
			t.Fatal("a closure cancelled before its batch ran")
		}
		// A context already done: fn never runs.
		if err := d.InGroupTx(ctx, func(tx *db.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("done context: %v, ran %v", err, ran)
		}
	})
}

func TestGroupCommitPanic(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		groupTables(t, d)
		defer func() {
			if p := recover(); p != "oops" {
				t.Fatalf("recovered %v, want the closure's panic", p)
			}
			// The writer is usable again.
			err := d.InGroupTx(context.Background(), func(tx *db.Tx) error {
				_, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, 1)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}()
		_ = d.InGroupTx(context.Background(), func(tx *db.Tx) error { panic("oops") })
	})
}

// TestGroupCommitLanes: on PostgreSQL a closure does not wait for another
// lane's batch.
func TestGroupCommitLanes(t *testing.T) {
	d := dbtest.Postgres(t)
	groupTables(t, d)
	release, first := blockGroup(t, d)
	d.SetGroupLanes(2)
	err := d.InGroupTx(context.Background(), func(tx *db.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitDeadlockRetried: on PostgreSQL a closure that deadlocks
// with another transaction (it waits for a row that transaction holds,
// which waits for a row an earlier closure of the batch holds) is undone
// and runs again in the next batch, once its batch has committed and
// released the other's row; its caller sees no error.
func TestGroupCommitDeadlockRetried(t *testing.T) {
	d := dbtest.Postgres(t)
	groupTables(t, d)
	ctx := context.Background()
	for _, id := range []int{1, 2} {
		if _, err := d.Exec(ctx, `INSERT INTO gc_child (id, parent) VALUES (?, NULL)`, id); err != nil {
			t.Fatal(err)
		}
	}
	// The other transaction holds row 2, then (once the batch waits for
	// it) asks for row 1.
	holds, wants := make(chan struct{}), make(chan struct{})
	other := make(chan error, 1)
	go func() {
		other <- d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE gc_child SET parent = NULL WHERE id = 2`); err != nil {
				return err
			}
			close(holds)
			<-wants
			_, err := tx.Exec(ctx, `UPDATE gc_child SET parent = NULL WHERE id = 1`)
			return err
		})
	}()
	<-holds
	var runs, runsB atomic.Int32
	errs := groupCalls(t, d, 2, func(i int, tx *db.Tx) error {
		// The first closure run takes row 1; the second, B, row 2.
		if runs.Add(1) == 1 {
			_, err := tx.Exec(ctx, `UPDATE gc_child SET parent = NULL WHERE id = 1`)
			return err
		}
		if runsB.Add(1) == 1 {
			go func() { // once this closure waits for row 2
				for {
					var n int
					if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM pg_locks WHERE NOT granted`).Scan(&n); err != nil || n > 0 {
						break
					}
					runtime.Gosched()
				}
				close(wants)
			}()
		}
		_, err := tx.Exec(ctx, `UPDATE gc_child SET parent = NULL WHERE id = 2`)
		return err
	})
	otherErr := <-other
	switch {
	case errs[0] != nil || errs[1] != nil:
		t.Fatalf("closures: %v", errs)
	case otherErr == nil && runsB.Load() != 2:
		t.Fatalf("the other transaction committed and the deadlocked closure ran %d times, want 2", runsB.Load())
	case otherErr != nil && !strings.Contains(otherErr.Error(), "40P01"):
		// PostgreSQL chose the other transaction as the deadlock's victim.
		t.Fatalf("the other transaction: %v", otherErr)
	}
}

// TestGroupCommitPostgresOneClosureEach: by default PostgreSQL's lanes
// take one closure per transaction (a batch of several would hold several
// callers' row locks until one COMMIT, which can deadlock between lanes),
// so there are as many commits as closures.
func TestGroupCommitPostgresOneClosureEach(t *testing.T) {
	d := dbtest.Postgres(t)
	groupTables(t, d)
	s0 := d.GroupStats()
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = d.InGroupTx(context.Background(), func(tx *db.Tx) error {
				_, err := tx.Exec(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, i)
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("closure %d: %v", i, err)
		}
	}
	s := d.GroupStats()
	if c, k := s.Commits-s0.Commits, s.Closures-s0.Closures; c != n || k != n {
		t.Errorf("%d commits for %d closures, want %d each", c, k, n)
	}
}

// TestGroupLanesDistinct: group transactions running at the same time
// have different lane numbers (send_counts keeps a row per lane so that
// they do not wait for each other), below the number of lanes; on
// SQLite's one writer the number is 0.
func TestGroupLanesDistinct(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := 4
		if d.Dialect == db.SQLite {
			n = 1 // one writer: a second transaction waits for the first
		}
		var (
			arrived sync.WaitGroup
			all     = make(chan struct{})
			mu      sync.Mutex
			lanes   []int
		)
		arrived.Add(n)
		go func() { arrived.Wait(); close(all) }()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = d.InGroupTx(ctx, func(tx *db.Tx) error {
					mu.Lock()
					lanes = append(lanes, tx.Lane())
					mu.Unlock()
					arrived.Done()
					// Every transaction is running before any ends.
					select {
					case <-all:
						return nil
					case <-time.After(10 * time.Second):
						return errors.New("the other group transactions did not start")
					}
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		seen := map[int]bool{}
		for _, l := range lanes {
			if seen[l] || l < 0 || l >= 16 || d.Dialect == db.SQLite && l != 0 {
				t.Fatalf("lanes = %v; want distinct numbers from 0 to 15 (0 on SQLite)", lanes)
			}
			seen[l] = true
		}
		// InTx's transaction is lane 0.
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			if tx.Lane() != 0 {
				return fmt.Errorf("InTx: lane %d, want 0", tx.Lane())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}
