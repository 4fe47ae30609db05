package sesv2

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/template"
)

// Templated sends: SendEmail with Content.Template, and SendBulkEmail
// (ses-api.md §7, §12.2).
//
// Both go through send.Submit like any SendEmail: a templated message is
// checked as a Simple one, then rendered with its data. A template that
// does not render with the data is, as in SES, not an error of the call:
// SendEmail answers with a MessageId, nothing is sent, and a Rendering
// Failure event about that MessageId goes to the configuration set's event
// destinations (send's package doc, check 12). In a bulk send that entry's
// Status is FAILED, with the rendering error and the MessageId.
//
// Errors of the whole request, in SES's order (§12.1): the request's shape
// (BadRequestException: a missing FromEmailAddress is SES's "Source cannot
// be empty"; TemplateData that is not a JSON object; inline TemplateContent
// that does not parse; EndpointId, since Sesame has no multi-region
// endpoints), the account's sending paused (SendingPausedException), the
// configuration set (NotFoundException, SendingPausedException), the
// template (NotFoundException, also for a TemplateArn of another account or
// region). SendBulkEmail then submits each entry on its own; what fails for
// one (its addresses, an unverified recipient in the sandbox, the sending
// rate, ...) is that entry's Status and does not stop the others.

// maxBulkEntries is the most entries one SendBulkEmail call may have
// (ses-api.md §14.2).
const maxBulkEntries = 50

// sendTemplateInput is the v2 Template of EmailContent and BulkEmailContent.
type sendTemplateInput struct {
	TemplateName, TemplateArn string
	TemplateContent           *struct{ Subject, Text, Html string }
	TemplateData              string
	Headers                   []messageHeader
	Attachments               []attachment
}

// renderingData parses a TemplateData member (a JSON object; empty is {}).
func renderingData(field, s string) (map[string]any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	d, err := template.ParseData(field, s)
	if err != nil {
		return nil, templateError(err, "")
	}
	return d, nil
}

// sendingTemplate returns the template a templated send names (field is
// the member's name in errors): inline TemplateContent, compiled, or the
// stored template named by TemplateName or TemplateArn, looked up after
// the checks SES makes before it (account paused, configuration set). The
// result has no Data yet.
func (h *handler) sendingTemplate(r *http.Request, c sesapi.Caller, field string, t *sendTemplateInput, configSet string) (*send.Template, error) {
	name := t.TemplateName
	switch {
	case t.TemplateContent != nil && (t.TemplateName != "" || t.TemplateArn != ""):
		return nil, badRequest("%s must have TemplateName or TemplateArn, or TemplateContent, not both.", field)
	case t.TemplateContent == nil && t.TemplateName == "" && t.TemplateArn == "":
		return nil, badRequest("%s must have TemplateName, TemplateArn or TemplateContent.", field)
	case t.TemplateArn != "":
		a, err := parseARN(field+".TemplateArn", t.TemplateArn)
		if err != nil {
			return nil, err
		}
		if a.typ != "template" || (a.account != "" && a.account != c.AccountID) || a.region != c.Region {
			// Another account's or region's template: the caller cannot
			// see it (Sesame has no sending authorization).
			return nil, templateError(template.ErrNotFound, t.TemplateArn)
		}
		if name != "" && name != a.name {
			return nil, badRequest("%s.TemplateArn %s names template %s, but TemplateName is %s.", field, t.TemplateArn, a.name, name)
		}
		name = a.name
	}
	var inline *template.Compiled
	if tc := t.TemplateContent; tc != nil {
		var err error
		inline, err = h.compileInline(r.Context(), template.Content{Subject: tc.Subject, Text: tc.Text, HTML: tc.Html})
		if err != nil {
			return nil, templateError(err, "")
		}
	}
	if err := h.sender.Precheck(r.Context(), c.AccountID, configSet); err != nil {
		return nil, sendError(err)
	}
	if inline != nil {
		return &send.Template{Compiled: inline}, nil
	}
	store, err := h.templateStore()
	if err != nil {
		return nil, err
	}
	compiled, err := store.GetCompiled(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, templateError(err, name)
	}
	return &send.Template{Name: name, Compiled: compiled}, nil
}

