package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// accepted is when the test message was accepted: not in UTC and finer
// than a millisecond, so the goldens show the conversion and truncation.
var accepted = time.Date(2026, 1, 2, 4, 4, 5, 678_901_234, time.FixedZone("CET", 3600))

const (
	testAccount   = "123456789012"
	testMessageID = "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000"
)

// testMail is a fully populated mail object, as the send path builds it.
func testMail() event.Mail {
	m := event.Mail{
		Timestamp:        accepted,
		MessageID:        testMessageID,
		Source:           "Alice Sender <alice@example.test>",
		SourceArn:        "arn:aws:ses:eu-west-1:123456789012:identity/example.test",
		SendingAccountID: testAccount,
		Destination:      []string{"bob@example.org", "carol@example.org"},
		CommonHeaders: event.CommonHeaders{
			From:       []string{"Alice Sender <alice@example.test>"},
			To:         []string{"bob@example.org"},
			Cc:         []string{"carol@example.org"},
			ReplyTo:    []string{"replies@example.test"},
			MessageID:  "<own-1@example.test>",
			Date:       "Fri, 2 Jan 2026 04:04:05 +0100",
			Subject:    "Quarterly report & <figures>",
			ReturnPath: "bounces@example.test",
		},
		Tags: map[string][]string{"campaign": {"q1"}},
	}
	event.SetHeaders(&m, []event.Header{
		{Name: "From", Value: "Alice Sender <alice@example.test>"},
		{Name: "To", Value: "bob@example.org"},
		{Name: "Cc", Value: "carol@example.org"},
		{Name: "Reply-To", Value: "replies@example.test"},
		{Name: "Subject", Value: "Quarterly report & <figures>"},
		{Name: "Message-ID", Value: "<own-1@example.test>"},
		{Name: "Date", Value: "Fri, 2 Jan 2026 04:04:05 +0100"},
		{Name: "MIME-Version", Value: "1.0"},
		{Name: "Content-Type", Value: "text/plain; charset=UTF-8"},
	})
	event.AutoTags(&m, "cs1", "example.test", "192.0.2.10", "app-user")
	event.SetTag(&m, event.TagOperation, "SendEmail")
	return m
}

// afterDelivery is testMail as events after a delivery attempt carry it.
func afterDelivery() event.Mail {
	m := testMail()
	event.SetTag(&m, event.TagOutgoingIP, "198.51.100.7")
	return m
}

func at(d time.Duration) time.Time { return accepted.Add(d) }

func ptr[T any](v T) *T { return &v }

