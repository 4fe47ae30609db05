package verifytemplate_test

import (
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// FuzzValidateContent: any TemplateContent is accepted or refused with a
// content error, never a panic; an accepted one gets the link exactly
// where Body puts it.
func FuzzValidateContent(f *testing.F) {
	for _, s := range []string{
		"<html><body><p>Hi</p></body></html>", "<a href=x>", "<!-- c -->", "<textarea><!-- x --></textarea>",
		"<img src=x onerror=y>", "<!DOCTYPE html><p>", "</BODY>", "<p title='</body>'>x</p>", "<scr<script>ipt>",
	} {
		f.Add(s)
	}
	const link = "https://sesame.example.test/verify?token=0f"
	f.Fuzz(func(t *testing.T, content string) {
		err := verifytemplate.ValidateContent(content)
		if err != nil {
			if ie, ok := err.(*verifytemplate.InvalidError); !ok || !ie.Content {
				t.Fatalf("not a content error: %#v", err)
			}
			return
		}
		body := verifytemplate.Body(content, link)
		if !strings.Contains(body, `<a href="`+link+`">`) || len(body) <= len(content) {
			t.Fatalf("Body(%q) = %q", content, body)
		}
	})
}
