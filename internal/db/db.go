// Package db owns Sesame's connection to its database: opening SQLite (the
// default, embedded, pure Go) or PostgreSQL, the small differences between
// the two dialects, transactions, and the schema migrations embedded in the
// binary.
//
// SQL in the rest of Sesame is written once, with `?` placeholders, in the
// subset both databases accept; DB and Tx rebind placeholders for
// PostgreSQL. Times are stored as integer Unix milliseconds and booleans as
// Go bools (INTEGER in SQLite, BOOLEAN in PostgreSQL), so the same queries
// and the same scanning code work on both.
//
// Transactions run with InTx, or with InGroupTx on the hot write paths
// (admissions and delivery outcomes): group commit, where the closures of
// concurrent callers run in one transaction, each in a savepoint of its
// own, and one COMMIT — one fsync — makes the whole batch durable before
// any of its callers returns.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite", pure Go (no cgo)
)

// Dialect names the database behind a DB.
type Dialect int

// The supported dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// Options says which database to open. Exactly one of DataDir and URL is used:
// URL when it is set, DataDir otherwise.
type Options struct {
	// DataDir is the directory holding the SQLite database file sesame.db.
	// It is created if missing.
	DataDir string
	// URL is a PostgreSQL connection URL (postgres://...).
	URL string
	// Logger receives warnings about the database's settings; nil:
	// discard.
	Logger *slog.Logger
	// BeforeMigrate, when set, runs once connected and before any
	// migration: an error ends Open (the database closed) with the schema
	// as it was, so a start that is refused (a wrong master key) does not
	// upgrade the database first. The schema may be of any earlier
	// version, or absent (see HasTable).
	BeforeMigrate func(ctx context.Context, d *DB) error
	// WALCheckpointBytes bounds SQLite's write-ahead log, sesame.db-wal.
	// SQLite's own automatic checkpoint is PASSIVE: it copies what it can
	// but never resets the log while a reader still uses an old snapshot,
	// which under steady load is always, so the file grows without end.
	// Once the file is larger than WALCheckpointBytes, a checkpointer on
	// a connection of its own copies the log into the database while the
	// writer goes on, and, when readers keep SQLite from starting the log
	// again, resets it with a short RESTART checkpoint (see
	// walCheckpointer). 0 means DefaultWALCheckpointBytes; negative turns
	// the checkpointer off (SQLite's automatic checkpoints only). Not used
	// on PostgreSQL.
	WALCheckpointBytes int64
}

// DefaultWALCheckpointBytes is Options.WALCheckpointBytes's default: 4
// MiB, about a thousand pages, SQLite's own automatic checkpoint size, and
// a few hundred admissions under load.
const DefaultWALCheckpointBytes = 4 << 20

// DB is an open database with its dialect. It is safe for concurrent use.
//
// On SQLite it holds two pools over the one file: a single writer
// connection, which runs every transaction and every statement that is
// not a SELECT, and a few read-only connections for SELECTs outside
// transactions. SQLite admits one writer at a time anyway: with one
// connection, writers queue in Go instead of sleeping in SQLite's busy
// handler, and the writer keeps one warm page cache. In WAL mode readers
// never wait for the writer and each statement sees every transaction
// committed before it began, so a read after a commit sees the commit. On
// PostgreSQL both are the same pool.
//
// Statements are prepared once per connection and reused (see stmtCache)
// on SQLite. On PostgreSQL pgx already does this: its default query mode
// (QueryExecModeCacheStatement) prepares each query text once per
// connection and keeps up to 512 of them, so DB adds no cache of its own
// there.
type DB struct {
	sql       *sql.DB // writes and transactions; on SQLite one connection
	read      *sql.DB // SELECTs outside transactions; sql on PostgreSQL
	stmts     *stmtCache
	readStmts *stmtCache
	group     groupCommitter   // InGroupTx's batches
	wal       *walCheckpointer // SQLite's WAL bound; off on PostgreSQL
	Dialect   Dialect
}

