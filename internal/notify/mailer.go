package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
)

// MailerOptions configures a Mailer.
type MailerOptions struct {
	Queue *queue.Queue // required
	// Region and ServiceDomain name the deployment (required): mail comes
	// from no-reply@<ServiceDomain> with envelope sender
	// <id>@<Region>.<ServiceDomain>.
	Region, ServiceDomain string
	// Sign DKIM-signs a message (d=<ServiceDomain>); nil: unsigned.
	Sign func(msg []byte) ([]byte, error)
	Now  func() time.Time // nil: time.Now
}

// Mailer composes Sesame's own messages and queues them.
type Mailer struct {
	opts MailerOptions
	now  func() time.Time
}

// NewMailer returns a Mailer.
func NewMailer(opts MailerOptions) (*Mailer, error) {
	if opts.Queue == nil || opts.Region == "" || opts.ServiceDomain == "" {
		return nil, errors.New("notify: Queue, Region and ServiceDomain are required")
	}
	m := &Mailer{opts: opts, now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	return m, nil
}

// QueueTx queues a verification mail in the caller's transaction tx (it
// is identity.Options.Mail), counting its one recipient against the
// account's daily quota. An address the message cannot be sent to is an
// *identity.InvalidError for EmailAddress. Call Queue.Wake after the commit.
func (m *Mailer) QueueTx(ctx context.Context, tx *db.Tx, mail identity.Mail) error {
	msg, err := m.message(mail.AccountID, mail.To, mail.Subject, mail.Body)
	var ce *compose.Error
	if errors.As(err, &ce) {
		return &identity.InvalidError{Field: "EmailAddress", Msg: fmt.Sprintf("Email address <%s> cannot be mailed: %s", mail.To, ce.Msg)}
	}
	if err != nil {
		return err
	}
	msg.Counted = 1
	if err := m.opts.Queue.EnqueueTx(ctx, tx, msg, nil); err != nil {
		return fmt.Errorf("notify: queue mail to %s: %w", mail.To, err)
	}
	return nil
}

// message composes and signs one system message; a *compose.Error means
// the recipient cannot be mailed.
func (m *Mailer) message(accountID, to, subject, body string) (*queue.Message, error) {
	now := m.now()
	id := send.NewMessageID(now)
	domain := m.opts.Region + "." + m.opts.ServiceDomain
	from := "no-reply@" + m.opts.ServiceDomain
	msg, err := compose.Build(compose.Simple{From: from, To: []string{to}, Subject: subject, Text: body}, compose.Options{Now: m.now, MessageID: id, Domain: domain})
	if err != nil {
		return nil, err
	}
	sm, err := send.SystemMessage(id, accountID, from, to, domain, msg.Bytes, now, m.opts.Sign)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return sm, nil
}
