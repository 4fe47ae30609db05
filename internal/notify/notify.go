// Package notify sends the mail Sesame writes on its own behalf, as SES
// mails the account owner: the address-verification messages stored by the
// identity records, and a message to the account's notification address
// for each identity status change worth telling (verification, DKIM and
// custom MAIL FROM reaching Success, TemporaryFailure or Failed).
//
// Each message is queued as a System message (delivered like any other,
// not counted in the account's sending statistics) in the same transaction
// that marks its source row as handled, so a crash neither loses nor
// repeats one. System mail is sent from no-reply@<service domain> with the
// default MAIL FROM domain, DKIM-signed with the service domain's own key
// (Options.Sign).
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
	"github.com/sesame-email/sesame/internal/send"
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

// Notifier queues Sesame's own mail.
type Notifier struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger
	wake chan struct{}
}

// New returns a Notifier.
func New(opts Options) (*Notifier, error) {
	if opts.Identities == nil || opts.Accounts == nil || opts.Queue == nil || opts.Region == "" || opts.ServiceDomain == "" {
		return nil, errors.New("notify: Identities, Accounts, Queue, Region and ServiceDomain are required")
	}
	n := &Notifier{opts: opts, now: opts.Now, log: opts.Logger, wake: make(chan struct{}, 1)}
	if n.now == nil {
		n.now = time.Now
	}
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

// RunOnce queues what is waiting and returns how many messages it queued.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	queued := 0
	mails, err := n.opts.Identities.UnsentMail(ctx, batch)
	if err != nil {
		return 0, err
	}
	for _, m := range mails {
		mark := func(ctx context.Context, tx *db.Tx) error {
			return n.opts.Identities.MarkMailSent(ctx, tx, m.ID, n.now())
		}
		ok, err := n.enqueue(ctx, m.AccountID, m.Recipient, m.Subject, m.Body, mark)
		if err != nil {
			return queued, err
		}
		if ok {
			queued++
		}
	}
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

// enqueue queues one system message and marks its source in the same
// transaction. It reports false when another node handled the row first.
func (n *Notifier) enqueue(ctx context.Context, accountID, to, subject, body string, mark func(context.Context, *db.Tx) error) (bool, error) {
	now := n.now()
	id := send.NewMessageID(now)
	domain := n.opts.Region + "." + n.opts.ServiceDomain
	from := "no-reply@" + n.opts.ServiceDomain
	msg, err := compose.Build(compose.Simple{From: from, To: []string{to}, Subject: subject, Text: body}, compose.Options{Now: n.now, MessageID: id, Domain: domain})
	if err != nil {
		// A recipient that cannot be mailed (it was checked when stored):
		// mark the row so it does not block the others, and log it.
		n.log.Warn("system mail cannot be composed; dropped", "account", accountID, "to", to, "err", err)
		return false, n.markOnly(ctx, mark)
	}
	m, err := send.SystemMessage(id, accountID, from, to, domain, msg.Bytes, now, n.opts.Sign)
	if err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	err = n.opts.Queue.EnqueueWith(ctx, m, nil, mark)
	if errors.Is(err, identity.ErrStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notify: queue mail to %s: %w", to, err)
	}
	n.log.Info("system mail queued", "account", accountID, "to", to, "subject", subject, "message_id", id)
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
