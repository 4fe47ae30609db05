package feedback

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/smtpcode"
)

// forward queues, inside tx, the email notification of ev (a Bounce or
// Complaint) to the message's return address when the sending identity
// forwards feedback. report is the report received on the feedback MX that
// caused ev (at most MaxNoticeReport bytes of it are attached), nil for
// feedback from delivery. It returns the notification's MessageId, "" when
// none is sent.
func (p *Processor) forward(ctx context.Context, tx *db.Tx, ev *event.Event, report []byte) (string, error) {
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
	if ok, err := p.noticeAllowed(ctx, tx, ev.Mail.MessageID, now); err != nil || !ok {
		if err == nil {
			p.log.Info("feedback notice skipped: the message's notices this hour are at their limit", "message_id", ev.Mail.MessageID,
				"account", ev.AccountID, "type", ev.Type, "limit", p.opts.MaxNoticesPerHour)
		}
		return "", err
	}
	id := send.NewMessageID(now)
	domain := p.opts.Region + "." + p.opts.ServiceDomain
	body, from, err := p.notice(ev, to, id+"@"+domain, now, report)
	if err != nil {
		return "", fmt.Errorf("feedback: notification of %s: %w", ev.Mail.MessageID, err)
	}
	m, err := send.SystemMessage(id, ev.AccountID, from, to, domain, body, now, p.opts.Sign)
	if err != nil {
		return "", fmt.Errorf("feedback: %w", err)
	}
	if err := p.opts.Queue.EnqueueTx(ctx, tx, m, nil); err != nil {
		return "", fmt.Errorf("feedback: queue notification to %s: %w", to, err)
	}
	return id, nil
}