// goldenCases is one fully populated event per type, plus a minimal one.
func goldenCases() map[string]*event.Event {
	base := func(t event.Type, m event.Mail) *event.Event {
		return &event.Event{Type: t, AccountID: testAccount, ConfigurationSet: "cs1", Mail: m}
	}
	send := base(event.Send, testMail())
	send.Send = &event.SendDetails{}

	reject := base(event.Reject, testMail())
	reject.Reject = &event.RejectDetails{Reason: event.RejectReason}

	delivery := base(event.Delivery, afterDelivery())
	delivery.Delivery = &event.DeliveryDetails{
		Timestamp:            at(1234 * time.Millisecond),
		ProcessingTimeMillis: 1234,
		Recipients:           []string{"bob@example.org"},
		SMTPResponse:         "250 2.0.0 OK 1767323046 queued as 4F1A2B",
		ReportingMTA:         "out1.sesame.example.test",
		RemoteMTAIP:          "203.0.113.25",
	}

	bounce := base(event.Bounce, afterDelivery())
	bounce.Bounce = &event.BounceDetails{
		BounceType:    "Permanent",
		BounceSubType: "NoEmail",
		BouncedRecipients: []event.Recipient{{
			EmailAddress:   "carol@example.org",
			Action:         "failed",
			Status:         "5.1.1",
			DiagnosticCode: "smtp; 550 5.1.1 <carol@example.org>: Recipient address rejected: User unknown",
		}},
		Timestamp:    at(2 * time.Second),
		FeedbackID:   "0100019a1b2c3d4f-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d-000000",
		ReportingMTA: "dsn; out1.sesame.example.test",
		RemoteMTAIP:  "203.0.113.26",
	}

	delay := base(event.DeliveryDelay, afterDelivery())
	delay.DeliveryDelay = &event.DelayDetails{
		DelayType:      "TransientCommunicationFailure",
		ExpirationTime: at(14 * time.Hour),
		DelayedRecipients: []event.Recipient{{
			EmailAddress:   "bob@example.org",
			Status:         "4.4.1",
			DiagnosticCode: "smtp; 421 4.4.1 Unable to connect to remote host",
		}},
		Timestamp:    at(3 * time.Second),
		ReportingMTA: "out1.sesame.example.test",
	}

	complaint := base(event.Complaint, afterDelivery())
	complaint.Complaint = &event.ComplaintDetails{
		ComplainedRecipients:  []string{"bob@example.org"},
		Timestamp:             at(time.Hour),
		FeedbackID:            "0100019a1b2c3d50-1b2c3d4e-5f6a-4b7c-9d8e-9f0a1b2c3d4e-000000",
		ComplaintFeedbackType: "abuse",
		UserAgent:             "ExampleISP Feedback Loop (V0.01)",
		ArrivalDate:           "2026-01-02T04:10:00.000Z",
	}

	failure := base(event.RenderingFailure, testMail())
	failure.Failure = &event.FailureDetails{
		ErrorMessage: "Attribute 'name' is not present in the rendering data.",
		TemplateName: "welcome",
	}

	// subscription: the recipient left one topic through the one-click
	// link of a message sent for it.
	subscription := base(event.Subscription, testMail())
	subscription.Subscription = &event.SubscriptionDetails{
		ContactList: "customers",
		Timestamp:   at(2 * time.Second),
		Source:      "UnsubscribeHeader",
		NewTopicPreferences: event.TopicPreferences{TopicSubscriptionStatus: []event.TopicStatus{
			{TopicName: "news", SubscriptionStatus: "OptOut"}, {TopicName: "offers", SubscriptionStatus: "OptIn"}}},
		OldTopicPreferences: event.TopicPreferences{TopicSubscriptionStatus: []event.TopicStatus{
			{TopicName: "news", SubscriptionStatus: "OptIn"}, {TopicName: "offers", SubscriptionStatus: "OptIn"}}},
	}

	// open and click: SES's shapes (ses-api.md §13), the click with the
	// link's ses:tags.
	open := base(event.Open, afterDelivery())
	open.Open = &event.OpenDetails{IPAddress: "192.0.2.1", Timestamp: at(time.Hour), UserAgent: "Mozilla/5.0 (Example)"}
	click := base(event.Click, afterDelivery())
	click.Click = &event.ClickDetails{IPAddress: "2001:db8::7", Timestamp: at(2 * time.Hour), UserAgent: "Mozilla/5.0 (Example)",
		Link: "https://www.example.test/offer?id=1&x=y", LinkTags: map[string][]string{"campaign": {"spring"}, "pos": {"top"}}}

	// minimal has only what Validate requires: empty lists and objects
	// must still be there, and the configuration set becomes a tag.
	minimal := &event.Event{Type: event.Send, AccountID: testAccount, ConfigurationSet: "cs2",
		Mail: event.Mail{Timestamp: accepted, MessageID: testMessageID}, Send: &event.SendDetails{}}

	// suppressed is a Complaint with complaintSubType set and no ARF.
	suppressed := base(event.Complaint, testMail())
	suppressed.Complaint = &event.ComplaintDetails{
		ComplainedRecipients: []string{"bob@example.org"},
		Timestamp:            at(time.Second),
		FeedbackID:           "0100019a1b2c3d51-2c3d4e5f-6a7b-4c8d-8e9f-0a1b2c3d4e5f-000000",
		ComplaintSubType:     ptr("OnAccountSuppressionList"),
	}

	return map[string]*event.Event{
		"send":                       send,
		"reject":                     reject,
		"delivery":                   delivery,
		"bounce":                     bounce,
		"deliverydelay":              delay,
		"complaint":                  complaint,
		"rendering-failure":          failure,
		"subscription":               subscription,
		"open":                       open,
		"click":                      click,
		"send-minimal":               minimal,
		"complaint-account-suppress": suppressed,
	}
}

