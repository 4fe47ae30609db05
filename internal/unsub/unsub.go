// Package unsub is one-click unsubscribe for mail sent with
// ListManagementOptions: the signed tokens of its links, the https
// endpoint a mailbox provider POSTs to (RFC 8058) and the recipient's
// preference page behind it, the mailto: address the feedback MX honours,
// and the Subscription events every such change publishes.
//
// A token is stateless: an HMAC-SHA256 (128 bits kept) under a key made
// once per deployment and kept sealed with the master key, over the
// account, list, topic, address, configuration set, MessageId and issue
// time it carries. Issuing one costs no query on the send path; checking
// one costs none before its MAC has been verified, so a forged, altered
// or swapped token is refused without reading the database and every
// refusal looks the same. An unsubscribe changes the contact in the
// contact list (contact.Store.ChangeByRecipient), never the suppression
// list, and publishes its Subscription event in the same transaction
// (Changed, contact.Options.Changed).
package unsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/send"
)

// Path is the public endpoint's path: <public URL>/unsubscribe?t=<token>.
const Path = "/unsubscribe"

// MailPrefix starts the local part of the mailto: address:
// unsubscribe+<token>@<feedback host>.
const MailPrefix = "unsubscribe+"

// The sources of the Subscription events (subscription.source).
const (
	// SourceHeader: the List-Unsubscribe header's one-click POST or its
	// mailto: address.
	SourceHeader = "UnsubscribeHeader"
	// SourceLink: the preference page behind the link.
	SourceLink = "UnsubscribeLink"
)

// Options configures a Service.
type Options struct {
	Contacts *contact.Store // required
	Codec    *Codec         // required
	// PublicURL is the base of the https link (required), without a
	// trailing slash.
	PublicURL string
	// MailDomain is the domain of the mailto: address: the feedback MX's
	// host, feedback-smtp.<region>.<service domain> (required).
	MailDomain string
	Logger     *slog.Logger // nil: discard
}

