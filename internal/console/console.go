package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sns"
	"github.com/sesame-email/sesame/internal/suppression"
	sestemplate "github.com/sesame-email/sesame/internal/template"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Sender is the admission door: send.Sender.Submit.
type Sender interface {
	Submit(ctx context.Context, r send.Request) (send.Result, error)
}

// Options configures a Console.
type Options struct {
	DB          *db.DB             // required: the sessions table
	Accounts    *account.Store     // required: sign-in and the operator's account list
	Identities  *identity.Store    // required
	Suppression *suppression.Store // required
	Sender      Sender             // required: "Send test email"
	// ConfigSets, Templates and Contacts are the configuration sets,
	// email templates and contact lists; required.
	ConfigSets *configset.Store
	Templates  *sestemplate.Store
	Contacts   *contact.Store
	// Topics is the SNS service: topics and subscriptions; required.
	Topics *sns.Store
	// CheckNow runs the real DNS check of one identity and records it
	// (dnscheck.Checker.CheckNow); nil hides "check now".
	CheckNow func(ctx context.Context, i *identity.Identity) error
	// Readiness computes the authentication check and the readiness
	// summaries; Stats, Reputation and ConfigSets feed the Deliverability
	// page. Without Readiness the authentication check answers 404, and
	// without Readiness, Stats and Reputation the Deliverability page does.
	Readiness  Readiness
	Stats      DailyStats
	Reputation Reputation
	// AdminToken signs an operator in (any account); "" disables that.
	AdminToken string
	// SimulatorDomain is the mailbox simulator's domain the send page
	// offers; "" means simulator.amazonses.com.
	SimulatorDomain string
	// SessionTTL is how long a session lives; 0: 12 hours.
	SessionTTL time.Duration
	// SignInLimit is the most sign-in attempts one client address (an
	// IPv6 /64) may make per SignInWindow; 0: 10 per 5 minutes.
	SignInLimit  int
	SignInWindow time.Duration
	// Captured is `sesame dev`'s captured mail; nil (sesame serve) leaves
	// the Captured mail pages out.
	Captured *capture.Store
	// MessageScan is how many of the account's most recent events a
	// message search looks through; 0: 5000.
	MessageScan int
	Logger      *slog.Logger     // nil: discard
	Now         func() time.Time // nil: time.Now
}

