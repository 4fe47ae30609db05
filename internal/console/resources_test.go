package console_test

import (
	"context"
	"encoding/csv"
	"errors"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/template"
)

// wantRedirect checks a 303 to location.
func wantRedirect(t *testing.T, res *http.Response, body, location string) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != location {
		t.Fatalf("%s %s: %s %q, want a redirect to %s\n%s", res.Request.Method, res.Request.URL.Path, res.Status, res.Header.Get("Location"), location, body)
	}
}

// wantField checks a 400 page that shows msg (escaped) in the element id.
func wantField(t *testing.T, res *http.Response, body, id, msg string) {
	t.Helper()
	wantStatus(t, res, body, http.StatusBadRequest)
	if !strings.Contains(body, `id="`+id+`">`+html.EscapeString(msg)+`<`) {
		t.Fatalf("%s: want %q in #%s\n%s", res.Request.URL.Path, msg, id, body)
	}
}

// readCSV downloads a CSV export and parses it.
func readCSV(t *testing.T, b *browser, path string) [][]string {
	t.Helper()
	res, body := b.get(path)
	wantStatus(t, res, body, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("%s: Content-Type %q", path, ct)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return rows
}

func TestConfigSetPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		b := e.browser(t)
		b.signIn(e.Key)

		// Bad names get the store's sentence next to the field.
		res, body := b.post("/console/configuration-sets", url.Values{"name": {"bad name"}}, true)
		wantField(t, res, body, "set-name-error", `Invalid ConfigurationSetName "bad name": only ASCII letters, numbers, underscores (_) and dashes (-) are allowed.`)
		res, body = b.post("/console/configuration-sets", url.Values{"name": {""}}, true)
		wantField(t, res, body, "set-name-error", "ConfigurationSetName is required.")
		if sets, _ := e.ConfigSets.List(ctx, e.Account.ID); len(sets) != 0 {
			t.Fatalf("a refused form wrote sets: %v", sets)
		}

		res, body = b.post("/console/configuration-sets", url.Values{"name": {"marketing"}}, true)
		wantRedirect(t, res, body, "/console/configuration-sets/marketing?note=set-created")
		st, err := e.ConfigSets.Get(ctx, e.Account.ID, "marketing")
		if err != nil || !st.SendingEnabled {
			t.Fatalf("created set: %+v, %v", st, err)
		}
		res, body = b.post("/console/configuration-sets", url.Values{"name": {"marketing"}}, true)
		wantField(t, res, body, "set-name-error", "Configuration set marketing already exists.")
		if err := e.ConfigSets.Create(ctx, configset.NewSet(e.Account.ID, "receipts")); err != nil {
			t.Fatal(err)
		}

		res, body = b.get("/console/configuration-sets?q=MARK")
		wantStatus(t, res, body, http.StatusOK)
		if !strings.Contains(body, `href="/console/configuration-sets/marketing"`) || strings.Contains(body, "receipts") {
			t.Errorf("filter: %s", body)
		}
		if rows := readCSV(t, b, "/console/configuration-sets.csv"); len(rows) != 3 || rows[0][0] != "Name" || rows[1][0] != "marketing" || rows[2][0] != "receipts" || rows[1][1] != "true" {
			t.Errorf("CSV: %v", rows)
		}

		// Pause and resume: the store's SendingEnabled.
		res, body = b.get("/console/configuration-sets/marketing")
		wantStatus(t, res, body, http.StatusOK)
		res, body = b.post("/console/configuration-sets/marketing/sending", url.Values{"enabled": {"false"}}, true)
		wantRedirect(t, res, body, "/console/configuration-sets/marketing?note=set-paused")
		if st, _ := e.ConfigSets.Get(ctx, e.Account.ID, "marketing"); st.SendingEnabled {
			t.Error("pause did not pause")
		}
		res, body = b.get("/console/configuration-sets/marketing")
		if !strings.Contains(body, `id="resume"`) || !strings.Contains(body, "paused") {
			t.Errorf("paused set's page: %s", body)
		}
		res, body = b.post("/console/configuration-sets/marketing/sending", url.Values{"enabled": {"maybe"}}, true)
		wantStatus(t, res, body, http.StatusBadRequest)
		res, body = b.post("/console/configuration-sets/marketing/sending", url.Values{"enabled": {"true"}}, true)
		wantRedirect(t, res, body, "/console/configuration-sets/marketing?note=set-resumed")
		if st, _ := e.ConfigSets.Get(ctx, e.Account.ID, "marketing"); !st.SendingEnabled {
			t.Error("resume did not resume")
		}

		res, body = b.post("/console/configuration-sets/marketing/delete", nil, true)
		wantRedirect(t, res, body, "/console/configuration-sets?note=set-deleted")
		if _, err := e.ConfigSets.Get(ctx, e.Account.ID, "marketing"); !errors.Is(err, configset.ErrNotFound) {
			t.Errorf("deleted set: %v", err)
		}
		res, body = b.get("/console/configuration-sets/marketing")
		wantStatus(t, res, body, http.StatusNotFound)
	})
}

