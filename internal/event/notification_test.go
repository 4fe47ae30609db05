package event_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/event"
)

// notificationCases are the golden identity notifications: each type with
// and without headers.
func notificationCases() map[string]struct {
	e       *event.Event
	headers bool
} {
	g := goldenCases()
	type c = struct {
		e       *event.Event
		headers bool
	}
	return map[string]c{
		"bounce":                     {g["bounce"], false},
		"bounce-headers":             {g["bounce"], true},
		"complaint":                  {g["complaint"], false},
		"complaint-headers":          {g["complaint"], true},
		"complaint-account-suppress": {g["complaint-account-suppress"], false},
		"delivery":                   {g["delivery"], false},
		"delivery-headers":           {g["delivery"], true},
	}
}

func TestNotificationGolden(t *testing.T) {
	cases := notificationCases()
	files, _ := filepath.Glob(filepath.Join("testdata", "notification", "*.json"))
	if !*update && len(files) != len(cases) {
		t.Errorf("%d golden notification files for %d cases", len(files), len(cases))
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := c.e.NotificationJSON(c.headers)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "notification", name+".json"), "NotificationJSON", got)
		})
	}
}

// TestNotificationKeys checks the keys of the old format by hand, as
// TestSESKeys does for the event JSON.
func TestNotificationKeys(t *testing.T) {
	base := []string{"timestamp", "messageId", "source", "sourceArn", "sourceIp", "callerIdentity", "sendingAccountId", "destination"}
	withHeaders := append([]string{"headersTruncated", "headers", "commonHeaders"}, base...)
	for name, c := range notificationCases() {
		t.Run(name, func(t *testing.T) {
			b, err := c.e.NotificationJSON(c.headers)
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]any
			if err := json.Unmarshal(b, &top); err != nil {
				t.Fatal(err)
			}
			dk := detailsKey[c.e.Type]
			sameKeys(t, "top level", top, []string{"notificationType", "mail", dk})
			if top["notificationType"] != string(c.e.Type) {
				t.Errorf("notificationType = %v, want %s", top["notificationType"], c.e.Type)
			}
			if _, ok := top["eventType"]; ok {
				t.Error("notification has eventType")
			}
			mail := top["mail"].(map[string]any)
			want := base
			if c.headers {
				want = withHeaders
				sameKeys(t, "mail.commonHeaders", mail["commonHeaders"], commonHeadersKeys)
				if hs := mail["headers"].([]any); len(hs) != len(c.e.Mail.Headers) {
					t.Errorf("%d headers, want %d", len(hs), len(c.e.Mail.Headers))
				}
			}
			sameKeys(t, "mail", mail, want)
			if mail["sourceIp"] != "192.0.2.10" || mail["callerIdentity"] != "app-user" {
				t.Errorf("sourceIp, callerIdentity = %v, %v", mail["sourceIp"], mail["callerIdentity"])
			}
			if name == "complaint-account-suppress" {
				return // no ARF fields
			}
			sameKeys(t, dk, top[dk], detailKeys[c.e.Type])
		})
	}
}

// TestNotificationFromStored builds the notification from a stored
// payload, as the publisher does: sourceIp and callerIdentity come back
// from the auto-tags, since the event JSON has no such mail fields.
func TestNotificationFromStored(t *testing.T) {
	for _, name := range []string{"bounce", "complaint", "delivery"} {
		e := goldenCases()[name]
		payload, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		s := event.Stored{ID: 1, AccountID: e.AccountID, ConfigurationSet: e.ConfigurationSet, Type: e.Type, Payload: payload}
		back, err := s.Event()
		if err != nil {
			t.Fatal(err)
		}
		for _, headers := range []bool{false, true} {
			want, err := e.NotificationJSON(headers)
			if err != nil {
				t.Fatal(err)
			}
			got, err := back.NotificationJSON(headers)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (headers %v) from the stored payload:\n%s\nwant\n%s", name, headers, got, want)
			}
		}
	}
}

func TestNotificationOtherTypes(t *testing.T) {
	g := goldenCases()
	for _, name := range []string{"send", "reject", "deliverydelay", "rendering-failure"} {
		e := g[name]
		if event.HasNotification(e.Type) {
			t.Errorf("HasNotification(%s)", e.Type)
		}
		if _, err := e.NotificationJSON(true); err == nil || !strings.Contains(err.Error(), "no identity notification") {
			t.Errorf("%s: NotificationJSON = %v", name, err)
		}
	}
	for _, ty := range []event.Type{event.Bounce, event.Complaint, event.Delivery} {
		if !event.HasNotification(ty) {
			t.Errorf("!HasNotification(%s)", ty)
		}
	}
	bad := g["bounce"]
	bad.AccountID = ""
	if _, err := bad.NotificationJSON(false); err == nil {
		t.Error("invalid event marshalled")
	}
	// Empty headers with headers enabled are [] and {}, never missing.
	min := goldenCases()["bounce"]
	min.Mail.Headers, min.Mail.CommonHeaders, min.Mail.SourceIP, min.Mail.CallerIdentity = nil, event.CommonHeaders{}, "", ""
	b, err := min.NotificationJSON(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"headers":[]`, `"commonHeaders":{}`, `"headersTruncated":false`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("lacks %s: %s", s, b)
		}
	}
	for _, s := range []string{`sourceIp`, `callerIdentity`, `tags`} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("has %s: %s", s, b)
		}
	}
}
