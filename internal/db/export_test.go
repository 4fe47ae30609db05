package db

import (
	"context"
	"database/sql"
)

// OpenAt opens the database dsn of dialect d (a SQLite file name, or a
// PostgreSQL URL) and applies the migrations up to version only, as a
// Sesame of that schema left it: for tests of upgrades, whose rows are
// written next and Migrate then applies the rest.
func OpenAt(ctx context.Context, d Dialect, dsn string, version int) (*DB, error) {
	driver := "pgx"
	if d == SQLite {
		driver, dsn = "sqlite", "file:"+dsn+"?_pragma=foreign_keys(1)&_txlock=immediate"
	}
	s, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{sql: s, read: s, Dialect: d}
	if err := db.migrateTo(ctx, version); err != nil {
		s.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies the migrations not applied yet (as Open does).
func (d *DB) Migrate(ctx context.Context) error { return d.migrate(ctx) }

// StmtStats returns how many statements were prepared for the statement
// caches and how many the caches hold, writer and readers together.
func (d *DB) StmtStats() (prepared int64, cached int) {
	for _, c := range []*stmtCache{d.stmts, d.readStmts} {
		if c != nil {
			prepared += c.prepares.Load()
			cached += c.len()
		}
	}
	return prepared, cached
}

// SetWALHook makes the WAL checkpointer call f before (true) and after
// (false) each checkpoint, on its goroutine.
func (d *DB) SetWALHook(f func(before bool)) { d.wal.hook.Store(&f) }
