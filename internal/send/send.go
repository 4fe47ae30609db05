package send

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/stage"
)

// Limits SES applies to every send (ses-api.md §14.2).
const (
	// MaxRecipients is the most envelope recipients a message may have.
	MaxRecipients = 50
	// MaxSizeV1 is the message size limit of the v1 API: 10 MB.
	MaxSizeV1 = 10 * 1024 * 1024
	// MaxSizeV2 is the message size limit of the v2 API and SMTP: 40 MB.
	MaxSizeV2 = 40 * 1024 * 1024
)

// Options configures a Sender.
type Options struct {
	Identities *identity.Store // required
	Accounts   *account.Store  // required
	Queue      *queue.Queue    // required
	// Region and ServiceDomain name the deployment (required): the default
	// MAIL FROM domain is <Region>.<ServiceDomain>, and so is the right-hand
	// side of the Message-ID header Sesame writes.
	Region, ServiceDomain string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewMessageID returns a fresh MessageId; nil means SES's format
	// (0100<12 hex digits of Unix ms>-<uuid>-000000). The id must be a
	// dot-atom (it becomes the local part of the envelope sender).
	NewMessageID func() string
	// Logger gets one line per rejection (Info) and per acceptance (Debug);
	// nil discards.
	Logger *slog.Logger
	// SimulatorDomains are the mailbox simulator's domains: any address in
	// them is a simulator address (allowed in the sandbox, not counted
	// against the daily quota). Nil means DefaultSimulatorDomains.
	SimulatorDomains []string
	// ConfigurationSet returns the account's configuration set of that
	// name (configset.Store.Get); an unknown set is an error matching
	// configset.ErrNotFound. Nil means no set exists: every named set,
	// and every identity's default set, is refused with
	// KindConfigurationSetDoesNotExist. It is called only when a set
	// applies to the message.
	ConfigurationSet func(ctx context.Context, accountID, name string) (*configset.Set, error)
	// Suppressed is the suppression-list check: of the given recipients,
	// it returns those on the account's suppression list for one of
	// reasons ("BOUNCE", "COMPLAINT"), or for any reason when reasons is
	// nil (no configuration set overrides the account's list; see
	// suppression.Store.Suppressed). Nil means none are listed. As in SES,
	// a suppressed recipient does not make the send fail: the message is
	// accepted and that recipient gets a Bounce event
	// (Permanent/OnAccountSuppressionList) instead of a delivery attempt.
	Suppressed func(ctx context.Context, accountID string, reasons, recipients []string) (map[string]bool, error)
	// Stages, when not nil, counts the time of admission, signing and
	// enqueueing of each accepted message.
	Stages *stage.Timer
	// Lists is subscription management, for messages sent with
	// ListManagementOptions; nil refuses them (the list does not exist).
	Lists *Lists
	// Track is open and click tracking (track.Service.Rewrite): called,
	// before signing, only for a message through a configuration set with
	// an enabled OPEN or CLICK event destination, it returns the message
	// with its HTML rewritten. Nil: no message is tracked.
	Track func(t Tracking, msg []byte) ([]byte, error)
}

// Tracking is what open and click tracking needs to know of a message
// (Options.Track): whose it is, the set it goes through and what the
// set's destinations take.
type Tracking struct {
	AccountID, MessageID, ConfigurationSet string
	Open, Click                            bool
	Options                                *configset.TrackingOptions // the set's TrackingOptions; nil for none
}

// Sender is the admission door. It is safe for concurrent use.
type Sender struct {
	opts     Options
	now      func() time.Time
	newID    func() string
	log      *slog.Logger
	sim      []string
	idDomain string // the Message-ID's right-hand side
	lim      *limits
	keys     keyCache
}

// keyCache keeps identities' unsealed, parsed DKIM signers: unsealing and
// parsing an RSA key on every send cost as much as a tenth of the send.
// An entry is valid for one identity version (every DKIM change bumps it).
type keyCache struct {
	mu sync.Mutex
	m  map[int64]cachedKeys
}

type cachedKeys struct {
	version int64
	ed25519 bool // whether the Ed25519 key's CNAME was published
	signers []dkim.Signer
}

// maxCachedKeys bounds the cache; past it, it starts again empty.
const maxCachedKeys = 10000