// noticeAllowed counts, inside tx, a notification about the message
// messageID in now's clock hour, and reports whether it is within
// MaxNoticesPerHour. The count is one row per message and hour, updated
// in place, so concurrent reports about one message take turns
// (PostgreSQL locks the row; SQLite has one writer).
func (p *Processor) noticeAllowed(ctx context.Context, tx *db.Tx, messageID string, now time.Time) (bool, error) {
	res, err := tx.Exec(ctx, `INSERT INTO feedback_notice_counts (message_id, window_start, notices) VALUES (?, ?, 1)
		ON CONFLICT (message_id, window_start) DO UPDATE SET notices = feedback_notice_counts.notices + 1 WHERE feedback_notice_counts.notices < ?`,
		messageID, db.Millis(now.Truncate(time.Hour)), p.opts.MaxNoticesPerHour)
	if err != nil {
		return false, fmt.Errorf("feedback: count notices of %s: %w", messageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("feedback: count notices of %s: %w", messageID, err)
	}
	return n == 1, nil
}

// MaxNoticeReport bounds the part of a received report a notification
// attaches.
const MaxNoticeReport = 64 << 10

// maxDiagnostic bounds a Diagnostic-Code or User-Agent a notification's
// machine-readable part repeats.
const maxDiagnostic = 2000

// notice writes the notification of ev for to: a multipart/report (RFC
// 6522) of three parts —
//
//  1. text/plain: Sesame's own fixed wording with facts Sesame controls
//     (MessageIds, dates, the message's recipient addresses, status codes
//     checked to be codes, SES's bounce type, a feedback type from SES's
//     list); never text from a report or the original message;
//  2. the machine-readable report (RFC 3464 message/delivery-status for a
//     bounce, RFC 5965 message/feedback-report for a complaint), where a
//     remote MTA's reply appears as the Diagnostic-Code field;
//  3. the report the feedback MX received, as a message/rfc822
//     attachment when it is clean 7-bit text (clean7bit), else as a
//     base64-encoded message/global one (RFC 6532 §3.7 allows it that
//     encoding, RFC 2046 §5.2.1 does not allow message/rfc822 any), or
//     (report nil: feedback from delivery) the original message's header
//     as text/rfc822-headers.
//
// Every line ends with CRLF and stays within RFC 5322's 998 characters
// (§2.1.1), with no NUL and no bare CR or LF (§2.3): header fields are
// folded at 76 where they can be, the text and the original's header are
// quoted-printable, the machine-readable fields are 7-bit ASCII folded,
// and a received report that is not clean 7-bit text is base64. It
// returns the message and its From address.
func (p *Processor) notice(ev *event.Event, to, msgID string, now time.Time, report []byte) ([]byte, string, error) {
	var text strings.Builder
	var subject, from, reportType string
	var machine bytes.Buffer
	orig := ev.Mail
	fmt.Fprintf(&text, "This is a message from %s about the message you sent\r\n(MessageId %s) on %s.\r\n\r\n",
		p.opts.ServiceDomain, orig.MessageID, orig.Timestamp.UTC().Format(time.RFC1123Z))
	switch {
	case ev.Bounce != nil:
		b := ev.Bounce
		from = "MAILER-DAEMON@" + p.opts.ServiceDomain
		reportType = "delivery-status"
		subject = "Delivery Status Notification (Failure)"
		text.WriteString("It could not be delivered to the following recipients:\r\n\r\n")
		writeFields(&machine, "Reporting-MTA", "dns; "+p.reportingMTA, "Arrival-Date", orig.Timestamp.UTC().Format(time.RFC1123Z))
		for _, r := range b.BouncedRecipients {
			status := r.Status
			if !statusRe.MatchString(status) {
				status = "5.0.0"
				if b.BounceType != smtpcode.BouncePermanent {
					status = "4.0.0"
				}
			}
			action := "failed"
			if r.Action == "delayed" {
				action = "delayed"
			}
			fmt.Fprintf(&text, "  %s (status %s)\r\n", fieldText(r.EmailAddress), status)
			kv := []string{"Final-Recipient", "rfc822; " + fieldText(r.EmailAddress), "Action", action, "Status", status}
			if r.DiagnosticCode != "" {
				kv = append(kv, "Diagnostic-Code", truncate(fieldText(r.DiagnosticCode), maxDiagnostic))
			}
			writeFields(&machine, append(kv, "Last-Attempt-Date", b.Timestamp.UTC().Format(time.RFC1123Z))...)
		}
		bt, st := b.BounceType, b.BounceSubType
		if !event.ValidBounce(bt, st) {
			bt, st = smtpcode.BounceUndetermined, smtpcode.BounceUndetermined
		}
		fmt.Fprintf(&text, "\r\nBounce type: %s/%s.\r\n", bt, st)
	case ev.Complaint != nil:
		c := ev.Complaint
		from = "complaints@" + p.opts.ServiceDomain
		subject = "Complaint Notification"
		reportType = "feedback-report"
		text.WriteString("A recipient reported it as unwanted (a complaint):\r\n\r\n")
		ft := event.ComplaintFeedbackType(c.ComplaintFeedbackType)
		if ft == "" {
			ft = "abuse"
		}
		ua := truncate(fieldText(c.UserAgent), maxDiagnostic)
		if ua == "" {
			ua = "Sesame"
		}
		kv := []string{"Feedback-Type", ft, "User-Agent", ua, "Version", "1"}
		for _, r := range c.ComplainedRecipients {
			fmt.Fprintf(&text, "  %s\r\n", fieldText(r))
			kv = append(kv, "Original-Rcpt-To", fieldText(r))
		}
		if t, err := time.Parse(event.TimeLayout, c.ArrivalDate); err == nil {
			kv = append(kv, "Arrival-Date", t.UTC().Format(time.RFC1123Z))
		}
		writeFields(&machine, kv...)
		fmt.Fprintf(&text, "\r\nFeedback type: %s.\r\n", ft)
	default:
		return nil, "", fmt.Errorf("event %s is neither a bounce nor a complaint", ev.Type)
	}
	if report != nil {
		text.WriteString("\r\nThe machine-readable report is attached, and so is the report\r\nreceived from the recipient's side")
		if len(report) > MaxNoticeReport {
			fmt.Fprintf(&text, " (its first %d KiB)", MaxNoticeReport>>10)
		}
		text.WriteString(".\r\n")
	} else {
		text.WriteString("\r\nThe machine-readable report and the original message's header\r\nare attached.\r\n")
	}

	h := message.Header{Header: fields("From", from, "To", to, "Subject", subject, "Date", now.UTC().Format(time.RFC1123Z),
		"Message-ID", "<"+msgID+">", "MIME-Version", "1.0", "Auto-Submitted", "auto-replied",
		"Content-Type", mime.FormatMediaType("multipart/report", map[string]string{"report-type": reportType, "boundary": boundary()}))}
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		return nil, "", err
	}
	part := func(ct string, params map[string]string, cte string, body []byte, disposition map[string]string) error {
		kv := []string{"Content-Type", mime.FormatMediaType(ct, params), "Content-Transfer-Encoding", cte}
		if disposition != nil {
			kv = append(kv, "Content-Disposition", mime.FormatMediaType("attachment", disposition))
		}
		pw, err := w.CreatePart(message.Header{Header: fields(kv...)})
		if err != nil {
			return err
		}
		if _, err := pw.Write(body); err != nil {
			return err
		}
		return pw.Close()
	}
	err = part("text/plain", map[string]string{"charset": "utf-8"}, "quoted-printable", []byte(text.String()), nil)
	if err == nil {
		err = part("message/"+reportType, nil, "7bit", machine.Bytes(), nil)
	}
	if err == nil {
		if report != nil {
			r := report[:min(len(report), MaxNoticeReport)]
			switch {
			case len(r) > 0 && r[len(r)-1] == '\r': // cut between CR and LF
				r = append(r[:len(r):len(r)], '\n')
			case len(r) > 0 && r[len(r)-1] != '\n':
				r = append(r[:len(r):len(r)], '\r', '\n')
			}
			if clean7bit(r) {
				err = part("message/rfc822", nil, "7bit", r, map[string]string{"filename": "report.eml"})
			} else {
				err = part("message/global", nil, "base64", r, map[string]string{"filename": "report.eml"})
			}
		} else {
			var hdr strings.Builder
			for _, f := range orig.Headers {
				fmt.Fprintf(&hdr, "%s: %s\r\n", clean(f.Name), clean(f.Value))
			}
			err = part("text/rfc822-headers", map[string]string{"charset": "utf-8"}, "quoted-printable", []byte(hdr.String()), nil)
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, "", err
	}
	return buf.Bytes(), from, nil
}

// statusRe is an enhanced status code (RFC 3463).
var statusRe = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// fields is a header of the name/value pairs kv, written in that order
// (go-message writes a header's fields last added first), each folded at
// 76 characters where it has white space (RFC 5322 §2.2.3) and broken
// before 998 where it has none.
func fields(kv ...string) textproto.Header {
	var h textproto.Header
	for i := len(kv) - 2; i >= 0; i -= 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// writeFields writes the fields kv and the empty line that ends a header,
// or a DSN's field group.
func writeFields(w *bytes.Buffer, kv ...string) {
	textproto.WriteHeader(w, fields(kv...)) // a bytes.Buffer cannot fail
}

// boundary is a new multipart boundary.
func boundary() string {
	var b [15]byte
	rand.Read(b[:])
	return "=_" + hex.EncodeToString(b[:])
}

// fieldText makes s a 7-bit header field value that folds within 76
// characters: control characters become spaces, other bytes outside
// printable ASCII '?', and a run of more than maxWord characters without
// white space is broken with spaces.
func fieldText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return ' '
		case r > 0x7e:
			return '?'
		}
		return r
	}, s)
	var b strings.Builder
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			run = 0
		} else if run++; run > maxWord {
			b.WriteByte(' ')
			run = 1
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// maxWord is the longest run without white space fieldText leaves: with
// a field name, it still folds within 76 characters.
const maxWord = 60

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

// clean7bit reports whether b can go in a message as it is, as 7bit
// data (RFC 2045 §2.7): ASCII without NUL, every CR and LF together as a
// line end, every line within 998 characters.
func clean7bit(b []byte) bool {
	line := 0
	for i, c := range b {
		switch {
		case c == 0 || c >= 0x80:
			return false
		case c == '\r':
			if i+1 == len(b) || b[i+1] != '\n' {
				return false
			}
			continue
		case c == '\n':
			if i == 0 || b[i-1] != '\r' {
				return false
			}
			line = 0
			continue
		}
		if line++; line > 998 {
			return false
		}
	}
	return true
}
