package feedback

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/event"
)

// FuzzNotice: whatever a report and the original message carry (remote
// replies, user agents, headers, the report's bytes), a notice is clean
// (checkClean: CRLF line ends only, no NUL, lines within 998 characters)
// and it parses as a multipart/report of three parts.
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
		m := readNotice(t, p, ev, now, report)
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

// readNotice writes p's notice of ev with report, checks that it is clean
// (checkClean) and reads it as a message.
func readNotice(t *testing.T, p *Processor, ev *event.Event, now time.Time, report []byte) *mail.Message {
	t.Helper()
	msg, _, err := p.notice(ev, "to@example.test", "n1@us-east-1.sesame.test", now, report)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, msg)
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkClean fails t unless msg's lines all end with CRLF, within 998
// characters, and it has no NUL (RFC 5322 §2.1.1, §2.3).
func checkClean(t *testing.T, msg []byte) {
	t.Helper()
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Fatalf("the message does not end with CRLF: %q", msg[max(0, len(msg)-20):])
	}
	for i, l := range bytes.Split(msg[:len(msg)-2], []byte("\r\n")) {
		switch {
		case len(l) > 998:
			t.Fatalf("line %d has %d characters", i+1, len(l))
		case bytes.ContainsAny(l, "\r\n\x00"):
			t.Fatalf("line %d has a bare CR or LF, or a NUL: %q", i+1, l)
		}
	}
}

// TestNoticeEncodesReport: a received report that is not clean 7-bit
// text (a bare CR, a NUL, 8-bit bytes, a bare LF, a line over 998
// characters) is attached base64-encoded, as message/global, and decodes
// to the report's bytes; a clean one is attached as it is, as
// message/rfc822.
func TestNoticeEncodesReport(t *testing.T) {
	p := &Processor{opts: Options{Region: "us-east-1", ServiceDomain: "sesame.test"}, reportingMTA: "feedback-smtp.us-east-1.sesame.test"}
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	ev := &event.Event{Type: event.Bounce, Mail: event.Mail{Timestamp: now, MessageID: "m1"},
		Bounce: &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General", Timestamp: now,
			BouncedRecipients: []event.Recipient{{EmailAddress: "a@b.test", Status: "5.1.1"}}}}
	for _, c := range []struct {
		report, ctype string
	}{
		{"From: x@b.test\r\n\r\nline\rwith a bare CR and a NUL \x00 here\r\n", "message/global"},
		{"From: x@b.test\r\n\r\n8-bit: \xc3\xa9\r\n", "message/global"},
		{"From: x@b.test\n\nbare LF\n", "message/global"},
		{"From: x@b.test\r\n\r\n" + strings.Repeat("x", 999) + "\r\n", "message/global"},
		{"From: x@b.test\r\n\r\nclean\r\n", "message/rfc822"},
	} {
		m := readNotice(t, p, ev, now, []byte(c.report))
		_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
		mr := multipart.NewReader(m.Body, params["boundary"])
		var last *multipart.Part
		for {
			p, err := mr.NextPart() // decodes quoted-printable, not base64
			if err != nil {
				break
			}
			last = p
			if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == c.ctype {
				break
			}
		}
		if ct, _, _ := mime.ParseMediaType(last.Header.Get("Content-Type")); ct != c.ctype {
			t.Fatalf("%q: attached as %s; want %s", c.report, ct, c.ctype)
		}
		var got []byte
		var err error
		if cte := last.Header.Get("Content-Transfer-Encoding"); cte == "base64" {
			got, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, last))
		} else {
			got, err = io.ReadAll(last)
		}
		if err != nil || string(got) != c.report {
			t.Fatalf("%q: attached %q, %v", c.report, got, err)
		}
	}
}