type sendBulkEmailInput struct {
	FromEmailAddress               string
	ReplyToAddresses               []string
	FeedbackForwardingEmailAddress string
	DefaultEmailTags               []messageTag
	DefaultContent                 *struct{ Template *sendTemplateInput }
	BulkEmailEntries               []struct {
		Destination             *destinationInput
		ReplacementTags         []messageTag
		ReplacementEmailContent *struct {
			ReplacementTemplate *struct{ ReplacementTemplateData string }
		}
		ReplacementHeaders []messageHeader
	}
	ConfigurationSetName string
	EndpointId           string
	// ListManagementOptions is a Sesame extension: SES's SendBulkEmail
	// has none. Given, it applies to every entry.
	ListManagementOptions *listManagementOptions
}

type bulkEmailEntryResult struct {
	Status    string
	Error     string `json:",omitempty"`
	MessageId string `json:",omitempty"`
}

type sendBulkEmailOutput struct {
	BulkEmailEntryResults []bulkEmailEntryResult
}

func tags(ts []messageTag) []compose.Tag {
	var out []compose.Tag
	for _, t := range ts {
		out = append(out, compose.Tag{Name: t.Name, Value: t.Value})
	}
	return out
}

// sendBulkEmail: POST /v2/email/outbound-bulk-emails.
//
// Each entry is one message, submitted on its own. Its tags are its
// ReplacementTags when it has any, else DefaultEmailTags (the replacement
// list replaces the default one; SES documents no merging). Its data is
// the template's TemplateData with ReplacementTemplateData's keys over it
// (template.Merge). Its headers are the template's Headers, those named
// again in ReplacementHeaders (ignoring case) replaced by the entry's.
func (h *handler) sendBulkEmail(r *http.Request, c sesapi.Caller) (any, error) {
	if h.sender == nil {
		return nil, errors.New("sesv2: sending is not configured")
	}
	var in sendBulkEmailInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	switch {
	case in.EndpointId != "":
		return nil, badRequest("EndpointId (multi-region endpoints, signed with SigV4a) is not supported by Sesame.")
	case in.DefaultContent == nil || in.DefaultContent.Template == nil:
		return nil, badRequest("DefaultContent.Template is required.")
	case in.FromEmailAddress == "":
		return nil, badRequest("Source cannot be empty")
	case len(in.BulkEmailEntries) == 0 || len(in.BulkEmailEntries) > maxBulkEntries:
		return nil, badRequest("BulkEmailEntries must have from 1 to %d entries; the request has %d.", maxBulkEntries, len(in.BulkEmailEntries))
	}
	t := in.DefaultContent.Template
	defaultTags := tags(in.DefaultEmailTags)
	if err := compose.ValidateTags("DefaultEmailTags", defaultTags); err != nil {
		if ce, ok := errors.AsType[*compose.Error](err); ok {
			return nil, badRequest("%s", ce.Msg)
		}
		return nil, err
	}
	defaultData, err := renderingData("DefaultContent.Template.TemplateData", t.TemplateData)
	if err != nil {
		return nil, err
	}
	base := send.Request{AccountID: c.AccountID, From: in.FromEmailAddress, ConfigurationSet: in.ConfigurationSetName,
		FeedbackForwardingAddress: in.FeedbackForwardingEmailAddress, MaxSize: send.MaxSizeV2, Operation: "SendBulkEmail",
		CallerIdentity: c.AccessKeyID, TagsParam: "EmailTags"}
	base.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	if base.ListManagement, err = listManagement("ListManagementOptions", in.ListManagementOptions); err != nil {
		return nil, err
	}
	if lm := base.ListManagement; lm != nil {
		// The list is the whole request's: an unknown one refuses the
		// request, as an unknown template does, not each entry.
		if err := h.checkList(r, c, lm); err != nil {
			return nil, err
		}
	}
	rs := make([]send.Request, len(in.BulkEmailEntries))
	refused := make([]error, len(rs)) // entries refused before the admission door
	for i, e := range in.BulkEmailEntries {
		if e.Destination == nil {
			return nil, badRequest("BulkEmailEntries[%d].Destination is required.", i)
		}
		req := base
		req.Simple = &compose.Simple{From: in.FromEmailAddress, To: e.Destination.ToAddresses, Cc: e.Destination.CcAddresses,
			Bcc: e.Destination.BccAddresses, ReplyTo: in.ReplyToAddresses, Headers: replaceHeaders(t.Headers, e.ReplacementHeaders),
			Attachments: attachments(t.Attachments)}
		req.Tags = defaultTags
		if len(e.ReplacementTags) > 0 {
			req.Tags = tags(e.ReplacementTags)
		}
		req.Template = &send.Template{Data: defaultData}
		if rc := e.ReplacementEmailContent; rc != nil && rc.ReplacementTemplate != nil && rc.ReplacementTemplate.ReplacementTemplateData != "" {
			repl, err := template.ParseData(fmt.Sprintf("BulkEmailEntries[%d].ReplacementEmailContent.ReplacementTemplate.ReplacementTemplateData", i),
				rc.ReplacementTemplate.ReplacementTemplateData)
			if err != nil {
				// One entry's bad data is that entry's INVALID_PARAMETER,
				// not the whole request's.
				refused[i] = send.InvalidData(err)
			} else {
				req.Template.Data = template.Merge(defaultData, repl)
			}
		}
		rs[i] = req
	}
	tmpl, err := h.sendingTemplate(r, c, "DefaultContent.Template", t, in.ConfigurationSetName)
	if err != nil {
		return nil, err
	}
	for _, req := range rs {
		req.Template.Name, req.Template.Compiled = tmpl.Name, tmpl.Compiled
	}
	results, errs := h.sender.SubmitEach(r.Context(), rs, refused)
	out := sendBulkEmailOutput{BulkEmailEntryResults: make([]bulkEmailEntryResult, len(rs))}
	for i, err := range errs {
		out.BulkEmailEntryResults[i] = h.bulkEntryResult(c, i, results[i].MessageID, err)
	}
	return out, nil
}

