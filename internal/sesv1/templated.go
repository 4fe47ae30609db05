package sesv1

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/template"
)

// SendTemplatedEmail and SendBulkTemplatedEmail (ses-api.md §6, §12).
//
// Both go through send.Submit like SendEmail: a templated message is
// checked as a Simple one, then rendered with its data. A template that
// does not render with the data is, as in SES, not an error of the call:
// the call answers with a MessageId, nothing is sent, and a Rendering
// Failure event about that MessageId goes to the configuration set's
// event destinations (send's package doc, check 12). In a bulk send that
// destination's Status is Failed, with the rendering error and the
// MessageId.
//
// Errors of the whole request, in SES's order (§12.1): a missing or
// malformed parameter (ValidationError, InvalidParameterValue: TemplateData
// that is not a JSON object names the parameter), the account's sending
// paused (AccountSendingPausedException), the configuration set
// (ConfigurationSetDoesNotExist, ConfigurationSetSendingPausedException),
// the template (TemplateDoesNotExist, also for a TemplateArn of another
// account or region). A bulk send then submits each destination on its
// own; what fails for one (its addresses, an unverified recipient in the
// sandbox, the sending rate, ...) is that destination's Status, named as
// send's package doc lists, and does not stop the others.

// maxBulkDestinations is the most destinations one bulk call may have
// (ses-api.md §14.2).
const maxBulkDestinations = 50

type bulkResult struct {
	Status []bulkStatus `xml:"Status>member"`
}

type bulkStatus struct {
	Status    string
	Error     string `xml:",omitempty"`
	MessageId string `xml:",omitempty"`
}

// destination reads Destination.ToAddresses/CcAddresses/BccAddresses into s.
func (c *call) destination(prefix string, s *compose.Simple) error {
	for _, l := range []struct {
		name string
		dst  *[]string
	}{{"ToAddresses", &s.To}, {"CcAddresses", &s.Cc}, {"BccAddresses", &s.Bcc}} {
		var err error
		if *l.dst, err = c.list(prefix+l.name, false); err != nil {
			return err
		}
	}
	return nil
}

// renderingData parses a TemplateData parameter (a JSON object).
func renderingData(field, s string) (map[string]any, error) {
	d, err := template.ParseData(field, s)
	if de, ok := errors.AsType[*template.DataError](err); ok {
		return nil, invalidParameter("%s", de.Msg)
	}
	return d, err
}

// sendingTemplate returns the compiled template named by the Template and
// TemplateArn parameters, after the checks SES makes before it (account
// paused, configuration set): see the comment at the top of the file.
func (h *handler) sendingTemplate(c *call, configSet string) (name string, t *template.Compiled, err error) {
	name, err = c.required("Template")
	if err != nil {
		return "", nil, err
	}
	if arn := c.param("TemplateArn"); arn != "" {
		caller := sesapi.CallerFrom(c.ctx)
		want := fmt.Sprintf("arn:aws:ses:%s:%s:template/", caller.Region, c.account)
		an, ok := strings.CutPrefix(arn, want)
		switch {
		case ok && an != name:
			return "", nil, invalidParameter("TemplateArn %s names template %s, but Template is %s.", arn, an, name)
		case !ok:
			// Another account's or region's template: the caller cannot
			// see it (Sesame has no sending authorization).
			return "", nil, templateError(template.ErrNotFound, arn)
		}
	}
	if err := h.sender.Precheck(c.ctx, c.account, configSet); err != nil {
		return "", nil, sendError(err)
	}
	store, err := configured(h.templates, "Templates")
	if err != nil {
		return "", nil, err
	}
	compiled, err := store.GetCompiled(c.ctx, c.account, name)
	if err != nil {
		return "", nil, templateError(err, name)
	}
	return name, compiled, nil
}

// SendTemplatedEmail: Source, Destination, ReplyToAddresses, ReturnPath,
// Tags, ConfigurationSetName, Template/TemplateArn, TemplateData.
func (h *handler) sendTemplatedEmail(c *call) (any, error) {
	if h.sender == nil {
		return nil, errors.New("sesv1: sending is not configured")
	}
	r, err := c.simpleRequest()
	if err != nil {
		return nil, err
	}
	rawData, err := c.required("TemplateData")
	if err != nil {
		return nil, err
	}
	data, err := renderingData("TemplateData", rawData)
	if err != nil {
		return nil, err
	}
	name, compiled, err := h.sendingTemplate(c, r.ConfigurationSet)
	if err != nil {
		return nil, err
	}
	r.Template = &send.Template{Name: name, Compiled: compiled, Data: data}
	res, err := h.sender.Submit(c.ctx, c.request("SendTemplatedEmail", r))
	if err != nil && !errors.Is(err, send.ErrRenderingFailure) {
		return nil, sendError(err)
	}
	return sendResult{MessageId: res.MessageID}, nil
}