// Service issues and honours unsubscribe links.
type Service struct {
	opts Options
	log  *slog.Logger
}

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Contacts == nil || opts.Codec == nil || opts.PublicURL == "" || opts.MailDomain == "" {
		return nil, errors.New("unsub: Contacts, Codec, PublicURL and MailDomain are required")
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	opts.MailDomain = strings.ToLower(strings.TrimSuffix(opts.MailDomain, "."))
	s := &Service{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Lists returns the admission door's subscription hooks (send.Options.Lists).
func (s *Service) Lists() *send.Lists {
	return &send.Lists{
		MayReceive: s.opts.Contacts.MayReceive,
		NotFound: func(err error) (list, topic bool) {
			if errors.Is(err, contact.ErrTopicNotFound) {
				return false, true
			}
			return errors.Is(err, contact.ErrNotFound), false
		},
		Links: s.Links,
	}
}

// Links returns the List-Unsubscribe URL and mailto: address of one
// recipient of one message.
func (s *Service) Links(l send.UnsubscribeLink) (url, mailto string, err error) {
	t := Token{AccountID: l.AccountID, ContactList: l.ContactList, Topic: l.Topic, Address: l.Address,
		ConfigurationSet: l.ConfigurationSet, MessageID: l.MessageID, Issued: l.Issued}
	return s.URL(t), MailPrefix + s.opts.Codec.EncodeMail(t) + "@" + s.opts.MailDomain, nil
}

// URL returns the https link of t.
func (s *Service) URL(t Token) string {
	return s.opts.PublicURL + Path + "?t=" + s.opts.Codec.Encode(t)
}

// ErrGone is a genuine token whose list (or topic) no longer exists.
var ErrGone = errors.New("unsub: the contact list or topic of this link no longer exists")

// OneClick honours the token's unsubscribe at once: from its topic, or
// from the whole list when it has none (RFC 8058 POST, mailto:). Doing it
// again changes nothing.
func (s *Service) OneClick(ctx context.Context, t Token, source string) error {
	_, err := s.change(ctx, t, source, func(l *contact.List, c *contact.Contact) error {
		if t.Topic == "" {
			c.UnsubscribeAll = true
			return nil
		}
		return setTopic(l, c, t.Topic, contact.OptOut)
	})
	return err
}

// change applies edit to the token's contact (contact.Store.ChangeByRecipient)
// with the token as the change's origin.
func (s *Service) change(ctx context.Context, t Token, source string, edit func(l *contact.List, c *contact.Contact) error) (bool, error) {
	changed, err := s.opts.Contacts.ChangeByRecipient(ctx, t.AccountID, t.ContactList, t.Address, source, t, edit)
	if errors.Is(err, contact.ErrNotFound) || errors.Is(err, contact.ErrInvalid) {
		return false, ErrGone
	}
	if err != nil {
		return false, fmt.Errorf("unsub: %s of %s: %w", source, t.MessageID, err)
	}
	if changed {
		s.log.Info("subscription changed by the recipient", "account", t.AccountID, "list", t.ContactList, "topic", t.Topic, "message_id", t.MessageID, "source", source)
	}
	return changed, nil
}

// setTopic sets c's preference for topic, which must be l's.
func setTopic(l *contact.List, c *contact.Contact, topic string, st contact.Status) error {
	if _, ok := l.Topic(topic); !ok {
		return contact.ErrTopicNotFound
	}
	for i := range c.Preferences {
		if c.Preferences[i].TopicName == topic {
			c.Preferences[i].SubscriptionStatus = st
			return nil
		}
	}
	c.Preferences = append(c.Preferences, contact.Preference{TopicName: topic, SubscriptionStatus: st})
	return nil
}

// MailAddress reports whether rcpt is a mailto: unsubscribe address with
// a genuine token, and returns the token. Only the MAC is checked: no
// query.
func (s *Service) MailAddress(rcpt string) (Token, bool) {
	local, domain, ok := strings.Cut(rcpt, "@")
	if !ok || !strings.EqualFold(domain, s.opts.MailDomain) || len(local) <= len(MailPrefix) || !strings.EqualFold(local[:len(MailPrefix)], MailPrefix) {
		return Token{}, false
	}
	t, err := s.opts.Codec.DecodeMail(local[len(MailPrefix):])
	return t, err == nil
}

// IsUnsubscribeAddress reports whether rcpt is a mailto: unsubscribe
// address with a genuine token (feedback.Unsubscriber).
func (s *Service) IsUnsubscribeAddress(rcpt string) bool {
	_, ok := s.MailAddress(rcpt)
	return ok
}

// Mail honours a message received at a mailto: unsubscribe address (see
// MailAddress): whatever its content, as RFC 2369 asks of a mailto:
// List-Unsubscribe. A list or topic since deleted is not an error: there
// is nothing left to unsubscribe from.
func (s *Service) Mail(ctx context.Context, rcpt string) error {
	t, ok := s.MailAddress(rcpt)
	if !ok {
		return ErrBadToken
	}
	if err := s.OneClick(ctx, t, SourceHeader); err != nil && !errors.Is(err, ErrGone) {
		return err
	}
	return nil
}

// Changed is the contact.Options.Changed hook that publishes a
// Subscription event for every change a recipient made (a Change with a
// Source and a Token as its Origin) through the configuration set of the
// message the link came from, in the change's transaction, at the time of
// the change (the contact's Updated, from the contact store's clock).
// Changes made through the API or an import job publish nothing, as in
// SES, whose Subscription events report the recipient's own choices.
func Changed(ctx context.Context, tx *db.Tx, c contact.Change) error {
	t, ok := c.Origin.(Token)
	if !ok || c.Source == "" || c.New == nil {
		return nil
	}
	at := c.New.Updated
	ev := &event.Event{Type: event.Subscription, AccountID: c.AccountID, ConfigurationSet: t.ConfigurationSet,
		Mail: event.Mail{Timestamp: t.Issued, MessageID: t.MessageID, SendingAccountID: c.AccountID, Destination: []string{t.Address}},
		Subscription: &event.SubscriptionDetails{ContactList: c.List.Name, Timestamp: at, Source: c.Source,
			NewTopicPreferences: preferences(c.List, c.New), OldTopicPreferences: preferences(c.List, c.Old)}}
	if t.ConfigurationSet != "" {
		event.SetTag(&ev.Mail, event.TagConfigurationSet, t.ConfigurationSet)
	}
	if _, err := event.Append(ctx, tx, ev, at); err != nil {
		return fmt.Errorf("unsub: Subscription event: %w", err)
	}
	return nil
}

// preferences is c's status for every topic of l, as a Subscription
// event reports it; a contact that did not exist has the list's defaults.
func preferences(l *contact.List, c *contact.Contact) event.TopicPreferences {
	if c == nil {
		c = &contact.Contact{}
	}
	p := event.TopicPreferences{UnsubscribeAll: c.UnsubscribeAll, TopicSubscriptionStatus: []event.TopicStatus{}}
	for _, t := range l.Topics {
		st := event.SubscriptionOptIn
		// Status folds UnsubscribeAll in; the event reports it apart.
		cc := *c
		cc.UnsubscribeAll = false
		if cc.Status(t) == contact.OptOut {
			st = event.SubscriptionOptOut
		}
		p.TopicSubscriptionStatus = append(p.TopicSubscriptionStatus, event.TopicStatus{TopicName: t.TopicName, SubscriptionStatus: st})
	}
	return p
}