// New returns a Sender.
func New(opts Options) (*Sender, error) {
	if opts.Identities == nil || opts.Accounts == nil || opts.Queue == nil || opts.Region == "" || opts.ServiceDomain == "" {
		return nil, errors.New("send: DB, Identities, Accounts, Queue, Region and ServiceDomain are required")
	}
	s := &Sender{opts: opts, now: opts.Now, newID: opts.NewMessageID, log: opts.Logger, lim: newLimits()}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.sim = slices.Clone(opts.SimulatorDomains)
	if s.sim == nil {
		s.sim = DefaultSimulatorDomains(opts.ServiceDomain)
	}
	for i, d := range s.sim {
		n, err := addr.Domain(d)
		if err != nil {
			return nil, fmt.Errorf("send: simulator domain: %w", err)
		}
		s.sim[i] = n
	}
	d, err := addr.Domain(opts.Region + "." + opts.ServiceDomain)
	if err != nil {
		return nil, fmt.Errorf("send: region and service domain do not make a domain name: %w", err)
	}
	s.idDomain = d
	return s, nil
}

// Request is one message to admit.
type Request struct {
	// AccountID is the authenticated account; required.
	AccountID string
	// Exactly one of Simple and Raw. For Simple, the envelope recipients
	// are its To, Cc and Bcc, and an empty Simple.From is set to From.
	Simple *compose.Simple
	Raw    []byte
	// From is the source: v1 Source, v2 FromEmailAddress. For Raw it may be
	// empty (the From header is used); when given it is the mail object's
	// source and must be verified besides the From header.
	From string
	// Destinations are the envelope recipients of Raw (v1 SendRawEmail
	// Destinations, v2 Destination); empty means the To, Cc and Bcc of the
	// message. Must be empty for Simple.
	Destinations []string
	// ConfigurationSet is the configuration set's name, "" for none (a raw
	// X-SES-CONFIGURATION-SET header is used then).
	ConfigurationSet string
	// Tags are the message tags (v1 Tags, v2 EmailTags); when empty, the
	// raw X-SES-MESSAGE-TAGS header's are used (SES does not merge them).
	Tags []compose.Tag
	// TagsParam is the API's name of Tags in errors: "Tags" (v1, and the
	// default) or "EmailTags" (v2).
	TagsParam string
	// FeedbackForwardingAddress is v2 FeedbackForwardingEmailAddress / v1
	// ReturnPath: where bounces and complaints are forwarded. It must be
	// verified; it is kept in the mail object (commonHeaders.returnPath)
	// for the feedback processing. Empty means a raw Return-Path header's
	// address, if any.
	FeedbackForwardingAddress string
	// MaxSize is the size limit in bytes: MaxSizeV1 for the v1 API,
	// MaxSizeV2 for v2 and SMTP. Zero means MaxSizeV1.
	MaxSize int
	// SourceIP and CallerIdentity are the caller's IP address and name,
	// for the auto-tags ses:source-ip and ses:caller-identity.
	SourceIP, CallerIdentity string
	// Operation is the API operation (SendEmail, SendRawEmail,
	// SendTemplatedEmail, SendBulkTemplatedEmail, SendBulkEmail,
	// SendSmtpEmail, ...) for the auto-tag ses:operation; optional.
	Operation string
	// Template, when set, makes this a templated send: Simple (required)
	// gives the addressing, headers and attachments, and the rendered
	// template its Subject, Text and HTML. See the package doc for when
	// it is rendered and what a rendering failure does.
	Template *Template
	// ListManagement is v2 ListManagementOptions; nil means the raw
	// X-SES-LIST-MANAGEMENT-OPTIONS header's, if any. See the package doc
	// (step 9b) for what it does.
	ListManagement *compose.ListManagement
}

// Result is an accepted message.
type Result struct {
	MessageID string
}

// recipient is one envelope recipient: as given and parsed.
type recipient = envelopeAddress

// Submit admits one message: it runs the checks of the package doc in order
// and, when all pass, signs the message and queues it with its Send event.
// A rejection is an *Error (see Kind); any other error is an internal
// failure. Either way nothing is queued. The one error that comes with a
// Result is KindRenderingFailure: the MessageId its Rendering Failure
// event is about.
func (s *Sender) Submit(ctx context.Context, r Request) (Result, error) {
	res, err := s.submit(ctx, r)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			s.log.Info("message rejected", "account", r.AccountID, "kind", e.Kind.String(), "field", e.Field, "reason", e.Msg)
		} else {
			s.log.Error("send failed", "account", r.AccountID, "err", err)
		}
		return res, err
	}
	return res, nil
}