func TestTemplatePages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		b := e.browser(t)
		b.signIn(e.Key)

		res, body := b.post("/console/templates", url.Values{"name": {"welcome"}, "subject": {"Hi"}}, true)
		wantField(t, res, body, "template-content-error", "The template must have a text part or an HTML part (v1 TextPart or HtmlPart, v2 Text or Html).")
		res, body = b.post("/console/templates", url.Values{"name": {"wel come"}, "subject": {"Hi"}, "text": {"x"}}, true)
		wantField(t, res, body, "template-name-error", `Invalid TemplateName "wel come": only ASCII letters, numbers, underscores (_) and dashes (-) are allowed.`)
		res, body = b.post("/console/templates", url.Values{"name": {"welcome"}, "subject": {"Hi"}, "text": {"{{#if}}"}}, true)
		wantStatus(t, res, body, http.StatusBadRequest)
		if !strings.Contains(body, `id="template-content-error"`) {
			t.Errorf("a template that does not compile: %s", body)
		}
		if ts, _, _ := e.Templates.List(ctx, e.Account.ID, "", 10); len(ts) != 0 {
			t.Fatalf("a refused form wrote templates: %v", ts)
		}

		// Markup in the subject and the HTML part; a script in the HTML.
		const (
			subject  = `<b>Hello</b> {{name}}`
			htmlPart = `<p id="x">Hi {{name}}</p><script>parent.document.title="pwned"</script><img src=x onerror="parent.document.title='pwned'">`
		)
		res, body = b.post("/console/templates", url.Values{"name": {"welcome"}, "subject": {subject}, "text": {"Dear {{name}}"}, "html": {htmlPart}}, true)
		wantRedirect(t, res, body, "/console/templates/welcome?note=template-created")
		if tp, err := e.Templates.Get(ctx, e.Account.ID, "welcome"); err != nil || tp.Content.Subject != subject {
			t.Fatalf("created: %+v, %v", tp, err)
		}
		res, body = b.post("/console/templates", url.Values{"name": {"welcome"}, "text": {"x"}}, true)
		wantField(t, res, body, "template-name-error", "Template welcome already exists.")

		res, body = b.get("/console/templates/welcome")
		wantStatus(t, res, body, http.StatusOK)
		if strings.Contains(body, "<b>Hello</b>") || strings.Contains(body, "<script>parent") || !strings.Contains(body, "&lt;b&gt;Hello&lt;/b&gt;") {
			t.Errorf("template markup not escaped: %s", body)
		}

		// Test render: bad data is refused next to the field.
		res, body = b.post("/console/templates/welcome/render", url.Values{"data": {"[1]"}}, true)
		wantStatus(t, res, body, http.StatusBadRequest)
		if !strings.Contains(body, `id="render-error"`) || strings.Contains(body, `id="rendered"`) {
			t.Errorf("bad data: %s", body)
		}
		res, body = b.post("/console/templates/welcome/render", url.Values{"data": {`{"name":"Ann & <i>Bob</i>"}`}}, true)
		wantStatus(t, res, body, http.StatusOK)
		for _, want := range []string{
			// The renderer escapes {{name}} as SES's does; the page escapes
			// what it rendered once more, so it shows as text.
			`id="rendered-subject">&lt;b&gt;Hello&lt;/b&gt; Ann &amp;amp; &amp;lt;i&amp;gt;Bob&amp;lt;/i&amp;gt;<`,
			`id="rendered-text">Dear Ann &amp;amp; &amp;lt;i&amp;gt;Bob&amp;lt;/i&amp;gt;<`,
			`sandbox="allow-same-origin"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("render lacks %q:\n%s", want, body)
			}
		}
		// The HTML is only in the sandboxed frame's srcdoc, escaped; the
		// frame may not run scripts, submit forms, open popups or navigate
		// the console (its sandbox allows nothing but its origin), and the
		// page's policy has no inline script either.
		if strings.Contains(body, "<script>parent") || strings.Contains(body, "<img src=x") || strings.Count(body, "allow-") != 1 {
			t.Errorf("rendered HTML reaches the console's page: %s", body)
		}
		if !strings.Contains(body, `srcdoc="&lt;p id=&#34;x&#34;&gt;Hi Ann &amp;amp; &amp;lt;i&amp;gt;Bob&amp;lt;/i&amp;gt;&lt;/p&gt;&lt;script&gt;`) {
			t.Errorf("srcdoc: %s", body)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("CSP of the render: %q", csp)
		}

		// Edit: the store's rules, then a change.
		res, body = b.post("/console/templates/welcome", url.Values{"subject": {"x"}}, true)
		wantField(t, res, body, "template-content-error", "The template must have a text part or an HTML part (v1 TextPart or HtmlPart, v2 Text or Html).")
		res, body = b.post("/console/templates/welcome", url.Values{"subject": {"New"}, "text": {"Bye {{name}}"}}, true)
		wantRedirect(t, res, body, "/console/templates/welcome?note=template-saved")
		if tp, _ := e.Templates.Get(ctx, e.Account.ID, "welcome"); tp.Content.Subject != "New" || tp.Content.HTML != "" {
			t.Errorf("edited: %+v", tp.Content)
		}

		if err := e.Templates.Create(ctx, e.Account.ID, template.Template{Name: "receipt", Content: template.Content{Subject: "r", Text: "r"}}); err != nil {
			t.Fatal(err)
		}
		res, body = b.get("/console/templates?q=WEL")
		if !strings.Contains(body, `href="/console/templates/welcome"`) || strings.Contains(body, "receipt") {
			t.Errorf("filter: %s", body)
		}
		if rows := readCSV(t, b, "/console/templates.csv?q=rec"); len(rows) != 2 || rows[1][0] != "receipt" {
			t.Errorf("CSV: %v", rows)
		}

		res, body = b.post("/console/templates/welcome/delete", nil, true)
		wantRedirect(t, res, body, "/console/templates?note=template-deleted")
		if _, err := e.Templates.Get(ctx, e.Account.ID, "welcome"); !errors.Is(err, template.ErrNotFound) {
			t.Errorf("deleted: %v", err)
		}
	})
}

func TestContactListPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		b := e.browser(t)
		b.signIn(e.Key)

		res, body := b.post("/console/contact-lists", url.Values{"name": {"news"}, "topics": {"sports | Sports"}}, true)
		wantField(t, res, body, "list-topics-error", "Topic line 1: write TopicName | Display name | OPT_IN or OPT_OUT.")
		res, body = b.post("/console/contact-lists", url.Values{"name": {"news"}, "topics": {"sports | Sports | MAYBE"}}, true)
		wantField(t, res, body, "list-topics-error", `Topics[0].DefaultSubscriptionStatus "MAYBE" is not valid: it must be OPT_IN or OPT_OUT.`)
		res, body = b.post("/console/contact-lists", url.Values{"name": {"news!"}}, true)
		wantField(t, res, body, "list-name-error", `ContactListName "news!" is not valid: use only letters, digits, '_' and '-'.`)
		if ls, _, _ := e.Contacts.ListLists(ctx, e.Account.ID, "", 10); len(ls) != 0 {
			t.Fatalf("a refused form wrote lists: %v", ls)
		}

		res, body = b.post("/console/contact-lists", url.Values{"name": {"news"}, "description": {"<i>weekly</i>"},
			"topics": {"sports | Sports | OPT_IN\nweather | Weather | opt_out\n"}}, true)
		wantRedirect(t, res, body, "/console/contact-lists/news?note=list-created")
		l, err := e.Contacts.GetList(ctx, e.Account.ID, "news")
		if err != nil || len(l.Topics) != 2 || l.Topics[1].DefaultSubscriptionStatus != contact.OptOut {
			t.Fatalf("created: %+v, %v", l, err)
		}
		res, body = b.post("/console/contact-lists", url.Values{"name": {"more"}}, true)
		wantField(t, res, body, "list-error", "limit exceeded: an account has at most 1 contact list(s)")

		res, body = b.get("/console/contact-lists/news")
		wantStatus(t, res, body, http.StatusOK)
		if strings.Contains(body, "<i>weekly</i>") {
			t.Error("description not escaped")
		}
		res, body = b.post("/console/contact-lists/news/contacts", url.Values{"address": {"not an address"}}, true)
		wantStatus(t, res, body, http.StatusBadRequest)
		if !strings.Contains(body, `id="contact-address-error"`) {
			t.Errorf("bad address: %s", body)
		}
		for _, a := range []string{"ann@rcpt.example", "bob@rcpt.example"} {
			res, body = b.post("/console/contact-lists/news/contacts", url.Values{"address": {a}}, true)
			wantRedirect(t, res, body, "/console/contact-lists/news?note=contact-added")
		}
		res, body = b.post("/console/contact-lists/news/contacts", url.Values{"address": {"Ann@rcpt.example"}}, true)
		wantStatus(t, res, body, http.StatusBadRequest)
		if err := e.Contacts.UpdateContact(ctx, e.Account.ID, "news", "bob@rcpt.example", contact.ContactUpdate{Preferences: []contact.Preference{{TopicName: "weather", SubscriptionStatus: contact.OptIn}}}); err != nil {
			t.Fatal(err)
		}

		// Filters: the store's.
		res, body = b.get("/console/contact-lists/news?status=OPT_IN&topic=weather")
		wantStatus(t, res, body, http.StatusOK)
		if !strings.Contains(body, "bob@rcpt.example") || strings.Contains(body, "ann@rcpt.example") {
			t.Errorf("topic filter: %s", body)
		}
		res, body = b.get("/console/contact-lists/news?topic=weather")
		wantField(t, res, body, "filter-error", "Filter.FilteredStatus is required with Filter.TopicFilter.")
		rows := readCSV(t, b, "/console/contact-lists/news/contacts.csv")
		if len(rows) != 3 || strings.Join(rows[0], ",") != "EmailAddress,UnsubscribeAll,sports,weather" ||
			strings.Join(rows[1], ",") != "ann@rcpt.example,false,OPT_IN,OPT_OUT" || strings.Join(rows[2], ",") != "bob@rcpt.example,false,OPT_IN,OPT_IN" {
			t.Errorf("contacts CSV: %v", rows)
		}
		if rows := readCSV(t, b, "/console/contact-lists.csv"); len(rows) != 2 || rows[1][0] != "news" || rows[1][2] != "sports weather" {
			t.Errorf("lists CSV: %v", rows)
		}

		res, body = b.post("/console/contact-lists/news/contacts/delete", url.Values{"address": {"ann@rcpt.example"}}, true)
		wantRedirect(t, res, body, "/console/contact-lists/news?note=contact-removed")
		if _, err := e.Contacts.GetContact(ctx, e.Account.ID, "news", "ann@rcpt.example"); !errors.Is(err, contact.ErrNotFound) {
			t.Errorf("removed contact: %v", err)
		}
		res, body = b.post("/console/contact-lists/news/delete", nil, true)
		wantRedirect(t, res, body, "/console/contact-lists?note=list-deleted")
		if _, err := e.Contacts.GetList(ctx, e.Account.ID, "news"); !errors.Is(err, contact.ErrNotFound) {
			t.Errorf("deleted list: %v", err)
		}
	})
}

