package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/sesame-email/sesame/internal/db"
)

// SetFeedbackForwarding turns feedback forwarding (bounces and complaints
// mailed to the sender) on or off (v1 SetIdentityFeedbackForwardingEnabled,
// v2 PutEmailIdentityFeedbackAttributes).
func (s *Store) SetFeedbackForwarding(ctx context.Context, accountID, name string, enabled bool) error {
	return s.update(ctx, accountID, name, func(ctx context.Context, tx *db.Tx, i *Identity) error {
		_, err := tx.Exec(ctx, `UPDATE identities SET feedback_forwarding = ?, version = version + 1 WHERE id = ?`, enabled, i.ID)
		return err
	})
}

// TagIdentity adds or replaces tags on an identity (v2 TagResource). The
// result must satisfy SES's tag rules (at most 50, unique keys); nothing is
// written otherwise.
func (s *Store) TagIdentity(ctx context.Context, accountID, name string, tags []Tag) error {
	return s.update(ctx, accountID, name, func(ctx context.Context, tx *db.Tx, i *Identity) error {
		if err := validateTags(tags); err != nil {
			return err
		}
		merged := slices.Clone(i.Tags)
		for _, t := range tags {
			k := slices.IndexFunc(merged, func(m Tag) bool { return m.Key == t.Key })
			if k >= 0 {
				merged[k] = t
			} else {
				merged = append(merged, t)
			}
		}
		if err := validateTags(merged); err != nil {
			return err
		}
		return s.writeTags(ctx, tx, i, merged)
	})
}

// UntagIdentity removes the tags with these keys (v2 UntagResource);
// unknown keys are ignored.
func (s *Store) UntagIdentity(ctx context.Context, accountID, name string, keys []string) error {
	return s.update(ctx, accountID, name, func(ctx context.Context, tx *db.Tx, i *Identity) error {
		kept := slices.DeleteFunc(slices.Clone(i.Tags), func(t Tag) bool { return slices.Contains(keys, t.Key) })
		return s.writeTags(ctx, tx, i, kept)
	})
}

func (s *Store) writeTags(ctx context.Context, tx *db.Tx, i *Identity, tags []Tag) error {
	_, err := tx.Exec(ctx, `UPDATE identities SET tags = ?, version = version + 1 WHERE id = ?`, encodeTags(tags), i.ID)
	return err
}

// update runs fn on the account's identity, read and written in one
// transaction. An unknown identity → ErrNotFound.
func (s *Store) update(ctx context.Context, accountID, name string, fn func(ctx context.Context, tx *db.Tx, i *Identity) error) error {
	n, _, _, err := Parse("Identity", name)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		// Locked: two changes at once must not both start from the same
		// row (one tag set lost).
		i, err := getForUpdate(ctx, tx, `account_id = ? AND name = ?`, accountID, n)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, n)
		}
		if err != nil {
			return fmt.Errorf("identity: read %s: %w", n, err)
		}
		if err := fn(ctx, tx, i); err != nil {
			return fmt.Errorf("identity: update %s: %w", n, err)
		}
		return nil
	})
}
