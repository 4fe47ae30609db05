package sesv2_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/template"
)

// templateEnv is an API whose account is in production with example.test
// verified and a template "welcome" that uses name and plan.
func templateEnv(t *testing.T, d *db.DB) *apitest.Env {
	t.Helper()
	env := apitest.New(t, d)
	env.Production(t, "example.test", &template.Content{Subject: "Welcome, {{name}}", Text: "Hello {{name}}, plan {{plan}}.", HTML: "<p>Hello {{name}}</p>"})
	return env
}

// TestSendEmailTemplate: v2 SendEmail with Content.Template — stored by
// name or ARN, inline content, headers and attachments — and its errors.
func TestSendEmailTemplate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := templateEnv(t, d)
		ctx := t.Context()
		send := func(from string, tmpl *types.Template) (*sesv2.SendEmailOutput, error) {
			in := &sesv2.SendEmailInput{Destination: &types.Destination{ToAddresses: []string{"bob@example.org"}},
				Content: &types.EmailContent{Template: tmpl}, ConfigurationSetName: nil}
			if from != "" {
				in.FromEmailAddress = aws.String(from)
			}
			return env.V2.SendEmail(ctx, in)
		}
		data := aws.String(`{"name":"Bob","plan":"gold"}`)

		out, err := send("a@example.test", &types.Template{TemplateName: aws.String("welcome"), TemplateData: data,
			Headers:     []types.MessageHeader{{Name: aws.String("X-Campaign"), Value: aws.String("spring")}},
			Attachments: []types.Attachment{{FileName: aws.String("terms.txt"), RawContent: []byte("the terms")}}})
		if err != nil {
			t.Fatal(err)
		}
		b := env.Body(t, *out.MessageId)
		for _, want := range []string{"Subject: Welcome, Bob\r\n", "X-Campaign: spring\r\n", "Hello Bob, plan gold.", "<p>Hello Bob</p>", "terms.txt"} {
			if !strings.Contains(b, want) {
				t.Errorf("message lacks %q:\n%s", want, b)
			}
		}
		arn := fmt.Sprintf("arn:aws:ses:%s:%s:template/welcome", apitest.Region, env.Account.ID)
		if _, err := send("a@example.test", &types.Template{TemplateArn: aws.String(arn), TemplateData: data}); err != nil {
			t.Errorf("by ARN: %v", err)
		}
		out, err = send("a@example.test", &types.Template{TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Inline {{name}}"), Text: aws.String("{{name}}")},
			TemplateData: data})
		if err != nil || !strings.Contains(env.Body(t, *out.MessageId), "Subject: Inline Bob\r\n") {
			t.Errorf("inline: %v", err)
		}
		// An inline template may be larger than a stored one: 1 MB, not 500 KB.
		big := strings.Repeat("x", template.MaxTemplateBytes)
		if _, err := send("a@example.test", &types.Template{TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Big {{name}}"), Text: aws.String(big), Html: aws.String(big)},
			TemplateData: data}); err != nil {
			t.Errorf("inline template of 1000 KB: %v", err)
		}
		queued := env.Queued(t)

		for _, c := range []struct {
			name, from string
			tmpl       *types.Template
			code, msg  string
		}{
			{"no source", "", &types.Template{TemplateName: aws.String("welcome"), TemplateData: data}, "BadRequestException", "Source cannot be empty"},
			{"unknown", "a@example.test", &types.Template{TemplateName: aws.String("nope"), TemplateData: data}, "NotFoundException", "Template nope does not exist."},
			{"other account's ARN", "a@example.test", &types.Template{TemplateArn: aws.String("arn:aws:ses:us-east-1:999999999999:template/welcome"), TemplateData: data}, "NotFoundException", ""},
			{"other region's ARN", "a@example.test", &types.Template{TemplateArn: aws.String("arn:aws:ses:eu-west-1:" + env.Account.ID + ":template/welcome"), TemplateData: data}, "NotFoundException", ""},
			{"ARN and another name", "a@example.test", &types.Template{TemplateName: aws.String("other"), TemplateArn: aws.String(arn), TemplateData: data}, "BadRequestException", ""},
			{"name and content", "a@example.test", &types.Template{TemplateName: aws.String("welcome"), TemplateContent: &types.EmailTemplateContent{Text: aws.String("x")}}, "BadRequestException", ""},
			{"neither", "a@example.test", &types.Template{TemplateData: data}, "BadRequestException", ""},
			{"bad data", "a@example.test", &types.Template{TemplateName: aws.String("welcome"), TemplateData: aws.String(`["not an object"]`)}, "BadRequestException", ""},
			{"bad inline", "a@example.test", &types.Template{TemplateContent: &types.EmailTemplateContent{Text: aws.String("{{#if}}")}}, "BadRequestException", ""},
			{"inline over 1 MB", "a@example.test", &types.Template{TemplateContent: &types.EmailTemplateContent{Text: aws.String(big), Html: aws.String(big + strings.Repeat("x", template.MaxInlineTemplateBytes-2*template.MaxTemplateBytes+1))}}, "BadRequestException", "too large"},
			{"unverified", "a@unverified.example", &types.Template{TemplateName: aws.String("welcome"), TemplateData: data}, "MessageRejected", ""},
		} {
			_, err := send(c.from, c.tmpl)
			if apitest.Code(err) != c.code || (c.msg != "" && !strings.Contains(err.Error(), c.msg)) {
				t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
			}
		}
		if n := env.Queued(t); n != queued {
			t.Errorf("refused sends queued %d messages", n-queued)
		}

		// A rendering failure is not an error of the call: the MessageId,
		// nothing queued, a Rendering Failure event.
		out, err = send("a@example.test", &types.Template{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"name":"Bob"}`)})
		if err != nil || out.MessageId == nil {
			t.Fatalf("rendering failure: %v", err)
		}
		if n := env.Queued(t); n != queued {
			t.Errorf("a rendering failure queued a message")
		}
		fs := env.Events(t, event.RenderingFailure)
		if len(fs) != 1 || fs[0].Mail.MessageID != *out.MessageId || fs[0].Failure.TemplateName != "welcome" ||
			fs[0].Failure.ErrorMessage != "Attribute 'plan' is not present in the rendering data." {
			t.Errorf("rendering failure events %+v", fs)
		}

		// SES's order: a paused account before an unknown template.
		if err := env.Accounts.SetSendingEnabled(ctx, env.Account.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := send("a@example.test", &types.Template{TemplateName: aws.String("nope"), TemplateData: data}); apitest.Code(err) != "SendingPausedException" {
			t.Errorf("paused: %v", err)
		}
	})
}

// TestSendBulkEmail: per-entry data, tags and headers; one bad entry and
// one that fails to render do not sink the others; statuses in order;
// request-level errors; another account's template is not found.
func TestSendBulkEmail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := templateEnv(t, d)
		ctx := t.Context()
		if _, err := env.V2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs1")}); err != nil {
			t.Fatal(err)
		}
		entry := func(to, data string, tags ...string) types.BulkEmailEntry {
			e := types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{to}}}
			if data != "" {
				e.ReplacementEmailContent = &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(data)}}
			}
			for i := 0; i < len(tags); i += 2 {
				e.ReplacementTags = append(e.ReplacementTags, types.MessageTag{Name: aws.String(tags[i]), Value: aws.String(tags[i+1])})
			}
			return e
		}
		input := func(entries ...types.BulkEmailEntry) *sesv2.SendBulkEmailInput {
			return &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("a@example.test"), ConfigurationSetName: aws.String("cs1"),
				DefaultEmailTags: []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
				DefaultContent: &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"name":"friend","plan":"basic"}`),
					Headers: []types.MessageHeader{{Name: aws.String("X-Kind"), Value: aws.String("default")}, {Name: aws.String("X-Keep"), Value: aws.String("kept")}}}},
				BulkEmailEntries: entries}
		}
		in := input(
			entry("ann@example.org", `{"name":"Ann"}`),
			entry("not an address", ""),
			entry("bob@example.org", `{"plan":"gold"}`, "campaign", "vip"),
			entry("carol@example.org", `{"name":{"first":"Carol"}}`), // renders, an object prints as [object]
			entry("dan@example.org", ""),
			entry("eve@example.org", "{nope"), // data that does not parse: this entry's error only
		)
		in.BulkEmailEntries[4].ReplacementHeaders = []types.MessageHeader{{Name: aws.String("x-kind"), Value: aws.String("dan's")}}
		in.DefaultContent.Template.TemplateData = aws.String(`{"name":"friend","plan":"basic"}`)
		out, err := env.V2.SendBulkEmail(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.BulkEmailEntryResults {
			got = append(got, string(r.Status))
		}
		if want := []string{"SUCCESS", "INVALID_PARAMETER", "SUCCESS", "SUCCESS", "SUCCESS", "INVALID_PARAMETER"}; !slices.Equal(got, want) {
			t.Fatalf("statuses %v, want %v (%+v)", got, want, out.BulkEmailEntryResults)
		}
		rs := out.BulkEmailEntryResults
		if rs[1].MessageId != nil || rs[1].Error == nil || *rs[1].Error != "Missing final '@domain'" {
			t.Errorf("bad entry result %+v", rs[1])
		}
		if rs[5].MessageId != nil || !strings.Contains(aws.ToString(rs[5].Error), "BulkEmailEntries[5].ReplacementEmailContent.ReplacementTemplate.ReplacementTemplateData") {
			t.Errorf("bad data entry result %s", jsonOf(rs[5]))
		}
		ann, bob, dan := env.Body(t, *rs[0].MessageId), env.Body(t, *rs[2].MessageId), env.Body(t, *rs[4].MessageId)
		for _, c := range []struct{ body, want string }{
			{ann, "Hello Ann, plan basic."}, {bob, "Hello friend, plan gold."}, {ann, "X-Kind: default\r\n"},
			{dan, "x-kind: dan's\r\n"}, {dan, "X-Keep: kept\r\n"},
		} {
			if !strings.Contains(c.body, c.want) {
				t.Errorf("message lacks %q:\n%s", c.want, c.body)
			}
		}
		if strings.Contains(dan, "X-Kind: default") {
			t.Error("replacement header did not replace the template's")
		}
		tags := map[string]string{}
		for _, ev := range env.Events(t, event.Send) {
			tags[ev.Mail.MessageID] = strings.Join(ev.Mail.Tags["campaign"], ",") + " " + strings.Join(ev.Mail.Tags[event.TagOperation], ",")
		}
		if tags[*rs[0].MessageId] != "spring SendBulkEmail" || tags[*rs[2].MessageId] != "vip SendBulkEmail" {
			t.Errorf("tags by message %v", tags)
		}

		// A rendering failure: FAILED with the error and the MessageId of
		// its event; the others are sent.
		in = input(entry("ann@example.org", `{"name":"Ann"}`), entry("bob@example.org", `{}`))
		in.DefaultContent.Template.TemplateData = aws.String(`{"plan":"basic"}`)
		out, err = env.V2.SendBulkEmail(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		rs = out.BulkEmailEntryResults
		if rs[0].Status != types.BulkEmailStatusSuccess || rs[1].Status != types.BulkEmailStatusFailed || rs[1].MessageId == nil ||
			aws.ToString(rs[1].Error) != "Attribute 'name' is not present in the rendering data." {
			t.Fatalf("results %s", jsonOf(rs))
		}
		fs := env.Events(t, event.RenderingFailure)
		if len(fs) != 1 || fs[0].Mail.MessageID != *rs[1].MessageId || fs[0].ConfigurationSet != "cs1" {
			t.Errorf("rendering failure events %s", jsonOf(fs))
		}

		// Request-level errors.
		queued := env.Queued(t)
		many := make([]types.BulkEmailEntry, 51)
		for i := range many {
			many[i] = entry(fmt.Sprintf("r%d@example.org", i), "")
		}
		for _, c := range []struct {
			name string
			in   *sesv2.SendBulkEmailInput
			code string
		}{
			{"51 entries", input(many...), "BadRequestException"},
			{"no entries", input([]types.BulkEmailEntry{}...), "BadRequestException"},
			{"no source", func() *sesv2.SendBulkEmailInput {
				i := input(entry("a@example.org", ""))
				i.FromEmailAddress = nil
				return i
			}(), "BadRequestException"},
			{"bad default data", func() *sesv2.SendBulkEmailInput {
				i := input(entry("a@example.org", ""))
				i.DefaultContent.Template.TemplateData = aws.String("{nope")
				return i
			}(), "BadRequestException"},
			{"unknown set", func() *sesv2.SendBulkEmailInput {
				i := input(entry("a@example.org", ""))
				i.ConfigurationSetName = aws.String("nope")
				return i
			}(), "NotFoundException"},
			{"unknown template", func() *sesv2.SendBulkEmailInput {
				i := input(entry("a@example.org", ""))
				i.DefaultContent.Template.TemplateName = aws.String("nope")
				return i
			}(), "NotFoundException"},
		} {
			if _, err := env.V2.SendBulkEmail(ctx, c.in); apitest.Code(err) != c.code {
				t.Errorf("%s: %v, want %s", c.name, err, c.code)
			}
		}
		// EndpointId: the SDK signs such a request with SigV4a, which the
		// front door refuses; signed with SigV4, the operation refuses it.
		resp, b := env.Signed(t, "POST", "/v2/email/outbound-bulk-emails", "application/json",
			[]byte(`{"FromEmailAddress":"a@example.test","EndpointId":"abc.def","DefaultContent":{"Template":{"TemplateName":"welcome"}},`+
				`"BulkEmailEntries":[{"Destination":{"ToAddresses":["a@example.org"]}}]}`))
		if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != "BadRequestException" {
			t.Errorf("EndpointId: %d %s %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), b)
		}
		if n := env.Queued(t); n != queued {
			t.Errorf("refused bulk sends queued %d messages", n-queued)
		}

		// Isolation: another account has no template "welcome".
		other, _, otherV2 := env.Other(t, "other")
		if err := env.Accounts.SetProduction(ctx, other.ID, -1, 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := otherV2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("other.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerifiedIn(t, other.ID, "other.test")
		oi := input(entry("a@example.org", ""))
		oi.FromEmailAddress, oi.ConfigurationSetName = aws.String("o@other.test"), nil
		if _, err := otherV2.SendBulkEmail(ctx, oi); apitest.Code(err) != "NotFoundException" {
			t.Errorf("another account's template: %v", err)
		}
	})
}

// TestSendBulkEmailSandbox: in the sandbox, an unverified recipient is
// that entry's MESSAGE_REJECTED.
func TestSendBulkEmailSandbox(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := templateEnv(t, d)
		ctx := t.Context()
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, 200, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := env.DB.Exec(ctx, `UPDATE accounts SET sandbox = ? WHERE id = ?`, true, env.Account.ID); err != nil {
			t.Fatal(err)
		}
		out, err := env.V2.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("a@example.test"),
			DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"name":"x","plan":"y"}`)}},
			BulkEmailEntries: []types.BulkEmailEntry{{Destination: &types.Destination{ToAddresses: []string{"stranger@example.org"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if r := out.BulkEmailEntryResults[0]; r.Status != types.BulkEmailStatusMessageRejected || !strings.Contains(aws.ToString(r.Error), "stranger@example.org") {
			t.Errorf("result %s", jsonOf(r))
		}
	})
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
