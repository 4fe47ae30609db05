package verifytemplate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// verified makes name a verified identity of the account.
func verified(t *testing.T, env *apitest.Env, accountID, name string) {
	t.Helper()
	if _, err := env.Identities.Create(context.Background(), accountID, name, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginNone}}); err != nil {
		t.Fatal(err)
	}
	env.MarkVerifiedIn(t, accountID, name)
}

func sample(name string) verifytemplate.Template {
	return verifytemplate.Template{Name: name, FromEmailAddress: "hello@example.test", Subject: "Please confirm your address",
		Content:    "<html><head></head><body style='font-family:sans-serif'><h1>Welcome</h1><p>One last step.</p></body></html>",
		SuccessURL: "https://app.example.test/verified", FailureURL: "https://app.example.test/failed",
		Tags: []verifytemplate.Tag{{Key: "team", Value: "growth"}}}
}

// TestStore: create, get, update, list and delete, every account seeing
// only its own templates; the rules that refuse a template change nothing.
func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := context.Background()
		s := env.CustomVerification
		a := env.Account.ID
		other, _, _ := env.Other(t, "other")
		verified(t, env, a, "example.test")

		if err := s.Create(ctx, a, sample("welcome")); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, a, sample("welcome")); !errors.Is(err, verifytemplate.ErrAlreadyExists) {
			t.Fatalf("duplicate: %v", err)
		}
		got, err := s.Get(ctx, a, "welcome")
		if err != nil || got.FromEmailAddress != "hello@example.test" || got.Subject != "Please confirm your address" ||
			got.SuccessURL != "https://app.example.test/verified" || len(got.Tags) != 1 || got.Tags[0].Value != "growth" || got.CreatedAt.IsZero() {
			t.Fatalf("Get = %+v, %v", got, err)
		}

		// Isolation: the other account sees none of it, and may use the name.
		if _, err := s.Get(ctx, other.ID, "welcome"); !errors.Is(err, verifytemplate.ErrNotFound) {
			t.Fatalf("other account's Get: %v", err)
		}
		if ts, _, err := s.List(ctx, other.ID, "", 50); err != nil || len(ts) != 0 {
			t.Fatalf("other account's List: %v %v", ts, err)
		}
		if err := s.Update(ctx, other.ID, "welcome", verifytemplate.Update{Subject: new("x")}); !errors.Is(err, verifytemplate.ErrNotFound) {
			t.Fatalf("other account's Update: %v", err)
		}
		if err := s.Delete(ctx, other.ID, "welcome"); !errors.Is(err, verifytemplate.ErrNotFound) {
			t.Fatalf("other account's Delete: %v", err)
		}
		// Its from address is not verified in the other account.
		if err := s.Create(ctx, other.ID, sample("welcome")); !errors.Is(err, verifytemplate.ErrFromNotVerified) {
			t.Fatalf("other account's Create with an address it has not verified: %v", err)
		}
		verified(t, env, other.ID, "hello@example.test")
		if err := s.Create(ctx, other.ID, sample("welcome")); err != nil {
			t.Fatalf("other account's own template: %v", err)
		}

		// Update: only what is given; the result is checked whole.
		if err := s.Update(ctx, a, "welcome", verifytemplate.Update{Subject: new("Confirm, please"), SuccessURL: new("http://app.example.test/ok")}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, a, "welcome")
		if got.Subject != "Confirm, please" || got.SuccessURL != "http://app.example.test/ok" || got.FailureURL != "https://app.example.test/failed" {
			t.Fatalf("after Update: %+v", got)
		}
		for _, u := range []verifytemplate.Update{
			{FromEmailAddress: new("someone@unverified.test")},
			{Content: new("<p>click <a href='https://evil.test'>here</a></p>")},
			{FailureURL: new("/relative")},
		} {
			if err := s.Update(ctx, a, "welcome", u); err == nil {
				t.Fatalf("Update %+v accepted", u)
			}
		}
		if after, _ := s.Get(ctx, a, "welcome"); fmt.Sprint(after) != fmt.Sprint(got) {
			t.Fatalf("a refused Update changed the template:\n%+v\n%+v", after, got)
		}
		if s2, _ := s.Get(ctx, other.ID, "welcome"); s2.Subject != "Please confirm your address" {
			t.Fatalf("the other account's template changed: %+v", s2)
		}

		// List pages in name order.
		for _, n := range []string{"b", "c", "a"} {
			if err := s.Create(ctx, a, sample(n)); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		token := ""
		for {
			ts, next, err := s.List(ctx, a, token, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ts {
				names = append(names, x.Name)
			}
			if next == "" {
				break
			}
			token = next
		}
		if strings.Join(names, ",") != "a,b,c,welcome" {
			t.Fatalf("List: %v", names)
		}
		var ie *verifytemplate.InvalidError
		if _, _, err := s.List(ctx, a, "bogus", 3); !errors.As(err, &ie) || ie.Field != "NextToken" {
			t.Fatalf("List with a bad token: %v", err)
		}

		if err := s.Delete(ctx, a, "welcome"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, a, "welcome"); !errors.Is(err, verifytemplate.ErrNotFound) {
			t.Fatalf("second Delete: %v", err)
		}
		if _, err := s.Get(ctx, other.ID, "welcome"); err != nil {
			t.Fatalf("deleting one account's template removed the other's: %v", err)
		}
	})
}

