package sesv1

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// v1Codes are v1's error codes for the template package's errors.
var v1Codes = map[template.Kind]string{
	template.KindNotFound: "TemplateDoesNotExist", template.KindAlreadyExists: "AlreadyExists",
	template.KindLimitExceeded: "LimitExceeded", template.KindInvalidTemplate: "InvalidTemplate",
	template.KindInvalidParameter: "InvalidParameterValue", template.KindInvalidData: "InvalidRenderingParameter",
	template.KindMissingAttribute: "MissingRenderingAttribute", template.KindRenderFailed: "InvalidRenderingParameter",
}

// templateError maps the template package's errors to v1's codes.
func templateError(err error, name string) error {
	if err == nil {
		return nil
	}
	kind, msg := template.KindOf(err, name)
	if kind == template.KindOther {
		return err
	}
	return &sesapi.Error{Code: v1Codes[kind], Status: http.StatusBadRequest, Message: msg}
}

// configured returns the store a group of actions needs, or an internal
// error naming its option when none is wired.
func configured[T any](s *T, option string) (*T, error) {
	if s == nil {
		return nil, fmt.Errorf("sesv1: Options.%s is nil: its actions are not configured", option)
	}
	return s, nil
}

// named returns the store and the required TemplateName: the start of
// every action on one template (email or custom verification).
func named[T any](c *call, s *T, option string) (*T, string, error) {
	s, err := configured(s, option)
	if err != nil {
		return nil, "", err
	}
	name, err := c.required("TemplateName")
	if err != nil {
		return nil, "", err
	}
	return s, name, nil
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
	s, err := configured(h.templates, "Templates")
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
	s, err := configured(h.templates, "Templates")
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
	s, name, err := named(c, h.templates, "Templates")
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
	s, name, err := named(c, h.templates, "Templates")
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
	s, err := configured(h.templates, "Templates")
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
// complete MIME message (template.Store.Preview).
func (h *handler) testRenderTemplate(c *call) (any, error) {
	s, name, err := named(c, h.templates, "Templates")
	if err != nil {
		return nil, err
	}
	data, err := c.required("TemplateData")
	if err != nil {
		return nil, err
	}
	out, err := s.Preview(c.ctx, c.account, name, data, c.region)
	if err != nil {
		return nil, templateError(err, name)
	}
	return testRenderTemplateResult{RenderedTemplate: out}, nil
}
