// Package notify sends the mail Sesame writes on its own behalf, as SES
// mails the account owner: the address-verification messages (a Mailer
// queues them for the identity records, in the transaction that issues
// the link), and a message to the account's notification address for each
// identity status change worth telling (verification, DKIM and custom
// MAIL FROM reaching Success, TemporaryFailure or Failed).
//
// Each message is queued as a System message (delivered like any other,
// with no events) in the same transaction that records why it is sent, so
// a crash neither loses nor repeats one. A verification mail counts
// against the account's daily quota (one recipient), since the account
// chose where it goes; a notice to the owner does not. System mail is
// sent from no-reply@<service domain> with the default MAIL FROM domain,
// DKIM-signed with the service domain's own key (Options.Sign).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
)

// Options configures a Notifier.
type Options struct {
	Identities *identity.Store // required
	Accounts   *account.Store  // required
	Queue      *queue.Queue    // required
	// Region and ServiceDomain name the deployment (required): mail comes
	// from no-reply@<ServiceDomain> with envelope sender
	// <id>@<Region>.<ServiceDomain>.
	Region, ServiceDomain string
	// Sign DKIM-signs a message (d=<ServiceDomain>); nil: unsigned.
	Sign   func(msg []byte) ([]byte, error)
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	Poll   time.Duration    // 0: 5 seconds
}

// Notifier queues Sesame's notices to account owners.
type Notifier struct {
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	wake   chan struct{}
	mailer *Mailer
}

// New returns a Notifier.
func New(opts Options) (*Notifier, error) {
	if opts.Identities == nil || opts.Accounts == nil {
		return nil, errors.New("notify: Identities and Accounts are required")
	}
	m, err := NewMailer(MailerOptions{Queue: opts.Queue, Region: opts.Region, ServiceDomain: opts.ServiceDomain, Sign: opts.Sign, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	n := &Notifier{opts: opts, now: m.now, log: opts.Logger, wake: make(chan struct{}, 1), mailer: m}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.opts.Poll <= 0 {
		n.opts.Poll = 5 * time.Second
	}
	return n, nil
}

// Kick makes Run look for work now.
func (n *Notifier) Kick() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run queues Sesame's mail until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTicker(n.opts.Poll)
	defer t.Stop()
	for {
		if _, err := n.RunOnce(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("notification round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.wake:
		}
	}
}

// batch is how many rows of each kind a round handles.
const batch = 100

// RunOnce queues the notices waiting and returns how many it queued.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	queued := 0
	ts, err := n.opts.Identities.Unnotified(ctx, batch)
	if err != nil {
		return queued, err
	}
	for _, t := range ts {
		mark := func(ctx context.Context, tx *db.Tx) error {
			return n.opts.Identities.MarkNotified(ctx, tx, t.ID, n.now())
		}
		subject, body := n.describe(t)
		var to string
		if subject != "" {
			a, err := n.opts.Accounts.Get(ctx, t.AccountID)
			if err != nil {
				return queued, err
			}
			to = a.Email
		}
		if to == "" { // nothing to tell, or nobody to tell it to
			if err := n.markOnly(ctx, mark); err != nil {
				return queued, err
			}
			continue
		}
		ok, err := n.enqueue(ctx, t.AccountID, to, subject, body, mark)
		if err != nil {
			return queued, err
		}
		if ok {
			queued++
		}
	}
	return queued, nil
}

func (n *Notifier) markOnly(ctx context.Context, mark func(context.Context, *db.Tx) error) error {
	err := n.opts.Identities.DBInTx(ctx, mark)
	if errors.Is(err, identity.ErrStale) {
		return nil
	}
	return err
}

// enqueue queues one notice and marks its transition in the same
// transaction. It reports false when another node handled the row first.
func (n *Notifier) enqueue(ctx context.Context, accountID, to, subject, body string, mark func(context.Context, *db.Tx) error) (bool, error) {
	m, err := n.mailer.message(accountID, to, subject, body)
	var ce *compose.Error
	if errors.As(err, &ce) {
		// An owner address that cannot be mailed: mark the row so it does
		// not block the others, and log it.
		n.log.Warn("system mail cannot be composed; dropped", "account", accountID, "to", to, "err", err)
		return false, n.markOnly(ctx, mark)
	}
	if err != nil {
		return false, err
	}
	err = n.opts.Queue.EnqueueWith(ctx, m, nil, mark)
	if errors.Is(err, identity.ErrStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notify: queue mail to %s: %w", to, err)
	}
	n.log.Info("system mail queued", "account", accountID, "to", to, "subject", subject, "message_id", m.ID)
	return true, nil
}

// describe returns the subject and body telling the owner about t, or ""
// when the change is not worth a message (starts, and address changes the
// owner made himself by following a link).
func (n *Notifier) describe(t identity.Transition) (string, string) {
	region := strings.ToUpper(n.opts.Region)
	bad := t.To == identity.Failed || t.To == identity.TemporaryFailure
	if t.To != identity.Success && !bad || strings.Contains(t.Identity, "@") && t.Attribute == identity.AttrVerification {
		return "", ""
	}
	outcome := "SUCCESS"
	if bad {
		outcome = "FAILURE"
	}
	var subject, body string
	switch t.Attribute {
	case identity.AttrVerification:
		subject = fmt.Sprintf("Sesame Domain Verification %s for %s in region %s", outcome, t.Identity, region)
		body = fmt.Sprintf("The verification of %s in region %s is now %s.\n", t.Identity, region, t.To)
	case identity.AttrDKIM:
		subject = fmt.Sprintf("DKIM setup %s for %s in region %s", outcome, t.Identity, region)
		body = fmt.Sprintf("The DKIM setup of %s in region %s is now %s.\n", t.Identity, region, t.To)
	case identity.AttrMailFrom:
		if bad {
			subject = fmt.Sprintf("Custom MAIL FROM domain for %s in region %s is now failing", t.Identity, region)
			body = fmt.Sprintf("The custom MAIL FROM domain of %s in region %s is now %s. Until it is fixed, mail uses the default MAIL FROM domain or is rejected, as the identity's behavior on MX failure says.\n", t.Identity, region, t.To)
		} else {
			subject = fmt.Sprintf("Custom MAIL FROM domain setup SUCCESS for %s in region %s", t.Identity, region)
			body = fmt.Sprintf("Your custom MAIL FROM domain for %s in region %s was set up successfully: mail from this identity now uses it as its envelope sender.\n", t.Identity, region)
		}
	default:
		return "", ""
	}
	body += "\nWhat was found: " + t.Reason + "\n\nSee `sesame identity show " + t.Identity + "` for the records found and the history.\n"
	return subject, body
}
