package deliver

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/stage"
)

// recordTimeout bounds recording one outcome, which goes on after Run's
// context ended (a delivery that happened must be recorded).
const recordTimeout = 30 * time.Second

// status is where a recipient stands after an attempt.
type status int

const (
	pending   status = iota // not attempted (yet), or cut short: handed back
	delivered               // 2yz after DATA
	failed                  // permanently: Bounce
	deferred                // temporarily: DeliveryDelay and retry, or Bounce when out of time
)

// result is the outcome of an attempt for one recipient.
type result struct {
	st    status
	reply smtpcode.Reply
	comm  bool // a connection that could not be made or broke, not a reply
	local bool // a local problem (DNS), not a reply
	tls   bool // the message requires TLS and the server could not give it

	remoteIP, localIP string // of the connection, when there was one
}

// The delayType values of SES's DeliveryDelay event that Sesame gives
// (ses-api.md §13.3).
const (
	DelayCommunication = "TransientCommunicationFailure"
	DelayMailboxFull   = "MailboxFull"
	DelaySpam          = "SpamDetected"
	DelayIP            = "IPFailure"
	DelayServer        = "RecipientServerError"
	DelayGeneral       = "General"
	DelayUndetermined  = "Undetermined"
	// DelayTLS is the delayType of a message that requires TLS (its
	// configuration set's TlsPolicy is REQUIRE) when its recipient's mail
	// hosts do not offer it, or it fails.
	DelayTLS = "TLSFailure"
)

// delayType names why r's attempt was delayed; see the package
// documentation.
func (r result) delayType() string {
	switch {
	case r.tls:
		return DelayTLS
	case r.comm:
		return DelayCommunication
	case r.local:
		return DelayUndetermined
	}
	return replyDelayType(r.reply)
}

// replyDelayType classifies a temporary reply from a server.
func replyDelayType(r smtpcode.Reply) string {
	text := strings.ToLower(r.Text)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(text, s) {
				return true
			}
		}
		return false
	}
	words := strings.FieldsFunc(text, func(c rune) bool { return !('a' <= c && c <= 'z' || '0' <= c && c <= '9') })
	word := func(ws ...string) bool {
		for _, w := range words {
			for _, x := range ws {
				if w == x {
					return true
				}
			}
		}
		return false
	}
	switch {
	case r.Enhanced[1] == 2 && r.Enhanced[2] == 2,
		has("mailbox full", "mailbox is full", "over quota", "quota exceeded", "exceeded storage", "insufficient storage"):
		return DelayMailboxFull
	case word("rbl", "dnsbl", "spamhaus", "spamcop") ||
		has("blocked using", "blacklist", "blocklist", "block list", "black list", "denylist"):
		return DelayIP // the sending IP is on a block list
	case has("spam", "unsolicited"):
		return DelaySpam
	case has("greylist", "graylist"):
		return DelayGeneral
	case word("ip", "ips", "ipv4", "ipv6") ||
		has("blocked", "reputation", "rate limit", "ratelimit", "throttl", "too many connections"):
		return DelayIP
	case r.Code == smtpcode.ServiceNotAvailable, r.Code == smtpcode.LocalError, r.Enhanced[1] == 3:
		return DelayServer
	}
	return DelayGeneral
}

// task delivers some of a batch's messages for one domain, over one
// connection at a time.
type task struct {
	w      *Worker
	domain string
	noTLS  map[string]bool // addresses where STARTTLS failed
}

