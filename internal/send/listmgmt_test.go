package send_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/testkit"
)

// lists is Options.Lists with call counters: "out@" addresses opted out,
// list "gone" and topic "gone" unknown.
type lists struct {
	checks, links atomic.Int64
}

var errNoList, errNoTopic = errors.New("no such list"), errors.New("no such topic")

func (l *lists) hooks() *send.Lists {
	return &send.Lists{
		MayReceive: func(_ context.Context, _, list, topic, address string) (bool, error) {
			l.checks.Add(1)
			switch {
			case list == "gone":
				return false, errNoList
			case topic == "gone":
				return false, errNoTopic
			}
			return !strings.HasPrefix(address, "out@"), nil
		},
		NotFound: func(err error) (bool, bool) { return errors.Is(err, errNoList), errors.Is(err, errNoTopic) },
		Links: func(u send.UnsubscribeLink) (string, string, error) {
			l.links.Add(1)
			return "https://u.test/unsubscribe?t=" + u.Address + "." + u.Topic, "unsubscribe+x@feedback.test", nil
		},
	}
}

func (e *env) listSender(l *lists) *send.Sender {
	e.t.Helper()
	s, err := send.New(send.Options{Identities: e.ids, Accounts: e.accts, Queue: e.q, Region: region, ServiceDomain: serviceDomain,
		Now: e.clock.Now, Logger: e.logger, Lists: l.hooks()})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestListManagement: without ListManagementOptions the hooks are never
// called (no query); with them, one check per recipient; a single
// recipient gets the List-Unsubscribe fields (a caller's own replaced,
// DKIM-signed) and at most two placeholders per part replaced; several
// recipients get neither; an opted-out recipient is bounced, not queued;
// an unknown list or topic is KindContactListDoesNotExist.
func TestListManagement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		l := &lists{}
		e.s = e.listSender(l)

		plain := simple("alice@example.test", "bob@example.org")
		plain.Text = "Leave: {{amazonSESUnsubscribeUrl}}"
		id := e.mustSubmit(send.Request{Simple: plain})
		if l.checks.Load() != 0 || l.links.Load() != 0 || bytes.Contains(e.body(id), []byte("List-Unsubscribe")) {
			t.Fatalf("no options: %d checks, %d links", l.checks.Load(), l.links.Load())
		}

		lm := &compose.ListManagement{ContactList: "customers", Topic: "news"}
		sm := simple("alice@example.test", "bob@example.org")
		sm.Text = "1 {{amazonSESUnsubscribeUrl}} 2 {{amazonSESUnsubscribeUrl}} 3 {{amazonSESUnsubscribeUrl}}"
		sm.Headers = []compose.Header{{Name: "List-Unsubscribe", Value: "<https://evil.test/>"}}
		id = e.mustSubmit(send.Request{Simple: sm, ListManagement: lm})
		body := e.body(id)
		if l.checks.Load() != 1 || l.links.Load() != 1 {
			t.Errorf("one recipient: %d checks, %d links", l.checks.Load(), l.links.Load())
		}
		if got := e.verifyDKIM(body); len(got) != 2 {
			t.Errorf("DKIM: %v", got)
		}
		want := "List-Unsubscribe: <https://u.test/unsubscribe?t=bob@example.org.news>,\r\n <mailto:unsubscribe+x@feedback.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
		if !bytes.Contains(body, []byte(want)) || bytes.Contains(body, []byte("evil.test")) || bytes.Count(body, []byte("\r\nList-Unsubscribe:")) != 1 {
			t.Errorf("fields:\n%s", body)
		}
		if !bytes.Contains(bytes.ReplaceAll(body, []byte("=\r\n"), nil), []byte("1 https://u.test/unsubscribe?t=3Dbob@example.org.news 2 https://u.test/unsubscribe?t=3Dbob@example.org.news 3 {{amazonSESUnsubscribeUrl}}")) {
			t.Errorf("placeholders:\n%s", body)
		}

		// Several recipients: checked each, no links; out@ bounced.
		l.checks.Store(0)
		l.links.Store(0)
		id = e.mustSubmit(send.Request{Simple: simple("alice@example.test", "bob@example.org", "out@example.org"), ListManagement: lm})
		if l.checks.Load() != 2 || l.links.Load() != 0 || bytes.Contains(e.body(id), []byte("List-Unsubscribe")) {
			t.Errorf("two recipients: %d checks, %d links", l.checks.Load(), l.links.Load())
		}
		var bounced []string
		for _, ev := range testkit.Events(t, d, id) {
			if ev.Type == "Bounce" {
				bounced = append(bounced, fmt.Sprintf("%s/%s %s", ev.Bounce.BounceType, ev.Bounce.BounceSubType, ev.Bounce.BouncedRecipients[0].EmailAddress))
			}
		}
		if fmt.Sprint(bounced) != "[Permanent/OnAccountSuppressionList out@example.org]" {
			t.Errorf("bounces %v", bounced)
		}

		// Raw mail: the header names the list; a placeholder in the body.
		raw := "From: alice@example.test\r\nTo: bob@example.org\r\nSubject: x\r\nX-SES-LIST-MANAGEMENT-OPTIONS: customers\r\n\r\nLeave {{amazonSESUnsubscribeUrl}}\r\n"
		id = e.mustSubmit(send.Request{Raw: []byte(raw)})
		if body := e.body(id); !bytes.Contains(body, []byte("Leave https://u.test/unsubscribe?t=bob@example.org.\r\n")) || !bytes.Contains(body, []byte("List-Unsubscribe-Post")) {
			t.Errorf("raw:\n%s", body)
		}

		for _, c := range []compose.ListManagement{{ContactList: "gone"}, {ContactList: "customers", Topic: "gone"}} {
			_, err := e.submit(send.Request{Simple: simple("alice@example.test", "bob@example.org"), ListManagement: &c})
			if !errors.Is(err, send.ErrContactListDoesNotExist) {
				t.Errorf("%+v: %v", c, err)
			}
		}
		e.s = e.sender(nil) // no Lists at all
		if _, err := e.submit(send.Request{Simple: simple("alice@example.test", "bob@example.org"), ListManagement: lm}); !errors.Is(err, send.ErrContactListDoesNotExist) {
			t.Errorf("no Lists: %v", err)
		}
	})
}