func (s *Sender) submit(ctx context.Context, r Request) (Result, error) {
	t0 := s.opts.Stages.Start()
	ctx = cachever.WithMemo(ctx) // the lookups below read the account's cache versions once
	now := s.now()
	switch {
	case r.AccountID == "":
		return Result{}, errors.New("send: Request.AccountID is required")
	case r.Simple != nil && r.Raw != nil:
		return Result{}, errors.New("send: give Request.Simple or Request.Raw, not both")
	case r.Simple != nil && len(r.Destinations) > 0:
		return Result{}, errors.New("send: Request.Destinations must be empty with Simple content (its To, Cc and Bcc are the recipients)")
	case r.Template != nil && (r.Simple == nil || r.Template.Compiled == nil):
		return Result{}, errors.New("send: a templated Request needs Simple (its addressing) and Template.Compiled")
	case r.Simple == nil && len(r.Raw) == 0:
		return Result{}, reject(KindInvalid, "RawMessage", "The raw message must not be empty.")
	}
	maxSize := r.MaxSize
	if maxSize <= 0 {
		maxSize = MaxSizeV1
	}

	// 1. Shape: tags and the addresses given as parameters.
	if err := compose.ValidateTags(cmp.Or(r.TagsParam, "Tags"), r.Tags); err != nil {
		return Result{}, invalid(err)
	}
	var source, feedback *envelopeAddress
	if r.From != "" {
		a, err := parseEnvelope("From", r.From)
		if err != nil {
			return Result{}, err
		}
		source = &a
	}
	var dests []recipient
	for i, d := range r.Destinations {
		a, err := parseEnvelope(fmt.Sprintf("Destinations[%d]", i), d)
		if err != nil {
			return Result{}, err
		}
		dests = append(dests, a)
	}
	if r.FeedbackForwardingAddress != "" {
		a, err := parseEnvelope("FeedbackForwardingAddress", r.FeedbackForwardingAddress)
		if err != nil {
			return Result{}, err
		}
		feedback = &a
	}
	if r.Simple != nil && r.Simple.From != "" {
		if _, err := parseEnvelope("From", r.Simple.From); err != nil {
			return Result{}, err
		}
	}
	if r.Simple != nil { // Simple's recipients are its To, Cc and Bcc
		for _, l := range []struct {
			name string
			list []string
		}{{"To", r.Simple.To}, {"Cc", r.Simple.Cc}, {"Bcc", r.Simple.Bcc}} {
			for i, a := range l.list {
				ea, err := parseEnvelope(fmt.Sprintf("%s[%d]", l.name, i), a)
				if err != nil {
					return Result{}, err
				}
				dests = append(dests, ea)
			}
		}
	}

	// 2. Account.
	acct, err := s.sendingAccount(ctx, r.AccountID, MsgSendingPaused)
	if err != nil {
		return Result{}, err
	}

	// 3. A cheap size guard before parsing raw mail.
	if r.Simple == nil && len(r.Raw) > maxSize {
		return Result{}, tooLong(maxSize, len(r.Raw))
	}

	// 4. Compose or normalise.
	id := s.messageID(now)
	copts := compose.Options{Now: func() time.Time { return now }, MessageID: id, Domain: s.idDomain}
	var m *compose.Message
	var simple compose.Simple // the Simple content composed (templated: rendered again later)
	if r.Simple != nil {
		simple = *r.Simple
		if simple.From == "" {
			simple.From = r.From
		}
		if r.Template != nil { // the checks see the message without its rendered parts
			simple.Subject, simple.Text, simple.HTML = "", "", ""
		}
		m, err = compose.Build(simple, copts)
	} else {
		m, err = compose.NormalizeRaw(r.Raw, copts)
	}
	if err != nil {
		return Result{}, invalid(err)
	}

	// 5. Configuration set named by the request or the raw header.
	cs := r.ConfigurationSet
	if cs == "" {
		cs = m.ConfigurationSet
	}
	var set *configset.Set
	if cs != "" {
		if set, err = s.configurationSet(ctx, acct.ID, cs); err != nil {
			return Result{}, err
		}
	}

	// 6. Recipients.
	rcpts := uniqueRecipients(dests, m)
	switch {
	case len(rcpts) == 0 && r.Simple == nil:
		return Result{}, reject(KindInvalid, "Destinations", "Missing required header 'To'.")
	case len(rcpts) == 0:
		return Result{}, reject(KindInvalid, "Destination", "The message must have at least one recipient (To, Cc or Bcc).")
	case len(rcpts) > MaxRecipients:
		return Result{}, reject(KindInvalid, "Destinations", "Recipient count exceeds %d.", MaxRecipients)
	}

	// 7. Size.
	if len(m.Bytes) > maxSize {
		return Result{}, tooLong(maxSize, len(m.Bytes))
	}

	// 8. Identities: the senders always, the recipients in the sandbox.
	if feedback == nil && m.ReturnPath != nil {
		feedback = &envelopeAddress{Given: m.ReturnPath.String(), Addr: m.ReturnPath.Address}
	}
	var senders []envelopeAddress
	addSender := func(given string, a addr.Address) {
		if !slices.ContainsFunc(senders, func(x envelopeAddress) bool { return x.Addr == a }) {
			senders = append(senders, envelopeAddress{Given: given, Addr: a})
		}
	}
	if source != nil {
		addSender(source.Given, source.Addr)
	}
	fromGiven := headerValue(m.Headers, "From") // raw: as written
	if r.Simple != nil && r.Simple.From != "" {
		fromGiven = strings.TrimSpace(r.Simple.From)
	}
	if fromGiven == "" {
		fromGiven = m.From.String()
	}
	addSender(fromGiven, m.From.Address)
	if m.Sender != nil {
		addSender(m.Sender.String(), m.Sender.Address)
	}
	if feedback != nil {
		addSender(feedback.Given, feedback.Addr)
	}
	var checkRcpts []recipient
	if acct.Sandbox {
		for _, rc := range rcpts {
			if !s.isSimulator(rc.Addr) {
				checkRcpts = append(checkRcpts, rc)
			}
		}
	}
	found, err := s.lookup(ctx, acct.ID, senders, checkRcpts)
	if err != nil {
		return Result{}, err
	}
	var failed []string
	for _, a := range slices.Concat(senders, checkRcpts) {
		if len(covering(found, a.Addr)) == 0 && !slices.Contains(failed, a.Given) {
			failed = append(failed, a.Given)
		}
	}
	if len(failed) > 0 {
		return Result{}, reject(KindMessageRejected, "", "Email address is not verified. The following identities failed the check in region %s: %s",
			strings.ToUpper(s.opts.Region), strings.Join(failed, ", "))
	}
	chain := covering(found, m.From.Address) // verified, most specific first; not empty
	sending := chain[0]

	// 8b. Without a named set, the From identity's default: the most
	// specific identity of the chain that has one.
	if cs == "" {
		for _, i := range chain {
			if i.ConfigurationSet != "" {
				cs = i.ConfigurationSet
				if set, err = s.configurationSet(ctx, acct.ID, cs); err != nil {
					return Result{}, err
				}
				break
			}
		}
	}

	// 9. MAIL FROM.
	mailFromDomain, err := s.mailFrom(chain)
	if err != nil {
		return Result{}, err
	}

	// 9b. Subscription management: the list and topic must exist, and
	// recipients who opted out are not sent to. Nothing is asked when the
	// message names no list.
	lm := r.ListManagement
	if lm == nil {
		lm = m.ListManagement
	}
	var optedOut map[string]bool
	if lm != nil {
		addrs := make([]string, len(rcpts))
		for i, rc := range rcpts {
			addrs[i] = rc.Addr.String()
		}
		if optedOut, err = s.listManagement(ctx, acct.ID, lm, addrs); err != nil {
			return Result{}, err
		}
	}

	// 10, 11. Daily quota (mailbox-simulator recipients do not count) and
	// sending rate; limit is shared with Admit.
	quotaN := 0
	for _, rc := range rcpts {
		if !s.isSimulator(rc.Addr) {
			quotaN++
		}
	}
	done, err := s.limit(ctx, acct, quotaN, len(rcpts), now)
	if err != nil {
		return Result{}, err
	}
	accepted := false
	defer func() { done(accepted) }()

	sourceText := fromGiven
	if source != nil {
		sourceText = source.Given
	}
	rcptList := make([]string, len(rcpts))
	for i, rc := range rcpts {
		rcptList[i] = rc.Addr.String()
	}
	arn := fmt.Sprintf("arn:aws:ses:%s:%s:identity/%s", s.opts.Region, acct.ID, sending.Name)
	mailOf := func(m *compose.Message) event.Mail {
		mail := event.Mail{Timestamp: now, MessageID: id, Source: sourceText, SourceArn: arn, SendingAccountID: acct.ID, Destination: rcptList}
		s.fillHeaders(&mail, m, id, now, feedback)
		tags := r.Tags
		if len(tags) == 0 {
			tags = m.Tags
		}
		for _, t := range tags {
			if mail.Tags == nil {
				mail.Tags = map[string][]string{}
			}
			mail.Tags[t.Name] = append(mail.Tags[t.Name], t.Value)
		}
		event.AutoTags(&mail, cs, m.From.Address.Domain, r.SourceIP, r.CallerIdentity)
		event.SetTag(&mail, event.TagOperation, r.Operation)
		return mail
	}

	// The single recipient of a message with ListManagementOptions gets
	// its unsubscribe link: in the text and HTML parts (placeholders) and
	// in the List-Unsubscribe header added before signing.
	var unsubURL, unsubMailto string
	if lm != nil && len(rcpts) == 1 {
		if unsubURL, unsubMailto, err = s.opts.Lists.Links(UnsubscribeLink{AccountID: acct.ID, ContactList: lm.ContactList, Topic: lm.Topic,
			Address: rcpts[0].Addr.String(), ConfigurationSet: cs, MessageID: id, Issued: now}); err != nil {
			return Result{}, fmt.Errorf("send: unsubscribe link of %s: %w", id, err)
		}
	}
	if unsubURL != "" && r.Simple != nil && r.Template == nil && hasPlaceholder(&simple) {
		if m, err = compose.Build(withUnsubscribeURL(simple, unsubURL), copts); err != nil {
			return Result{}, invalid(err)
		}
		if len(m.Bytes) > maxSize {
			return Result{}, tooLong(maxSize, len(m.Bytes))
		}
	}

	// 12. Templated: render, then the size of the composed message.
	if r.Template != nil {
		t := *r.Template
		if lm != nil {
			t.Data = withPlaceholder(t.Data)
		}
		rm, err := t.render(simple, copts, unsubURL)
		if re, ok := errors.AsType[*Error](err); ok && re.Kind == KindRenderingFailure {
			ev := &event.Event{Type: event.RenderingFailure, AccountID: acct.ID, ConfigurationSet: cs, Mail: withoutSubject(mailOf(m), false),
				Failure: &event.FailureDetails{TemplateName: r.Template.Name, ErrorMessage: re.Msg}}
			if err := s.opts.Queue.AppendEvent(ctx, ev); err != nil {
				return Result{}, fmt.Errorf("send: record the rendering failure of %s: %w", id, err)
			}
			return Result{MessageID: id}, re
		}
		if err != nil {
			return Result{}, err
		}
		if len(rm.Bytes) > maxSize {
			return Result{}, tooLong(maxSize, len(rm.Bytes))
		}
		m = rm
	}

	// Sign.
	t0 = s.opts.Stages.Since(stage.Admission, t0)
	body := m.Bytes
	if unsubURL != "" {
		body = withListHeaders(body, unsubURL, unsubMailto, r.Simple == nil)
		if len(body) > maxSize {
			return Result{}, tooLong(maxSize, len(body))
		}
	}
	if set != nil && (set.TracksOpen || set.TracksClick) && s.opts.Track != nil {
		if body, err = s.opts.Track(Tracking{AccountID: acct.ID, MessageID: id, ConfigurationSet: cs,
			Open: set.TracksOpen, Click: set.TracksClick, Options: set.Tracking}, body); err != nil {
			return Result{}, fmt.Errorf("send: tracking of %s: %w", id, err)
		}
		if len(body) > maxSize {
			return Result{}, tooLong(maxSize, len(body))
		}
	}
	if signer := SigningIdentity(chain); signer != nil {
		if body, err = s.sign(ctx, signer, body); err != nil {
			return Result{}, err
		}
	}

	// Queue, with the Send event.
	t0 = s.opts.Stages.Since(stage.Signing, t0)
	mail := mailOf(m)
	if unsubURL != "" {
		withListFields(&mail, unsubURL, unsubMailto)
	}
	msg := &queue.Message{ID: id, AccountID: acct.ID, Source: sourceText, SourceArn: arn, MailFrom: id + "@" + mailFromDomain,
		ConfigurationSet: cs, Mail: mail, Body: body, Recipients: rcptList, Counted: quotaN}
	if s.opts.Suppressed != nil {
		var reasons []string // nil: the account's list as it is
		if set != nil {
			reasons = set.SuppressedReasons
		}
		sup, err := s.opts.Suppressed(ctx, acct.ID, reasons, rcptList)
		if err != nil {
			return Result{}, fmt.Errorf("send: suppression check: %w", err)
		}
		for _, rc := range rcptList {
			if !sup[rc] || optedOut[rc] {
				continue
			}
			if msg.Suppressed == nil {
				msg.Suppressed = map[string]*event.Event{}
			}
			msg.Suppressed[rc] = &event.Event{Type: event.Bounce, AccountID: acct.ID, ConfigurationSet: cs, Mail: mail, Bounce: &event.BounceDetails{
				BounceType: smtpcode.BouncePermanent, BounceSubType: smtpcode.SubTypeOnAccountSuppressionList, Timestamp: now, FeedbackID: event.NewFeedbackID(now),
				ReportingMTA: "dns; " + s.idDomain,
				BouncedRecipients: []event.Recipient{{EmailAddress: rc, Action: "failed", Status: "5.1.1",
					DiagnosticCode: "Amazon SES did not send the message to this address because it is on the suppression list for your account."}},
			}}
		}
	}
	for _, rc := range rcptList {
		if !optedOut[rc] {
			continue
		}
		if msg.Suppressed == nil {
			msg.Suppressed = map[string]*event.Event{}
		}
		what := "contact list " + lm.ContactList
		if lm.Topic != "" {
			what = "topic " + lm.Topic + " of " + what
		}
		msg.Suppressed[rc] = &event.Event{Type: event.Bounce, AccountID: acct.ID, ConfigurationSet: cs, Mail: mail, Bounce: &event.BounceDetails{
			BounceType: smtpcode.BouncePermanent, BounceSubType: smtpcode.SubTypeOnAccountSuppressionList, Timestamp: now, FeedbackID: event.NewFeedbackID(now),
			ReportingMTA: "dns; " + s.idDomain,
			BouncedRecipients: []event.Recipient{{EmailAddress: rc, Action: "failed", Status: "5.7.1",
				DiagnosticCode: "Amazon SES did not send the message to this address because the contact unsubscribed from " + what + "."}},
		}}
	}
	ev := &event.Event{Type: event.Send, AccountID: acct.ID, ConfigurationSet: cs, Mail: mail, Send: &event.SendDetails{}}
	if r.Template != nil {
		ev.Mail = withoutSubject(mail, true) // as SES's Send event of a templated message
	}
	if err := s.opts.Queue.Enqueue(ctx, msg, ev); err != nil {
		return Result{}, fmt.Errorf("send: queue %s: %w", id, err)
	}
	accepted = true
	s.opts.Stages.Since(stage.Enqueue, t0)
	s.log.Debug("message accepted", "account", acct.ID, "message_id", id, "identity", sending.Name, "mail_from", msg.MailFrom, "recipients", len(rcptList))
	return Result{MessageID: id}, nil
}

