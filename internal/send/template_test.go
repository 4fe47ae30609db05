package send_test

import (
	"bytes"
	"errors"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/template"
	"github.com/sesame-email/sesame/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// welcome is the template of these tests: every part uses name.
func welcome(t *testing.T, data map[string]any) *send.Template {
	t.Helper()
	c, err := template.Compile(template.Content{Subject: "Welcome, {{name}}", Text: "Hello {{name}},\nyour plan is {{plan}}.\n",
		HTML: "<p>Hello {{name}}</p>"})
	if err != nil {
		t.Fatal(err)
	}
	return &send.Template{Name: "welcome", Compiled: c, Data: data}
}

// templated is a templated request from a@example.test to bob@example.org.
func templated(t *testing.T, data map[string]any) send.Request {
	return send.Request{Simple: &compose.Simple{From: "Alice <a@example.test>", To: []string{"bob@example.org"}},
		Template: welcome(t, data), Operation: "SendTemplatedEmail", Tags: []compose.Tag{{Name: "campaign", Value: "q1"}}}
}

// outbox returns the account's outbox rows.
func (e *env) outbox(acct string) []event.Stored {
	e.t.Helper()
	st, err := event.List(ctx, e.d, 0, 100, acct, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// TestTemplatedSend: a templated message is rendered into Simple content
// ({{name}} HTML-escaped in every part, as SES's Handlebars does), signed
// and queued; its Send
// event, like SES's, has no subject, while the queued mail object that
// later events carry has the rendered one.
func TestTemplatedSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		id := e.mustSubmit(templated(t, map[string]any{"name": "Bob & Co", "plan": "gold"}))
		body := e.body(id)
		for _, want := range []string{"\r\nSubject: Welcome, Bob &amp; Co\r\n", "Hello Bob &amp; Co,\r\nyour plan is gold.", "<p>Hello Bob &amp; Co</p>",
			"Content-Type: multipart/alternative"} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("message lacks %q:\n%s", want, body)
			}
		}
		if got := e.verifyDKIM(body); len(got) == 0 {
			t.Error("templated message not DKIM-signed")
		}
		ev := e.sendEvent(id)
		if ev.Mail.CommonHeaders.Subject != "" || slices.ContainsFunc(ev.Mail.Headers, func(h event.Header) bool { return h.Name == "Subject" }) {
			t.Errorf("Send event of a templated message has a subject: %+v", ev.Mail)
		}
		if got := ev.Mail.Tags[event.TagOperation]; !slices.Equal(got, []string{"SendTemplatedEmail"}) {
			t.Errorf("ses:operation %v", got)
		}
		if !slices.ContainsFunc(ev.Mail.Headers, func(h event.Header) bool { return h.Name == "Content-Type" }) {
			t.Errorf("Send event lost the rendered message's Content-Type: %+v", ev.Mail.Headers)
		}
		mail, err := e.q.Mail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if mail.CommonHeaders.Subject != "Welcome, Bob &amp; Co" {
			t.Errorf("queued mail object's subject %q, want the rendered one", mail.CommonHeaders.Subject)
		}
	})
}

// TestRenderingFailure: a template that does not render with the data
// queues nothing and uses no quota or rate, and leaves a Rendering Failure
// event (golden) with the configuration set; Submit returns its MessageId
// with a KindRenderingFailure error.
func TestRenderingFailure(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, sets, _ := csEnv(t, d)
		e.createSet(sets, e.acct, "cs1")
		e.setProduction(e.acct, 3, 1) // one message a second, three a day
		r := templated(t, map[string]any{"name": "Bob"})
		r.ConfigurationSet, r.SourceIP, r.CallerIdentity = "cs1", "192.0.2.10", "app-user"
		r.Simple.Cc = []string{"carol@example.org"}
		r.Simple.ReplyTo = []string{"replies@example.test"}
		before := e.rows()
		res, err := e.submit(r)
		se, ok := errors.AsType[*send.Error](err)
		if !ok || se.Kind != send.KindRenderingFailure || !errors.Is(err, send.ErrRenderingFailure) {
			t.Fatalf("submit: %v, want a rendering failure", err)
		}
		if want := "Attribute 'plan' is not present in the rendering data."; se.Msg != want {
			t.Errorf("message %q, want %q", se.Msg, want)
		}
		if !idRE.MatchString(res.MessageID) {
			t.Errorf("MessageId %q", res.MessageID)
		}
		if after := e.rows(); after[0] != before[0] || after[1] != before[1] || after[2] != before[2]+1 {
			t.Errorf("messages/recipients/events %v → %v, want one event more", before, after)
		}
		st := e.outbox(e.acct)
		if len(st) != 1 || st[0].Type != event.RenderingFailure || st[0].MessageID != res.MessageID || st[0].ConfigurationSet != "cs1" {
			t.Fatalf("outbox %+v", st)
		}
		payload := strings.ReplaceAll(string(st[0].Payload), res.MessageID, "0100019ca9f5d800-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000")
		payload = strings.ReplaceAll(payload, e.acct, "123456789012")
		testkit.CheckJSONGolden(t, filepath.Join("testdata", "golden", "rendering-failure.json"), []byte(payload), *update)

		// The rate token and the quota came back: the next second's
		// message goes (rate 1/s), and three more fill the day.
		r.Template.Data = map[string]any{"name": "Bob", "plan": "gold"}
		r.Simple.Cc = nil
		for i := range 3 {
			if _, err := e.submit(r); err != nil {
				t.Fatalf("send %d after the failure: %v", i, err)
			}
			e.clock.Advance(1e9)
		}
		e.rejected(r, send.KindDailyQuotaExceeded, send.MsgDailyQuotaExceeded)
	})
}

