package db

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes or renews the named lease for holder until now+ttl.
// It succeeds when the lease is free, expired, or already held by holder.
// Loops that must run once per cluster (the DNS checker) hold a lease, so
// several nodes sharing one PostgreSQL database do not duplicate work.
func (d *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := d.Exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`,
		name, holder, Millis(now.Add(ttl)), Millis(now))
	if err != nil {
		return false, fmt.Errorf("db: acquire lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("db: acquire lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up the lease if holder has it.
func (d *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := d.Exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("db: release lease %s: %w", name, err)
	}
	return nil
}