// sendingAccount returns the account, or KindSendingPaused with paused
// (the sentence of the operation refused) when its sending is disabled.
func (s *Sender) sendingAccount(ctx context.Context, accountID, paused string) (*account.Account, error) {
	acct, err := s.opts.Accounts.Get(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("send: account %s: %w", accountID, err)
	}
	if !acct.SendingEnabled {
		return nil, reject(KindSendingPaused, "", "%s", paused)
	}
	return acct, nil
}

// configurationSet looks up the set a message is sent through: unknown →
// KindConfigurationSetDoesNotExist, paused → KindConfigurationSetSendingPaused.
func (s *Sender) configurationSet(ctx context.Context, accountID, name string) (*configset.Set, error) {
	if s.opts.ConfigurationSet == nil {
		return nil, reject(KindConfigurationSetDoesNotExist, "ConfigurationSetName", "Configuration set %s does not exist.", name)
	}
	set, err := s.opts.ConfigurationSet(ctx, accountID, name)
	if errors.Is(err, configset.ErrNotFound) {
		return nil, reject(KindConfigurationSetDoesNotExist, "ConfigurationSetName", "Configuration set %s does not exist.", name)
	}
	if err != nil {
		return nil, fmt.Errorf("send: look up configuration set %s: %w", name, err)
	}
	if !set.SendingEnabled {
		return nil, reject(KindConfigurationSetSendingPaused, "ConfigurationSetName", "Sending is paused for this configuration set.")
	}
	return set, nil
}

