package feedback

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/suppression"
)

// Options configures a Processor.
type Options struct {
	// DB is where Apply's transaction runs; required.
	DB *db.DB
	// Queue holds the messages reports are about, and takes forwarded
	// notifications; required.
	Queue *queue.Queue
	// Region and ServiceDomain name the deployment; required. Forwarded
	// notifications come from MAILER-DAEMON@ / complaints@<ServiceDomain>
	// with the default MAIL FROM domain <Region>.<ServiceDomain>.
	Region, ServiceDomain string
	// Suppress adds address to the account's suppression list for reason
	// inside tx, when the account suppresses that reason (or, for a
	// message sent with configurationSet, not "", whose SuppressionOptions
	// override the account's reasons, when the set does), and reports
	// whether it did: suppression.Store.Record. Nil: no suppression list.
	Suppress func(ctx context.Context, tx *db.Tx, accountID, configurationSet, address string, reason suppression.Reason, messageID, feedbackID string) (bool, error)
	// Forwarding reports whether the account's identity forwards feedback
	// by email (SES's feedback forwarding), reading through q: the
	// transaction the feedback is applied in (a second connection could
	// deadlock SQLite's single writer and exhaust a PostgreSQL pool). Nil:
	// never.
	Forwarding func(ctx context.Context, q db.Querier, accountID, identity string) (bool, error)
	// Sign DKIM-signs a forwarded notification (d=<ServiceDomain>); nil:
	// unsigned.
	Sign func(msg []byte) ([]byte, error)
	// MaxNoticesPerHour bounds the notifications forwarded about one
	// message in a clock hour; beyond it bounces and complaints are still
	// recorded, but their notices are skipped (and logged). 0:
	// DefaultMaxNoticesPerHour.
	MaxNoticesPerHour int
	Logger            *slog.Logger     // nil: discard
	Now               func() time.Time // nil: time.Now
}

// DefaultMaxNoticesPerHour is Options.MaxNoticesPerHour's default.
const DefaultMaxNoticesPerHour = 20

// Processor applies bounces and complaints to the messages they are about.
// Its methods are safe for concurrent use.
type Processor struct {
	opts         Options
	reportingMTA string // our name in forwarded DSNs: the feedback host
	now          func() time.Time
	log          *slog.Logger
}

// NewProcessor returns a Processor.
func NewProcessor(opts Options) (*Processor, error) {
	if opts.DB == nil || opts.Queue == nil || opts.Region == "" || opts.ServiceDomain == "" {
		return nil, errors.New("feedback: DB, Queue, Region and ServiceDomain are required")
	}
	if opts.MaxNoticesPerHour < 0 {
		return nil, errors.New("feedback: MaxNoticesPerHour must not be negative")
	}
	opts.MaxNoticesPerHour = cmp.Or(opts.MaxNoticesPerHour, DefaultMaxNoticesPerHour)
	p := &Processor{opts: opts, now: opts.Now, log: opts.Logger}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.reportingMTA = "feedback-smtp." + opts.Region + "." + opts.ServiceDomain
	return p, nil
}

// Result is what applying one report to one message did.
type Result struct {
	Events     []event.Type // appended to the outbox, in order
	Suppressed []string     // addresses added to the suppression list
	Forwarded  []string     // MessageIds of the forwarded notifications
	Ignored    []string     // why (parts of) the report were not used
	// Duplicate says everything the report says about this message was
	// already applied (by an earlier report, or by delivery): nothing was
	// done again.
	Duplicate bool
	// Checked is the verdict about each recipient of the message the
	// report named: only verified ones are applied.
	Checked []Checked
	// Temporary says the verdict about some recipient in Checked is
	// temporary (a lookup that might have shown the report genuine
	// failed): what was verified is applied, and the report should be
	// retried for the rest (the feedback MX answers 451).
	Temporary bool
	// StoredID is the id of the report kept for operators (ListReports);
	// 0 when the message has MaxStoredPerMessage reports already.
	StoredID int64
}

