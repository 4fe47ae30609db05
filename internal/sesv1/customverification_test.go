package sesv1_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestCustomVerificationV1: the five template actions and
// SendCustomVerificationEmail through the SDK's ses client, with SES's v1
// codes.
func TestCustomVerificationV1(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		create := func(name, from, content string) error {
			_, err := env.V1.CreateCustomVerificationEmailTemplate(ctx, &ses.CreateCustomVerificationEmailTemplateInput{
				TemplateName: aws.String(name), FromEmailAddress: aws.String(from), TemplateSubject: aws.String("Confirm your address"),
				TemplateContent:       aws.String(content),
				SuccessRedirectionURL: aws.String("https://app.example.test/ok"), FailureRedirectionURL: aws.String("https://app.example.test/failed"),
			})
			return err
		}
		const content = "<html><body><h1>Welcome to Example</h1><p>One last step.</p></body></html>"
		if got := apitest.Code(create("welcome", "hello@example.test", content)); got != "FromEmailAddressNotVerified" {
			t.Fatalf("unverified from: %s", got)
		}
		if _, err := env.V1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		if err := create("welcome", "hello@example.test", content); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			err  error
			code string
		}{
			{create("welcome", "hello@example.test", content), "CustomVerificationEmailTemplateAlreadyExists"},
			{create("linked", "hello@example.test", "<a href='https://x.test'>x</a>"), "CustomVerificationEmailInvalidContent"},
			{create("commented", "hello@example.test", "<p>x</p><!-- x -->"), "CustomVerificationEmailInvalidContent"},
			{create("bad name!", "hello@example.test", content), "InvalidParameterValue"},
		} {
			if got := apitest.Code(c.err); got != c.code {
				t.Errorf("want %s, got %s (%v)", c.code, got, c.err)
			}
		}

		got, err := env.V1.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
		if err != nil || aws.ToString(got.TemplateContent) != content || aws.ToString(got.FromEmailAddress) != "hello@example.test" ||
			aws.ToString(got.SuccessRedirectionURL) != "https://app.example.test/ok" || aws.ToString(got.TemplateSubject) != "Confirm your address" {
			t.Fatalf("Get: %+v %v", got, err)
		}
		_, err = env.V1.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("nope")})
		if apitest.Code(err) != "CustomVerificationEmailTemplateDoesNotExist" {
			t.Fatalf("Get unknown: %v", err)
		}
		// Update: only the name is required; the rest is kept.
		if _, err := env.V1.UpdateCustomVerificationEmailTemplate(ctx, &ses.UpdateCustomVerificationEmailTemplateInput{
			TemplateName: aws.String("welcome"), TemplateSubject: aws.String("Confirm, please")}); err != nil {
			t.Fatal(err)
		}
		got, _ = env.V1.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
		if aws.ToString(got.TemplateSubject) != "Confirm, please" || aws.ToString(got.TemplateContent) != content {
			t.Fatalf("after Update: %+v", got)
		}
		for _, c := range []struct {
			in   ses.UpdateCustomVerificationEmailTemplateInput
			code string
		}{
			{ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("nope"), TemplateSubject: aws.String("x")}, "CustomVerificationEmailTemplateDoesNotExist"},
			{ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"), FromEmailAddress: aws.String("a@elsewhere.test")}, "FromEmailAddressNotVerified"},
			{ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"), TemplateContent: aws.String("<script>x</script>")}, "CustomVerificationEmailInvalidContent"},
			{ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"), SuccessRedirectionURL: aws.String("app.example.test/ok")}, "InvalidParameterValue"},
		} {
			if _, err := env.V1.UpdateCustomVerificationEmailTemplate(ctx, &c.in); apitest.Code(err) != c.code {
				t.Errorf("Update %+v: want %s, got %v", c.in, c.code, err)
			}
		}

		// List: pages; MaxResults out of range gives pages of 50.
		for _, n := range []string{"a", "b"} {
			if err := create(n, "hello@example.test", content); err != nil {
				t.Fatal(err)
			}
		}
		l, err := env.V1.ListCustomVerificationEmailTemplates(ctx, &ses.ListCustomVerificationEmailTemplatesInput{MaxResults: aws.Int32(2)})
		if err != nil || len(l.CustomVerificationEmailTemplates) != 2 || l.NextToken == nil || aws.ToString(l.CustomVerificationEmailTemplates[0].TemplateName) != "a" ||
			aws.ToString(l.CustomVerificationEmailTemplates[0].FailureRedirectionURL) != "https://app.example.test/failed" {
			t.Fatalf("List page 1: %+v %v", l, err)
		}
		l, err = env.V1.ListCustomVerificationEmailTemplates(ctx, &ses.ListCustomVerificationEmailTemplatesInput{MaxResults: aws.Int32(2), NextToken: l.NextToken})
		if err != nil || len(l.CustomVerificationEmailTemplates) != 1 || l.NextToken != nil || aws.ToString(l.CustomVerificationEmailTemplates[0].TemplateName) != "welcome" {
			t.Fatalf("List page 2: %+v %v", l, err)
		}
		if l, err := env.V1.ListCustomVerificationEmailTemplates(ctx, &ses.ListCustomVerificationEmailTemplatesInput{MaxResults: aws.Int32(500)}); err != nil || len(l.CustomVerificationEmailTemplates) != 3 {
			t.Fatalf("List with MaxResults 500: %+v %v", l, err)
		}

		// Send: the sandbox refuses; an unknown template; then production.
		sendTo := func(addr, tpl, set string) (*ses.SendCustomVerificationEmailOutput, error) {
			in := &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String(addr), TemplateName: aws.String(tpl)}
			if set != "" {
				in.ConfigurationSetName = aws.String(set)
			}
			return env.V1.SendCustomVerificationEmail(ctx, in)
		}
		if _, err := sendTo("jane@rcpt.test", "welcome", ""); apitest.Code(err) != "ProductionAccessNotGranted" {
			t.Fatalf("sandbox send: %v", err)
		}
		if err := env.Accounts.SetProduction(context.Background(), env.Account.ID, 1000, 100); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			addr, tpl, set, code string
		}{
			{"jane@rcpt.test", "nope", "", "CustomVerificationEmailTemplateDoesNotExist"},
			{"jane@", "welcome", "", "InvalidParameterValue"},
			{"jane@rcpt.test", "welcome", "no-such-set", "ConfigurationSetDoesNotExist"},
		} {
			if _, err := sendTo(c.addr, c.tpl, c.set); apitest.Code(err) != c.code {
				t.Errorf("send %+v: want %s, got %v", c, c.code, err)
			}
		}
		links := func() (n int) {
			env.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM custom_verification_links`).Scan(&n)
			return n
		}
		if n := links(); n != 0 {
			t.Fatalf("refused sends left %d links", n)
		}
		out, err := sendTo("jane@rcpt.test", "welcome", "")
		if err != nil || !strings.HasPrefix(aws.ToString(out.MessageId), "0100") {
			t.Fatalf("send: %+v %v", out, err)
		}
		if n := links(); n != 1 {
			t.Fatalf("%d links after one send", n)
		}
		// As in SES, no identity until the link is followed.
		va, err := env.V1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{"jane@rcpt.test"}})
		if err != nil || len(va.VerificationAttributes) != 0 {
			t.Fatalf("identity before the link is followed: %+v %v", va, err)
		}

		// Delete: twice, and an unknown name, all succeed (v1 models no error).
		for range 2 {
			if _, err := env.V1.DeleteCustomVerificationEmailTemplate(ctx, &ses.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := sendTo("jane@rcpt.test", "welcome", ""); apitest.Code(err) != "CustomVerificationEmailTemplateDoesNotExist" {
			t.Fatalf("send with a deleted template: %v", err)
		}
	})
}
