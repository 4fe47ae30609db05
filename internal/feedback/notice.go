package feedback

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/smtpcode"
)

// forward queues, inside tx, the email notification of ev (a Bounce or
// Complaint) to the message's return address when the sending identity
// forwards feedback. It returns the notification's MessageId, "" when none
// is sent.
func (p *Processor) forward(ctx context.Context, tx *db.Tx, ev *event.Event) (string, error) {
	if p.opts.Forwarding == nil {
		return "", nil
	}
	name := identityOf(ev.Mail.SourceArn)
	if name == "" {
		return "", nil
	}
	on, err := p.opts.Forwarding(ctx, tx, ev.AccountID, name)
	if err != nil {
		return "", fmt.Errorf("feedback: forwarding setting of %s: %w", name, err)
	}
	if !on {
		return "", nil
	}
	to := returnAddress(ev.Mail)
	if to == "" {
		p.log.Warn("feedback not forwarded: the message has no usable return address", "message_id", ev.Mail.MessageID, "source", ev.Mail.Source)
		return "", nil
	}
	now := p.now()
	id := send.NewMessageID(now)
	domain := p.opts.Region + "." + p.opts.ServiceDomain
	body, from := p.notice(ev, to, id+"@"+domain, now)
	m, err := send.SystemMessage(id, ev.AccountID, from, to, domain, body, now, p.opts.Sign)
	if err != nil {
		return "", fmt.Errorf("feedback: %w", err)
	}
	if err := p.opts.Queue.EnqueueTx(ctx, tx, m, nil); err != nil {
		return "", fmt.Errorf("feedback: queue notification to %s: %w", to, err)
	}
	return id, nil
}

// notice writes the notification of ev for to: a multipart/report (RFC
// 6522) with a human-readable part, the machine-readable report (RFC 3464
// delivery-status for a bounce, RFC 5965 feedback-report for a complaint)
// and the original message's header. It returns the message and its From
// address.
func (p *Processor) notice(ev *event.Event, to, msgID string, now time.Time) ([]byte, string) {
	var text, report strings.Builder
	var subject, from, reportType, reportCT string
	orig := ev.Mail
	fmt.Fprintf(&text, "This is a message from %s about the message you sent", p.opts.ServiceDomain)
	if s := orig.CommonHeaders.Subject; s != "" {
		fmt.Fprintf(&text, " with the subject %q", clean(s))
	}
	fmt.Fprintf(&text, " (MessageId %s) on %s.\r\n\r\n", orig.MessageID, orig.Timestamp.UTC().Format(time.RFC1123Z))

	switch {
	case ev.Bounce != nil:
		b := ev.Bounce
		from = "MAILER-DAEMON@" + p.opts.ServiceDomain
		reportType, reportCT = "delivery-status", "message/delivery-status"
		subject = "Delivery Status Notification (Failure)"
		text.WriteString("It could not be delivered to the following recipients:\r\n\r\n")
		fmt.Fprintf(&report, "Reporting-MTA: dns; %s\r\n", p.reportingMTA)
		fmt.Fprintf(&report, "Arrival-Date: %s\r\n", orig.Timestamp.UTC().Format(time.RFC1123Z))
		for _, r := range b.BouncedRecipients {
			status := r.Status
			if status == "" {
				status = "5.0.0"
				if b.BounceType != smtpcode.BouncePermanent {
					status = "4.0.0"
				}
			}
			action := r.Action
			if action == "" {
				action = "failed"
			}
			fmt.Fprintf(&text, "  %s\r\n", clean(r.EmailAddress))
			if r.DiagnosticCode != "" {
				fmt.Fprintf(&text, "    %s\r\n", clean(r.DiagnosticCode))
			}
			fmt.Fprintf(&report, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", clean(r.EmailAddress), clean(action), clean(status))
			if r.DiagnosticCode != "" {
				fmt.Fprintf(&report, "Diagnostic-Code: %s\r\n", clean(r.DiagnosticCode))
			}
			fmt.Fprintf(&report, "Last-Attempt-Date: %s\r\n", b.Timestamp.UTC().Format(time.RFC1123Z))
		}
		fmt.Fprintf(&text, "\r\nBounce type: %s/%s.\r\n", b.BounceType, b.BounceSubType)
	case ev.Complaint != nil:
		c := ev.Complaint
		from = "complaints@" + p.opts.ServiceDomain
		subject = "Complaint Notification"
		reportType, reportCT = "feedback-report", "message/feedback-report"
		text.WriteString("A recipient reported it as unwanted (a complaint):\r\n\r\n")
		ft := c.ComplaintFeedbackType
		if ft == "" {
			ft = "abuse"
		}
		ua := c.UserAgent
		if ua == "" {
			ua = "Sesame"
		}
		fmt.Fprintf(&report, "Feedback-Type: %s\r\nUser-Agent: %s\r\nVersion: 1\r\n", clean(ft), clean(ua))
		for _, r := range c.ComplainedRecipients {
			fmt.Fprintf(&text, "  %s\r\n", clean(r))
			fmt.Fprintf(&report, "Original-Rcpt-To: %s\r\n", clean(r))
		}
		if c.ArrivalDate != "" {
			fmt.Fprintf(&report, "Arrival-Date: %s\r\n", clean(c.ArrivalDate))
		}
		if ft != "abuse" {
			fmt.Fprintf(&text, "\r\nFeedback type: %s.\r\n", clean(ft))
		}
	}
	text.WriteString("\r\nThe report and the original message's header are attached.\r\n")

	var headers strings.Builder
	for _, h := range orig.Headers {
		fmt.Fprintf(&headers, "%s: %s\r\n", clean(h.Name), clean(h.Value))
	}

	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fmt.Fprintf(&buf, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n",
		from, to, subject, now.UTC().Format(time.RFC1123Z), msgID)
	fmt.Fprintf(&buf, "Content-Type: multipart/report; report-type=%s; boundary=%q\r\n\r\n", reportType, w.Boundary())
	part := func(ct, body string) {
		pw, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {ct}, "Content-Transfer-Encoding": {"8bit"}})
		pw.Write([]byte(body)) // a bytes.Buffer cannot fail
	}
	part("text/plain; charset=utf-8", text.String())
	part(reportCT, report.String())
	part("text/rfc822-headers; charset=utf-8", headers.String())
	w.Close()
	return buf.Bytes(), from
}

// clean makes s safe for one header line: control characters become
// spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