// Apply applies in (a report received on the feedback MX) to each message
// it was addressed to (sents: the return paths it was sent to), all in one
// transaction: events, suppression-list entries, forwarded notifications
// and the report kept for operators are all stored, or none is, so a
// sender that retries after an error causes no duplicates.
//
// Only what the report says about recipients it is verified for is
// applied: a bounce must come from the null sender, and in.Check must say
// the report comes from the side of the recipient's domain. What it says
// about others is kept (ListReports) and logged but changes nothing.
//
// A recipient whose verdict is temporary (a lookup failed) is not
// applied: the report is kept (outcome OutcomeTemporary when nothing else
// was applied) and Result.Temporary is set, so that the feedback MX
// answers 451 and the sender retries. What was verified is applied now
// all the same; the retry finds it applied (a duplicate) and applies only
// what is new. What a report says about a recipient is applied once per
// message, recipient and kind (see applyOnce), whatever its bytes. See
// the package documentation for what each kind of report does.
func (p *Processor) Apply(ctx context.Context, in *Received, sents ...*queue.Sent) ([]Result, error) {
	results := make([]Result, len(sents))
	plans := make([][]outcome, len(sents))
	from := headerFrom(in.Raw) // the same for every message
	for i, sent := range sents {
		r := &results[i]
		plans[i] = p.plan(ctx, sent, in, from, r)
		r.Temporary = slices.ContainsFunc(r.Checked, func(c Checked) bool { return c.Temporary })
	}
	err := p.opts.DB.InTx(ctx, func(tx *db.Tx) error {
		now := p.now()
		for i, sent := range sents {
			r := &results[i]
			for _, o := range plans[i] {
				ev, suppress, err := p.applyOnce(ctx, tx, sent.ID, o, now, r)
				if err != nil {
					return err
				}
				if ev == nil {
					continue
				}
				// The event refers to the stored mail object it was made from.
				if _, err := event.AppendRef(ctx, tx, ev, &sent.Mail, sent.ConfigurationSet, now); err != nil {
					return err
				}
				r.Events = append(r.Events, ev.Type)
				if err := p.consequences(ctx, tx, ev, suppress, in.Raw, r); err != nil {
					return err
				}
			}
			r.Duplicate = len(plans[i]) > 0 && len(r.Events) == 0
			if err := p.store(ctx, tx, in, sent, r, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(results, func(r Result) bool { return len(r.Forwarded) > 0 }) {
		p.opts.Queue.Wake()
	}
	return results, nil
}

// The kinds a report about a recipient is applied once per (table
// feedback_applied). A transient bounce has its own kind, so that it does
// not block a later permanent one; once a permanent bounce is applied, a
// transient one is a duplicate.
//
// A "not-spam" report (the opposite of a complaint) has its own kind too:
// it must not make a later complaint about the same recipient a
// duplicate.
const (
	keyBounce    = "bounce"    // a Permanent bounce
	keyTransient = "transient" // a Transient or Undetermined bounce
	keyComplaint = "complaint"
	keyNotSpam   = "not-spam" // an ARF report of feedback type not-spam
)

// applyOnce claims, inside tx, the keys of o's recipients for the message
// messageID and returns o's event reduced to the recipients whose keys
// were free, with the addresses it suppresses; nil when none was (the
// others are noted in r as already applied).
func (p *Processor) applyOnce(ctx context.Context, tx *db.Tx, messageID string, o outcome, now time.Time, r *Result) (*event.Event, []string, error) {
	ev := *o.ev
	var kept []string
	keep := func(addr, kind string) (bool, error) {
		ok, err := claimKey(ctx, tx, messageID, addr, kind, now)
		if err != nil {
			return false, err
		}
		if ok {
			kept = append(kept, strings.ToLower(addr))
		} else if r != nil {
			r.Ignored = append(r.Ignored, fmt.Sprintf("%s: a %s about this recipient was already applied", addr, kind))
		}
		return ok, nil
	}
	switch {
	case ev.Bounce != nil:
		b := *ev.Bounce
		kind := keyTransient
		if b.BounceType == smtpcode.BouncePermanent {
			kind = keyBounce
		}
		rcpts, err := keepAll(b.BouncedRecipients, func(rc event.Recipient) string { return rc.EmailAddress }, kind, keep)
		if err != nil || len(rcpts) == 0 {
			return nil, nil, err
		}
		b.BouncedRecipients = rcpts
		ev.Bounce = &b
	case ev.Complaint != nil:
		c := *ev.Complaint
		kind := keyComplaint
		if c.ComplaintFeedbackType == "not-spam" {
			kind = keyNotSpam
		}
		rcpts, err := keepAll(c.ComplainedRecipients, func(a string) string { return a }, kind, keep)
		if err != nil || len(rcpts) == 0 {
			return nil, nil, err
		}
		c.ComplainedRecipients = rcpts
		ev.Complaint = &c
	default:
		return nil, nil, fmt.Errorf("feedback: event %s is neither a bounce nor a complaint", ev.Type)
	}
	suppress := slices.DeleteFunc(slices.Clone(o.suppress), func(a string) bool { return !slices.Contains(kept, strings.ToLower(a)) })
	return &ev, suppress, nil
}

// keepAll returns the items whose address keep takes for kind.
func keepAll[T any](items []T, addr func(T) string, kind string, keep func(addr, kind string) (bool, error)) ([]T, error) {
	var out []T
	for _, it := range items {
		ok, err := keep(addr(it), kind)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// claimKey records, inside tx, that a report of kind about recipient was
// applied to the message messageID, and reports whether it was the first:
// false when one was already (for keyTransient: or a permanent bounce).
// Under PostgreSQL a concurrent claim of the same key waits for the first
// to commit, then finds it taken.
func claimKey(ctx context.Context, tx *db.Tx, messageID, recipient, kind string, now time.Time) (bool, error) {
	rcpt := strings.ToLower(recipient)
	if kind == keyTransient {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM feedback_applied WHERE message_id = ? AND recipient = ? AND kind = ?`,
			messageID, rcpt, keyBounce).Scan(&n); err != nil {
			return false, fmt.Errorf("feedback: read applied reports: %w", err)
		}
		if n > 0 {
			return false, nil
		}
	}
	res, err := tx.Exec(ctx, `INSERT INTO feedback_applied (message_id, recipient, kind, applied_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		messageID, rcpt, kind, db.Millis(now))
	if err != nil {
		return false, fmt.Errorf("feedback: record applied report: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("feedback: record applied report: %w", err)
	}
	return n == 1, nil
}

// plan returns the events the report in makes for the message sent, with
// the addresses each suppresses, and notes in res what it ignores and the
// verdict about each recipient it checked.
//
// from is the addresses of the report's From (origin.Evidence.HeaderFrom).
func (p *Processor) plan(ctx context.Context, sent *queue.Sent, in *Received, from []string, res *Result) []outcome {
	rep := in.Report
	if sent.System {
		res.Ignored = append(res.Ignored, "feedback about Sesame's own mail is only logged")
		return nil
	}
	v := &verifier{ctx: ctx, in: in, ev: in.Evidence, res: res}
	v.ev.SenderDomains = senderDomains(sent)
	v.ev.HeaderFrom = from
	v.ev.Complaint = rep.Kind == bounce.KindComplaint
	switch rep.Kind {
	case bounce.KindBounce:
		if in.Evidence.MailFrom != "" {
			// RFC 5321 §4.5.5: a non-delivery notification is sent from
			// the null reverse-path.
			v.refuse = fmt.Sprintf("a bounce comes from the null sender <>; this one came from <%s>", in.Evidence.MailFrom)
		}
		return p.bounceEvents(sent, rep, res, v.verified)
	case bounce.KindComplaint:
		if ev := p.complaintEvent(sent, rep, res, v.verified); ev != nil {
			return []outcome{{ev, complained(ev)}}
		}
		return nil
	}
	res.Ignored = append(res.Ignored, fmt.Sprintf("a %s report is neither a bounce nor a complaint", rep.Kind))
	return nil
}

// verifier decides, for one report and one message, whether the report
// may change anything for a recipient. in.Check remembers its verdicts
// for the whole report (reportCheck), so asking again is free.
type verifier struct {
	ctx    context.Context
	in     *Received
	ev     origin.Evidence
	res    *Result
	refuse string // when set, nothing is verified, for this reason
}

// verified reports whether the report comes from the side of addr's
// domain, noting the verdict in v.res.
func (v *verifier) verified(addr string) bool {
	_, domain, _ := strings.Cut(addr, "@")
	domain = strings.ToLower(domain)
	var verdict origin.Verdict
	switch {
	case v.refuse != "":
		verdict = origin.Verdict{Reason: v.refuse}
	case v.in.Check == nil:
		verdict = origin.Verdict{Reason: "no origin check"}
	default:
		verdict = v.in.Check(v.ctx, v.ev, domain)
	}
	v.res.Checked = append(v.res.Checked, Checked{Address: addr, Verified: verdict.OK, How: verdict.How, Reason: verdict.Reason, Temporary: verdict.Temporary})
	if !verdict.OK {
		v.res.Ignored = append(v.res.Ignored, fmt.Sprintf("%s: not shown to come from the recipient's side: %s", addr, verdict.Reason))
	}
	return verdict.OK
}

// senderDomains are the domains of the sending side of the message sent:
// its From and Source addresses', its envelope sender's and its sending
// identity's (whose key signed it).
func senderDomains(sent *queue.Sent) []string {
	var out []string
	add := func(addr string) {
		if a, err := mail.ParseAddress(addr); err == nil {
			addr = a.Address
		}
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			addr = addr[i+1:]
		}
		if d := strings.ToLower(strings.TrimSpace(addr)); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	for _, f := range sent.Mail.CommonHeaders.From {
		add(f)
	}
	add(sent.Mail.Source)
	add(sent.MailFrom)
	add(identityOf(sent.Mail.SourceArn))
	return out
}

// Delivered applies feedback from Sesame's own delivery (deliver's
// OnFeedback): a bounce from a delivery attempt, or a mailbox simulator's
// bounce or complaint, inside the transaction recording it: the event's
// addresses go on the suppression list when suppress (the delivery's
// smtpcode.Judge verdict, which a DSN about the same reply gets too;
// false for the simulator, whose addresses SES never suppresses), and the
// event is forwarded as a report from the feedback MX would be. It takes
// the same once-per-recipient keys as Apply: a later DSN about the same
// recipient is a duplicate, and when a report was applied first (the
// event itself is already stored by the queue), nothing more is done.
func (p *Processor) Delivered(ctx context.Context, tx *db.Tx, c queue.Claimed, ev *event.Event, suppress bool) error {
	if c.System {
		return nil
	}
	o := outcome{ev: ev}
	switch {
	case !suppress:
	case ev.Bounce != nil:
		for _, rc := range ev.Bounce.BouncedRecipients {
			o.suppress = append(o.suppress, rc.EmailAddress)
		}
	case ev.Complaint != nil:
		o.suppress = complained(ev)
	}
	var r Result
	once, addrs, err := p.applyOnce(ctx, tx, c.MessageID, o, p.now(), &r)
	if err != nil {
		return err
	}
	if once == nil {
		p.log.Info("delivery feedback already applied by a report", "message_id", c.MessageID, "account", c.AccountID, "type", ev.Type, "ignored", r.Ignored)
		return nil
	}
	if err := p.consequences(ctx, tx, once, addrs, nil, &r); err != nil {
		return err
	}
	if len(r.Suppressed) > 0 || len(r.Forwarded) > 0 {
		p.log.Info("delivery feedback applied", "message_id", c.MessageID, "account", c.AccountID, "type", ev.Type,
			"suppressed", r.Suppressed, "forwarded", r.Forwarded)
	}
	return nil
}

// outcome is an event to store and the addresses it puts on the
// suppression list.
type outcome struct {
	ev       *event.Event
	suppress []string
}

// complained is the addresses a Complaint event suppresses: its
// recipients, unless the report says "not-spam" (the opposite of a
// complaint).
func complained(ev *event.Event) []string {
	if ev.Complaint == nil || ev.Complaint.ComplaintFeedbackType == "not-spam" {
		return nil
	}
	return ev.Complaint.ComplainedRecipients
}

// consequences does what ev (a Bounce or Complaint) causes besides itself:
// the suppression-list entries for the addresses in suppress (reason
// BOUNCE or COMPLAINT, as ev is) and the forwarded notification, which
// attaches report, the report received (nil for feedback from delivery).
func (p *Processor) consequences(ctx context.Context, tx *db.Tx, ev *event.Event, suppress []string, report []byte, r *Result) error {
	reason, feedbackID := suppression.Bounce, ""
	switch {
	case ev.Bounce != nil:
		feedbackID = ev.Bounce.FeedbackID
	case ev.Complaint != nil:
		reason, feedbackID = suppression.Complaint, ev.Complaint.FeedbackID
	}
	if p.opts.Suppress != nil {
		for _, a := range suppress {
			added, err := p.opts.Suppress(ctx, tx, ev.AccountID, ev.ConfigurationSet, a, reason, ev.Mail.MessageID, feedbackID)
			if err != nil {
				return fmt.Errorf("feedback: suppress %s: %w", a, err)
			}
			if added {
				r.Suppressed = append(r.Suppressed, a)
			}
		}
	}
	id, err := p.forward(ctx, tx, ev, report)
	if err != nil {
		return err
	}
	if id != "" {
		r.Forwarded = append(r.Forwarded, id)
	}
	return nil
}

// bounceEvents turns a bounce report into Bounce events for the message's
// recipients it names that verified accepts: one per
// bounceType/bounceSubType, in report order.
func (p *Processor) bounceEvents(sent *queue.Sent, rep *bounce.Report, res *Result, verified func(addr string) bool) []outcome {
	now := p.now()
	mta := rep.ReportingMTA
	if mta != "" && !strings.Contains(mta, ";") {
		mta = "dns; " + mta
	}
	var evs []outcome
	seen := map[string]bool{}
	named := p.named(sent, rep, res)
	for _, r := range named {
		addr := match(sent.Recipients, r.Address)
		switch {
		case addr == "":
			res.Ignored = append(res.Ignored, fmt.Sprintf("%s was not a recipient of message %s", r.Address, sent.ID))
			continue
		case seen[strings.ToLower(addr)]:
			continue
		}
		seen[strings.ToLower(addr)] = true
		if r.Action == "delayed" {
			// The remote MTA is still trying: not a bounce (SES publishes a
			// Bounce only when delivery has stopped).
			res.Ignored = append(res.Ignored, fmt.Sprintf("%s: delivery delayed, still being retried by the remote MTA", addr))
			continue
		}
		if !verified(addr) {
			continue
		}
		bt, st := r.BounceType, r.BounceSubType
		if !event.ValidBounce(bt, st) {
			bt, st = smtpcode.BounceUndetermined, smtpcode.BounceUndetermined
		}
		action := r.Action
		if action == "" {
			action = "failed"
		}
		rc := event.Recipient{EmailAddress: addr, Action: action, Status: r.Status, DiagnosticCode: r.DiagnosticCode}
		i := slices.IndexFunc(evs, func(o outcome) bool {
			return o.ev.Bounce.BounceType == bt && o.ev.Bounce.BounceSubType == st
		})
		if i < 0 {
			i = len(evs)
			evs = append(evs, outcome{ev: &event.Event{Type: event.Bounce, AccountID: sent.AccountID, ConfigurationSet: sent.ConfigurationSet, Mail: sent.Mail,
				Bounce: &event.BounceDetails{BounceType: bt, BounceSubType: st, Timestamp: now, FeedbackID: event.NewFeedbackID(now), ReportingMTA: mta}}})
		}
		o := &evs[i]
		o.ev.Bounce.BouncedRecipients = append(o.ev.Bounce.BouncedRecipients, rc)
		switch {
		case !r.Suppress || bt != smtpcode.BouncePermanent:
		case r.Source == bounce.SourceOriginalRecipient:
			res.Ignored = append(res.Ignored, fmt.Sprintf("%s: named only by the DSN's Original-Recipient (the original sender's ORCPT), not by a Final-Recipient: not suppressed", addr))
		default:
			o.suppress = append(o.suppress, addr)
		}
	}
	return evs
}

// named returns the recipients the report rep names itself, as it is
// applied to the message sent: the report's recipients, without those
// taken from the enclosed original message (its To and Cc say to whom the
// message went, not who failed or complained). When the report names no
// recipient, and the message went to one address, the report is about
// that one (with what the report says about the first recipient it did
// give, if any); for a message to several, it names nobody (noted in
// res).
func (p *Processor) named(sent *queue.Sent, rep *bounce.Report, res *Result) []bounce.Recipient {
	var named []bounce.Recipient
	for _, r := range rep.Recipients {
		if r.Source != bounce.SourceEnclosed {
			named = append(named, r)
		}
	}
	if len(named) > 0 || (len(rep.Recipients) == 0 && rep.Kind != bounce.KindComplaint) {
		return named
	}
	if len(sent.Recipients) != 1 {
		why := "names no recipient"
		if len(rep.Recipients) > 0 {
			why += " (only the enclosed message's To/Cc)"
		}
		res.Ignored = append(res.Ignored, fmt.Sprintf("the %s %s and message %s had %d", rep.Kind, why, sent.ID, len(sent.Recipients)))
		return nil
	}
	// The report does not say whom it is about (recipients redacted, or
	// only the enclosed copy's header), but the message went to one
	// address.
	var r bounce.Recipient
	if len(rep.Recipients) > 0 {
		r = rep.Recipients[0]
	}
	r.Address, r.Source = sent.Recipients[0], bounce.SourceReport
	return []bounce.Recipient{r}
}

// complaintEvent turns a complaint report into a Complaint event naming
// the message's recipients it names that verified accepts, or nil when
// there are none. A complaint naming no recipient is attributed to a
// one-recipient message's recipient, when verified for that recipient.
func (p *Processor) complaintEvent(sent *queue.Sent, rep *bounce.Report, res *Result, verified func(addr string) bool) *event.Event {
	var named []string
	for _, r := range p.named(sent, rep, res) {
		addr := match(sent.Recipients, r.Address)
		if addr == "" {
			res.Ignored = append(res.Ignored, fmt.Sprintf("%s was not a recipient of message %s", r.Address, sent.ID))
			continue
		}
		if !slices.ContainsFunc(named, func(x string) bool { return strings.EqualFold(x, addr) }) {
			named = append(named, addr)
		}
	}
	rcpts := slices.DeleteFunc(named, func(a string) bool { return !verified(a) })
	if len(rcpts) == 0 {
		return nil
	}
	now := p.now()
	d := &event.ComplaintDetails{ComplainedRecipients: rcpts, Timestamp: now, FeedbackID: event.NewFeedbackID(now)}
	if c := rep.Complaint; c != nil {
		d.ComplaintFeedbackType = event.ComplaintFeedbackType(c.FeedbackType)
		d.UserAgent = truncate(c.UserAgent, maxUserAgent)
		if !c.ArrivalDate.IsZero() {
			d.ArrivalDate = c.ArrivalDate.UTC().Format(event.TimeLayout)
		}
	}
	return &event.Event{Type: event.Complaint, AccountID: sent.AccountID, ConfigurationSet: sent.ConfigurationSet, Mail: sent.Mail, Complaint: d}
}

// match returns the recipient of the message that is addr (without
// case), "" for none. Only the address the report gives for a recipient
// counts (a DSN's Final-Recipient), never its Original-Recipient: that is
// the ORCPT the original's sender chose, and a genuine report about
// someone else would otherwise be applied to whomever it names.
func match(recipients []string, addr string) string {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if addr == "" {
		return ""
	}
	for _, r := range recipients {
		if strings.EqualFold(r, addr) {
			return r
		}
	}
	return ""
}

// headerFrom is the addresses of the From fields of the message raw, as
// written (origin.Evidence.HeaderFrom: lower-casing here would fold a
// Kelvin sign into a k); nil when it has none, or when its header or any
// From field does not parse.
func headerFrom(raw []byte) []string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	var out []string
	for _, v := range m.Header["From"] {
		as, err := mail.ParseAddressList(v)
		if err != nil {
			return nil
		}
		for _, a := range as {
			out = append(out, a.Address) // as written: origin folds ASCII case itself, never Unicode
		}
	}
	return out
}

// returnAddress is where feedback about mail is forwarded: the message's
// feedback forwarding address (ReturnPath), else its Source.
func returnAddress(m event.Mail) string {
	for _, s := range []string{m.CommonHeaders.ReturnPath, m.Source} {
		if s == "" {
			continue
		}
		if a, err := mail.ParseAddress(s); err == nil {
			return a.Address
		}
		if strings.Contains(s, "@") && !strings.ContainsAny(s, " <>\r\n") {
			return s
		}
	}
	return ""
}

// identityOf is the identity name in an identity ARN,
// arn:aws:ses:<region>:<account>:identity/<name>.
func identityOf(arn string) string {
	_, name, ok := strings.Cut(arn, ":identity/")
	if !ok {
		return ""
	}
	return name
}

// maxUserAgent bounds the userAgent a report can put in an event.
const maxUserAgent = 256

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
