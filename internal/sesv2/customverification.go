package sesv2

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// Custom verification email templates and SendCustomVerificationEmail, v2
// (ses-api.md §7 "Custom verification emails", §9.2): under
// /v2/email/custom-verification-email-templates and POST
// /v2/email/outbound-custom-verification-emails. The rules are package
// verifytemplate's; v2 models no FromEmailAddressNotVerified or
// ProductionAccessNotGranted, so an unverified FromEmailAddress is a
// BadRequestException and a sandboxed account's send a MessageRejected
// (the code of v2's other sandbox refusals).

// maxCVPageSize bounds ListCustomVerificationEmailTemplates' PageSize.
const maxCVPageSize = verifytemplate.MaxTemplates

func (h *handler) cvTemplates() (*verifytemplate.Store, error) {
	if h.customVerification == nil {
		return nil, errors.New("sesv2: custom verification emails are not configured (Options.CustomVerification is nil)")
	}
	return h.customVerification, nil
}

// cvError maps verifytemplate's errors to v2's codes.
func cvError(err error) error {
	var ie *verifytemplate.InvalidError
	if errors.As(err, &ie) {
		return badRequest("%s", ie.Msg)
	}
	var ve *verifytemplate.Error
	if !errors.As(err, &ve) {
		return sendError(err)
	}
	switch {
	case errors.Is(err, verifytemplate.ErrNotFound):
		return notFound("%s", ve.Msg)
	case errors.Is(err, verifytemplate.ErrAlreadyExists):
		return alreadyExists("%s", ve.Msg)
	case errors.Is(err, verifytemplate.ErrLimitExceeded):
		return sesapi.Errorf(http.StatusBadRequest, "LimitExceededException", "%s", ve.Msg)
	case errors.Is(err, verifytemplate.ErrProductionAccess):
		return sesapi.Errorf(http.StatusBadRequest, "MessageRejected", "%s", ve.Msg)
	}
	return badRequest("%s", ve.Msg) // ErrFromNotVerified
}

// cvTemplateInput is the body of Create and Update (Tags: Create only).
type cvTemplateInput struct {
	TemplateName          *string `json:"TemplateName"`
	FromEmailAddress      *string `json:"FromEmailAddress"`
	TemplateSubject       *string `json:"TemplateSubject"`
	TemplateContent       *string `json:"TemplateContent"`
	SuccessRedirectionURL *string `json:"SuccessRedirectionURL"`
	FailureRedirectionURL *string `json:"FailureRedirectionURL"`
	Tags                  []tag   `json:"Tags"`
}

// required checks that every member v2 requires is present.
func (in *cvTemplateInput) required() error {
	for _, m := range []struct {
		name string
		v    *string
	}{{"FromEmailAddress", in.FromEmailAddress}, {"TemplateSubject", in.TemplateSubject}, {"TemplateContent", in.TemplateContent},
		{"SuccessRedirectionURL", in.SuccessRedirectionURL}, {"FailureRedirectionURL", in.FailureRedirectionURL}} {
		if m.v == nil {
			return badRequest("%s is required.", m.name)
		}
	}
	return nil
}

// cvTemplateInput returns the store and the body of Create or Update,
// with every member v2 requires of both present.
func (h *handler) cvTemplateInput(r *http.Request) (*verifytemplate.Store, *cvTemplateInput, error) {
	s, err := h.cvTemplates()
	if err != nil {
		return nil, nil, err
	}
	var in cvTemplateInput
	if err := decodeBody(r, &in); err != nil {
		return nil, nil, err
	}
	if err := in.required(); err != nil {
		return nil, nil, err
	}
	return s, &in, nil
}

// CreateCustomVerificationEmailTemplate: POST /v2/email/custom-verification-email-templates.
func (h *handler) createCustomVerificationEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, in, err := h.cvTemplateInput(r)
	if err != nil {
		return nil, err
	}
	if in.TemplateName == nil {
		return nil, badRequest("TemplateName is required.")
	}
	t := verifytemplate.Template{Name: *in.TemplateName, FromEmailAddress: *in.FromEmailAddress, Subject: *in.TemplateSubject, Content: *in.TemplateContent,
		SuccessURL: *in.SuccessRedirectionURL, FailureURL: *in.FailureRedirectionURL, Tags: storeTags[verifytemplate.Tag](in.Tags)}
	return nil, cvError(s.Create(r.Context(), c.AccountID, t))
}