// Console serves the web console.
type Console struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	limit    *limiter
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New builds a Console.
func New(opts Options) (*Console, error) {
	switch {
	case opts.DB == nil, opts.Accounts == nil, opts.Identities == nil, opts.Suppression == nil, opts.Sender == nil:
		return nil, errors.New("console: Options.DB, Accounts, Identities, Suppression and Sender are required")
	}
	if opts.ConfigSets == nil || opts.Templates == nil || opts.Contacts == nil {
		return nil, errors.New("console: Options.ConfigSets, Templates and Contacts are required")
	}
	if opts.Topics == nil {
		return nil, errors.New("console: Options.Topics is required")
	}
	c := &Console{opts: opts, log: opts.Logger, now: opts.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.opts.SimulatorDomain == "" {
		c.opts.SimulatorDomain = "simulator.amazonses.com"
	}
	if c.opts.MessageScan <= 0 {
		c.opts.MessageScan = 5000
	}
	ttl := opts.SessionTTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	c.sessions = &sessions{db: opts.DB, ttl: ttl}
	c.limit = &limiter{max: opts.SignInLimit, window: opts.SignInWindow}
	if c.limit.max <= 0 {
		c.limit.max = 10
	}
	if c.limit.window <= 0 {
		c.limit.window = 5 * time.Minute
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// funcs are the templates' helpers; none returns unescaped markup.
var funcs = template.FuncMap{
	"badge": func(s identity.Status) string {
		switch s {
		case identity.Success:
			return "ok"
		case identity.Pending:
			return "wait"
		case identity.Failed, identity.TemporaryFailure:
			return "bad"
		}
		return "none"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"join": strings.Join,
	// verdict is a DKIM, SPF or DMARC result's badge class.
	"verdict": func(s string) string {
		switch s {
		case capture.Pass:
			return "ok"
		case capture.None, capture.Neutral, "":
			return "none"
		}
		return "bad"
	},
}

func (c *Console) parseTemplates() error {
	c.pages = map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return nil
}

// Handler serves the console under Prefix.
func (c *Console) Handler() http.Handler { return c.mux }

// contentSecurityPolicy allows the console's own styles and script only:
// no inline script or style, no framing, forms post to the console only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every answer carries.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
			hd.Set("Cache-Control", "no-store")
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		h.ServeHTTP(w, r)
	})
}

// handlerFunc is a page that needs a session with an account.
type handlerFunc func(w http.ResponseWriter, r *http.Request, se *session)

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+Prefix+"signin", c.signInPage)
	m.HandleFunc("POST "+Prefix+"signin", c.signIn)
	m.HandleFunc("POST "+Prefix+"signout", c.session(c.signOut, false))
	m.HandleFunc("GET "+Prefix+"accounts", c.session(c.accountsPage, false))
	m.HandleFunc("POST "+Prefix+"accounts", c.session(c.pickAccount, false))
	m.HandleFunc("GET "+Prefix+"{$}", c.session(func(w http.ResponseWriter, r *http.Request, se *session) {
		http.Redirect(w, r, Prefix+"identities", http.StatusSeeOther)
	}, true))
	m.HandleFunc("GET "+Prefix+"identities", c.session(c.identitiesPage, true))
	m.HandleFunc("POST "+Prefix+"identities", c.session(c.createIdentity, true))
	m.HandleFunc("GET "+Prefix+"identities/{name}", c.session(c.identityPage, true))
	m.HandleFunc("GET "+Prefix+"identities/{name}/records.csv", c.session(c.recordsCSV, true))
	m.HandleFunc("GET "+Prefix+"identities/{name}/delete", c.session(c.deletePage, true))
	m.HandleFunc("POST "+Prefix+"identities/{name}/delete", c.session(c.deleteIdentity, true))
	m.HandleFunc("POST "+Prefix+"identities/{name}/mail-from", c.session(c.setMailFrom, true))
	m.HandleFunc("POST "+Prefix+"identities/{name}/check", c.session(c.checkNow, true))
	m.HandleFunc("GET "+Prefix+"messages", c.session(c.messagesPage, true))
	m.HandleFunc("GET "+Prefix+"messages/{id}", c.session(c.messagePage, true))
	m.HandleFunc("GET "+Prefix+"suppression", c.session(c.suppressionPage, true))
	m.HandleFunc("GET "+Prefix+"suppression.csv", c.session(c.suppressionCSV, true))
	m.HandleFunc("POST "+Prefix+"suppression", c.session(c.addSuppressed, true))
	m.HandleFunc("POST "+Prefix+"suppression/delete", c.session(c.removeSuppressed, true))
	m.HandleFunc("GET "+Prefix+"send", c.session(c.sendPage, true))
	m.HandleFunc("POST "+Prefix+"send", c.session(c.sendTest, true))
	c.resourceRoutes(m)
	m.HandleFunc("GET "+Prefix+"identities/{name}/authentication", c.session(c.needs(c.opts.Readiness != nil, c.authCheckPage), true))
	m.HandleFunc("GET "+Prefix+"deliverability", c.session(c.needs(c.opts.Readiness != nil && c.opts.Stats != nil && c.opts.Reputation != nil, c.deliverabilityPage), true))
	c.topicRoutes(m)
	if c.opts.Captured != nil {
		m.HandleFunc("GET "+Prefix+"captured", c.session(c.capturedPage, true))
		m.HandleFunc("GET "+Prefix+"captured/{id}", c.session(c.capturedMessagePage, true))
		m.HandleFunc("GET "+Prefix+"captured/{id}/body", c.session(c.capturedBody, true))
		m.HandleFunc("GET "+Prefix+"captured/{id}/raw", c.session(c.capturedRaw, true))
		m.HandleFunc("GET "+Prefix+"captured/{id}/attachments/{n}", c.session(c.capturedAttachment, true))
	}
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) { c.notFound(w, r, nil) })
	c.mux = http.NewServeMux()
	c.mux.Handle(Prefix, secure(m))
	c.mux.Handle("/console", http.RedirectHandler(Prefix, http.StatusSeeOther))
}

