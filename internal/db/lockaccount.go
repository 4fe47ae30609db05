package db

import (
	"context"
	"fmt"
)

// LockAccount holds the account's row against concurrent writers until tx
// ends, for a count-then-insert (a per-account limit) or a check-then-
// delete (an account's last key) that must act as one. On PostgreSQL it
// takes the row with FOR NO KEY UPDATE (rows referring to the account can
// still be inserted); on SQLite, whose write transactions take turns on
// its one writer, it does nothing. An unknown account is an error
// wrapping sql.ErrNoRows (PostgreSQL only).
func (tx *Tx) LockAccount(ctx context.Context, accountID string) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	var id string
	if err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE id = ? FOR NO KEY UPDATE`, accountID).Scan(&id); err != nil {
		return fmt.Errorf("db: lock account %s: %w", accountID, err)
	}
	return nil
}