func (s *Sender) messageID(now time.Time) string {
	if s.newID != nil {
		return s.newID()
	}
	return NewMessageID(now)
}

// invalid turns a compose error into a KindInvalid rejection; other errors
// (a misconfigured Options) are internal.
func invalid(err error) error {
	var ce *compose.Error
	if errors.As(err, &ce) {
		return &Error{Kind: KindInvalid, Msg: ce.Msg, Field: ce.Field, Err: err}
	}
	return fmt.Errorf("send: compose: %w", err)
}

// tooLong is SES's answer to an oversize message (InvalidParameterValue).
func tooLong(limit, size int) error {
	return reject(KindInvalid, "RawMessage", "Message length is more than %d bytes long: '%d'.", limit, size)
}

// uniqueRecipients returns the envelope recipients, each address once, in
// order: dests when given (Raw's Destinations, or Simple's To, Cc and Bcc
// as given), else the message's To, Cc and Bcc headers.
func uniqueRecipients(dests []recipient, m *compose.Message) []recipient {
	var out []recipient
	seen := map[addr.Address]bool{}
	add := func(r recipient) {
		if !seen[r.Addr] {
			seen[r.Addr] = true
			out = append(out, r)
		}
	}
	if len(dests) > 0 {
		for _, d := range dests {
			add(d)
		}
		return out
	}
	for _, l := range [][]compose.Mailbox{m.To, m.Cc, m.Bcc} {
		for _, mb := range l {
			add(recipient{Given: mb.String(), Addr: mb.Address})
		}
	}
	return out
}

