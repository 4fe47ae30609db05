package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sesv1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
)

// TestBulkSend is the bulk scenario: 100 entries sent as two
// SendBulkEmail calls of 50 (SES's limit per call), one entry's data
// breaking the template → 99 deliveries at the recipients' MX, one
// Rendering Failure event published through the configuration set's SNS
// destination to an HTTP subscriber, and per-entry statuses in the
// responses. Then v1 SendBulkTemplatedEmail with per-destination data and
// tags, where a bad address does not sink the others; and another
// account does not see the template.
func TestBulkSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx, api := startSending(t, d, 1000)
		ctx := context.Background()
		if _, err := r.v2.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("welcome"),
			TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Welcome, {{name}}"), Text: aws.String("Hello {{name}}, your plan is {{plan}}."),
				Html: aws.String("<p>Hello {{name}}</p>")}}); err != nil {
			t.Fatal(err)
		}

		// A configuration set whose SNS destination takes Rendering
		// Failure events, to a confirmed HTTP subscriber.
		sns := snsClientAt("http://"+api, r.key.AccessKeyID, r.key.Secret)
		topic, err := sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("ses-failures")})
		if err != nil {
			t.Fatal(err)
		}
		sub := newSNSSubscriber(t)
		if _, err := sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "subscription confirmed", func() error {
			a, err := sns.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: topic.TopicArn})
			if err == nil && a.Attributes["SubscriptionsConfirmed"] != "1" {
				err = fmt.Errorf("attributes %v", a.Attributes)
			}
			return err
		})
		if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("bulk")}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
			ConfigurationSetName: aws.String("bulk"), EventDestinationName: aws.String("sns"),
			EventDestination: &types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: []types.EventType{types.EventTypeRenderingFailure},
				SnsDestination: &types.SnsDestination{TopicArn: topic.TopicArn}},
		}); err != nil {
			t.Fatal(err)
		}

		// 100 entries in two calls of 50; entry 57's data has no name.
		const bad = 57
		var results []types.BulkEmailEntryResult
		for call := range 2 {
			var entries []types.BulkEmailEntry
			for i := call * 50; i < call*50+50; i++ {
				data := fmt.Sprintf(`{"name":"R%d"}`, i)
				if i == bad {
					data = `{"nom":"R57"}`
				}
				entries = append(entries, types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{fmt.Sprintf("r%d@rcpt.test", i)}},
					ReplacementEmailContent: &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(data)}}})
			}
			out, err := r.v2.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@example.test"), ConfigurationSetName: aws.String("bulk"),
				DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"plan":"basic"}`)}},
				BulkEmailEntries: entries})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.BulkEmailEntryResults) != 50 {
				t.Fatalf("call %d: %d results", call, len(out.BulkEmailEntryResults))
			}
			results = append(results, out.BulkEmailEntryResults...)
		}
		for i, res := range results {
			want := types.BulkEmailStatusSuccess
			if i == bad {
				want = types.BulkEmailStatusFailed
			}
			if res.Status != want || res.MessageId == nil {
				t.Fatalf("entry %d: %s %v %v, want %s with a MessageId", i, res.Status, aws.ToString(res.Error), res.MessageId, want)
			}
		}
		if got := aws.ToString(results[bad].Error); got != "Attribute 'name' is not present in the rendering data." {
			t.Errorf("entry %d's error %q", bad, got)
		}

		// The MX also gets Sesame's own mail to the account owner
		// (owner@rcpt.test).
		mailTo := func(prefix string) []received {
			var out []received
			for _, m := range mx.all() {
				if strings.HasPrefix(m.To[0], prefix) {
					out = append(out, m)
				}
			}
			return out
		}
		eventually(t, "99 deliveries", func() error {
			if n := len(mailTo("r")); n != 99 {
				return fmt.Errorf("%d messages at the MX", n)
			}
			return nil
		})
		seen := map[string]bool{}
		for _, m := range mailTo("r") {
			if len(m.To) != 1 {
				t.Fatalf("message to %v", m.To)
			}
			var i int
			if _, err := fmt.Sscanf(m.To[0], "r%d@rcpt.test", &i); err != nil || i == bad || seen[m.To[0]] {
				t.Fatalf("unexpected delivery to %s", m.To[0])
			}
			seen[m.To[0]] = true
			if want := fmt.Sprintf("Hello R%d, your plan is basic.", i); !bytes.Contains(m.Data, []byte(want)) {
				t.Errorf("message to %s lacks %q", m.To[0], want)
			}
		}

		var failure map[string]any
		eventually(t, "the Rendering Failure event at the subscriber", func() error {
			var fs []map[string]any
			for _, n := range sub.notifications() {
				var ev map[string]any
				if json.Unmarshal([]byte(n["Message"]), &ev) == nil && ev["eventType"] == "Rendering Failure" {
					fs = append(fs, ev)
				}
			}
			if len(fs) != 1 {
				return fmt.Errorf("%d Rendering Failure notifications", len(fs))
			}
			failure = fs[0]
			return nil
		})
		mail, _ := failure["mail"].(map[string]any)
		f, _ := failure["failure"].(map[string]any)
		if mail["messageId"] != *results[bad].MessageId || f["templateName"] != "welcome" || f["errorMessage"] != *results[bad].Error ||
			fmt.Sprint(mail["destination"]) != "[r57@rcpt.test]" {
			t.Errorf("Rendering Failure event %v", failure)
		}

		// v1: per-destination data and tags; a bad address is its
		// destination's status only.
		v1out, err := r.v1.SendBulkTemplatedEmail(ctx, &ses.SendBulkTemplatedEmailInput{Source: aws.String("news@example.test"), Template: aws.String("welcome"),
			DefaultTemplateData: aws.String(`{"name":"friend","plan":"basic"}`),
			DefaultTags:         []sesv1types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
			Destinations: []sesv1types.BulkEmailDestination{
				{Destination: &sesv1types.Destination{ToAddresses: []string{"ann@rcpt.test"}}, ReplacementTemplateData: aws.String(`{"name":"Ann"}`)},
				{Destination: &sesv1types.Destination{ToAddresses: []string{"nobody@@rcpt.test"}}},
				{Destination: &sesv1types.Destination{ToAddresses: []string{"bob@rcpt.test"}}, ReplacementTemplateData: aws.String(`{"plan":"gold"}`),
					ReplacementTags: []sesv1types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("vip")}}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		var statuses []string
		for _, s := range v1out.Status {
			statuses = append(statuses, string(s.Status))
		}
		if !slices.Equal(statuses, []string{"Success", "InvalidParameterValue", "Success"}) {
			t.Fatalf("v1 statuses %v", statuses)
		}
		want := map[string]string{"ann@rcpt.test": "Hello Ann, your plan is basic.", "bob@rcpt.test": "Hello friend, your plan is gold."}
		eventually(t, "v1 deliveries", func() error {
			got := slices.Concat(mailTo("ann@"), mailTo("bob@"))
			if len(got) != 2 {
				return fmt.Errorf("%d new messages", len(got))
			}
			for _, m := range got {
				if !bytes.Contains(m.Data, []byte(want[m.To[0]])) {
					return fmt.Errorf("message to %v lacks %q", m.To, want[m.To[0]])
				}
			}
			return nil
		})
		for k, wantTag := range map[int]string{0: "spring", 2: "vip"} {
			evs := messageEvents(t, r, *v1out.Status[k].MessageId)
			if len(evs) == 0 || evs[0].Type != event.Send || !slices.Equal(evs[0].Mail.Tags["campaign"], []string{wantTag}) ||
				!slices.Equal(evs[0].Mail.Tags[event.TagOperation], []string{"SendBulkTemplatedEmail"}) {
				t.Errorf("destination %d's Send event: %+v", k, evs)
			}
		}

		// Another account: no template "welcome".
		_, key, err := r.app.Accounts.Create(ctx, account.CreateOptions{Name: "other", Email: "other@rcpt.test"})
		if err != nil {
			t.Fatal(err)
		}
		ov1, ov2 := clients("http://"+api, key.AccessKeyID, key.Secret)
		_, err = ov2.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@other.test"),
			DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("welcome")}},
			BulkEmailEntries: []types.BulkEmailEntry{{Destination: &types.Destination{ToAddresses: []string{"x@rcpt.test"}}}}})
		if code := apiCode(err); code != "NotFoundException" {
			t.Errorf("another account's v2 bulk send: %v", err)
		}
		_, err = ov1.SendTemplatedEmail(ctx, &ses.SendTemplatedEmailInput{Source: aws.String("news@other.test"), Template: aws.String("welcome"), TemplateData: aws.String("{}"),
			Destination: &sesv1types.Destination{ToAddresses: []string{"x@rcpt.test"}}})
		if code := apiCode(err); code != "TemplateDoesNotExist" {
			t.Errorf("another account's v1 templated send: %v", err)
		}
	})
}

// startSending starts Sesame with its public URL known in advance (for
// SNS links) and SNS allowed to reach loopback subscribers, a recipient
// domain rcpt.test whose MX is mx (a loopback sink), example.test verified,
// and the account in production at rate messages a second; more change
// the configuration further.
func startSending(t *testing.T, d *db.DB, rate float64, more ...func(*cfgT)) (r *running, mx *sink, api string) {
	t.Helper()
	mx = newSink(t)
	api = freeAddr(t)
	r = startWith(t, d, func(c *cfgT) {
		c.APIAddr, c.PublicURL = api, "http://"+api
		c.OutboundPort = mx.port(t)
		c.SNSAllowPrivateEndpoints = true // the subscribers are on loopback
		for _, f := range more {
			f(c)
		}
	})
	r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
	r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
	verifyDomain(t, r, "example.test")
	if err := r.app.Accounts.SetProduction(context.Background(), r.acct.ID, 50000, rate); err != nil {
		t.Fatal(err)
	}
	return r, mx, api
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return strings.TrimSpace(fmt.Sprint(err))
}