// TestResourceIsolationAndCSRF: another account's set, template and list
// cannot be read or changed by editing a URL, and no form changes
// anything without its CSRF token.
func TestResourceIsolationAndCSRF(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		other, _ := e.OtherKey(t, "other")
		if err := e.ConfigSets.Create(ctx, configset.NewSet(other.ID, "theirset")); err != nil {
			t.Fatal(err)
		}
		if err := e.Templates.Create(ctx, other.ID, template.Template{Name: "theirtpl", Content: template.Content{Subject: "their secret", Text: "x"}}); err != nil {
			t.Fatal(err)
		}
		if err := e.Contacts.CreateList(ctx, other.ID, contact.List{Name: "theirlist"}); err != nil {
			t.Fatal(err)
		}
		if err := e.Contacts.CreateContact(ctx, other.ID, "theirlist", contact.ContactInput{Address: "their@rcpt.example"}); err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		b.signIn(e.Key)
		for _, p := range []string{"/console/configuration-sets/theirset", "/console/templates/theirtpl", "/console/contact-lists/theirlist",
			"/console/contact-lists/theirlist/contacts.csv"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusNotFound)
		}
		for _, p := range []string{"/console/configuration-sets", "/console/configuration-sets.csv", "/console/templates", "/console/templates.csv",
			"/console/contact-lists", "/console/contact-lists.csv"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusOK)
			for _, s := range []string{"theirset", "theirtpl", "theirlist"} {
				if strings.Contains(body, s) {
					t.Errorf("%s shows %s of the other account", p, s)
				}
			}
		}
		posts := []struct {
			path string
			form url.Values
		}{
			{"/console/configuration-sets/theirset/sending", url.Values{"enabled": {"false"}}},
			{"/console/configuration-sets/theirset/delete", nil},
			{"/console/templates/theirtpl", url.Values{"subject": {"mine"}, "text": {"mine"}}},
			{"/console/templates/theirtpl/render", url.Values{"data": {"{}"}}},
			{"/console/templates/theirtpl/delete", nil},
			{"/console/contact-lists/theirlist/contacts", url.Values{"address": {"me@rcpt.example"}}},
			{"/console/contact-lists/theirlist/contacts/delete", url.Values{"address": {"their@rcpt.example"}}},
			{"/console/contact-lists/theirlist/delete", nil},
		}
		for _, p := range posts {
			res, body := b.post(p.path, p.form, true)
			wantStatus(t, res, body, http.StatusNotFound)
			if strings.Contains(body, "their secret") {
				t.Errorf("%s shows the other account's template", p.path)
			}
		}
		check := func(t *testing.T) {
			t.Helper()
			if st, err := e.ConfigSets.Get(ctx, other.ID, "theirset"); err != nil || !st.SendingEnabled {
				t.Errorf("other account's set changed: %+v, %v", st, err)
			}
			if tp, err := e.Templates.Get(ctx, other.ID, "theirtpl"); err != nil || tp.Content.Subject != "their secret" {
				t.Errorf("other account's template changed: %+v, %v", tp, err)
			}
			if _, err := e.Contacts.GetContact(ctx, other.ID, "theirlist", "their@rcpt.example"); err != nil {
				t.Errorf("other account's contact removed: %v", err)
			}
			if _, err := e.Contacts.GetContact(ctx, other.ID, "theirlist", "me@rcpt.example"); !errors.Is(err, contact.ErrNotFound) {
				t.Errorf("contact added to the other account's list: %v", err)
			}
		}
		check(t)

		// CSRF: the account's own resources, every form without a token.
		if err := e.ConfigSets.Create(ctx, configset.NewSet(e.Account.ID, "mine")); err != nil {
			t.Fatal(err)
		}
		if err := e.Templates.Create(ctx, e.Account.ID, template.Template{Name: "mine", Content: template.Content{Subject: "kept", Text: "x"}}); err != nil {
			t.Fatal(err)
		}
		if err := e.Contacts.CreateList(ctx, e.Account.ID, contact.List{Name: "mine"}); err != nil {
			t.Fatal(err)
		}
		if err := e.Contacts.CreateContact(ctx, e.Account.ID, "mine", contact.ContactInput{Address: "kept@rcpt.example"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			path string
			form url.Values
		}{
			{"/console/configuration-sets", url.Values{"name": {"new"}}},
			{"/console/configuration-sets/mine/sending", url.Values{"enabled": {"false"}}},
			{"/console/configuration-sets/mine/delete", nil},
			{"/console/templates", url.Values{"name": {"new"}, "text": {"x"}}},
			{"/console/templates/mine", url.Values{"subject": {"changed"}, "text": {"x"}}},
			{"/console/templates/mine/delete", nil},
			{"/console/contact-lists/mine/contacts", url.Values{"address": {"new@rcpt.example"}}},
			{"/console/contact-lists/mine/contacts/delete", url.Values{"address": {"kept@rcpt.example"}}},
			{"/console/contact-lists/mine/delete", nil},
		} {
			res, body := b.post(p.path, p.form, false)
			wantStatus(t, res, body, http.StatusForbidden)
		}
		if st, err := e.ConfigSets.Get(ctx, e.Account.ID, "mine"); err != nil || !st.SendingEnabled {
			t.Errorf("set changed without CSRF: %+v, %v", st, err)
		}
		if _, err := e.ConfigSets.Get(ctx, e.Account.ID, "new"); !errors.Is(err, configset.ErrNotFound) {
			t.Errorf("set created without CSRF: %v", err)
		}
		if tp, err := e.Templates.Get(ctx, e.Account.ID, "mine"); err != nil || tp.Content.Subject != "kept" {
			t.Errorf("template changed without CSRF: %+v, %v", tp, err)
		}
		if _, err := e.Templates.Get(ctx, e.Account.ID, "new"); !errors.Is(err, template.ErrNotFound) {
			t.Errorf("template created without CSRF: %v", err)
		}
		if _, err := e.Contacts.GetContact(ctx, e.Account.ID, "mine", "kept@rcpt.example"); err != nil {
			t.Errorf("contact removed without CSRF: %v", err)
		}
		if _, err := e.Contacts.GetContact(ctx, e.Account.ID, "mine", "new@rcpt.example"); !errors.Is(err, contact.ErrNotFound) {
			t.Errorf("contact added without CSRF: %v", err)
		}
		check(t)
	})
}