// checkList refuses a contact list or topic the account does not have
// with NotFoundException.
func (h *handler) checkList(r *http.Request, c sesapi.Caller, lm *compose.ListManagement) error {
	if h.contacts == nil {
		return notFound("Contact list %s does not exist.", lm.ContactList)
	}
	l, err := h.contacts.GetList(r.Context(), c.AccountID, lm.ContactList)
	if errors.Is(err, contact.ErrNotFound) {
		return notFound("Contact list %s does not exist.", lm.ContactList)
	}
	if err != nil {
		return err
	}
	if lm.Topic != "" && !slices.ContainsFunc(l.Topics, func(t contact.Topic) bool { return t.TopicName == lm.Topic }) {
		return notFound("Topic %s does not exist in contact list %s.", lm.Topic, lm.ContactList)
	}
	return nil
}

// replaceHeaders returns the template's headers with those named in repl
// (ignoring case) replaced by repl's.
func replaceHeaders(tmpl, repl []messageHeader) []compose.Header {
	if len(repl) == 0 {
		return headers(tmpl)
	}
	var out []compose.Header
	for _, h := range tmpl {
		replaced := false
		for _, r := range repl {
			replaced = replaced || strings.EqualFold(h.Name, r.Name)
		}
		if !replaced {
			out = append(out, compose.Header{Name: h.Name, Value: h.Value})
		}
	}
	return append(out, headers(repl)...)
}

// bulkEntryResult is one entry's BulkEmailEntryResult.
func (h *handler) bulkEntryResult(c sesapi.Caller, i int, id string, err error) bulkEmailEntryResult {
	if err == nil {
		return bulkEmailEntryResult{Status: sesapi.BulkSuccessV2, MessageId: id}
	}
	_, status, msg, ok := sesapi.BulkStatus(err)
	if !ok {
		h.log.Error("sesv2: bulk entry failed", "account", c.AccountID, "entry", i, "err", err)
	}
	return bulkEmailEntryResult{Status: status, Error: msg, MessageId: id}
}
