package deliver

import (
	"context"
	"errors"
	"maps"
	"runtime/debug"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/smtpcode"
)

// simulator is what the mailbox simulator does for a recipient, by its
// local part (ses-api.md §14.1).
type simulator int

// The mailbox simulator's outcomes.
const (
	// simUnknown: a local part SES does not document. SES says
	// nothing about it; Sesame bounces it (Permanent/General, 550 5.1.1
	// "unknown simulator address") rather than deliver anywhere.
	simUnknown simulator = iota
	// simSuccess (success@): delivered → Delivery.
	simSuccess
	// simBounce (bounce@): the receiver answers 550 5.1.1 user
	// unknown → Bounce Permanent/General.
	simBounce
	// simAutoReply (ooto@): delivered → Delivery, then an RFC 3834
	// auto-reply to the envelope sender.
	simAutoReply
	// simComplaint (complaint@): delivered → Delivery, then an ARF
	// complaint → Complaint.
	simComplaint
	// simSuppression (suppressionlist@): as if the address were on the
	// global suppression list → Bounce Permanent/Suppressed.
	simSuppression
)

// simulatorOf returns the simulated outcome for address, a recipient at a
// simulator domain: its local part without a "+label" tail, compared
// without case ("Bounce+run42@..." is bounce@).
func simulatorOf(address string) simulator {
	local := address
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		local = address[:i]
	}
	local, _, _ = strings.Cut(local, "+")
	switch strings.ToLower(local) {
	case "success":
		return simSuccess
	case "bounce":
		return simBounce
	case "ooto":
		return simAutoReply
	case "complaint":
		return simComplaint
	case "suppressionlist":
		return simSuppression
	}
	return simUnknown
}

// What the simulated events say. The bounce and delivery replies are those
// SES's simulator gives (a simulated bounce's DSN: "smtp; 550 5.1.1 user
// unknown", status 5.1.1, action failed; a delivery: "250 2.6.0 Message
// received").
const (
	simDelivered      = "250 2.6.0 Message received"
	simUserUnknown    = "550 5.1.1 user unknown"
	simUnknownAddress = "550 5.1.1 unknown simulator address"
	// simSuppressed is the reply recorded with the queue row; the event's
	// diagnosticCode is simSuppressedDiagnostic. SES's suppression bounce
	// is made by SES itself, not by an SMTP conversation, so its
	// diagnosticCode has no "smtp;" prefix (and its reportingMTA reads
	// "dns; amazonses.com"; Sesame gives "dsn; " and its ReportingMTA, as
	// for every bounce).
	simSuppressed           = "550 5.1.1 recipient is on the suppression list"
	simSuppressedDiagnostic = "Sesame has suppressed sending to this address because it is on the global suppression list (mailbox simulator)."
	// simUserAgent is the userAgent of the simulator's complaints,
	// the User-Agent of the ARF report (RFC 5965) SES's simulator sends.
	simUserAgent = "Amazon SES Mailbox Simulator"
)

