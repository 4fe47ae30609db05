package sesv1_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/template"
)

// templateEnv is an API whose account is in production with example.test
// verified, a configuration set cs1 and a template "welcome" that uses
// name and plan.
func templateEnv(t *testing.T, d *db.DB) *apitest.Env {
	t.Helper()
	env := apitest.New(t, d)
	env.Production(t, "example.test", &template.Content{Subject: "Welcome, {{name}}", Text: "Hello {{name}}, plan {{plan}}."})
	if _, err := env.V1.CreateConfigurationSet(t.Context(), &ses.CreateConfigurationSetInput{ConfigurationSet: &types.ConfigurationSet{Name: aws.String("cs1")}}); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestSendTemplatedEmail: v1 SendTemplatedEmail through the SDK, its
// errors in SES's order, and a rendering failure answered with the
// MessageId of its Rendering Failure event.
func TestSendTemplatedEmail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := templateEnv(t, d)
		ctx := t.Context()
		in := func(data string) *ses.SendTemplatedEmailInput {
			return &ses.SendTemplatedEmailInput{Source: aws.String("a@example.test"), Destination: &types.Destination{ToAddresses: []string{"bob@example.org"}},
				ReplyToAddresses: []string{"replies@example.test"}, ConfigurationSetName: aws.String("cs1"),
				Tags:     []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
				Template: aws.String("welcome"), TemplateData: aws.String(data)}
		}
		out, err := env.V1.SendTemplatedEmail(ctx, in(`{"name":"Bob","plan":"gold"}`))
		if err != nil {
			t.Fatal(err)
		}
		b := env.Body(t, *out.MessageId)
		for _, want := range []string{"Subject: Welcome, Bob\r\n", "Hello Bob, plan gold.", "Reply-To: replies@example.test\r\n"} {
			if !strings.Contains(b, want) {
				t.Errorf("message lacks %q:\n%s", want, b)
			}
		}
		sends := env.Events(t, event.Send)
		if len(sends) != 1 || sends[0].ConfigurationSet != "cs1" || !slices.Equal(sends[0].Mail.Tags[event.TagOperation], []string{"SendTemplatedEmail"}) ||
			sends[0].Mail.CommonHeaders.Subject != "" {
			t.Errorf("Send events %+v", sends)
		}
		withArn := in(`{"name":"Bob","plan":"gold"}`)
		withArn.TemplateArn = aws.String(fmt.Sprintf("arn:aws:ses:%s:%s:template/welcome", apitest.Region, env.Account.ID))
		if _, err := env.V1.SendTemplatedEmail(ctx, withArn); err != nil {
			t.Errorf("with TemplateArn: %v", err)
		}
		queued := env.Queued(t)

		for _, c := range []struct {
			name string
			edit func(*ses.SendTemplatedEmailInput)
			code string
			msg  string
		}{
			{"unknown template", func(i *ses.SendTemplatedEmailInput) { i.Template = aws.String("nope") }, "TemplateDoesNotExist", "Template nope does not exist."},
			{"another account's ARN", func(i *ses.SendTemplatedEmailInput) {
				i.TemplateArn = aws.String("arn:aws:ses:us-east-1:999999999999:template/welcome")
			}, "TemplateDoesNotExist", ""},
			{"bad data", func(i *ses.SendTemplatedEmailInput) { i.TemplateData = aws.String(`{"name":`) }, "InvalidParameterValue", "TemplateData"},
			{"unknown set", func(i *ses.SendTemplatedEmailInput) { i.ConfigurationSetName = aws.String("nope") }, "ConfigurationSetDoesNotExist", ""},
			{"unknown set before unknown template", func(i *ses.SendTemplatedEmailInput) {
				i.ConfigurationSetName, i.Template = aws.String("nope"), aws.String("nope")
			}, "ConfigurationSetDoesNotExist", ""},
			{"unverified", func(i *ses.SendTemplatedEmailInput) { i.Source = aws.String("a@unverified.example") }, "MessageRejected", ""},
			{"bad address", func(i *ses.SendTemplatedEmailInput) { i.Destination.ToAddresses = []string{"bob"} }, "InvalidParameterValue", ""},
		} {
			i := in(`{"name":"Bob","plan":"gold"}`)
			c.edit(i)
			_, err := env.V1.SendTemplatedEmail(ctx, i)
			if apitest.Code(err) != c.code || !strings.Contains(fmt.Sprint(err), c.msg) {
				t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
			}
		}

		out, err = env.V1.SendTemplatedEmail(ctx, in(`{"name":"Bob"}`))
		if err != nil || out.MessageId == nil {
			t.Fatalf("rendering failure: %v", err)
		}
		fs := env.Events(t, event.RenderingFailure)
		if len(fs) != 1 || fs[0].Mail.MessageID != *out.MessageId || fs[0].ConfigurationSet != "cs1" || fs[0].Failure.TemplateName != "welcome" {
			t.Errorf("rendering failures %+v", fs)
		}
		if n := env.Queued(t); n != queued {
			t.Errorf("refused or failed sends queued %d messages", n-queued)
		}

		if err := env.Accounts.SetSendingEnabled(ctx, env.Account.ID, false); err != nil {
			t.Fatal(err)
		}
		i := in(`{}`)
		i.Template = aws.String("nope")
		if _, err := env.V1.SendTemplatedEmail(ctx, i); apitest.Code(err) != "AccountSendingPausedException" {
			t.Errorf("paused: %v", err)
		}
	})
}

