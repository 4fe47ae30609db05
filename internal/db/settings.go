package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SetSetting stores a deployment setting.
func (d *DB) SetSetting(ctx context.Context, name, value string) error {
	_, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("db: set setting %s: %w", name, err)
	}
	return nil
}

// Setting returns a stored deployment setting and whether it is set.
func (d *DB) Setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := d.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("db: setting %s: %w", name, err)
	}
	return v, true, nil
}

// InitSetting stores value as the setting name unless it is already set,
// and returns the stored value: the first node of a cluster to start wins
// and every other uses its value.
func (d *DB) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := d.Exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return "", fmt.Errorf("db: init setting %s: %w", name, err)
	}
	v, ok, err := d.Setting(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("db: setting %s vanished", name)
	}
	return v, err
}