// TestLimit: 50 templates per account; the 51st is refused, in another
// account it is not.
func TestLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := context.Background()
		s := env.CustomVerification
		other, _, _ := env.Other(t, "other")
		verified(t, env, env.Account.ID, "example.test")
		verified(t, env, other.ID, "example.test")
		for i := range verifytemplate.MaxTemplates {
			if err := s.Create(ctx, env.Account.ID, sample(fmt.Sprintf("t%02d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Create(ctx, env.Account.ID, sample("one-more")); !errors.Is(err, verifytemplate.ErrLimitExceeded) {
			t.Fatalf("51st template: %v", err)
		}
		if err := s.Create(ctx, other.ID, sample("one-more")); err != nil {
			t.Fatalf("the other account's first: %v", err)
		}
	})
}

// TestValidation: each rule names its field; nothing is stored.
func TestValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := context.Background()
		s := env.CustomVerification
		verified(t, env, env.Account.ID, "example.test")
		for _, c := range []struct {
			name    string
			change  func(*verifytemplate.Template)
			field   string
			content bool
		}{
			{"no name", func(x *verifytemplate.Template) { x.Name = "" }, "TemplateName", false},
			{"bad name", func(x *verifytemplate.Template) { x.Name = "a b" }, "TemplateName", false},
			{"no from", func(x *verifytemplate.Template) { x.FromEmailAddress = "" }, "FromEmailAddress", false},
			{"display name", func(x *verifytemplate.Template) { x.FromEmailAddress = "Hello <hello@example.test>" }, "FromEmailAddress", false},
			{"bad from", func(x *verifytemplate.Template) { x.FromEmailAddress = "hello@" }, "FromEmailAddress", false},
			{"no subject", func(x *verifytemplate.Template) { x.Subject = " " }, "TemplateSubject", false},
			{"two-line subject", func(x *verifytemplate.Template) { x.Subject = "a\r\nBcc: x@y.test" }, "TemplateSubject", false},
			{"ftp url", func(x *verifytemplate.Template) { x.SuccessURL = "ftp://app.example.test/" }, "SuccessRedirectionURL", false},
			{"javascript url", func(x *verifytemplate.Template) { x.FailureURL = "javascript:alert(1)" }, "FailureRedirectionURL", false},
			{"relative url", func(x *verifytemplate.Template) { x.FailureURL = "/failed" }, "FailureRedirectionURL", false},
			{"link", func(x *verifytemplate.Template) { x.Content = "<p><a href='https://x.test'>x</a></p>" }, "TemplateContent", true},
			{"script", func(x *verifytemplate.Template) { x.Content = "<p>x</p><script>alert(1)</script>" }, "TemplateContent", true},
			{"style tag", func(x *verifytemplate.Template) { x.Content = "<style>p{}</style>" }, "TemplateContent", true},
			{"event attribute", func(x *verifytemplate.Template) { x.Content = "<img src='x.png' onerror='alert(1)'>" }, "TemplateContent", true},
			{"comment", func(x *verifytemplate.Template) { x.Content = "<p>x</p><!-- note -->" }, "TemplateContent", true},
			{"10 MB", func(x *verifytemplate.Template) { x.Content = strings.Repeat("x", verifytemplate.MaxContentBytes) }, "TemplateContent", true},
			{"too many tags", func(x *verifytemplate.Template) {
				for i := range 51 {
					x.Tags = append(x.Tags, verifytemplate.Tag{Key: fmt.Sprint(i)})
				}
			}, "Tags", false},
		} {
			x := sample("t")
			c.change(&x)
			err := s.Create(ctx, env.Account.ID, x)
			var ie *verifytemplate.InvalidError
			if !errors.As(err, &ie) || ie.Field != c.field || ie.Content != c.content || !strings.Contains(ie.Msg, c.field) {
				t.Errorf("%s: %v (%+v)", c.name, err, ie)
			}
		}
		if ts, _, _ := s.List(ctx, env.Account.ID, "", 50); len(ts) != 0 {
			t.Fatalf("refused templates stored: %+v", ts)
		}
		// What SES's table allows passes: a doctype, an image, a table.
		ok := sample("ok")
		ok.Content = `<!DOCTYPE html><html><body><table width="100%"><tr><td colspan="2"><img src="data:image/png;base64,iVBOR" alt="logo" width="40"></td></tr></table><ol start="2" type="a"><li>x</li></ol></body></html>`
		if err := s.Create(ctx, env.Account.ID, ok); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBody(t *testing.T) {
	link := "https://sesame.example.test/verify?token=abc"
	for _, c := range []struct{ content, want string }{
		{"<html><body><p>Hi</p></BODY></html>", "<html><body><p>Hi</p><p><a href=\"" + link + "\">"},
		{"<p>Hi</p>", "<p>Hi</p>\n<p><a href=\"" + link + "\">"},
	} {
		got := verifytemplate.Body(c.content, link)
		if !strings.HasPrefix(got, c.want) || !strings.Contains(got, "please disregard this message") {
			t.Errorf("Body(%q) = %q", c.content, got)
		}
		if strings.HasSuffix(c.content, "</html>") && !strings.HasSuffix(got, "</BODY></html>") {
			t.Errorf("Body(%q) does not end with the content's closing tags: %q", c.content, got)
		}
	}
}