// TestTemplatedChecksFirst: the checks that need no rendered content run
// before rendering and win over a rendering failure; the size rule
// applies to the rendered message; a rendered subject with a line break
// is a rendering failure, not a bad request.
func TestTemplatedChecksFirst(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		r := templated(t, map[string]any{})
		r.Simple.From = "a@unverified.example"
		e.rejected(r, send.KindMessageRejected, notVerified+"a@unverified.example")
		r = templated(t, map[string]any{})
		r.Simple.To = []string{"not an address"}
		e.rejected(r, send.KindInvalid, "")
		if n := len(e.outbox(e.acct)); n != 0 {
			t.Errorf("rejected messages left %d events", n)
		}

		r = templated(t, map[string]any{"name": strings.Repeat("x", 700), "plan": "gold"})
		r.MaxSize = 1500 // the unrendered message fits, the rendered one does not
		se := e.rejected(r, send.KindInvalid, "")
		if !strings.HasPrefix(se.Msg, "Message length is more than 1500 bytes long") {
			t.Errorf("size rejection %q", se.Msg)
		}

		_, err := e.submit(templated(t, map[string]any{"name": "Bob\r\nBcc: eve@example.org", "plan": "gold"}))
		if se, ok := errors.AsType[*send.Error](err); !ok || se.Kind != send.KindRenderingFailure || !strings.Contains(se.Msg, "Subject must not contain CR or LF") {
			t.Errorf("line break in the rendered subject: %v", err)
		}
	})
}

// TestSubmitEach: results come back in the order of the requests, each
// admitted or refused on its own.
func TestSubmitEach(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		var rs []send.Request
		for i := range 20 {
			r := templated(t, map[string]any{"name": "n", "plan": "p"})
			r.AccountID = e.acct
			switch i % 3 {
			case 1:
				r.Simple.To = []string{"bad@@example.org"}
			case 2:
				r.Template = welcome(t, map[string]any{"name": "n"})
			}
			rs = append(rs, r)
		}
		res, errs := e.s.SubmitEach(ctx, rs, nil)
		for i := range rs {
			se, _ := errors.AsType[*send.Error](errs[i])
			switch i % 3 {
			case 0:
				if errs[i] != nil || res[i].MessageID == "" {
					t.Errorf("entry %d: %v", i, errs[i])
				}
			case 1:
				if se == nil || se.Kind != send.KindInvalid || res[i].MessageID != "" {
					t.Errorf("entry %d: %v %+v, want invalid", i, errs[i], res[i])
				}
			case 2:
				if se == nil || se.Kind != send.KindRenderingFailure || res[i].MessageID == "" {
					t.Errorf("entry %d: %v %+v, want a rendering failure with an id", i, errs[i], res[i])
				}
			}
		}
		counts, err := e.q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[queue.Queued] != 7 {
			t.Errorf("queued %v, want 7", counts)
		}
	})
}

// TestPrecheck: the request-level checks, with Submit's errors.
func TestPrecheck(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, sets, _ := csEnv(t, d)
		e.createSet(sets, e.acct, "cs1")
		if err := e.s.Precheck(ctx, e.acct, "cs1"); err != nil {
			t.Errorf("precheck: %v", err)
		}
		if err := e.s.Precheck(ctx, e.acct, "nope"); !errors.Is(err, send.ErrConfigurationSetDoesNotExist) {
			t.Errorf("unknown set: %v", err)
		}
		other := e.account("other")
		e.createSet(sets, other, "theirs")
		if err := e.s.Precheck(ctx, e.acct, "theirs"); !errors.Is(err, send.ErrConfigurationSetDoesNotExist) {
			t.Errorf("another account's set: %v", err)
		}
		if err := e.accts.SetSendingEnabled(ctx, e.acct, false); err != nil {
			t.Fatal(err)
		}
		if err := e.s.Precheck(ctx, e.acct, ""); !errors.Is(err, send.ErrSendingPaused) {
			t.Errorf("paused account: %v", err)
		}
	})
}
