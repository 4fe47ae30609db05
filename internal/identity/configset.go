package identity

import (
	"context"

	"github.com/sesame-email/sesame/internal/db"
)

// SetConfigurationSet sets the identity's default configuration set (v2
// PutEmailIdentityConfigurationSetAttributes); "" clears it. The caller
// checks that the set exists; a set deleted later stays named here, and
// sends that would use it fail as for an unknown set, as in SES.
func (s *Store) SetConfigurationSet(ctx context.Context, accountID, name, set string) error {
	return s.update(ctx, accountID, name, func(ctx context.Context, tx *db.Tx, i *Identity) error {
		_, err := tx.Exec(ctx, `UPDATE identities SET configuration_set = ?, version = version + 1 WHERE id = ?`, set, i.ID)
		return err
	})
}
