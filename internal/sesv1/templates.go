package sesv1

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/template"
)

// Templates, v1 (ses-api.md "Templates"): CreateTemplate, GetTemplate,
// UpdateTemplate, DeleteTemplate, ListTemplates and TestRenderTemplate
// over the template store v2 shares.

// ListTemplates' page size: 10 when MaxItems is absent, at most 100 (a
// larger MaxItems is lowered to 100, as SES documents).
const (
	defaultTemplateItems = 10
	maxTemplateItems     = 100
)

// templateError maps the template package's errors to v1's codes.
func templateError(err error, name string) error {
	var (
		ie *template.InvalidError
		pe *template.ParamError
		de *template.DataError
		re *template.RenderError
	)
	e := func(code, msg string) error {
		return &sesapi.Error{Code: code, Status: http.StatusBadRequest, Message: msg}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, template.ErrNotFound):
		return e("TemplateDoesNotExist", "Template "+name+" does not exist.")
	case errors.Is(err, template.ErrAlreadyExists):
		return e("AlreadyExists", "Template "+name+" already exists.")
	case errors.Is(err, template.ErrLimitExceeded):
		return e("LimitExceeded", "Maximum number of templates ("+strconv.Itoa(template.MaxTemplates)+") reached.")
	case errors.As(err, &ie):
		return e("InvalidTemplate", ie.Msg)
	case errors.As(err, &pe):
		return e("InvalidParameterValue", pe.Msg)
	case errors.As(err, &de):
		return e("InvalidRenderingParameter", de.Msg)
	case errors.As(err, &re) && strings.HasPrefix(re.Msg, "Attribute '"):
		return e("MissingRenderingAttribute", re.Msg)
	case errors.As(err, &re):
		return e("InvalidRenderingParameter", re.Msg)
	}
	return err
}

func (h *handler) templateStore() (*template.Store, error) {
	if h.templates == nil {
		return nil, errors.New("sesv1: templates are not configured (Options.Templates is nil)")
	}
	return h.templates, nil
}

// templateParam reads Template.TemplateName and the three parts.
func templateParam(c *call) (string, template.Content, error) {
	name, err := c.required("Template.TemplateName")
	if err != nil {
		return "", template.Content{}, err
	}
	return name, template.Content{Subject: c.param("Template.SubjectPart"), Text: c.param("Template.TextPart"), HTML: c.param("Template.HtmlPart")}, nil
}

// CreateTemplate: Template.{TemplateName, SubjectPart, TextPart, HtmlPart}.
func (h *handler) createTemplate(c *call) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name, content, err := templateParam(c)
	if err != nil {
		return nil, err
	}
	return nil, templateError(s.Create(c.ctx, c.account, template.Template{Name: name, Content: content}), name)
}

// UpdateTemplate: as CreateTemplate; the template must exist.
func (h *handler) updateTemplate(c *call) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name, content, err := templateParam(c)
	if err != nil {
		return nil, err
	}
	return nil, templateError(s.Update(c.ctx, c.account, name, content), name)
}

// DeleteTemplate: TemplateName. Deleting an unknown template succeeds,
// as in SES.
func (h *handler) deleteTemplate(c *call) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name, err := c.required("TemplateName")
	if err != nil {
		return nil, err
	}
	if err := s.Delete(c.ctx, c.account, name); err != nil && !errors.Is(err, template.ErrNotFound) {
		return nil, err
	}
	return nil, nil
}

type templateXML struct {
	TemplateName string `xml:"TemplateName"`
	SubjectPart  string `xml:"SubjectPart,omitempty"`
	TextPart     string `xml:"TextPart,omitempty"`
	HtmlPart     string `xml:"HtmlPart,omitempty"`
}

type getTemplateResult struct {
	Template templateXML `xml:"Template"`
}

// GetTemplate: TemplateName.
func (h *handler) getTemplate(c *call) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name, err := c.required("TemplateName")
	if err != nil {
		return nil, err
	}
	t, err := s.Get(c.ctx, c.account, name)
	if err != nil {
		return nil, templateError(err, name)
	}
	return getTemplateResult{Template: templateXML{TemplateName: t.Name, SubjectPart: t.Content.Subject, TextPart: t.Content.Text, HtmlPart: t.Content.HTML}}, nil
}

type templateMetadataXML struct {
	Name             string `xml:"Name"`
	CreatedTimestamp string `xml:"CreatedTimestamp"`
}

type listTemplatesResult struct {
	TemplatesMetadata struct {
		Member []templateMetadataXML `xml:"member"`
	} `xml:"TemplatesMetadata"`
	NextToken string `xml:"NextToken,omitempty"`
}

// ListTemplates: NextToken, MaxItems.
func (h *handler) listTemplates(c *call) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	size := defaultTemplateItems
	if v := c.param("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, invalidParameter("Invalid MaxItems %q: must be an integer of at least 1.", v)
		}
		size = min(n, maxTemplateItems)
	}
	ts, next, err := s.List(c.ctx, c.account, c.param("NextToken"), size)
	if err != nil {
		return nil, templateError(err, "")
	}
	var out listTemplatesResult
	out.TemplatesMetadata.Member = []templateMetadataXML{}
	for _, t := range ts {
		out.TemplatesMetadata.Member = append(out.TemplatesMetadata.Member, templateMetadataXML{Name: t.Name, CreatedTimestamp: t.Created.UTC().Format(time.RFC3339Nano)})
	}
	out.NextToken = next
	return out, nil
}

type testRenderTemplateResult struct {
	RenderedTemplate string `xml:"RenderedTemplate"`
}

// TestRenderTemplate: TemplateName, TemplateData. The answer is the
// complete MIME message (template.Compiled.Preview).
func (h *handler) testRenderTemplate(c *call) (any, error) {
	s, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	name, err := c.required("TemplateName")
	if err != nil {
		return nil, err
	}
	raw, err := c.required("TemplateData")
	if err != nil {
		return nil, err
	}
	t, err := s.Get(c.ctx, c.account, name)
	if err != nil {
		return nil, templateError(err, name)
	}
	data, err := template.ParseData("TemplateData", raw)
	if err != nil {
		return nil, templateError(err, name)
	}
	compiled, err := template.Compile(t.Content)
	if err != nil {
		return nil, templateError(err, name)
	}
	out, err := compiled.Preview(data, c.region, h.now())
	if err != nil {
		return nil, templateError(err, name)
	}
	return testRenderTemplateResult{RenderedTemplate: out}, nil
}
