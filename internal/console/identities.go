package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sesame-email/sesame/internal/identity"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// identitiesData is the Identities page's.
type identitiesData struct {
	Identities []*identity.Identity
	Name       string // the create form's value, after a refusal
	NameError  string
}

// listAll returns every identity of the account, by name.
func (c *Console) listAll(r *http.Request, accountID string) ([]*identity.Identity, error) {
	var all []*identity.Identity
	o := identity.ListOptions{Limit: 1000}
	for {
		page, more, err := c.opts.Identities.List(r.Context(), accountID, o)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more || len(page) == 0 {
			return all, nil
		}
		o.After = page[len(page)-1].Name
	}
}

func (c *Console) identitiesPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.identitiesWith(w, r, se, http.StatusOK, identitiesData{})
}

func (c *Console) identitiesWith(w http.ResponseWriter, r *http.Request, se *session, status int, d identitiesData) {
	var err error
	if d.Identities, err = c.listAll(r, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, status, "identities", view{Title: "Identities", Session: se, Nav: "identities", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// createIdentity creates a domain (Easy DKIM) or address identity, as
// v2 CreateEmailIdentity does without options.
func (c *Console) createIdentity(w http.ResponseWriter, r *http.Request, se *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	refuse := func(msg string) {
		c.identitiesWith(w, r, se, http.StatusBadRequest, identitiesData{Name: name, NameError: msg})
	}
	if name == "" {
		refuse("EmailIdentity is required: a domain (example.com) or an address (someone@example.com).")
		return
	}
	_, kind, _, err := identity.Parse("EmailIdentity", name)
	if err == nil {
		opts := identity.CreateOptions{}
		if kind == identity.KindDomain {
			opts.DKIM = identity.DKIMSetup{Origin: identity.OriginEasy}
		}
		_, err = c.opts.Identities.Create(r.Context(), se.AccountID, name, opts)
	}
	var ie *identity.InvalidError
	var le *identity.LimitError
	switch {
	case err == nil:
		flash(w, r, Prefix+"identities", "created")
	case errors.Is(err, identity.ErrAlreadyExists):
		refuse("Email identity " + name + " already exists.")
	case errors.As(err, &ie):
		refuse(ie.Msg)
	case errors.As(err, &le):
		refuse(le.Msg)
	default:
		c.internal(w, r, err)
	}
}

// identityData is the Identity page's.
type identityData struct {
	Identity    *identity.Identity
	Records     []identity.DNSRecord
	Transitions []identity.Transition
	CanCheck    bool
	// The MAIL FROM form: its values and its fields' errors.
	MailFromDomain  string
	Behavior        string
	MailFromError   string
	BehaviorError   string
	DefaultMailFrom string
	FeedbackHost    string
	BehaviorDefault string
	BehaviorReject  string
	CheckError      string
}

// identityOf returns the account's identity named in the path, or answers
// 404 and returns nil: another account's identity is not found either.
func (c *Console) identityOf(w http.ResponseWriter, r *http.Request, se *session) *identity.Identity {
	i, err := c.opts.Identities.Get(r.Context(), se.AccountID, r.PathValue("name"))
	if !c.loaded(w, r, se, err, identity.ErrNotFound) {
		return nil
	}
	return i
}

func (c *Console) identityPage(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	c.identityWith(w, r, se, i, http.StatusOK, identityData{MailFromDomain: i.MailFrom.Domain, Behavior: i.MailFrom.Behavior.V2()})
}

func (c *Console) identityWith(w http.ResponseWriter, r *http.Request, se *session, i *identity.Identity, status int, d identityData) {
	var err error
	d.Identity = i
	if d.Records, err = c.opts.Identities.Records(r.Context(), i); err != nil {
		c.internal(w, r, err)
		return
	}
	ts, err := c.opts.Identities.Transitions(r.Context(), i.ID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	for k := len(ts) - 1; k >= 0; k-- { // newest first
		d.Transitions = append(d.Transitions, ts[k])
	}
	d.CanCheck = c.opts.CheckNow != nil
	d.DefaultMailFrom = c.opts.Identities.DefaultMailFromDomain()
	d.FeedbackHost = c.opts.Identities.FeedbackHost()
	d.BehaviorDefault, d.BehaviorReject = identity.UseDefaultValueV2, identity.RejectMessageV2
	c.render(w, status, "identity", view{Title: i.Name, Session: se, Nav: "identities", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// recordsCSV is the record set as SES's console gives it: Type, Name,
// Value (identity.WriteCSV).
func (c *Console) recordsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	recs, err := c.opts.Identities.Records(r.Context(), i)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(i.Domain, `"`, "")+`-records.csv"`)
	if err := identity.WriteCSV(w, recs); err != nil {
		c.log.Error("console: write records CSV", "err", err)
	}
}

func (c *Console) deletePage(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	c.render(w, http.StatusOK, "delete", view{Title: "Delete " + i.Name, Session: se, Nav: "identities", Data: i})
}

func (c *Console) deleteIdentity(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	if err := c.opts.Identities.Delete(r.Context(), se.AccountID, i.Name); err != nil && !errors.Is(err, identity.ErrNotFound) {
		c.internal(w, r, err)
		return
	}
	flash(w, r, Prefix+"identities", "deleted")
}

// setMailFrom is v2 PutEmailIdentityMailFromAttributes from a form: the
// same parsing (identity.ParseBehaviorV2), the same store method and
// sentences, shown next to the field they are about.
func (c *Console) setMailFrom(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	d := identityData{MailFromDomain: strings.TrimSpace(r.PostFormValue("mail_from_domain")), Behavior: r.PostFormValue("behavior")}
	b, err := identity.ParseBehaviorV2("BehaviorOnMxFailure", d.Behavior)
	if err == nil {
		err = c.opts.Identities.SetMailFrom(r.Context(), se.AccountID, i.Name, d.MailFromDomain, b)
	}
	var ie *identity.InvalidError
	switch {
	case err == nil:
		flash(w, r, Prefix+"identities/"+url.PathEscape(i.Name), "mailfrom")
		return
	case errors.Is(err, identity.ErrNotVerified):
		d.MailFromError = identity.MailFromNotVerifiedMessage(i.Name)
	case errors.As(err, &ie) && strings.EqualFold(ie.Field, "BehaviorOnMxFailure"):
		d.BehaviorError = ie.Msg
	case errors.As(err, &ie):
		d.MailFromError = ie.Msg
	case errors.Is(err, identity.ErrNotFound):
		c.notFound(w, r, se)
		return
	default:
		c.internal(w, r, err)
		return
	}
	c.identityWith(w, r, se, i, http.StatusBadRequest, d)
}

// checkNow runs the real DNS check of the identity and records it.
func (c *Console) checkNow(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	if c.opts.CheckNow == nil {
		c.notFound(w, r, se)
		return
	}
	if err := c.opts.CheckNow(r.Context(), i); err != nil {
		c.log.Warn("console: check now", "identity", i.Name, "err", err)
		if i = c.identityOf(w, r, se); i == nil {
			return
		}
		c.identityWith(w, r, se, i, http.StatusServiceUnavailable, identityData{MailFromDomain: i.MailFrom.Domain, Behavior: i.MailFrom.Behavior.V2(),
			CheckError: "The check could not be recorded (the identity changed meanwhile, or the database is busy); the checker tries again shortly."})
		return
	}
	flash(w, r, Prefix+"identities/"+url.PathEscape(i.Name), "checked")
}
