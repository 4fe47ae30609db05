package sesv1

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// Custom verification email templates and SendCustomVerificationEmail, v1
// (ses-api.md §6 "Secondary", §9.1). The rules are package
// verifytemplate's; this file reads the parameters and maps its errors to
// v1's codes. ListCustomVerificationEmailTemplates' MaxResults outside 1–50
// (or absent) gives pages of 50, as the v1 reference says, rather than an
// error.

// cvError maps verifytemplate's errors to v1's codes.
func cvError(err error) error {
	var ie *verifytemplate.InvalidError
	if errors.As(err, &ie) {
		if ie.Content {
			return sesapi.Errorf(http.StatusBadRequest, "CustomVerificationEmailInvalidContent", "%s", ie.Msg)
		}
		return invalidParameter("%s", ie.Msg)
	}
	var ve *verifytemplate.Error
	if !errors.As(err, &ve) {
		return sendError(err)
	}
	code := "InvalidParameterValue"
	switch {
	case errors.Is(err, verifytemplate.ErrNotFound):
		code = "CustomVerificationEmailTemplateDoesNotExist"
	case errors.Is(err, verifytemplate.ErrAlreadyExists):
		code = "CustomVerificationEmailTemplateAlreadyExists"
	case errors.Is(err, verifytemplate.ErrLimitExceeded):
		code = "LimitExceeded"
	case errors.Is(err, verifytemplate.ErrFromNotVerified):
		code = "FromEmailAddressNotVerified"
	case errors.Is(err, verifytemplate.ErrProductionAccess):
		code = "ProductionAccessNotGranted"
	}
	return sesapi.Errorf(http.StatusBadRequest, code, "%s", ve.Msg)
}

// optional returns a parameter that may be absent: nil then.
func (c *call) optional(name string) *string {
	if v, ok := c.form.get(name); ok {
		return &v
	}
	return nil
}

// CreateCustomVerificationEmailTemplate: every member required.
func (h *handler) createCustomVerificationEmailTemplate(c *call) (any, error) {
	s, err := configured(h.customVerification, "CustomVerification")
	if err != nil {
		return nil, err
	}
	var t verifytemplate.Template
	for _, p := range []struct {
		name string
		dst  *string
	}{{"TemplateName", &t.Name}, {"FromEmailAddress", &t.FromEmailAddress}, {"TemplateSubject", &t.Subject}, {"TemplateContent", &t.Content},
		{"SuccessRedirectionURL", &t.SuccessURL}, {"FailureRedirectionURL", &t.FailureURL}} {
		if *p.dst, err = c.required(p.name); err != nil {
			return nil, err
		}
	}
	return nil, cvError(s.Create(c.ctx, c.account, t))
}

// UpdateCustomVerificationEmailTemplate: TemplateName; the other members
// given replace the template's.
func (h *handler) updateCustomVerificationEmailTemplate(c *call) (any, error) {
	s, name, err := named(c, h.customVerification, "CustomVerification")
	if err != nil {
		return nil, err
	}
	u := verifytemplate.Update{FromEmailAddress: c.optional("FromEmailAddress"), Subject: c.optional("TemplateSubject"), Content: c.optional("TemplateContent"),
		SuccessURL: c.optional("SuccessRedirectionURL"), FailureURL: c.optional("FailureRedirectionURL")}
	return nil, cvError(s.Update(c.ctx, c.account, name, u))
}

// DeleteCustomVerificationEmailTemplate: TemplateName. v1 models no error:
// deleting a template that does not exist succeeds.
func (h *handler) deleteCustomVerificationEmailTemplate(c *call) (any, error) {
	s, name, err := named(c, h.customVerification, "CustomVerification")
	if err != nil {
		return nil, err
	}
	if err := s.Delete(c.ctx, c.account, name); err != nil && !errors.Is(err, verifytemplate.ErrNotFound) {
		return nil, cvError(err)
	}
	return nil, nil
}

type customVerificationTemplateXML struct {
	TemplateName          string
	FromEmailAddress      string
	TemplateSubject       string
	TemplateContent       string `xml:",omitempty"`
	SuccessRedirectionURL string
	FailureRedirectionURL string
}

func cvTemplateXML(t verifytemplate.Template, content bool) customVerificationTemplateXML {
	x := customVerificationTemplateXML{TemplateName: t.Name, FromEmailAddress: t.FromEmailAddress, TemplateSubject: t.Subject,
		SuccessRedirectionURL: t.SuccessURL, FailureRedirectionURL: t.FailureURL}
	if content {
		x.TemplateContent = t.Content
	}
	return x
}

// GetCustomVerificationEmailTemplate: TemplateName.
func (h *handler) getCustomVerificationEmailTemplate(c *call) (any, error) {
	s, name, err := named(c, h.customVerification, "CustomVerification")
	if err != nil {
		return nil, err
	}
	t, err := s.Get(c.ctx, c.account, name)
	if err != nil {
		return nil, cvError(err)
	}
	return cvTemplateXML(*t, true), nil
}

type listCustomVerificationEmailTemplatesResult struct {
	CustomVerificationEmailTemplates struct {
		Member []customVerificationTemplateXML `xml:"member"`
	}
	NextToken string `xml:",omitempty"`
}

// ListCustomVerificationEmailTemplates: NextToken, MaxResults.
func (h *handler) listCustomVerificationEmailTemplates(c *call) (any, error) {
	s, err := configured(h.customVerification, "CustomVerification")
	if err != nil {
		return nil, err
	}
	size := verifytemplate.MaxTemplates
	if n, err := strconv.Atoi(c.param("MaxResults")); err == nil && n >= 1 && n <= verifytemplate.MaxTemplates {
		size = n
	}
	ts, next, err := s.List(c.ctx, c.account, c.param("NextToken"), size)
	if err != nil {
		return nil, cvError(err)
	}
	var out listCustomVerificationEmailTemplatesResult
	out.CustomVerificationEmailTemplates.Member = []customVerificationTemplateXML{}
	for _, t := range ts {
		out.CustomVerificationEmailTemplates.Member = append(out.CustomVerificationEmailTemplates.Member, cvTemplateXML(t, false))
	}
	out.NextToken = next
	return out, nil
}

// SendCustomVerificationEmail: EmailAddress, TemplateName,
// ConfigurationSetName.
func (h *handler) sendCustomVerificationEmail(c *call) (any, error) {
	s, err := configured(h.customVerification, "CustomVerification")
	if err != nil {
		return nil, err
	}
	addr, err := c.required("EmailAddress")
	if err != nil {
		return nil, err
	}
	name, err := c.required("TemplateName")
	if err != nil {
		return nil, err
	}
	id, err := s.Send(c.ctx, verifytemplate.SendRequest{AccountID: c.account, EmailAddress: addr, TemplateName: name,
		ConfigurationSet: c.param("ConfigurationSetName"), SourceIP: c.sourceIP, CallerIdentity: c.keyID})
	if err != nil {
		return nil, cvError(err)
	}
	return sendResult{MessageId: id}, nil
}
