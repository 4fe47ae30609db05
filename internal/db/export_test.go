package db

import (
	"context"
	"database/sql"
	"fmt"
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
	db := &DB{sql: s, Dialect: d}
	ms, err := loadMigrations(d)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.version > version {
			break
		}
		for _, st := range splitStatements(m.sql) {
			if _, err := db.Exec(ctx, st); err != nil {
				return nil, fmt.Errorf("%s: %w", m.name, err)
			}
		}
		if _, err := db.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, m.version, m.name); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// Migrate applies the migrations not applied yet (as Open does).
func (d *DB) Migrate(ctx context.Context) error { return d.migrate(ctx) }
