package notify

import (
	"context"
	"fmt"

	"github.com/sesame-email/sesame/internal/db"
)

// MailTx queues a plain text system mail to the account's owner (or any
// address) in the caller's transaction tx: the reputation guard's notices.
// It does not count against the account's quota. A *compose.Error
// (wrapped) means the address cannot be mailed. Kick delivery after the
// commit.
func (m *Mailer) MailTx(ctx context.Context, tx *db.Tx, accountID, to, subject, text string) error {
	msg, err := m.message(accountID, to, subject, text)
	if err != nil {
		return fmt.Errorf("notify: mail to %s: %w", to, err)
	}
	if err := m.opts.Queue.EnqueueTx(ctx, tx, msg, nil); err != nil {
		return fmt.Errorf("notify: queue mail to %s: %w", to, err)
	}
	return nil
}