// Cookie names: the session, and the sign-in form's CSRF value (a
// double-submit cookie, since there is no session yet).
const (
	sessionCookie = "sesame_console"
	signInCookie  = "sesame_console_signin"
)

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// session wraps a page: it finds the request's live session (else sends
// the browser to sign in), ends a session whose access key is gone,
// checks the CSRF token of a POST (403 without it, nothing changed), and,
// with needAccount, sends an operator who has not picked an account to
// the account list.
func (c *Console) session(h handlerFunc, needAccount bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var id string
		if ck, err := r.Cookie(sessionCookie); err == nil {
			id = ck.Value
		}
		se, err := c.sessions.get(ctx, c.now(), id)
		if err == nil && se.AccessKeyID != "" {
			// The key must still be there, for the same account: removing
			// it ends the sessions it opened.
			_, acct, kerr := c.opts.Accounts.Secret(ctx, se.AccessKeyID)
			switch {
			case errors.Is(kerr, account.ErrUnknownKey) || (kerr == nil && acct != se.AccountID):
				c.sessions.end(ctx, se)
				err = errNoSession
			case kerr != nil:
				err = kerr
			}
		}
		if errors.Is(err, errNoSession) {
			if r.Method != http.MethodGet {
				c.forbidden(w, r, "Your session has ended: sign in again.")
				return
			}
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return
		}
		if err != nil {
			c.internal(w, r, err)
			return
		}
		if r.Method == http.MethodPost {
			got := r.PostFormValue("csrf")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) != 1 {
				c.forbidden(w, r, "This form is missing its security token (CSRF), or it is stale: nothing was changed. Reload the page and try again.")
				return
			}
		}
		if needAccount && se.AccountID == "" {
			http.Redirect(w, r, Prefix+"accounts", http.StatusSeeOther)
			return
		}
		h(w, r, se)
	}
}

// view is what every page's template gets.
type view struct {
	Title   string
	Session *session
	Nav     string // the menu entry to highlight
	Flash   string // a note about what the last action did
	// FlashKey is the note's key in notes: the flash's element id is
	// flash-<key>, so a test can wait for the page of one action.
	FlashKey string
	Error    string // a problem not tied to one field
	Data     any
	// Captured shows the Captured mail menu entry (`sesame dev`).
	Captured bool
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	t := c.pages[page]
	v.Captured = c.opts.Captured != nil
	var buf bytes.Buffer
	if t == nil {
		c.log.Error("console: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, v); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	c.render(w, http.StatusForbidden, "error", view{Title: "Forbidden", Error: msg})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, se *session) {
	c.render(w, http.StatusNotFound, "error", view{Title: "Not found", Session: se, Error: "There is no such page in your account."})
}

// loaded reports whether reading the resource a page is about succeeded
// (err nil). Otherwise it has answered: 404 when err is missing (the
// store's not-found error: another account's resource is not found
// either), 500 for any other error.
func (c *Console) loaded(w http.ResponseWriter, r *http.Request, se *session, err, missing error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, missing):
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
	return false
}

func (c *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console request failed", "path", r.URL.Path, "err", err)
	c.render(w, http.StatusInternalServerError, "error", view{Title: "Error", Error: "Something went wrong on our side; it is logged. Try again later."})
}

// notes are the messages a redirect after a change may show, by key: a
// link cannot make the console say anything else.
var notes = map[string]string{
	"created":      "Identity created. Publish its records below; the checker looks for them now and every few minutes.",
	"deleted":      "Identity deleted.",
	"mailfrom":     "Custom MAIL FROM saved. Publish its MX and SPF records, then check now.",
	"checked":      "Checked now: the states below are the check's.",
	"suppressed":   "Address added to the suppression list.",
	"unsuppressed": "Address removed from the suppression list.",
	"sent":         "Test email accepted. Its events appear under Messages.",
	// Configuration sets, templates, contact lists.
	"set-created":      "Configuration set created.",
	"set-deleted":      "Configuration set deleted.",
	"set-paused":       "Sending through this configuration set is paused: mail that names it is refused until you resume.",
	"set-resumed":      "Sending through this configuration set is resumed.",
	"template-created": "Template created.",
	"template-saved":   "Template saved.",
	"template-deleted": "Template deleted.",
	"list-created":     "Contact list created.",
	"list-deleted":     "Contact list deleted, with its contacts.",
	"contact-added":    "Contact added.",
	"contact-removed":  "Contact removed.",
	// SNS topics and subscriptions.
	"topic-created": "Topic created.",
	"topic-deleted": "Topic deleted, with its subscriptions.",
	"subscribed":    "Subscription added. It is PendingConfirmation until its endpoint confirms: an http/https endpoint visits the SubscribeURL of the SubscriptionConfirmation it was sent, an email address follows the link in its mail.",
	"unsubscribed":  "Subscription removed.",
}

// flash redirects (303) to path with the note of key shown once.
func flash(w http.ResponseWriter, r *http.Request, path, key string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"note="+key, http.StatusSeeOther)
}

// note is the request's note, from notes.
func note(r *http.Request) string { return notes[noteKey(r)] }

// noteKey is the request's note key, when it names a note.
func noteKey(r *http.Request) string {
	k := r.URL.Query().Get("note")
	if _, ok := notes[k]; !ok {
		return ""
	}
	return k
}
