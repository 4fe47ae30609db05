package sesv2_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	v1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestEmailTemplatesV2: every template operation through the SDK's sesv2
// client, each error, paging, isolation, and v1 and v2 sharing templates.
func TestEmailTemplatesV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		content := &types.EmailTemplateContent{Subject: aws.String("Order {{order.id}}"),
			Text: aws.String("{{#each items}}{{name}} x{{qty}}\n{{/each}}"), Html: aws.String("<ul>{{#each items}}<li>{{name}}</li>{{/each}}</ul>")}
		_, err := c.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("order"), TemplateContent: content,
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("shop")}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("order")})
		if err != nil {
			t.Fatal(err)
		}
		if *got.TemplateName != "order" || *got.TemplateContent.Subject != *content.Subject || *got.TemplateContent.Html != *content.Html ||
			len(got.Tags) != 1 || *got.Tags[0].Key != "team" {
			t.Errorf("GetEmailTemplate = %+v", got)
		}

		// v1 sees the same template.
		if g, err := env.V1.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("order")}); err != nil || *g.Template.TextPart != *content.Text {
			t.Errorf("v1 GetTemplate: %v", err)
		}
		if _, err := env.V1.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &v1types.Template{TemplateName: aws.String("order"), TextPart: aws.String("x")}}); apitest.Code(err) != "AlreadyExists" {
			t.Errorf("v1 CreateTemplate of a v2 name: %v", err)
		}

		const data = `{"order":{"id":"A-1"},"items":[{"name":"tea","qty":2},{"name":"<cake>","qty":1}]}`
		out, err := c.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("order"), TemplateData: aws.String(data)})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Subject: Order A-1\r\n", "tea x2\r\n&lt;cake&gt; x1", "<li>tea</li><li>&lt;cake&gt;</li>", "multipart/alternative"} {
			if !strings.Contains(*out.RenderedTemplate, want) {
				t.Errorf("rendered template lacks %q:\n%s", want, *out.RenderedTemplate)
			}
		}

		for _, tc := range []struct {
			name, code, msg string
			call            func() error
		}{
			{"duplicate", "AlreadyExistsException", "", func() error {
				_, err := c.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("order"), TemplateContent: content})
				return err
			}},
			{"subject only", "BadRequestException", "text part or an HTML part", func() error {
				_, err := c.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("x"), TemplateContent: &types.EmailTemplateContent{Subject: aws.String("s")}})
				return err
			}},
			{"unknown helper", "BadRequestException", "unknown helper", func() error {
				_, err := c.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("x"), TemplateContent: &types.EmailTemplateContent{Text: aws.String("{{shout name}}")}})
				return err
			}},
			{"name too long", "BadRequestException", "TemplateName", func() error {
				_, err := c.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String(strings.Repeat("n", 65)), TemplateContent: &types.EmailTemplateContent{Text: aws.String("x")}})
				return err
			}},
			{"get unknown", "NotFoundException", "", func() error {
				_, err := c.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("nope")})
				return err
			}},
			{"update unknown", "NotFoundException", "", func() error {
				_, err := c.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String("nope"), TemplateContent: &types.EmailTemplateContent{Text: aws.String("x")}})
				return err
			}},
			{"delete unknown", "NotFoundException", "", func() error {
				_, err := c.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String("nope")})
				return err
			}},
			{"render unknown", "NotFoundException", "", func() error {
				_, err := c.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("nope"), TemplateData: aws.String("{}")})
				return err
			}},
			{"render bad data", "BadRequestException", "invalid JSON", func() error {
				_, err := c.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("order"), TemplateData: aws.String("{")})
				return err
			}},
			{"render missing attribute", "BadRequestException", "Attribute 'order.id' is not present in the rendering data.", func() error {
				_, err := c.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("order"), TemplateData: aws.String(`{"items":[]}`)})
				return err
			}},
			{"page size", "BadRequestException", "PageSize", func() error {
				_, err := c.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{PageSize: aws.Int32(101)})
				return err
			}},
			{"bad token", "BadRequestException", "NextToken", func() error {
				_, err := c.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{NextToken: aws.String("bogus!")})
				return err
			}},
		} {
			err := tc.call()
			if got := apitest.Code(err); got != tc.code || err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want %s with %q", tc.name, err, tc.code, tc.msg)
			}
		}

		// Isolation.
		_, _, other := env.Other(t, "other")
		if _, err := other.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("order")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account reads the template: %v", err)
		}
		if _, err := other.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String("order")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account deletes the template: %v", err)
		}
		if _, err := other.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String("order"), TemplateContent: &types.EmailTemplateContent{Text: aws.String("x")}}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account updates the template: %v", err)
		}
		if l, err := other.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{}); err != nil || len(l.TemplatesMetadata) != 0 {
			t.Errorf("other account lists %v, %v", l, err)
		}

		// Update, then paging: 10 by default, and the paginator.
		if _, err := c.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String("order"), TemplateContent: &types.EmailTemplateContent{Html: aws.String("<b>{{x}}</b>")}}); err != nil {
			t.Fatal(err)
		}
		if g, _ := c.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("order")}); g.TemplateContent.Text != nil || *g.TemplateContent.Html != "<b>{{x}}</b>" {
			t.Errorf("after update: %+v", g.TemplateContent)
		}
		for i := range 11 {
			if _, err := c.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String(fmt.Sprintf("a%02d", i)), TemplateContent: &types.EmailTemplateContent{Text: aws.String("x")}}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := c.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.TemplatesMetadata) != 10 || first.NextToken == nil || first.TemplatesMetadata[0].CreatedTimestamp == nil {
			t.Errorf("first page: %d, token %v", len(first.TemplatesMetadata), first.NextToken)
		}
		var names []string
		p := sesv2.NewListEmailTemplatesPaginator(c, &sesv2.ListEmailTemplatesInput{PageSize: aws.Int32(4)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page.TemplatesMetadata {
				names = append(names, *m.TemplateName)
			}
		}
		if len(names) != 12 || names[0] != "a00" || names[11] != "order" {
			t.Errorf("paginated %v", names)
		}
		if _, err := c.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String("order")}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V1.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("order")}); apitest.Code(err) != "TemplateDoesNotExist" {
			t.Errorf("v1 after the v2 delete: %v", err)
		}
	})
}