// TestCSVNeutralisesFormulas: a cell the account wrote that a spreadsheet
// would run as a formula (it starts with = + - @, a tab or a carriage
// return) is exported with a leading apostrophe, so it shows as text.
func TestCSVNeutralisesFormulas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		b := e.browser(t)
		b.signIn(e.Key)
		if err := e.Contacts.CreateList(ctx, e.Account.ID, contact.List{Name: "news", Description: `=HYPERLINK("https://x.invalid","open")`,
			Topics: []contact.Topic{{TopicName: "-1-1", DisplayName: "Minus", DefaultSubscriptionStatus: contact.OptOut}}}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"+1-2@rcpt.example", "-x@rcpt.example", "=cmd@rcpt.example", "plain@rcpt.example"} {
			if err := e.Contacts.CreateContact(ctx, e.Account.ID, "news", contact.ContactInput{Address: a}); err != nil {
				t.Fatalf("%s: %v", a, err)
			}
		}
		if rows := readCSV(t, b, "/console/contact-lists.csv"); len(rows) != 2 || rows[1][1] != `'=HYPERLINK("https://x.invalid","open")` {
			t.Errorf("lists CSV: %q", rows)
		}
		rows := readCSV(t, b, "/console/contact-lists/news/contacts.csv")
		if h := strings.Join(rows[0], ","); h != "EmailAddress,UnsubscribeAll,'-1-1" {
			t.Errorf("contacts CSV header %q", h)
		}
		var got []string
		for _, row := range rows[1:] {
			got = append(got, row[0])
		}
		slices.Sort(got)
		if want := []string{"'+1-2@rcpt.example", "'-x@rcpt.example", "'=cmd@rcpt.example", "plain@rcpt.example"}; !slices.Equal(got, want) {
			t.Errorf("contacts CSV addresses %q, want %q", got, want)
		}
	})
}