// SendBulkTemplatedEmail: Source, ReplyToAddresses, ReturnPath,
// ConfigurationSetName, DefaultTags, Template/TemplateArn,
// DefaultTemplateData, Destinations (1 to 50, each with its Destination,
// ReplacementTags and ReplacementTemplateData).
//
// Each destination is one message, submitted on its own. Its tags are its
// ReplacementTags when it has any, else DefaultTags (the replacement list
// replaces the default one, as X-SES-MESSAGE-TAGS does for the API's tags;
// SES documents no merging). Its data is DefaultTemplateData with
// ReplacementTemplateData's keys over it (template.Merge).
func (h *handler) sendBulkTemplatedEmail(c *call) (any, error) {
	if h.sender == nil {
		return nil, errors.New("sesv1: sending is not configured")
	}
	source, err := c.required("Source")
	if err != nil {
		return nil, err
	}
	rawDefault, err := c.required("DefaultTemplateData")
	if err != nil {
		return nil, err
	}
	replyTo, err := c.list("ReplyToAddresses", false)
	if err != nil {
		return nil, err
	}
	defaultTags, err := c.tags("DefaultTags")
	if err != nil {
		return nil, err
	}
	if err := compose.ValidateTags("DefaultTags", defaultTags); err != nil {
		var ce *compose.Error
		if errors.As(err, &ce) {
			return nil, invalidParameter("%s", ce.Msg)
		}
		return nil, err
	}
	defaultData, err := renderingData("DefaultTemplateData", rawDefault)
	if err != nil {
		return nil, err
	}
	items, ok, err := c.form.items("Destinations")
	switch {
	case err != nil:
		return nil, validationError("Value at 'destinations' failed to satisfy constraint: %v", err)
	case !ok:
		return nil, notNull("Destinations")
	case len(items) == 0 || len(items) > maxBulkDestinations:
		return nil, invalidParameter("Destinations must have from 1 to %d destinations; the request has %d.", maxBulkDestinations, len(items))
	}
	type entry struct {
		simple *compose.Simple
		tags   []compose.Tag
		data   map[string]any
	}
	entries := make([]entry, len(items))
	refused := make([]error, len(items)) // entries refused before the admission door
	for i, it := range items {
		sub := &call{ctx: c.ctx, account: c.account, keyID: c.keyID, sourceIP: c.sourceIP, form: it}
		e := &entries[i]
		e.simple = &compose.Simple{From: source, ReplyTo: replyTo}
		if err := sub.destination("Destination.", e.simple); err != nil {
			return nil, err
		}
		if e.tags, err = sub.tags("ReplacementTags"); err != nil {
			return nil, err
		}
		if len(e.tags) == 0 {
			e.tags = defaultTags
		}
		e.data = defaultData
		if raw := sub.param("ReplacementTemplateData"); raw != "" {
			repl, err := template.ParseData(fmt.Sprintf("Destinations[%d].ReplacementTemplateData", i), raw)
			if err != nil {
				// One destination's bad data is that destination's
				// InvalidParameterValue, not the whole request's.
				refused[i] = send.InvalidData(err)
				continue
			}
			e.data = template.Merge(defaultData, repl)
		}
	}
	cs := c.param("ConfigurationSetName")
	name, compiled, err := h.sendingTemplate(c, cs)
	if err != nil {
		return nil, err
	}
	rs := make([]send.Request, len(entries))
	for i, e := range entries {
		rs[i] = c.request("SendBulkTemplatedEmail", send.Request{Simple: e.simple, From: source, Tags: e.tags, ConfigurationSet: cs,
			FeedbackForwardingAddress: c.param("ReturnPath"), Template: &send.Template{Name: name, Compiled: compiled, Data: e.data}})
	}
	results, errs := h.sender.SubmitEach(c.ctx, rs, refused)
	out := bulkResult{Status: make([]bulkStatus, len(rs))}
	for i, err := range errs {
		out.Status[i] = h.bulkStatus(c, i, results[i].MessageID, err)
	}
	return out, nil
}

// bulkStatus is one destination's BulkEmailDestinationStatus.
func (h *handler) bulkStatus(c *call, i int, id string, err error) bulkStatus {
	if err == nil {
		return bulkStatus{Status: sesapi.BulkSuccessV1, MessageId: id}
	}
	status, _, msg, ok := sesapi.BulkStatus(err)
	if !ok {
		h.log.Error("sesv1: bulk destination failed", "account", c.account, "destination", i, "err", err)
	}
	return bulkStatus{Status: status, Error: msg, MessageId: id}
}