// run delivers msgs. ctx is Run's; dctx ends the network work before the
// lease does.
//
// The messages share one session. A message that requires TLS goes only
// over a session with TLS: when the current one has none (the host did
// not offer STARTTLS, or it failed and the session fell back to plain
// text), a session is sought that must have TLS — other addresses and
// hosts included — and, found, replaces the plain one for the rest of the
// task; not found, the message's recipients get the TLS failure and the
// plain session goes on serving the messages that do not need TLS. The
// search is made once per task.
func (t *task) run(ctx, dctx context.Context, msgs []*message) {
	w := t.w
	hosts, routed := t.route(dctx)
	var s *session
	defer func() {
		if s != nil {
			s.quit()
		}
	}()
	unreachable := routed // once no host takes a connection, the rest of the task fails alike
	var noTLS *result     // once no TLS session can be had, the rest of the task's TLS messages fail alike
	for i, m := range msgs {
		if dctx.Err() != nil {
			t.handBack(ctx, msgs[i:])
			return
		}
		t0 := w.stages.Start()
		mail, body, err := w.q.Load(dctx, m.id)
		if err == nil && len(body) == 0 {
			// Dropped: every recipient finished, so this claim outlived its
			// lease (another worker finished them). Never send it empty.
			err = errors.New("the message's body is gone: its recipients are finished")
		}
		if err != nil {
			// Left to the lease: retried when it expires, not in a loop.
			w.log.Error("reading a queued message failed", "message_id", m.id, "err", err)
			continue
		}
		if m.noPolicy != nil {
			rs := make([]result, len(m.rows))
			for j := range rs {
				rs[j] = *m.noPolicy
			}
			t.record(ctx, m.rows, &mail, rs, m.window(w))
			continue
		}
		rcpts := make([]string, len(m.rows))
		for j, c := range m.rows {
			rcpts[j] = c.Address
		}
		needTLS := m.policy.RequireTLS
		fail := func(r *result) []result {
			out := make([]result, len(rcpts))
			for j := range out {
				out[j] = *r
			}
			return out
		}
		var out []result
		for attempt := 0; ; attempt++ {
			if needTLS && (s == nil || !s.secure) && unreachable == nil && noTLS == nil {
				ns, r := t.connect(dctx, hosts, true)
				switch {
				case ns != nil:
					if s != nil {
						s.quit()
					}
					s = ns
				case r.tls || s != nil:
					// No TLS to be had (or, with a plain session open, no
					// second session): only TLS messages fail.
					noTLS = r
				default:
					unreachable = r
				}
			}
			if needTLS && (s == nil || !s.secure) {
				out = fail(cmp.Or(unreachable, noTLS))
				break
			}
			if s == nil && unreachable == nil {
				s, unreachable = t.connect(dctx, hosts, false)
			}
			if s == nil {
				out = fail(unreachable)
				break
			}
			var ok, again bool
			out, ok, again = s.transact(m.mailFrom, rcpts, body)
			for j := range out {
				out[j].remoteIP, out[j].localIP = s.remoteIP, s.localIP
			}
			if ok {
				break
			}
			s.close()
			s = nil
			if !again || attempt > 0 || dctx.Err() != nil {
				break
			}
			w.log.Info("reused connection failed; trying a new one", "domain", t.domain, "message_id", m.id)
		}
		t0 = w.stages.Since(stage.Delivery, t0)
		t.record(ctx, m.rows, &mail, out, m.window(w))
		w.stages.Since(stage.Outcome, t0)
	}
}

// handBack gives msgs' recipients back to the queue, due now, without an
// event: they were not attempted, or their attempt was cut short.
func (t *task) handBack(ctx context.Context, msgs []*message) {
	for _, m := range msgs {
		t.record(ctx, m.rows, nil, make([]result, len(m.rows)), 0) // the zero result is pending
	}
}

// record records rs[i] for each claimed recipient cs[i] of one message
// whose stored mail object is mail (nil when not loaded: nothing but
// pending results), in one transaction: their new states and their
// events, which refer to mail rather than copy it. window is the
// message's retry window.
func (t *task) record(ctx context.Context, cs []queue.Claimed, mail *event.Mail, rs []result, window time.Duration) {
	if len(cs) == 0 {
		return
	}
	w := t.w
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := w.now()
	outs := make([]queue.Outcome, len(cs))
	for i, c := range cs {
		outs[i] = t.outcome(ctx, c, mail, rs[i], window, now)
	}
	for i, err := range w.q.Record(rctx, mail, outs) {
		c := cs[i]
		switch {
		case errors.Is(err, queue.ErrLeaseLost):
			w.log.Warn("outcome dropped: the lease was lost, another worker holds this recipient", "message_id", c.MessageID, "account", c.AccountID, "rcpt", c.Address, "reply", outs[i].Reply)
		case err != nil:
			w.log.Error("recording an outcome failed; the recipient is retried when its lease expires", "message_id", c.MessageID, "account", c.AccountID, "rcpt", c.Address, "reply", outs[i].Reply, "err", err)
		}
	}
}

