package sesv2

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/template"
)

// Email templates, v2 (ses-api.md "Templates (v2)"): the same templates as
// v1's, under /v2/email/templates. Every error is BadRequestException
// except a missing template (NotFoundException), a name in use
// (AlreadyExistsException) and the limit (LimitExceededException).

// ListEmailTemplates' page size: 10 when PageSize is absent, 1 to 100.
const (
	defaultTemplatePageSize = 10
	maxTemplatePageSize     = 100
)

// templateError maps the template package's errors to v2's codes; the
// rendering errors keep their sentence ("Attribute 'name' is not present
// in the rendering data.").
func templateError(err error, name string) error {
	if err == nil {
		return nil
	}
	kind, msg := template.KindOf(err, name)
	switch kind {
	case template.KindOther:
		return err
	case template.KindNotFound:
		return notFound("%s", msg)
	case template.KindAlreadyExists:
		return alreadyExists("%s", msg)
	case template.KindLimitExceeded:
		return sesapi.Errorf(http.StatusBadRequest, "LimitExceededException", "%s", msg)
	}
	return badRequest("%s", msg)
}

func (h *handler) templateStore() (*template.Store, error) {
	if h.templates == nil {
		return nil, errors.New("sesv2: templates are not configured (Options.Templates is nil)")
	}
	return h.templates, nil
}

type emailTemplateContent struct {
	Subject string `json:"Subject,omitempty"`
	Text    string `json:"Text,omitempty"`
	Html    string `json:"Html,omitempty"`
}

func (c *emailTemplateContent) content() template.Content {
	if c == nil {
		return template.Content{}
	}
	return template.Content{Subject: c.Subject, Text: c.Text, HTML: c.Html}
}

// templateName is the {TemplateName} path label (the mux has unescaped it).
func templateName(r *http.Request) string { return r.PathValue("TemplateName") }

// CreateEmailTemplate: POST /v2/email/templates {TemplateName, TemplateContent, Tags}.
func (h *handler) createEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		TemplateName    string                `json:"TemplateName"`
		TemplateContent *emailTemplateContent `json:"TemplateContent"`
		Tags            []template.Tag        `json:"Tags"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.TemplateContent == nil {
		return nil, badRequest("TemplateContent is required.")
	}
	t := template.Template{Name: in.TemplateName, Content: in.TemplateContent.content(), Tags: in.Tags}
	return nil, templateError(s.Create(r.Context(), c.AccountID, t), in.TemplateName)
}

type getEmailTemplateOutput struct {
	TemplateName    string               `json:"TemplateName"`
	TemplateContent emailTemplateContent `json:"TemplateContent"`
	Tags            []template.Tag       `json:"Tags"`
}

// GetEmailTemplate: GET /v2/email/templates/{TemplateName}.
func (h *handler) getEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name := templateName(r)
	t, err := s.Get(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, templateError(err, name)
	}
	tags := t.Tags
	if tags == nil {
		tags = []template.Tag{}
	}
	return getEmailTemplateOutput{TemplateName: t.Name, Tags: tags,
		TemplateContent: emailTemplateContent{Subject: t.Content.Subject, Text: t.Content.Text, Html: t.Content.HTML}}, nil
}

// UpdateEmailTemplate: PUT /v2/email/templates/{TemplateName} {TemplateContent}.
func (h *handler) updateEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		TemplateContent *emailTemplateContent `json:"TemplateContent"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.TemplateContent == nil {
		return nil, badRequest("TemplateContent is required.")
	}
	name := templateName(r)
	return nil, templateError(s.Update(r.Context(), c.AccountID, name, in.TemplateContent.content()), name)
}

// DeleteEmailTemplate: DELETE /v2/email/templates/{TemplateName}; an
// unknown template is NotFoundException.
func (h *handler) deleteEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name := templateName(r)
	return nil, templateError(s.Delete(r.Context(), c.AccountID, name), name)
}

type emailTemplateMetadata struct {
	TemplateName     string `json:"TemplateName"`
	CreatedTimestamp epoch  `json:"CreatedTimestamp"`
}

type listEmailTemplatesOutput struct {
	TemplatesMetadata []emailTemplateMetadata `json:"TemplatesMetadata"`
	NextToken         string                  `json:"NextToken,omitempty"`
}

// ListEmailTemplates: GET /v2/email/templates?NextToken=&PageSize=.
func (h *handler) listEmailTemplates(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	size := defaultTemplatePageSize
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTemplatePageSize {
			return nil, badRequest("Invalid PageSize %q: it must be a number from 1 to %d.", v, maxTemplatePageSize)
		}
		size = n
	}
	ts, next, err := s.List(r.Context(), c.AccountID, q.Get("NextToken"), size)
	if err != nil {
		return nil, templateError(err, "")
	}
	out := listEmailTemplatesOutput{TemplatesMetadata: []emailTemplateMetadata{}, NextToken: next}
	for _, t := range ts {
		out.TemplatesMetadata = append(out.TemplatesMetadata, emailTemplateMetadata{TemplateName: t.Name, CreatedTimestamp: epoch(t.Created)})
	}
	return out, nil
}

// TestRenderEmailTemplate: POST /v2/email/templates/{TemplateName}/render
// {TemplateData}. The answer is the complete MIME message.
func (h *handler) testRenderEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		TemplateData *string `json:"TemplateData"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.TemplateData == nil {
		return nil, badRequest("TemplateData is required.")
	}
	name := templateName(r)
	out, err := s.Preview(r.Context(), c.AccountID, name, *in.TemplateData, c.Region)
	if err != nil {
		return nil, templateError(err, name)
	}
	return struct{ RenderedTemplate string }{out}, nil
}

// compileInline compiles a send's inline TemplateContent through the
// store's cache when there is a store (the same content sent again is not
// parsed again), else on its own.
func (h *handler) compileInline(ctx context.Context, c template.Content) (*template.Compiled, error) {
	if h.templates == nil {
		return template.Compile(c)
	}
	return h.templates.CompileInline(ctx, c)
}