func TestGolden(t *testing.T) {
	cases := goldenCases()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		t.Run(name, func(t *testing.T) {
			got, err := cases[name].MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "golden", name+".json"), "MarshalJSON", got)
		})
	}
}

// checkGolden compares got, indented, with the golden file at path (with
// -update, writes it); what names the code that wrote got.
func checkGolden(t *testing.T, path, what string, got []byte) {
	t.Helper()
	if !json.Valid(got) {
		t.Fatalf("%s wrote invalid JSON:\n%s", what, got)
	}
	testkit.CheckJSONGolden(t, path, got, *update)
}

// TestGoldenFilesUsed fails on a golden file no case writes (a renamed case
// leaves its old file behind).
func TestGoldenFilesUsed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := goldenCases()
	for _, f := range files {
		if _, ok := cases[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok {
			t.Errorf("%s belongs to no case", f)
		}
	}
	if len(files) != len(cases) {
		t.Errorf("%d golden files for %d cases", len(files), len(cases))
	}
}

// The keys of SES's event JSON (ses-api.md §13), written out once more by
// hand, so that a typo in a struct tag cannot slip through a golden update.
var (
	mailKeys          = []string{"timestamp", "messageId", "source", "sourceArn", "sendingAccountId", "destination", "headersTruncated", "headers", "commonHeaders", "tags"}
	commonHeadersKeys = []string{"from", "to", "cc", "replyTo", "messageId", "date", "subject", "returnPath"} // bcc is empty in testMail
	detailKeys        = map[event.Type][]string{
		event.Send:             {},
		event.Reject:           {"reason"},
		event.Delivery:         {"timestamp", "processingTimeMillis", "recipients", "smtpResponse", "reportingMTA", "remoteMtaIp"},
		event.Bounce:           {"bounceType", "bounceSubType", "bouncedRecipients", "timestamp", "feedbackId", "reportingMTA", "remoteMtaIp"},
		event.DeliveryDelay:    {"timestamp", "delayType", "expirationTime", "delayedRecipients", "reportingMTA"},
		event.Complaint:        {"complainedRecipients", "timestamp", "feedbackId", "complaintSubType", "userAgent", "complaintFeedbackType", "arrivalDate"},
		event.RenderingFailure: {"errorMessage", "templateName"},
		event.Subscription:     {"contactList", "timestamp", "source", "newTopicPreferences", "oldTopicPreferences"},
		event.Open:             {"ipAddress", "timestamp", "userAgent"},
		event.Click:            {"ipAddress", "timestamp", "userAgent", "link", "linkTags"},
	}
	detailsKey = map[event.Type]string{
		event.Send: "send", event.Reject: "reject", event.Delivery: "delivery", event.Bounce: "bounce",
		event.DeliveryDelay: "deliveryDelay", event.Complaint: "complaint", event.RenderingFailure: "failure",
		event.Subscription: "subscription", event.Open: "open", event.Click: "click",
	}
	recipientKeys = map[event.Type][]string{
		event.Bounce:        {"emailAddress", "action", "status", "diagnosticCode"},
		event.DeliveryDelay: {"emailAddress", "status", "diagnosticCode"},
		event.Complaint:     {"emailAddress"},
	}
	sesTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func keys(t *testing.T, v any, what string) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, not an object", what, v)
	}
	return slices.Sorted(maps.Keys(m))
}

func sameKeys(t *testing.T, what string, v any, want []string) {
	t.Helper()
	got := keys(t, v, what)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s keys = %q, want %q", what, got, want)
	}
}

