package feedback_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
)

// TestNoticeLines: forwarded notices keep every line within RFC 5322's
// 998 characters (and within 78 in what Sesame writes itself) whatever
// the original message and the report carry — a 15,000-character subject,
// a 20,000-character diagnostic code, a report with a 50,000-character
// line — and still parse as multipart/report, verify under the service
// domain's DKIM key, and quote no remote text in Sesame's own text.
func TestNoticeLines(t *testing.T) {
	key, txt := dkimKey(t)
	zone := dnstest.NewServer(t)
	zone.Add(`sesame._domainkey.` + serviceDomain + `. 300 IN TXT ` + txt)
	resolver := zone.Resolver()

	subject := "SUBJ" + strings.Repeat("s", 15000)
	diag := "smtp; 550 5.1.1 DIAG" + strings.Repeat("d", 20000)
	longLine := "Visit http://evil.example/" + strings.Repeat("e", 50000)

	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.sign = func(msg []byte) ([]byte, error) {
			return dkim.Sign(msg, []dkim.Signer{{Domain: serviceDomain, Selector: "sesame", Key: key}}, dkim.SignOptions{})
		}
		sent := f.sendWith(t, "m1", func(m *event.Mail) {
			m.CommonHeaders.Subject = subject
			m.Headers = append(m.Headers, event.Header{Name: "Subject", Value: subject})
		}, "a@rcpt.test", "b@rcpt.test", "c@rcpt.test")

		// A bounce during delivery, with a long remote reply.
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil || len(cs) != 3 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		c := cs[0]
		ev := &event.Event{Type: event.Bounce, AccountID: f.acct, Mail: sent.Mail, Bounce: &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General",
			BouncedRecipients: []event.Recipient{{EmailAddress: c.Address, Action: "failed", Status: "5.1.1", DiagnosticCode: diag}}, Timestamp: f.clock.Now(), FeedbackID: "fb"}}
		if err := f.q.FinishWith(f.ctx, c, queue.Bounced, "550", func(ctx context.Context, tx *db.Tx) error { return f.p.Delivered(ctx, tx, c, ev, true) }, ev); err != nil {
			t.Fatal(err)
		}
		// A DSN and an ARF report received, each with a very long line.
		raw := []byte("From: MAILER-DAEMON@mx.rcpt.test\r\nSubject: failure\r\n\r\n" + longLine + "\r\n")
		dsn := &bounce.Report{Kind: bounce.KindBounce, Format: "dsn", Recipients: []bounce.Recipient{{Address: "b@rcpt.test", Action: "failed",
			Status: "5.1.1", DiagnosticCode: diag, BounceType: "Permanent", BounceSubType: "NoEmail", Suppress: true}}}
		if _, err := f.p.Apply(f.ctx, f.received(raw, dsn), sent); err != nil {
			t.Fatal(err)
		}
		arf := &bounce.Report{Kind: bounce.KindComplaint, Format: "arf", Recipients: []bounce.Recipient{{Address: "c@rcpt.test", Suppress: true}},
			Complaint: &bounce.Complaint{FeedbackType: "abuse", UserAgent: "UA" + strings.Repeat("u", 20000)}}
		if _, err := f.p.Apply(f.ctx, f.received(append([]byte("X-Complaint: 1\r\n"), raw...), arf), sent); err != nil {
			t.Fatal(err)
		}

		notices := f.forwarded(t)["bounces@example.test"]
		if len(notices) != 3 {
			t.Fatalf("%d notices; want 3", len(notices))
		}
		kinds := map[bounce.Kind]int{}
		for _, n := range notices {
			kinds[checkNotice(t, []byte(n), resolver, "SUBJ", "DIAG", "UA", "evil.example")]++
		}
		if kinds[bounce.KindBounce] != 2 || kinds[bounce.KindComplaint] != 1 {
			t.Fatalf("notices read as %v; want 2 bounces and a complaint", kinds)
		}
	})
}

// dkimKey returns a new DKIM key and its record as TXT data, in quoted
// strings of at most 255 characters.
func dkimKey(t *testing.T) (*dkim.Key, string) {
	t.Helper()
	key, err := dkim.Generate(dkim.RSA, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := key.Record()
	if err != nil {
		t.Fatal(err)
	}
	return key, `"` + strings.Join(dkim.SplitTXT(rec), `" "`) + `"`
}

// checkNotice checks one notice's lines, structure and signature, that
// its text part contains none of remote, and returns what bounce.Parse
// makes of it.
func checkNotice(t *testing.T, msg []byte, res interface {
	LookupTXT(context.Context, string) ([]string, error)
}, remote ...string) bounce.Kind {
	t.Helper()
	for i, l := range strings.Split(string(msg), "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d has %d characters", i+1, len(l))
		}
		if strings.Contains(l, "\n") || strings.Contains(l, "\r") {
			t.Errorf("line %d has a bare line ending", i+1)
		}
	}
	// Sesame's own lines: the header (the DKIM signature is go-msgauth's)
	// and the first two parts.
	head, body, _ := strings.Cut(string(msg), "\r\n\r\n")
	short := func(where, s string) {
		t.Helper()
		for _, l := range strings.Split(s, "\r\n") {
			if len(l) > 78 {
				t.Errorf("%s: line of %d characters: %.100s...", where, len(l), l)
			}
		}
	}
	exempt := false
	for _, l := range strings.Split(head, "\r\n") {
		if !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t") {
			// The DKIM signature is go-msgauth's; a Message-ID is one
			// token, which cannot be folded.
			exempt = strings.HasPrefix(l, "DKIM-Signature:") || strings.HasPrefix(l, "Message-Id:")
		}
		if !exempt {
			short("header", l)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || (params["report-type"] != "delivery-status" && params["report-type"] != "feedback-report") {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var types []string
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		if i < 2 {
			short(ct, string(raw))
		}
		if i == 0 {
			text, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
			if err != nil || p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
				t.Fatalf("text part: %v, %v", p.Header, err)
			}
			for _, r := range remote {
				if strings.Contains(string(text), r) {
					t.Errorf("Sesame's own text quotes remote text %q:\n%s", r, text)
				}
			}
		}
	}
	if len(types) != 3 || types[0] != "text/plain" || types[1] != "message/"+params["report-type"] ||
		(types[2] != "message/rfc822" && types[2] != "message/global" && types[2] != "text/rfc822-headers") {
		t.Fatalf("parts %v", types)
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return res.LookupTXT(context.Background(), name)
	}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != serviceDomain {
		t.Fatalf("DKIM: %v %+v", err, vs)
	}
	rep, err := bounce.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Kind
}