// UpdateCustomVerificationEmailTemplate: PUT /v2/email/custom-verification-email-templates/{TemplateName};
// v2 requires every member.
func (h *handler) updateCustomVerificationEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, in, err := h.cvTemplateInput(r)
	if err != nil {
		return nil, err
	}
	u := verifytemplate.Update{FromEmailAddress: in.FromEmailAddress, Subject: in.TemplateSubject, Content: in.TemplateContent,
		SuccessURL: in.SuccessRedirectionURL, FailureURL: in.FailureRedirectionURL}
	return nil, cvError(s.Update(r.Context(), c.AccountID, r.PathValue("TemplateName"), u))
}

// DeleteCustomVerificationEmailTemplate: DELETE /v2/email/custom-verification-email-templates/{TemplateName}.
func (h *handler) deleteCustomVerificationEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.cvTemplates()
	if err != nil {
		return nil, err
	}
	return nil, cvError(s.Delete(r.Context(), c.AccountID, r.PathValue("TemplateName")))
}

type cvTemplateOutput struct {
	TemplateName          string `json:"TemplateName"`
	FromEmailAddress      string `json:"FromEmailAddress"`
	TemplateSubject       string `json:"TemplateSubject"`
	TemplateContent       string `json:"TemplateContent,omitempty"`
	SuccessRedirectionURL string `json:"SuccessRedirectionURL"`
	FailureRedirectionURL string `json:"FailureRedirectionURL"`
	Tags                  []tag  `json:"Tags,omitempty"`
}

// GetCustomVerificationEmailTemplate: GET /v2/email/custom-verification-email-templates/{TemplateName}.
func (h *handler) getCustomVerificationEmailTemplate(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.cvTemplates()
	if err != nil {
		return nil, err
	}
	t, err := s.Get(r.Context(), c.AccountID, r.PathValue("TemplateName"))
	if err != nil {
		return nil, cvError(err)
	}
	return cvTemplateOutput{TemplateName: t.Name, FromEmailAddress: t.FromEmailAddress, TemplateSubject: t.Subject, TemplateContent: t.Content,
		SuccessRedirectionURL: t.SuccessURL, FailureRedirectionURL: t.FailureURL, Tags: apiTags(t.Tags)}, nil
}

// ListCustomVerificationEmailTemplates: GET /v2/email/custom-verification-email-templates
// with NextToken and PageSize (1–50; default 50) in the query.
func (h *handler) listCustomVerificationEmailTemplates(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.cvTemplates()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	size := maxCVPageSize
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCVPageSize {
			return nil, badRequest("Invalid PageSize %q: it must be a number from 1 to %d.", v, maxCVPageSize)
		}
		size = n
	}
	ts, next, err := s.List(r.Context(), c.AccountID, q.Get("NextToken"), size)
	if err != nil {
		return nil, cvError(err)
	}
	out := struct {
		CustomVerificationEmailTemplates []cvTemplateOutput `json:"CustomVerificationEmailTemplates"`
		NextToken                        string             `json:"NextToken,omitempty"`
	}{CustomVerificationEmailTemplates: []cvTemplateOutput{}, NextToken: next}
	for _, t := range ts {
		out.CustomVerificationEmailTemplates = append(out.CustomVerificationEmailTemplates, cvTemplateOutput{TemplateName: t.Name, FromEmailAddress: t.FromEmailAddress,
			TemplateSubject: t.Subject, SuccessRedirectionURL: t.SuccessURL, FailureRedirectionURL: t.FailureURL})
	}
	return out, nil
}

// SendCustomVerificationEmail: POST /v2/email/outbound-custom-verification-emails.
func (h *handler) sendCustomVerificationEmail(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.cvTemplates()
	if err != nil {
		return nil, err
	}
	var in struct {
		EmailAddress         *string `json:"EmailAddress"`
		TemplateName         *string `json:"TemplateName"`
		ConfigurationSetName string  `json:"ConfigurationSetName"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.EmailAddress == nil {
		return nil, badRequest("EmailAddress is required.")
	}
	if in.TemplateName == nil {
		return nil, badRequest("TemplateName is required.")
	}
	req := verifytemplate.SendRequest{AccountID: c.AccountID, EmailAddress: *in.EmailAddress, TemplateName: *in.TemplateName,
		ConfigurationSet: in.ConfigurationSetName, CallerIdentity: c.AccessKeyID}
	req.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	id, err := s.Send(r.Context(), req)
	if err != nil {
		return nil, cvError(err)
	}
	return struct {
		MessageID string `json:"MessageId"`
	}{id}, nil
}