// TestSendBulkTemplatedEmail: per-destination data and tags, a bad
// destination and a rendering failure among good ones, statuses in order,
// request-level errors, and isolation of templates between accounts.
func TestSendBulkTemplatedEmail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := templateEnv(t, d)
		ctx := t.Context()
		dest := func(to, data string, tags ...string) types.BulkEmailDestination {
			b := types.BulkEmailDestination{Destination: &types.Destination{ToAddresses: []string{to}}}
			if data != "" {
				b.ReplacementTemplateData = aws.String(data)
			}
			for i := 0; i < len(tags); i += 2 {
				b.ReplacementTags = append(b.ReplacementTags, types.MessageTag{Name: aws.String(tags[i]), Value: aws.String(tags[i+1])})
			}
			return b
		}
		in := func(ds ...types.BulkEmailDestination) *ses.SendBulkTemplatedEmailInput {
			return &ses.SendBulkTemplatedEmailInput{Source: aws.String("a@example.test"), ConfigurationSetName: aws.String("cs1"), Template: aws.String("welcome"),
				DefaultTags:         []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
				DefaultTemplateData: aws.String(`{"plan":"basic"}`), Destinations: ds}
		}
		out, err := env.V1.SendBulkTemplatedEmail(ctx, in(
			dest("ann@example.org", `{"name":"Ann"}`),
			dest("bob@", ""),
			dest("carol@example.org", `{"name":"Carol","plan":"gold"}`, "campaign", "vip"),
			dest("dan@example.org", ""),    // the default data has no name
			dest("eve@example.org", "[1]"), // data that is not an object: this destination's error only
		))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range out.Status {
			got = append(got, string(s.Status))
		}
		if want := []string{"Success", "InvalidParameterValue", "Success", "Failed", "InvalidParameterValue"}; !slices.Equal(got, want) {
			t.Fatalf("statuses %v, want %v", got, want)
		}
		st := out.Status
		if st[1].MessageId != nil || aws.ToString(st[1].Error) == "" || st[3].MessageId == nil || !strings.Contains(aws.ToString(st[3].Error), "name") {
			t.Errorf("statuses %+v %+v", st[1], st[3])
		}
		if st[4].MessageId != nil || !strings.Contains(aws.ToString(st[4].Error), "Destinations[4].ReplacementTemplateData") {
			t.Errorf("bad data status %+v", st[4])
		}
		if b := env.Body(t, *st[0].MessageId); !strings.Contains(b, "Hello Ann, plan basic.") {
			t.Errorf("Ann's message:\n%s", b)
		}
		if b := env.Body(t, *st[2].MessageId); !strings.Contains(b, "Hello Carol, plan gold.") {
			t.Errorf("Carol's message:\n%s", b)
		}
		tags := map[string][]string{}
		for _, ev := range env.Events(t, event.Send) {
			tags[ev.Mail.MessageID] = slices.Concat(ev.Mail.Tags["campaign"], ev.Mail.Tags[event.TagOperation])
		}
		if !slices.Equal(tags[*st[0].MessageId], []string{"spring", "SendBulkTemplatedEmail"}) || !slices.Equal(tags[*st[2].MessageId], []string{"vip", "SendBulkTemplatedEmail"}) {
			t.Errorf("tags %v", tags)
		}
		fs := env.Events(t, event.RenderingFailure)
		if len(fs) != 1 || fs[0].Mail.MessageID != *st[3].MessageId {
			t.Errorf("rendering failures %+v", fs)
		}

		queued := env.Queued(t)
		many := make([]types.BulkEmailDestination, 51)
		for i := range many {
			many[i] = dest(fmt.Sprintf("r%d@example.org", i), "")
		}
		for _, c := range []struct {
			name string
			in   *ses.SendBulkTemplatedEmailInput
			code string
		}{
			{"51 destinations", in(many...), "InvalidParameterValue"},
			{"bad default data", func() *ses.SendBulkTemplatedEmailInput {
				i := in(dest("a@example.org", ""))
				i.DefaultTemplateData = aws.String("{nope")
				return i
			}(), "InvalidParameterValue"},
			{"bad default tags", func() *ses.SendBulkTemplatedEmailInput {
				i := in(dest("a@example.org", ""))
				i.DefaultTags[0].Name = aws.String("bad name")
				return i
			}(), "InvalidParameterValue"},
			{"unknown template", func() *ses.SendBulkTemplatedEmailInput {
				i := in(dest("a@example.org", ""))
				i.Template = aws.String("nope")
				return i
			}(), "TemplateDoesNotExist"},
			{"unknown set", func() *ses.SendBulkTemplatedEmailInput {
				i := in(dest("a@example.org", ""))
				i.ConfigurationSetName = aws.String("nope")
				return i
			}(), "ConfigurationSetDoesNotExist"},
		} {
			if _, err := env.V1.SendBulkTemplatedEmail(ctx, c.in); apitest.Code(err) != c.code {
				t.Errorf("%s: %v, want %s", c.name, err, c.code)
			}
		}
		if err := env.Accounts.SetSendingEnabled(ctx, env.Account.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V1.SendBulkTemplatedEmail(ctx, in(dest("a@example.org", ""))); apitest.Code(err) != "AccountSendingPausedException" {
			t.Errorf("paused: %v", err)
		}
		if n := env.Queued(t); n != queued {
			t.Errorf("refused bulk sends queued %d messages", n-queued)
		}

		// Another account has no template "welcome".
		other, otherV1, _ := env.Other(t, "other")
		if _, err := otherV1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("other.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerifiedIn(t, other.ID, "other.test")
		oi := in(dest("o@other.test", ""))
		oi.Source, oi.ConfigurationSetName = aws.String("o@other.test"), nil
		if _, err := otherV1.SendBulkTemplatedEmail(ctx, oi); apitest.Code(err) != "TemplateDoesNotExist" {
			t.Errorf("another account's template: %v", err)
		}
	})
}