// TestSESKeys decodes each fully populated event into a generic map and
// checks every key against the lists above.
func TestSESKeys(t *testing.T) {
	for name, e := range goldenCases() {
		if name == "send-minimal" || name == "complaint-account-suppress" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]any
			if err := json.Unmarshal(b, &top); err != nil {
				t.Fatal(err)
			}
			dk := detailsKey[e.Type]
			sameKeys(t, "top level", top, []string{"eventType", "mail", dk})
			if top["eventType"] != string(e.Type) {
				t.Errorf("eventType = %v, want %q", top["eventType"], e.Type)
			}
			mail := top["mail"].(map[string]any)
			sameKeys(t, "mail", mail, mailKeys)
			sameKeys(t, "mail.commonHeaders", mail["commonHeaders"], commonHeadersKeys)
			for _, h := range mail["headers"].([]any) {
				sameKeys(t, "mail.headers[]", h, []string{"name", "value"})
			}
			wantTags := []string{"campaign", "ses:configuration-set", "ses:from-domain", "ses:source-ip", "ses:caller-identity", "ses:operation"}
			if e.Type != event.Send && e.Type != event.Reject && e.Type != event.RenderingFailure && e.Type != event.Subscription {
				wantTags = append(wantTags, "ses:outgoing-ip")
			}
			sameKeys(t, "mail.tags", mail["tags"], wantTags)
			if got := mail["tags"].(map[string]any)["ses:configuration-set"]; !cmp.Equal(got, []any{"cs1"}) {
				t.Errorf("ses:configuration-set = %v", got)
			}
			if mail["headersTruncated"] != false {
				t.Errorf("headersTruncated = %v", mail["headersTruncated"])
			}
			details := top[dk]
			sameKeys(t, dk, details, detailKeys[e.Type])
			for field, want := range map[string][]string{"bouncedRecipients": recipientKeys[event.Bounce], "delayedRecipients": recipientKeys[event.DeliveryDelay], "complainedRecipients": recipientKeys[event.Complaint]} {
				list, ok := details.(map[string]any)[field]
				if !ok {
					continue
				}
				for _, r := range list.([]any) {
					sameKeys(t, dk+"."+field+"[]", r, want)
				}
			}
			// Every timestamp is ISO 8601 UTC with milliseconds.
			stamps := []any{mail["timestamp"]}
			for _, k := range []string{"timestamp", "expirationTime"} {
				if v, ok := details.(map[string]any)[k]; ok {
					stamps = append(stamps, v)
				}
			}
			for _, s := range stamps {
				if s, ok := s.(string); !ok || !sesTimestamp.MatchString(s) {
					t.Errorf("timestamp %v is not ISO 8601 UTC with milliseconds", s)
				}
			}
			if mail["timestamp"] != "2026-01-02T03:04:05.678Z" {
				t.Errorf("mail.timestamp = %v, want 2026-01-02T03:04:05.678Z", mail["timestamp"])
			}
		})
	}
}

func TestMinimalShape(t *testing.T) {
	b, err := goldenCases()["send-minimal"].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	mail := top["mail"].(map[string]any)
	sameKeys(t, "mail", mail, mailKeys)
	for k, want := range map[string]any{
		"destination":   []any{},
		"headers":       []any{},
		"commonHeaders": map[string]any{},
		"tags":          map[string]any{"ses:configuration-set": []any{"cs2"}},
	} {
		if !cmp.Equal(mail[k], want) {
			t.Errorf("mail.%s = %#v, want %#v", k, mail[k], want)
		}
	}
	if !cmp.Equal(top["send"], map[string]any{}) {
		t.Errorf("send = %#v, want {}", top["send"])
	}
}

func TestComplaintSubTypeNull(t *testing.T) {
	cases := goldenCases()
	for name, want := range map[string]any{"complaint": nil, "complaint-account-suppress": "OnAccountSuppressionList"} {
		b, err := cases[name].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var top struct{ Complaint map[string]any }
		if err := json.Unmarshal(b, &top); err != nil {
			t.Fatal(err)
		}
		got, ok := top.Complaint["complaintSubType"]
		if !ok || got != want {
			t.Errorf("%s: complaintSubType = %#v (present %v), want %#v", name, got, ok, want)
		}
	}
}