// outcome is what r means for the claimed recipient c of a message whose
// mail object is mail: its new state and its event.
func (t *task) outcome(ctx context.Context, c queue.Claimed, mail *event.Mail, r result, window time.Duration, now time.Time) queue.Outcome {
	w := t.w
	if mail == nil || r.st != delivered && r.st != failed && ctx.Err() != nil {
		// Run is stopping: whatever was not decided goes back to the
		// queue, due at once.
		r = result{st: pending}
	}
	line := r.reply.String()
	log := w.log.With("message_id", c.MessageID, "account", c.AccountID, "rcpt", c.Address)

	ev := &event.Event{AccountID: c.AccountID, ConfigurationSet: c.ConfigurationSet}
	if mail != nil {
		ev.Mail = *mail
		ev.Mail.Tags = maps.Clone(mail.Tags)
	}
	event.SetTag(&ev.Mail, event.TagOutgoingIP, r.localIP)
	bounce := func(bounceType, subType string) {
		ev.Type = event.Bounce
		ev.Bounce = &event.BounceDetails{
			BounceType:    bounceType,
			BounceSubType: subType,
			BouncedRecipients: []event.Recipient{{
				EmailAddress:   c.Address,
				Action:         "failed",
				Status:         r.reply.Status(),
				DiagnosticCode: "smtp; " + line,
			}},
			Timestamp:    now,
			FeedbackID:   event.NewFeedbackID(now),
			ReportingMTA: "dsn; " + w.mta,
			RemoteMTAIP:  r.remoteIP,
		}
	}

	switch r.st {
	case delivered:
		ev.Type = event.Delivery
		ev.Delivery = &event.DeliveryDetails{
			Timestamp:            now,
			ProcessingTimeMillis: max(now.Sub(c.QueuedAt).Milliseconds(), 0),
			Recipients:           []string{c.Address},
			SMTPResponse:         line,
			ReportingMTA:         w.mta,
			RemoteMTAIP:          r.remoteIP,
		}
		log.Info("delivered", "reply", line, "remote_ip", r.remoteIP)
		return queue.Outcome{Claimed: c, State: queue.Delivered, Reply: line, Events: []*event.Event{ev}}
	case failed:
		v := smtpcode.Judge(r.reply)
		bounce(v.BounceType, v.SubType)
		log.Info("bounced", "reply", line, "remote_ip", r.remoteIP, "bounce_type", v.BounceType, "bounce_subtype", v.SubType, "suppress", v.Suppress, "rule", v.Rule)
		return queue.Outcome{Claimed: c, State: queue.Bounced, Reply: line, Events: []*event.Event{ev}, Also: w.alsoFeedback(c, v.Suppress, ev)}
	case deferred:
		expires := c.QueuedAt.Add(window)
		next := now.Add(w.backoff(c.Attempts))
		if now.Before(expires) {
			// Retry until the window ends: the last attempt is at its end,
			// even when the backoff would go past it.
			if next.After(expires) {
				next = expires
			}
			ev.Type = event.DeliveryDelay
			ev.DeliveryDelay = &event.DelayDetails{
				DelayType:      r.delayType(),
				ExpirationTime: expires,
				DelayedRecipients: []event.Recipient{{
					EmailAddress:   c.Address,
					Status:         r.reply.Status(),
					DiagnosticCode: "smtp; " + line,
				}},
				Timestamp:    now,
				ReportingMTA: w.mta,
			}
			log.Info("delivery delayed", "reply", line, "attempt", c.Attempts, "next", next)
			return queue.Outcome{Claimed: c, State: queue.Queued, Next: next, Reply: line, Events: []*event.Event{ev}}
		}
		// Out of time: a soft bounce with the last reply.
		bounceType, subType := smtpcode.Classify(r.reply)
		if bounceType != smtpcode.BounceTransient {
			bounceType, subType = smtpcode.BounceTransient, smtpcode.SubTypeGeneral
		}
		bounce(bounceType, subType)
		log.Info("retry window ended; bounced", "reply", line, "attempt", c.Attempts)
		return queue.Outcome{Claimed: c, State: queue.Bounced, Reply: line, Events: []*event.Event{ev}, Also: w.alsoFeedback(c, false, ev)}
	}
	return queue.Outcome{Claimed: c, State: queue.Queued, Next: now} // pending
}

// alsoFeedback is what c's feedback events (Bounce, Complaint) do besides
// being stored, in the same transaction: Options.OnFeedback for each, if
// set.
func (w *Worker) alsoFeedback(c queue.Claimed, suppress bool, evs ...*event.Event) func(context.Context, *db.Tx) error {
	if w.onFeedback == nil || c.System {
		return nil
	}
	return func(ctx context.Context, tx *db.Tx) error {
		for _, ev := range evs {
			if ev == nil || ev.Type != event.Bounce && ev.Type != event.Complaint {
				continue
			}
			if err := w.onFeedback(ctx, tx, c, ev, suppress); err != nil {
				return err
			}
		}
		return nil
	}
}
