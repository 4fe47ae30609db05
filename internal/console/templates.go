package console

import (
	"errors"
	"net/http"
	"strings"

	sestemplate "github.com/sesame-email/sesame/internal/template"
)

// templatesData is the Templates page's.
type templatesData struct {
	Templates []sestemplate.Template
	Query     string // the filter: part of a name
	Form      templateForm
}

// templateForm is the create and edit form's values and errors.
type templateForm struct {
	Name, Subject, Text, HTML string
	NameError, ContentError   string
}

// formOf is the form filled with a stored template.
func formOf(t *sestemplate.Template) templateForm {
	return templateForm{Name: t.Name, Subject: t.Content.Subject, Text: t.Content.Text, HTML: t.Content.HTML}
}

func readTemplateForm(r *http.Request) templateForm {
	return templateForm{Name: strings.TrimSpace(r.PostFormValue("name")), Subject: r.PostFormValue("subject"),
		Text: r.PostFormValue("text"), HTML: r.PostFormValue("html")}
}

func (f *templateForm) content() sestemplate.Content {
	return sestemplate.Content{Subject: f.Subject, Text: f.Text, HTML: f.HTML}
}

// refuse puts the store's sentence for err next to its field; false for
// an error that is not about the input.
func (f *templateForm) refuse(err error) bool {
	kind, msg := sestemplate.KindOf(err, f.Name)
	var pe *sestemplate.ParamError
	switch {
	case kind == sestemplate.KindInvalidParameter && errors.As(err, &pe) && pe.Field == "TemplateName",
		kind == sestemplate.KindAlreadyExists, kind == sestemplate.KindLimitExceeded:
		f.NameError = msg
	case kind == sestemplate.KindInvalidParameter, kind == sestemplate.KindInvalidTemplate:
		f.ContentError = msg
	default:
		return false
	}
	return true
}

// templates returns every template of the account whose name contains
// the q filter.
func (c *Console) templates(r *http.Request, accountID string) ([]sestemplate.Template, string, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var out []sestemplate.Template
	token := ""
	for {
		ts, next, err := c.opts.Templates.List(r.Context(), accountID, token, 1000)
		if err != nil {
			return nil, q, err
		}
		for _, t := range ts {
			if contains(t.Name, q) {
				out = append(out, t)
			}
		}
		if next == "" {
			return out, q, nil
		}
		token = next
	}
}

func (c *Console) templatesPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.templatesWith(w, r, se, http.StatusOK, templateForm{})
}

func (c *Console) templatesWith(w http.ResponseWriter, r *http.Request, se *session, status int, f templateForm) {
	d := templatesData{Form: f}
	var err error
	if d.Templates, d.Query, err = c.templates(r, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, status, "templates", view{Title: "Templates", Session: se, Nav: "templates", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// createTemplate is v2 CreateEmailTemplate.
func (c *Console) createTemplate(w http.ResponseWriter, r *http.Request, se *session) {
	f := readTemplateForm(r)
	err := c.opts.Templates.Create(r.Context(), se.AccountID, sestemplate.Template{Name: f.Name, Content: f.content()})
	switch {
	case err == nil:
		flash(w, r, Prefix+"templates/"+f.Name, "template-created")
	case f.refuse(err):
		c.templatesWith(w, r, se, http.StatusBadRequest, f)
	default:
		c.internal(w, r, err)
	}
}

// templateData is one template's page's: the edit form, the test
// render's data and its result.
type templateData struct {
	Form       templateForm
	RenderData string
	DataError  string
	Rendered   *sestemplate.Content
}

func (c *Console) templatePage(w http.ResponseWriter, r *http.Request, se *session) {
	t, err := c.opts.Templates.Get(r.Context(), se.AccountID, r.PathValue("name"))
	if !c.loaded(w, r, se, err, sestemplate.ErrNotFound) {
		return
	}
	c.templateWith(w, r, se, http.StatusOK, templateData{Form: formOf(t), RenderData: "{}"})
}

// previewPolicy is the Content-Security-Policy of a page with a test
// render: the console's, except that it may hold the preview frame (an
// srcdoc frame, which inherits this policy besides its sandbox). The
// frame's sandbox is "allow-same-origin" and nothing else: no script runs
// in it (nor could, with this policy, an inline one), and Chromium keeps
// it in the page's process; with an opaque origin (sandbox="") Chromium
// isolates it in a process of its own, which headless Chromium often
// never paints, so the preview showed blank.
var previewPolicy = strings.Replace(contentSecurityPolicy, "default-src 'none'", "default-src 'none'; frame-src 'self'", 1)

func (c *Console) templateWith(w http.ResponseWriter, r *http.Request, se *session, status int, d templateData) {
	if d.Rendered != nil {
		w.Header().Set("Content-Security-Policy", previewPolicy)
	}
	c.render(w, status, "template", view{Title: "Template " + d.Form.Name, Session: se, Nav: "templates", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// updateTemplate is v2 UpdateEmailTemplate.
func (c *Console) updateTemplate(w http.ResponseWriter, r *http.Request, se *session) {
	f := readTemplateForm(r)
	f.Name = r.PathValue("name")
	err := c.opts.Templates.Update(r.Context(), se.AccountID, f.Name, f.content())
	switch {
	case err == nil:
		flash(w, r, Prefix+"templates/"+f.Name, "template-saved")
	case errors.Is(err, sestemplate.ErrNotFound):
		c.notFound(w, r, se)
	case f.refuse(err):
		c.templateWith(w, r, se, http.StatusBadRequest, templateData{Form: f, RenderData: "{}"})
	default:
		c.internal(w, r, err)
	}
}

// renderTemplate is v2 TestRenderEmailTemplate, shown part by part: the
// HTML goes into a sandboxed frame without scripts, never into the page.
func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	name := r.PathValue("name")
	t, err := c.opts.Templates.Get(ctx, se.AccountID, name)
	if !c.loaded(w, r, se, err, sestemplate.ErrNotFound) {
		return
	}
	d := templateData{Form: formOf(t), RenderData: r.PostFormValue("data")}
	out, err := c.opts.Templates.RenderStored(ctx, se.AccountID, name, d.RenderData)
	kind, msg := sestemplate.KindOf(err, name)
	switch {
	case err == nil:
		d.Rendered = &out
		c.templateWith(w, r, se, http.StatusOK, d)
	case kind == sestemplate.KindInvalidData, kind == sestemplate.KindMissingAttribute, kind == sestemplate.KindRenderFailed, kind == sestemplate.KindInvalidTemplate:
		d.DataError = msg
		c.templateWith(w, r, se, http.StatusBadRequest, d)
	default:
		c.internal(w, r, err)
	}
}

// deleteTemplate is v2 DeleteEmailTemplate.
func (c *Console) deleteTemplate(w http.ResponseWriter, r *http.Request, se *session) {
	err := c.opts.Templates.Delete(r.Context(), se.AccountID, r.PathValue("name"))
	switch {
	case err == nil:
		flash(w, r, Prefix+"templates", "template-deleted")
	case errors.Is(err, sestemplate.ErrNotFound):
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
}

// templatesCSV exports the (filtered) templates: TemplateName,
// CreatedTimestamp, as ListEmailTemplates has them.
func (c *Console) templatesCSV(w http.ResponseWriter, r *http.Request, se *session) {
	ts, _, err := c.templates(r, se.AccountID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	var rows [][]string
	for _, t := range ts {
		rows = append(rows, []string{t.Name, t.Created.UTC().Format(isoTime)})
	}
	writeCSV(w, "templates.csv", []string{"TemplateName", "CreatedTimestamp"}, rows)
}