func TestNoHTMLEscaping(t *testing.T) {
	b, err := goldenCases()["send"].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"Alice Sender <alice@example.test>"`, `"Quarterly report & <figures>"`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("payload lacks %s:\n%s", s, b)
		}
	}
	// Through encoding/json the pointer's MarshalJSON is used too (HTML
	// escaped by json.Marshal, the same JSON value).
	e := goldenCases()["send"]
	viaPkg, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var a, c any
	json.Unmarshal(b, &a)
	json.Unmarshal(viaPkg, &c)
	if !cmp.Equal(a, c) {
		t.Errorf("json.Marshal(e) differs from e.MarshalJSON():\n%s\n%s", viaPkg, b)
	}
}

// msEqual compares times to the millisecond, the precision of the JSON.
var msEqual = cmp.Comparer(func(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
})

func TestRoundTrip(t *testing.T) {
	for name, e := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var got event.Event
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.AccountID != "" {
				t.Errorf("AccountID %q came out of the JSON", got.AccountID)
			}
			got.AccountID = e.AccountID
			want := *e
			if name == "send-minimal" {
				// The empty lists come back empty rather than nil, and the
				// configuration set as its tag.
				want.Mail.Destination, want.Mail.Headers = []string{}, []event.Header{}
				want.Mail.Tags = map[string][]string{event.TagConfigurationSet: {"cs2"}}
			}
			if diff := cmp.Diff(&want, &got, msEqual); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("decoded event does not validate: %v", err)
			}
			again, err := got.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("second encoding differs:\n%s\n%s", b, again)
			}
		})
	}
}

func TestUnmarshalNotificationFields(t *testing.T) {
	var e event.Event
	err := json.Unmarshal([]byte(`{"eventType":"Delivery","mail":{"timestamp":"2026-01-02T03:04:05.678Z","messageId":"m","sourceIp":"192.0.2.1","callerIdentity":"u","tags":{"ses:source-ip":["192.0.2.9"]}},
		"delivery":{"timestamp":"2026-01-02T03:04:06.000Z","recipients":["a@example.org"],"smtpResponse":"250 ok","extra":1},"unknown":true}`), &e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Mail.SourceIP != "192.0.2.1" || e.Mail.CallerIdentity != "u" {
		t.Errorf("SourceIP, CallerIdentity = %q, %q", e.Mail.SourceIP, e.Mail.CallerIdentity)
	}
	if e.Delivery == nil || e.Delivery.Timestamp != time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC) {
		t.Errorf("delivery = %+v", e.Delivery)
	}
	for _, bad := range []string{`{"eventType":"Opened","mail":{}}`, `{"eventType":"Send","mail":{"timestamp":"yesterday"}}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := func() *event.Event { return goldenCases()["bounce"] }
	for _, c := range []struct {
		name   string
		change func(e *event.Event)
		want   []string // substrings of the error
	}{
		{"no account", func(e *event.Event) { e.AccountID = "" }, []string{"no AccountID"}},
		{"no message id", func(e *event.Event) { e.Mail.MessageID = "" }, []string{"no Mail.MessageID", "(no message id)"}},
		{"no mail timestamp", func(e *event.Event) { e.Mail.Timestamp = time.Time{} }, []string{"no Mail.Timestamp"}},
		{"unknown type", func(e *event.Event) { e.Type = "Opened" }, []string{`unknown event type "Opened"`}},
		{"empty type", func(e *event.Event) { e.Type = "" }, []string{`unknown event type ""`}},
		{"no details", func(e *event.Event) { e.Bounce = nil }, []string{"no details (want Bounce)"}},
		{"two details", func(e *event.Event) { e.Send = &event.SendDetails{} }, []string{"several details: Send, Bounce"}},
		{"wrong details", func(e *event.Event) {
			e.Bounce, e.Delivery = nil, &event.DeliveryDetails{Timestamp: accepted, Recipients: []string{"a@b"}}
		},
			[]string{"Bounce event with Delivery details"}},
		{"bounce type", func(e *event.Event) { e.Bounce.BounceType = "Hard" }, []string{`bounce type "Hard"`}},
		{"bounce pair", func(e *event.Event) { e.Bounce.BounceType = "Transient" }, []string{`bounce subtype "NoEmail" does not go with bounce type Transient`}},
		{"bounce recipients", func(e *event.Event) { e.Bounce.BouncedRecipients = nil }, []string{"no bounced recipients"}},
		{"bounce recipient address", func(e *event.Event) { e.Bounce.BouncedRecipients[0].EmailAddress = "" }, []string{"bounced recipient 0 has no email address"}},
		{"bounce timestamp", func(e *event.Event) { e.Bounce.Timestamp = time.Time{} }, []string{"no bounce timestamp"}},
		{"configuration set tag", func(e *event.Event) { e.ConfigurationSet = "other" }, []string{`tag ses:configuration-set is ["cs1"] but ConfigurationSet is "other"`}},
		{"several problems", func(e *event.Event) { e.AccountID, e.Bounce.BounceType = "", "" }, []string{"no AccountID; ", `bounce type ""`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := valid()
			c.change(e)
			err := e.Validate()
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, merr := e.MarshalJSON(); !errors.Is(merr, event.ErrInvalid) {
				t.Errorf("MarshalJSON of an invalid event: %v", merr)
			}
		})
	}

	// Each type's required details fields.
	for _, c := range []struct {
		e    *event.Event
		want string
	}{
		{&event.Event{Type: event.Reject, Reject: &event.RejectDetails{}}, "no reject reason"},
		{&event.Event{Type: event.Delivery, Delivery: &event.DeliveryDetails{}}, "no delivery timestamp; no delivery recipients"},
		{&event.Event{Type: event.Delivery, Delivery: &event.DeliveryDetails{Timestamp: accepted, Recipients: []string{""}}}, "delivery recipient 0 is empty"},
		{&event.Event{Type: event.DeliveryDelay, DeliveryDelay: &event.DelayDetails{}}, "no delay type; no delay timestamp; no delay expiration time; no delayed recipients"},
		{&event.Event{Type: event.Complaint, Complaint: &event.ComplaintDetails{}}, "no complaint timestamp; no complained recipients"},
		{&event.Event{Type: event.RenderingFailure, Failure: &event.FailureDetails{}}, "no rendering failure error message"},
	} {
		e := c.e
		e.AccountID, e.Mail = testAccount, event.Mail{MessageID: "m", Timestamp: accepted}
		if err := e.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want %q", e.Type, err, c.want)
		}
	}
	if err := (*event.Event)(nil).Validate(); !errors.Is(err, event.ErrInvalid) {
		t.Errorf("nil event: %v", err)
	}
	for name, e := range goldenCases() {
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTypes(t *testing.T) {
	if len(event.Types) != 10 {
		t.Errorf("Types = %v", event.Types)
	}
	for _, ty := range event.Types {
		if !ty.Valid() {
			t.Errorf("%q not valid", ty)
		}
	}
	if event.RenderingFailure != "Rendering Failure" {
		t.Errorf("RenderingFailure = %q; SES spells it with a space", event.RenderingFailure)
	}
	for _, ty := range []event.Type{"", "send", "open", "RenderingFailure"} {
		if ty.Valid() {
			t.Errorf("%q valid", ty)
		}
	}
}

func TestAutoTags(t *testing.T) {
	var m event.Mail
	event.AutoTags(&m, "", "", "", "")
	if m.Tags != nil || m.SourceIP != "" || m.CallerIdentity != "" {
		t.Errorf("empty arguments changed m: %+v", m)
	}
	m.Tags = map[string][]string{"team": {"ops"}, event.TagFromDomain: {"old.example"}}
	event.AutoTags(&m, "cs", "example.test", "2001:db8::1", "AKIDUSER")
	want := map[string][]string{
		"team":                    {"ops"},
		event.TagConfigurationSet: {"cs"},
		event.TagFromDomain:       {"example.test"},
		event.TagSourceIP:         {"2001:db8::1"},
		event.TagCallerIdentity:   {"AKIDUSER"},
	}
	if diff := cmp.Diff(want, m.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if m.SourceIP != "2001:db8::1" || m.CallerIdentity != "AKIDUSER" {
		t.Errorf("SourceIP, CallerIdentity = %q, %q", m.SourceIP, m.CallerIdentity)
	}
	event.SetTag(&m, event.TagOutgoingIP, "198.51.100.7")
	event.SetTag(&m, event.TagOperation, "")
	if got := m.Tags[event.TagOutgoingIP]; !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("outgoing-ip = %q", got)
	}
	if _, ok := m.Tags[event.TagOperation]; ok {
		t.Error("SetTag with an empty value added the tag")
	}
}

func TestSetHeaders(t *testing.T) {
	small := []event.Header{{Name: "From", Value: "a@example.test"}, {Name: "Subject", Value: "hi"}}
	var m event.Mail
	m.HeadersTruncated = true
	event.SetHeaders(&m, small)
	if !slices.Equal(m.Headers, small) || m.HeadersTruncated {
		t.Errorf("small headers: %+v, truncated %v", m.Headers, m.HeadersTruncated)
	}

	// Fields of exactly 1 KB each ("X-N: " + value + CRLF): ten fit, the
	// eleventh does not, nor anything after it.
	var big []event.Header
	for range 12 {
		big = append(big, event.Header{Name: "X-N", Value: strings.Repeat("v", 1024-len("X-N: \r\n"))})
	}
	big[11].Value = "short"
	event.SetHeaders(&m, big)
	if len(m.Headers) != 10 || !m.HeadersTruncated {
		t.Errorf("big headers: kept %d, truncated %v; want 10, true", len(m.Headers), m.HeadersTruncated)
	}
	m.Headers = append(m.Headers, event.Header{Name: "Y", Value: "z"})
	if big[10].Name != "X-N" || big[10].Value == "z" {
		t.Error("appending to the truncated Headers overwrote the caller's slice")
	}
}

func TestNewFeedbackID(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	a, b := event.NewFeedbackID(now), event.NewFeedbackID(now)
	if a == b || len(a) != len("0100019a2b3c4d5e-")+36+len("-000000") || !strings.HasPrefix(a, fmt.Sprintf("%016x-", now.UnixMilli())) {
		t.Fatalf("NewFeedbackID = %q, %q", a, b)
	}
}

func TestComplaintFeedbackType(t *testing.T) {
	for in, want := range map[string]string{"": "", "abuse": "abuse", " Not-Spam ": "not-spam", "auth-failure": "auth-failure", "opt-out": "other", "made-up": "other"} {
		if got := event.ComplaintFeedbackType(in); got != want {
			t.Errorf("ComplaintFeedbackType(%q) = %q; want %q", in, got, want)
		}
	}
	e := &event.Event{Type: event.Complaint, AccountID: "1", Mail: event.Mail{Timestamp: time.Now(), MessageID: "m"},
		Complaint: &event.ComplaintDetails{ComplainedRecipients: []string{"a@b.example"}, Timestamp: time.Now(), ComplaintFeedbackType: "opt-out"}}
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "opt-out") {
		t.Errorf("Validate accepted feedback type opt-out: %v", err)
	}
}

// TestRenderingFailureInline: a failure of inline template content (v2
// TemplateContent) has no template name, and publishes none rather than "".
func TestRenderingFailureInline(t *testing.T) {
	e := &event.Event{Type: event.RenderingFailure, AccountID: testAccount, ConfigurationSet: "cs1", Mail: testMail(),
		Failure: &event.FailureDetails{ErrorMessage: "Attribute 'name' is not present in the rendering data."}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "templateName") || !strings.Contains(string(b), `"failure":{"errorMessage":`) {
		t.Errorf("inline rendering failure: %s", b)
	}
}
