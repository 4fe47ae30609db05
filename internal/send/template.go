package send

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/template"
)

// Template is the content of a templated send (v1 SendTemplatedEmail and
// SendBulkTemplatedEmail, v2 SendEmail with Content.Template and
// SendBulkEmail). The Request's Simple carries everything else — From,
// To/Cc/Bcc, ReplyTo, Headers, Attachments — with Subject, Text and HTML
// left empty: rendering fills them.
type Template struct {
	// Name is the stored template's name, for the Rendering Failure
	// event's templateName; "" for inline content (v2 TemplateContent).
	Name string
	// Compiled is the template (required). A bulk send compiles once and
	// shares it between its entries.
	Compiled *template.Compiled
	// Data is the rendering data, parsed and already merged with any
	// default data.
	Data map[string]any
}

// render renders t into a copy of simple and composes it with copts; a
// non-empty unsubURL replaces the unsubscribe placeholders of the rendered
// text and HTML (see withUnsubscribeURL). A
// template that does not render with the data, or renders into something
// compose refuses (a subject with a line break), is a *Error of
// KindRenderingFailure.
func (t *Template) render(simple compose.Simple, copts compose.Options, unsubURL string) (*compose.Message, error) {
	c, err := t.Compiled.Render(t.Data)
	if err != nil {
		msg := err.Error()
		if re, ok := errors.AsType[*template.RenderError](err); ok {
			msg = re.Msg
		}
		return nil, &Error{Kind: KindRenderingFailure, Msg: msg, Field: "TemplateData", Err: err}
	}
	simple.Subject, simple.Text, simple.HTML = c.Subject, c.Text, c.HTML
	if unsubURL != "" {
		simple = withUnsubscribeURL(simple, unsubURL)
	}
	m, err := compose.Build(simple, copts)
	if err != nil {
		if ce, ok := errors.AsType[*compose.Error](err); ok {
			return nil, &Error{Kind: KindRenderingFailure, Msg: "The rendered template is not a valid message: " + ce.Msg, Field: ce.Field, Err: err}
		}
		return nil, fmt.Errorf("send: compose rendered template: %w", err)
	}
	return m, nil
}

// withoutSubject returns mail without its Subject header and
// commonHeaders.subject, as SES reports a templated message in its Send
// event (the subject is rendered later). bodyHeaders false also drops the
// Content-* fields, which describe a body that was never rendered.
func withoutSubject(mail event.Mail, bodyHeaders bool) event.Mail {
	hs := make([]event.Header, 0, len(mail.Headers))
	for _, h := range mail.Headers {
		if strings.EqualFold(h.Name, "Subject") || (!bodyHeaders && len(h.Name) > 8 && strings.EqualFold(h.Name[:8], "Content-")) {
			continue
		}
		hs = append(hs, h)
	}
	mail.Headers = hs
	mail.CommonHeaders.Subject = ""
	return mail
}

// Precheck runs the checks of the package doc that are the same for every
// message of a request — 2 (account sending paused) and 5 (the
// configuration set named by the request: "" checks none) — with the same
// errors as Submit. The templated and bulk operations call it before they
// look their template up, so the errors come in SES's order (ses-api.md
// §12.1: paused, configuration set, template), and a bulk send refuses
// the whole request for them rather than each of its destinations. Submit
// runs both checks again.
func (s *Sender) Precheck(ctx context.Context, accountID, configurationSet string) error {
	acct, err := s.sendingAccount(ctx, accountID, MsgSendingPaused)
	if err != nil {
		return err
	}
	if configurationSet != "" {
		if _, err := s.configurationSet(ctx, acct.ID, configurationSet); err != nil {
			return err
		}
	}
	return nil
}

// bulkParallel is how many messages of one bulk request SubmitEach admits
// at once: enough for PostgreSQL to commit several together, few enough
// that one request cannot take every database connection.
const bulkParallel = 8

// SubmitEach submits each request on its own (a bulk send's entries: one
// entry's rejection does not stop the others) and returns their results
// and errors in the order of rs. Up to bulkParallel run at once. refused,
// when not nil, has one entry per request: a request whose entry is an
// error (one the caller refused before the admission door, such as
// template data that does not parse) is not submitted, and that error is
// its answer.
func (s *Sender) SubmitEach(ctx context.Context, rs []Request, refused []error) ([]Result, []error) {
	res := make([]Result, len(rs))
	errs := make([]error, len(rs))
	if refused != nil {
		copy(errs, refused)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, bulkParallel)
	for i := range rs {
		if errs[i] != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() {
				<-sem
				if p := recover(); p != nil {
					s.log.Error("send: panic in a bulk entry", "account", rs[i].AccountID, "entry", i, "panic", p)
					res[i], errs[i] = Result{}, fmt.Errorf("send: entry %d: panic: %v", i, p)
				}
			}()
			res[i], errs[i] = s.Submit(ctx, rs[i])
		})
	}
	wg.Wait()
	return res, errs
}

// InvalidData is the rejection of a bulk entry whose template data a
// caller could not parse (a *template.DataError): KindInvalid with its
// sentence, so that the entry answers InvalidParameterValue /
// INVALID_PARAMETER and the other entries are still sent. Any other error
// is returned as it is.
func InvalidData(err error) error {
	if de, ok := errors.AsType[*template.DataError](err); ok {
		return &Error{Kind: KindInvalid, Msg: de.Msg, Field: de.Field, Err: err}
	}
	return err
}
