package db

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// openPostgres opens the pool for the URL u (Options.URL, parsed) and
// makes sure a commit is durable when it returns: a server (or URL) with
// synchronous_commit=off acknowledges commits it may still lose on a
// crash, so Sesame then asks for synchronous_commit=on on every
// connection of its own. fsync=off
// cannot be overridden by a client; it is logged as an error.
func openPostgres(ctx context.Context, u *url.URL, log *slog.Logger) (*sql.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	open := func(dsn string) (*sql.DB, error) {
		s, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("db: open postgres: %w", err)
		}
		s.SetMaxOpenConns(20)
		s.SetMaxIdleConns(10)
		s.SetConnMaxIdleTime(5 * time.Minute)
		return s, nil
	}
	s, err := open(u.String())
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var syncCommit, fsync string
	if err := s.QueryRowContext(pctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync')`).Scan(&syncCommit, &fsync); err != nil {
		s.Close()
		return nil, fmt.Errorf("db: connect to postgres: %w", err)
	}
	if fsync == "off" {
		log.Error("PostgreSQL runs with fsync=off: accepted messages can be lost on a crash or power loss; turn fsync on in postgresql.conf")
	}
	if syncCommit != "off" {
		return s, nil
	}
	s.Close()
	q := u.Query()
	q.Set("synchronous_commit", "on") // pgx sends unknown parameters as run-time settings
	u.RawQuery = q.Encode()
	log.Warn("PostgreSQL has synchronous_commit=off; Sesame sets it to on for its own connections, so that an accepted message survives a crash")
	return open(u.String())
}
