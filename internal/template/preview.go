package template

import (
	"context"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/compose"
)

// Preview renders the template with data and returns the complete MIME
// message, as TestRenderTemplate (v1) and TestRenderEmailTemplate (v2)
// return it: Date, Message-ID, Subject, MIME-Version and the body
// (compose.Preview). The Message-ID's domain is SES's own for the region
// (email.amazonses.com in us-east-1, <region>.amazonses.com elsewhere):
// a preview is never sent. Render's errors are returned as they are.
func (t *Compiled) Preview(data map[string]any, region string, now time.Time) (string, error) {
	c, err := t.Render(data)
	if err != nil {
		return "", err
	}
	domain := "email.amazonses.com"
	if r := strings.ToLower(region); r != "" && r != "us-east-1" {
		domain = r + ".amazonses.com"
	}
	msg, err := compose.Preview(c.Subject, c.Text, c.HTML, compose.Options{
		Now:       func() time.Time { return now },
		MessageID: compose.NewMessageID(now),
		Domain:    domain,
	})
	if err != nil {
		return "", &RenderError{Msg: err.Error()}
	}
	return string(msg), nil
}

// Preview is TestRenderTemplate's and TestRenderEmailTemplate's work: the
// account's template name (ErrNotFound), rendered with the JSON data
// TemplateData (*DataError, *RenderError), as Compiled.Preview writes it.
func (s *Store) Preview(ctx context.Context, accountID, name, templateData, region string) (string, error) {
	c, err := s.GetCompiled(ctx, accountID, name)
	if err != nil {
		return "", err
	}
	data, err := ParseData("TemplateData", templateData)
	if err != nil {
		return "", err
	}
	return c.Preview(data, region, s.now())
}

// RenderStored renders the account's template name (ErrNotFound) with
// the JSON data TemplateData (*DataError, *RenderError) and returns its
// parts: what Preview puts into the MIME message, for a console that
// shows the subject, text and HTML apart.
func (s *Store) RenderStored(ctx context.Context, accountID, name, templateData string) (Content, error) {
	c, err := s.GetCompiled(ctx, accountID, name)
	if err != nil {
		return Content{}, err
	}
	data, err := ParseData("TemplateData", templateData)
	if err != nil {
		return Content{}, err
	}
	return c.Render(data)
}