// isSimulator reports whether a is a mailbox simulator address.
func (s *Sender) isSimulator(a addr.Address) bool {
	return slices.Contains(s.sim, a.Domain)
}

// lookup fetches, in one query, every identity of the account that could
// cover one of the addresses.
func (s *Sender) lookup(ctx context.Context, accountID string, lists ...[]envelopeAddress) (map[string]*identity.Identity, error) {
	var names []string
	for _, l := range lists {
		for _, a := range l {
			for _, n := range identity.CoveringNames(a.Addr.String(), a.Addr.Domain) {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	found, err := s.opts.Identities.GetMany(ctx, accountID, names)
	if err != nil {
		return nil, fmt.Errorf("send: look up identities: %w", err)
	}
	return found, nil
}

// mailFrom returns the domain of the envelope sender by the custom MAIL FROM
// rules (EnvelopeDomain), or the rejection of RejectMessage.
func (s *Sender) mailFrom(chain []*identity.Identity) (string, error) {
	d, by := EnvelopeDomain(chain, s.opts.Identities.DefaultMailFromDomain())
	if by != nil && by.MailFrom.Status != identity.Success && by.MailFrom.Behavior == identity.RejectMessage {
		status := by.MailFrom.Status
		if status == "" {
			status = identity.Pending
		}
		return "", reject(KindMailFromNotVerified, "", "Mail FROM domain is not verified: the custom MAIL FROM domain %s of identity %s is %s, and its behavior on MX failure is RejectMessage.",
			by.MailFrom.Domain, by.Name, status)
	}
	return d, nil
}

// sign adds the identity's DKIM signatures (RSA first, then Ed25519).
func (s *Sender) sign(ctx context.Context, i *identity.Identity, msg []byte) ([]byte, error) {
	signers, err := s.signers(ctx, i)
	if err != nil {
		return nil, err
	}
	if len(signers) == 0 {
		s.log.Warn("identity has DKIM enabled and verified but no keys; sending unsigned", "identity", i.Name)
		return msg, nil
	}
	out, err := dkim.Sign(msg, signers, dkim.SignOptions{Now: s.now})
	if err != nil {
		return nil, fmt.Errorf("send: DKIM-sign as %s: %w", i.Domain, err)
	}
	return out, nil
}

// signers returns the identity's DKIM signers, RSA first, from the cache
// when it holds them for this version of the identity.
func (s *Sender) signers(ctx context.Context, i *identity.Identity) ([]dkim.Signer, error) {
	s.keys.mu.Lock()
	c, ok := s.keys.m[i.ID]
	s.keys.mu.Unlock()
	if ok && c.version == i.Version && c.ed25519 == i.DKIM.Ed25519Published {
		return c.signers, nil
	}
	keys, err := s.opts.Identities.SigningKeys(ctx, i.ID)
	if err != nil {
		return nil, fmt.Errorf("send: DKIM keys of %s: %w", i.Name, err)
	}
	signers := make([]dkim.Signer, 0, len(keys))
	for _, k := range keys {
		if k.Key.Algorithm == dkim.Ed25519 && !i.DKIM.Ed25519Published {
			continue // its CNAME is optional; a signature nobody can verify helps no one
		}
		signers = append(signers, dkim.Signer{Domain: i.Domain, Selector: k.Selector, Key: k.Key})
	}
	slices.SortStableFunc(signers, func(a, b dkim.Signer) int {
		ra, rb := a.Key.Algorithm == dkim.RSA, b.Key.Algorithm == dkim.RSA
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	s.keys.mu.Lock()
	if s.keys.m == nil || len(s.keys.m) >= maxCachedKeys {
		s.keys.m = map[int64]cachedKeys{}
	}
	s.keys.m[i.ID] = cachedKeys{version: i.Version, ed25519: i.DKIM.Ed25519Published, signers: signers}
	s.keys.mu.Unlock()
	return signers, nil
}

// fillHeaders sets the mail object's headers and commonHeaders from the
// message as submitted.
func (s *Sender) fillHeaders(mail *event.Mail, m *compose.Message, id string, now time.Time, feedback *envelopeAddress) {
	hs := make([]event.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = event.Header{Name: h.Name, Value: h.Value}
	}
	event.SetHeaders(mail, hs)
	from := headerValue(m.Headers, "From")
	if from == "" {
		from = m.From.String()
	}
	ch := event.CommonHeaders{
		From:    []string{from},
		To:      mailboxes(m.To),
		Cc:      mailboxes(m.Cc),
		ReplyTo: mailboxes(m.ReplyTo),
		Subject: m.Subject,
	}
	ch.MessageID = headerValue(m.Headers, "Message-ID")
	if ch.MessageID == "" {
		ch.MessageID = "<" + id + "@" + s.idDomain + ">"
	}
	ch.Date = headerValue(m.Headers, "Date")
	if ch.Date == "" {
		ch.Date = now.UTC().Format(time.RFC1123Z)
	}
	if feedback != nil {
		ch.ReturnPath = feedback.Given
	}
	mail.CommonHeaders = ch
}

func mailboxes(ms []compose.Mailbox) []string {
	if len(ms) == 0 {
		return nil
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

func headerValue(hs []compose.Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// SystemMessage is Sesame's own mail to one address, ready to queue:
// MessageId id (from NewMessageID, also in body's Message-ID), sent as from
// with the envelope sender <id>@<mailFromDomain>, its body DKIM-signed with
// sign when sign is not nil. It is not the account's sending (see
// queue.Message.System).
func SystemMessage(id, accountID, from, to, mailFromDomain string, body []byte, now time.Time, sign func([]byte) ([]byte, error)) (*queue.Message, error) {
	if sign != nil {
		var err error
		if body, err = sign(body); err != nil {
			return nil, fmt.Errorf("send: sign system mail to %s: %w", to, err)
		}
	}
	return &queue.Message{ID: id, AccountID: accountID, Source: from, MailFrom: id + "@" + mailFromDomain, Body: body, Recipients: []string{to}, System: true,
		Mail: event.Mail{Timestamp: now, MessageID: id, Source: from, SendingAccountID: accountID, Destination: []string{to}}}, nil
}