// simulate records the simulated outcome of every recipient of msgs, all
// at simulator domains, without DNS or SMTP. ctx is Run's; once dctx ends
// the messages not done yet are handed back. A panic is logged and the
// rows left to their lease, as in runTask.
func (w *Worker) simulate(ctx, dctx context.Context, msgs []*message) {
	defer func() {
		if v := recover(); v != nil {
			w.log.Error("panic while simulating", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	t := &task{w: w, domain: "(mailbox simulator)"}
	for i, m := range msgs {
		if dctx.Err() != nil {
			t.handBack(ctx, msgs[i:])
			return
		}
		mail, err := w.q.Mail(dctx, m.id)
		if err != nil {
			// Left to the lease: retried when it expires, not in a loop.
			w.log.Error("reading a queued message failed", "message_id", m.id, "err", err)
			continue
		}
		for _, c := range m.rows {
			w.recordSimulated(ctx, c, mail, simulatorOf(c.Address))
		}
	}
}

// recordSimulated records the outcome sim for the claimed recipient c of a
// message whose mail object is mail: its final state and its events, in
// one transaction. The events have no remoteMtaIp and no ses:outgoing-ip
// tag: no connection was made.
func (w *Worker) recordSimulated(ctx context.Context, c queue.Claimed, mail event.Mail, sim simulator) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := w.now()
	newEvent := func() *event.Event {
		ev := &event.Event{AccountID: c.AccountID, ConfigurationSet: c.ConfigurationSet, Mail: mail}
		ev.Mail.Tags = maps.Clone(mail.Tags)
		return ev
	}
	delivery := func() *event.Event {
		ev := newEvent()
		ev.Type = event.Delivery
		ev.Delivery = &event.DeliveryDetails{
			Timestamp:            now,
			ProcessingTimeMillis: max(now.Sub(c.QueuedAt).Milliseconds(), 0),
			Recipients:           []string{c.Address},
			SMTPResponse:         simDelivered,
			ReportingMTA:         w.mta,
		}
		return ev
	}
	bounce := func(subType, status, diagnostic string) *event.Event {
		ev := newEvent()
		ev.Type = event.Bounce
		ev.Bounce = &event.BounceDetails{
			BounceType:    smtpcode.BouncePermanent,
			BounceSubType: subType,
			BouncedRecipients: []event.Recipient{{
				EmailAddress:   c.Address,
				Action:         "failed",
				Status:         status,
				DiagnosticCode: diagnostic,
			}},
			Timestamp:    now,
			FeedbackID:   event.NewFeedbackID(now),
			ReportingMTA: "dsn; " + w.mta,
		}
		return ev
	}

	var (
		state = queue.Delivered
		reply = simDelivered
		evs   []*event.Event
	)
	switch sim {
	case simSuccess:
		evs = append(evs, delivery())
	case simAutoReply:
		// SES delivers, then the simulated receiver sends an RFC 3834
		// auto-reply ("out of the office") to the Return-Path, or the
		// envelope sender when there is none. That reply arrives at the
		// custom MAIL FROM's feedback MX, which takes auto-replies and
		// ignores them, so none is sent: only the Delivery is recorded. (An
		// auto-reply is not a bounce: SES publishes no Bounce event for it.)
		evs = append(evs, delivery())
	case simComplaint:
		// Delivered, then the recipient "marks it as spam": an ARF report
		// (RFC 5965) comes back and SES publishes a Complaint after the
		// Delivery. Both are written here in one transaction, in that
		// order.
		ev := newEvent()
		ev.Type = event.Complaint
		ev.Complaint = &event.ComplaintDetails{
			ComplainedRecipients:  []string{c.Address},
			Timestamp:             now,
			FeedbackID:            event.NewFeedbackID(now),
			ComplaintFeedbackType: "abuse",
			UserAgent:             simUserAgent,
			ArrivalDate:           now.UTC().Format(event.TimeLayout),
		}
		evs = append(evs, delivery(), ev)
	case simBounce:
		// Unlike a real hard bounce, the simulator's address is not added to
		// any suppression list (ses-api.md §14.1).
		state, reply = queue.Bounced, simUserUnknown
		evs = append(evs, bounce(smtpcode.SubTypeGeneral, "5.1.1", "smtp; "+simUserUnknown))
	case simSuppression:
		state, reply = queue.Bounced, simSuppressed
		evs = append(evs, bounce(smtpcode.SubTypeSuppressed, "5.1.1", simSuppressedDiagnostic))
	default:
		state, reply = queue.Bounced, simUnknownAddress
		evs = append(evs, bounce(smtpcode.SubTypeGeneral, "5.1.1", "smtp; "+simUnknownAddress))
	}

	log := w.log.With("message_id", c.MessageID, "account", c.AccountID, "rcpt", c.Address)
	var also func(context.Context, *db.Tx) error
	if sim != simSuppression {
		// Simulated bounces and complaints are forwarded like real ones
		// (OnFeedback does not suppress simulator addresses); the
		// suppression-list address is left out, as account-suppressed
		// recipients are.
		also = w.alsoFeedback(c, false, evs...)
	}
	err := w.q.FinishWith(rctx, c, state, reply, also, evs...)
	switch {
	case errors.Is(err, queue.ErrLeaseLost):
		log.Warn("outcome dropped: the lease was lost, another worker holds this recipient", "reply", reply)
	case err != nil:
		log.Error("recording an outcome failed; the recipient is retried when its lease expires", "reply", reply, "err", err)
	default:
		log.Info("mailbox simulator", "state", state, "reply", reply)
	}
}