// TestEmailTemplateLimitV2: the account's last template, then
// LimitExceededException.
func TestEmailTemplateLimitV2(t *testing.T) {
	env := apitest.New(t, dbtest.SQLite(t))
	env.Templates.SetLimit(1)
	for i, code := range []string{"<nil>", "LimitExceededException"} {
		_, err := env.V2.CreateEmailTemplate(t.Context(), &sesv2.CreateEmailTemplateInput{TemplateName: aws.String(fmt.Sprint("t", i)), TemplateContent: &types.EmailTemplateContent{Text: aws.String("x")}})
		if got := apitest.Code(err); got != code {
			t.Errorf("template %d: %q, want %q", i, got, code)
		}
	}
}

// TestEmailTemplateInlinePartialsV2: SES's developer guide's inline
// partial ("Advanced email personalization") through the SDK: created,
// rendered with and without the attribute; a partial the part does not
// define is refused at create.
func TestEmailTemplateInlinePartialsV2(t *testing.T) {
	env := apitest.New(t, dbtest.SQLite(t))
	ctx := t.Context()
	const check = `{{#* inline "firstNameCheck"}}{{#if firstName}}{{firstName}}{{else}}Customer{{/if}}{{/inline}}`
	_, err := env.V2.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("hello"), TemplateContent: &types.EmailTemplateContent{
		Subject: aws.String(check + "Hello {{> firstNameCheck}}!"), Html: aws.String(check + "<h1>Hello {{> firstNameCheck}}!</h1><p>{{items.length}} items</p>")}})
	if err != nil {
		t.Fatal(err)
	}
	for data, want := range map[string]string{
		`{"firstName":"Ana","items":[1,2]}`: "Subject: Hello Ana!\r\n",
		`{"items":[]}`:                      "Subject: Hello Customer!\r\n",
	} {
		out, err := env.V2.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("hello"), TemplateData: aws.String(data)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(*out.RenderedTemplate, want) || !strings.Contains(*out.RenderedTemplate, "</h1><p>") {
			t.Errorf("%s: rendered template lacks %q:\n%s", data, want, *out.RenderedTemplate)
		}
	}
	_, err = env.V2.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("bad"), TemplateContent: &types.EmailTemplateContent{
		Subject: aws.String("Hello {{> firstNameCheck}}"), Html: aws.String(check)}})
	if apitest.Code(err) != "BadRequestException" || !strings.Contains(err.Error(), `partial "firstNameCheck" is not defined`) {
		t.Errorf("undefined partial: %v", err)
	}
}
