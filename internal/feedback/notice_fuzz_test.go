package feedback

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/mail"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/event"
)

// FuzzNotice: whatever a report and the original message carry (remote
// replies, user agents, headers, the report's bytes), a notice's lines
// stay within 998 characters and it parses as a multipart/report of three
// parts.
func FuzzNotice(f *testing.F) {
	f.Add("smtp; 550 5.1.1 unknown", "5.1.1", "Subject", "Hello", []byte("From: a@b.test\r\n\r\nhi\r\n"), false)
	f.Add(string(bytes.Repeat([]byte("d"), 3000)), "9.9.9", "X-Long", string(bytes.Repeat([]byte("s "), 2000)), bytes.Repeat([]byte("e"), 5000), true)
	f.Add("\r\n--=_x\r\n\x00\xff\u2028", "", "Bad\r\nName", "v\r\n\r\nbody", []byte("\n\n\r\r\x00"), true)
	p := &Processor{opts: Options{Region: "us-east-1", ServiceDomain: "sesame.test"}, reportingMTA: "feedback-smtp.us-east-1.sesame.test"}
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, diag, status, name, value string, report []byte, complaint bool) {
		ev := &event.Event{Type: event.Bounce, Mail: event.Mail{Timestamp: now, MessageID: "m1", Headers: []event.Header{{Name: name, Value: value}}}}
		if complaint {
			ev.Type, ev.Complaint = event.Complaint, &event.ComplaintDetails{ComplainedRecipients: []string{value}, UserAgent: diag, ComplaintFeedbackType: status}
		} else {
			ev.Bounce = &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General", Timestamp: now,
				BouncedRecipients: []event.Recipient{{EmailAddress: value, Status: status, DiagnosticCode: diag}}}
		}
		if len(report) == 0 {
			report = nil // feedback from delivery: the original's header
		}
		msg, _, err := p.notice(ev, "to@example.test", "n1@us-east-1.sesame.test", now, report)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(msg, []byte("\r\n")) {
			if len(l) > 998 {
				t.Fatalf("a line of %d characters", len(l))
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/report" {
			t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(m.Body, params["boundary"])
		n := 0
		for ; ; n++ {
			if _, err := mr.NextRawPart(); err != nil {
				break
			}
		}
		if n != 3 {
			t.Fatalf("%d parts; want 3", n)
		}
	})
}