// sqliteReaders is the number of read-only SQLite connections.
const sqliteReaders = 4

// Open opens the database and, once Options.BeforeMigrate (if any) has
// passed, brings its schema up to date.
func Open(ctx context.Context, opts Options) (*DB, error) {
	var d *DB
	switch {
	case opts.URL != "":
		u, err := url.Parse(opts.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("db: database URL must be postgres://... (got %q)", redact(opts.URL))
		}
		s, err := openPostgres(ctx, u, opts.Logger)
		if err != nil {
			return nil, err
		}
		d = &DB{sql: s, read: s, Dialect: Postgres}
		d.group.lanes, d.group.batch = pgGroupLanes, 1
	case opts.DataDir != "":
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("db: create data dir: %w", err)
		}
		path := filepath.Join(opts.DataDir, "sesame.db")
		if err := createPrivate(path); err != nil {
			return nil, err
		}
		warnOpen(opts.Logger, opts.DataDir)
		wal := newWALCheckpointer(path, opts.WALCheckpointBytes, opts.Logger)
		// WAL lets readers run beside the single writer; busy_timeout makes
		// a connection wait for another process's lock (sesame's admin
		// commands on the same file) instead of failing; _txlock=immediate
		// takes the write lock at BEGIN, so a transaction never fails halfway
		// when it upgrades from reading to writing. synchronous=FULL makes
		// a commit durable before it returns (in WAL mode NORMAL may lose
		// the last commits on power loss): an API 200 is a promise. Every
		// connection, reader or writer, runs every pragma; the readers add
		// query_only, so a write sent to them fails instead of racing the
		// writer. The WAL's pragmas (see walCheckpointer) keep it bounded.
		dsnWith := func(busy time.Duration) string {
			return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate" + wal.pragmas()
		}
		dsn := dsnWith(sqliteBusyTimeout)
		w, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
		r.SetMaxOpenConns(sqliteReaders)
		r.SetMaxIdleConns(sqliteReaders)
		// The checkpointer has a connection of its own (the readers'
		// query_only would allow a checkpoint, but a long one would take
		// a reader from the pool), with the writer's settings but a short
		// wait for the readers a RESTART checkpoint waits for (see
		// walRestartBusy). (A second busy_timeout pragma in the DSN would
		// not override the first.)
		if err := wal.start(dsnWith(walRestartBusy)); err != nil {
			r.Close()
			w.Close()
			return nil, err
		}
		d = &DB{sql: w, read: r, stmts: newStmtCache(w), readStmts: newStmtCache(r), wal: wal, Dialect: SQLite}
	default:
		return nil, errors.New("db: neither a data directory nor a database URL is configured")
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The writer first: on a new file it switches the journal to WAL
	// before any reader opens.
	for _, p := range []*sql.DB{d.sql, d.read} {
		if err := p.PingContext(pctx); err != nil {
			d.Close()
			return nil, fmt.Errorf("db: connect to %s: %w", d.Dialect, err)
		}
	}
	if opts.BeforeMigrate != nil {
		if err := opts.BeforeMigrate(ctx, d); err != nil {
			d.Close()
			return nil, err
		}
	}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// HasTable reports whether the table exists (in PostgreSQL, where an
// unqualified query would find it: on the search path).
func (d *DB) HasTable(ctx context.Context, name string) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d.Dialect == Postgres {
		q = `SELECT COUNT(*) FROM (SELECT to_regclass(CAST(? AS TEXT)) AS t) r WHERE t IS NOT NULL`
	}
	var n int
	if err := d.QueryRow(ctx, q, name).Scan(&n); err != nil {
		return false, fmt.Errorf("db: look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// redact removes a password from a URL for error messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close closes the database and its prepared statements.
func (d *DB) Close() error {
	werr := d.wal.close()
	d.stmts.close()
	d.readStmts.close()
	var err error
	if d.read != d.sql {
		err = d.read.Close()
	}
	return errors.Join(werr, d.sql.Close(), err)
}

// Querier is what DB and Tx have in common: queries with `?` placeholders.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = (*Tx)(nil)
)

// Exec runs a statement outside a transaction.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := d.rebind(query)
	if s := d.stmts.get(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return d.sql.ExecContext(ctx, q, args...)
}

// Query runs a query outside a transaction.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := d.rebind(query)
	p, c := d.pool(q)
	if s := c.get(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.QueryContext(ctx, q, args...)
}

// QueryRow runs a query expected to return at most one row.
func (d *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := d.rebind(query)
	p, c := d.pool(q)
	if s := c.get(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.QueryRowContext(ctx, q, args...)
}

// pool returns the pool a query outside a transaction runs on, and its
// statements: the readers for a SELECT, the writer for anything else
// (INSERT ... RETURNING is run with Query too).
func (d *DB) pool(q string) (*sql.DB, *stmtCache) {
	if d.read != d.sql && hasKeyword(q, "SELECT") {
		return d.read, d.readStmts
	}
	return d.sql, d.stmts
}

// Tx is a transaction; see DB.InTx.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   *stmtCache
	// queried holds the texts run with Query on a cached statement: SQLite
	// keeps one statement handle per text and connection, so while its rows
	// are open the same text must not run on it again (it would reset the
	// rows under the caller). Later runs of such a text in the transaction
	// are unprepared.
	queried map[string]bool
	// missed holds cacheable texts not cached yet, prepared once the
	// transaction has ended (preparing needs a connection, and on SQLite
	// the transaction holds the writer's only one).
	missed []string
	lane   int // the group-commit lane running it (see Lane)
}

// stmt returns the transaction's instance of the cached statement for q,
// or nil to run q unprepared.
func (t *Tx) stmt(ctx context.Context, q string, query bool) *sql.Stmt {
	if t.stmts == nil || t.queried[q] {
		return nil
	}
	s := t.stmts.lookup(q)
	if s == nil {
		if len(t.missed) < 32 && cacheable(q) {
			t.missed = append(t.missed, q)
		}
		return nil
	}
	if query {
		if t.queried == nil {
			t.queried = make(map[string]bool)
		}
		t.queried[q] = true
	}
	return t.tx.StmtContext(ctx, s)
}

// Lane returns the number of the group-commit lane that runs the
// transaction (0 to the number of lanes - 1: below 16 on PostgreSQL, 0 on
// SQLite's one writer), and 0 for InTx's. Group transactions running at
// the same time have different numbers, so a table with a row per lane
// (send_counts) lets concurrent transactions add to a total without
// waiting for each other's row locks.
func (t *Tx) Lane() int { return t.lane }

// Dialect returns the dialect of the database the transaction runs on.
func (t *Tx) Dialect() Dialect { return t.dialect }

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := rebind(t.dialect, query)
	if s := t.stmt(ctx, q, false); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := rebind(t.dialect, query)
	if s := t.stmt(ctx, q, true); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

// QueryRow runs a query expected to return at most one row. The row must
// be scanned before the same text runs again in the transaction.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := rebind(t.dialect, query)
	if s := t.stmt(ctx, q, false); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise; fn's error is returned as is.
func (d *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	d.wal.enter()
	defer d.wal.leave()
	stx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	tx := &Tx{tx: stx, dialect: d.Dialect, stmts: d.stmts}
	defer func() {
		for _, q := range tx.missed {
			d.stmts.get(ctx, q)
		}
	}()
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	d.kickWAL()
	return nil
}

func (d *DB) rebind(q string) string { return rebind(d.Dialect, q) }

// rebind turns `?` placeholders into PostgreSQL's `$n`. Queries in Sesame
// never contain a literal question mark, so no quoting rules are needed.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// in either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || // SQLite
		strings.Contains(s, "SQLSTATE 23505") // PostgreSQL unique_violation
}

// Millis converts a time to the stored form: Unix milliseconds; the zero
// time is stored as 0.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time converts stored Unix milliseconds back to a UTC time; 0 is the zero time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
