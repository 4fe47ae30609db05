package sesv1_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTemplatesV1: every template action through the SDK's ses client,
// each error code, paging, and isolation between two accounts.
func TestTemplatesV1(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V1
		welcome := &types.Template{TemplateName: aws.String("welcome"), SubjectPart: aws.String("Hi {{name}}"),
			TextPart: aws.String("Dear {{name}},\r\nwelcome."), HtmlPart: aws.String("<p>Dear {{name}}</p>")}
		if _, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: welcome}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")})
		if err != nil {
			t.Fatal(err)
		}
		if *got.Template.TemplateName != "welcome" || *got.Template.SubjectPart != "Hi {{name}}" || *got.Template.TextPart != *welcome.TextPart || *got.Template.HtmlPart != *welcome.HtmlPart {
			t.Errorf("GetTemplate = %+v", got.Template)
		}

		for _, tc := range []struct {
			name string
			call func() error
			code string
		}{
			{"duplicate", func() error {
				_, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: welcome})
				return err
			}, "AlreadyExists"},
			{"no text or html", func() error {
				_, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &types.Template{TemplateName: aws.String("s"), SubjectPart: aws.String("x")}})
				return err
			}, "InvalidParameterValue"},
			{"bad name", func() error {
				_, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &types.Template{TemplateName: aws.String("a b"), TextPart: aws.String("x")}})
				return err
			}, "InvalidParameterValue"},
			{"unparsable", func() error {
				_, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &types.Template{TemplateName: aws.String("bad"), TextPart: aws.String("{{#if a}}")}})
				return err
			}, "InvalidTemplate"},
			{"partial", func() error {
				_, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &types.Template{TemplateName: aws.String("bad"), HtmlPart: aws.String("{{> footer}}")}})
				return err
			}, "InvalidTemplate"},
			{"get unknown", func() error {
				_, err := c.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("nope")})
				return err
			}, "TemplateDoesNotExist"},
			{"update unknown", func() error {
				_, err := c.UpdateTemplate(ctx, &ses.UpdateTemplateInput{Template: &types.Template{TemplateName: aws.String("nope"), TextPart: aws.String("x")}})
				return err
			}, "TemplateDoesNotExist"},
			{"update unparsable", func() error {
				_, err := c.UpdateTemplate(ctx, &ses.UpdateTemplateInput{Template: &types.Template{TemplateName: aws.String("welcome"), TextPart: aws.String("{{/if}}")}})
				return err
			}, "InvalidTemplate"},
			{"render unknown", func() error {
				_, err := c.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("nope"), TemplateData: aws.String("{}")})
				return err
			}, "TemplateDoesNotExist"},
			{"render bad data", func() error {
				_, err := c.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"name":`)})
				return err
			}, "InvalidRenderingParameter"},
			{"render data not an object", func() error {
				_, err := c.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String(`["x"]`)})
				return err
			}, "InvalidRenderingParameter"},
			{"render missing attribute", func() error {
				_, err := c.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"nom":"x"}`)})
				if err != nil && !strings.Contains(err.Error(), "Attribute 'name' is not present in the rendering data.") {
					t.Errorf("missing attribute message: %v", err)
				}
				return err
			}, "MissingRenderingAttribute"},
			{"list bad token", func() error {
				_, err := c.ListTemplates(ctx, &ses.ListTemplatesInput{NextToken: aws.String("bogus!")})
				return err
			}, "InvalidParameterValue"},
		} {
			if got := apitest.Code(tc.call()); got != tc.code {
				t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
			}
		}

		// TestRenderTemplate: the complete MIME message.
		out, err := c.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"name":"Ana & Bo"}`)})
		if err != nil {
			t.Fatal(err)
		}
		r := *out.RenderedTemplate
		for _, want := range []string{"Date: ", "Message-ID: <", "Subject: Hi Ana &amp; Bo\r\n", "MIME-Version: 1.0\r\n", "Content-Type: multipart/alternative;",
			"Content-Type: text/plain; charset=UTF-8", "Dear Ana &amp; Bo,\r\nwelcome.", "Content-Type: text/html; charset=UTF-8", "<p>Dear Ana &amp; Bo</p>"} {
			if !strings.Contains(r, want) {
				t.Errorf("rendered template lacks %q:\n%s", want, r)
			}
		}

		// UpdateTemplate replaces the parts.
		if _, err := c.UpdateTemplate(ctx, &ses.UpdateTemplateInput{Template: &types.Template{TemplateName: aws.String("welcome"), TextPart: aws.String("only text")}}); err != nil {
			t.Fatal(err)
		}
		out, err = c.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if r := *out.RenderedTemplate; strings.Contains(r, "Subject:") || !strings.Contains(r, "Content-Type: text/plain") || !strings.Contains(r, "only text") {
			t.Errorf("after UpdateTemplate:\n%s", r)
		}

		// Isolation: the other account sees nothing, and has its own names.
		_, other, _ := env.Other(t, "other")
		if _, err := other.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")}); apitest.Code(err) != "TemplateDoesNotExist" {
			t.Errorf("other account reads the template: %v", err)
		}
		if _, err := other.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String("{}")}); apitest.Code(err) != "TemplateDoesNotExist" {
			t.Errorf("other account renders the template: %v", err)
		}
		if _, err := other.DeleteTemplate(ctx, &ses.DeleteTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
			t.Errorf("DeleteTemplate of an unknown template: %v", err)
		}
		if l, err := other.ListTemplates(ctx, &ses.ListTemplatesInput{}); err != nil || len(l.TemplatesMetadata) != 0 {
			t.Errorf("other account lists %v, %v", l, err)
		}
		if _, err := c.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
			t.Errorf("the other account's delete reached this one: %v", err)
		}

		// Paging: 10 by default, MaxItems, the paginator.
		for i := range 12 {
			if _, err := c.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &types.Template{TemplateName: aws.String(fmt.Sprintf("t%02d", i)), TextPart: aws.String("x")}}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := c.ListTemplates(ctx, &ses.ListTemplatesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.TemplatesMetadata) != 10 || first.NextToken == nil || *first.TemplatesMetadata[0].Name != "t00" || first.TemplatesMetadata[0].CreatedTimestamp == nil {
			t.Errorf("first page: %d items, token %v", len(first.TemplatesMetadata), first.NextToken)
		}
		var names []string
		in := &ses.ListTemplatesInput{MaxItems: aws.Int32(5)}
		for {
			page, err := c.ListTemplates(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page.TemplatesMetadata {
				names = append(names, *m.Name)
			}
			if page.NextToken == nil {
				break
			}
			in.NextToken = page.NextToken
		}
		if len(names) != 13 || names[12] != "welcome" {
			t.Errorf("paginated %v", names)
		}

		if _, err := c.DeleteTemplate(ctx, &ses.DeleteTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")}); apitest.Code(err) != "TemplateDoesNotExist" {
			t.Errorf("after DeleteTemplate: %v", err)
		}
	})
}

// TestTemplateLimitV1: the account's last template, then LimitExceeded.
func TestTemplateLimitV1(t *testing.T) {
	env := apitest.New(t, dbtest.SQLite(t))
	env.Templates.SetLimit(1)
	ctx := t.Context()
	for i, code := range []string{"<nil>", "LimitExceeded"} {
		_, err := env.V1.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &types.Template{TemplateName: aws.String(fmt.Sprint("t", i)), TextPart: aws.String("x")}})
		if got := apitest.Code(err); got != code {
			t.Errorf("template %d: %q, want %q", i, got, code)
		}
	}
}
