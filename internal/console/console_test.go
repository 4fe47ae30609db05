package console_test

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/console"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/suppression"
)

const adminToken = "operator-token-for-tests"

// env is a console over apitest's stores, served on loopback.
type env struct {
	*apitest.Env
	srv    *httptest.Server
	sender *send.Sender
}

func newEnv(t *testing.T, d *db.DB, tls bool, mods ...func(*env, *console.Options)) *env {
	t.Helper()
	e := &env{Env: apitest.New(t, d)}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	var err error
	e.sender, err = send.New(send.Options{Identities: e.Identities, Accounts: e.Accounts, Queue: e.Queue, Region: apitest.Region,
		ServiceDomain: apitest.ServiceDomain, Now: e.Clock.Now, Logger: log, Suppressed: e.Suppression.Suppressed})
	if err != nil {
		t.Fatal(err)
	}
	o := console.Options{DB: d, Accounts: e.Accounts, Identities: e.Identities, Suppression: e.Suppression, Sender: e.sender,
		ConfigSets: e.ConfigSets, Templates: e.Templates, Contacts: e.Contacts, Topics: e.SNS,
		AdminToken: adminToken, Logger: log, Now: e.Clock.Now, SignInLimit: 5, SessionTTL: time.Hour}
	for _, m := range mods {
		m(e, &o)
	}
	c, err := console.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if tls {
		e.srv = httptest.NewTLSServer(c.Handler())
	} else {
		e.srv = httptest.NewServer(c.Handler())
	}
	t.Cleanup(e.srv.Close)
	return e
}

// browser is a client with its own cookies that does not follow redirects.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string // the CSRF token of the last page that had one
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: e.srv.Client().Transport, Jar: jar, // a client of its own: the server's is shared
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, c: c}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form; withCSRF adds the last CSRF token seen.
func (b *browser) post(path string, form url.Values, withCSRF bool) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if withCSRF {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in with a key and fails the test unless it worked.
func (b *browser) signIn(k account.Key) *http.Response {
	b.t.Helper()
	b.get("/console/signin")
	res, body := b.post("/console/signin", url.Values{"access_key_id": {k.AccessKeyID}, "secret": {k.Secret}}, true)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/identities" {
		b.t.Fatalf("sign-in: %s %s\n%s", res.Status, res.Header.Get("Location"), body)
	}
	b.get("/console/identities") // for its CSRF token
	return res
}

func wantStatus(t *testing.T, res *http.Response, body string, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d\n%s", res.Request.Method, res.Request.URL.Path, res.Status, want, body)
	}
}

func wantSignIn(t *testing.T, res *http.Response) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin" {
		t.Fatalf("%s: %s %q, want a redirect to sign in", res.Request.URL.Path, res.Status, res.Header.Get("Location"))
	}
}

func cookie(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSessionCookieAndHeaders(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) { cookieAndHeaders(t, tls) })
	}
}

func cookieAndHeaders(t *testing.T, tls bool) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		{
			e := newEnv(t, d, tls)
			b := e.browser(t)
			res := b.signIn(e.Key)
			c := cookie(res, "sesame_console")
			if c == nil || len(c.Value) < 40 {
				t.Fatalf("no session cookie with a long random value: %v", res.Cookies())
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tls || c.Path != "/console/" {
				t.Errorf("TLS %v: session cookie %+v: want HttpOnly, SameSite=Strict, Secure=%v, Path=/console/", tls, c, tls)
			}
			// A second sign-in gets another id.
			b2 := e.browser(t)
			if c2 := cookie(b2.signIn(e.Key), "sesame_console"); c2 == nil || c2.Value == c.Value {
				t.Error("two sign-ins got the same session id")
			}
			res, _ = b.get("/console/identities")
			h := res.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP allows inline code: %q", csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers: %v", h)
			}
		}
	})
}

func TestCSRF(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		if err := e.Suppression.Put(ctx, e.Account.ID, "kept@rcpt.example", suppression.Bounce); err != nil {
			t.Fatal(err)
		}
		// Sign-in itself needs the form's token.
		b := e.browser(t)
		b.get("/console/signin")
		res, body := b.post("/console/signin", url.Values{"access_key_id": {e.Key.AccessKeyID}, "secret": {e.Key.Secret}}, false)
		wantStatus(t, res, body, http.StatusForbidden)

		b.signIn(e.Key)
		good := b.csrf
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{"/console/identities", url.Values{"name": {"csrf.example"}}},
			{"/console/suppression/delete", url.Values{"address": {"kept@rcpt.example"}}},
			{"/console/suppression", url.Values{"address": {"new@rcpt.example"}, "reason": {"BOUNCE"}}},
			{"/console/signout", nil},
		} {
			for _, token := range []string{"", "wrong" + good[5:], good[:len(good)-1]} {
				f := url.Values{}
				for k, v := range tc.form {
					f[k] = v
				}
				if token != "" {
					f.Set("csrf", token)
				}
				res, body := b.post(tc.path, f, false)
				wantStatus(t, res, body, http.StatusForbidden)
			}
		}
		if _, err := e.Identities.Get(ctx, e.Account.ID, "csrf.example"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("identity created by a CSRF-less POST: %v", err)
		}
		if _, err := e.Suppression.Get(ctx, e.Account.ID, "kept@rcpt.example"); err != nil {
			t.Errorf("suppressed address removed by a CSRF-less POST: %v", err)
		}
		if _, err := e.Suppression.Get(ctx, e.Account.ID, "new@rcpt.example"); !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("address added by a CSRF-less POST: %v", err)
		}
		// The session is still alive (signout without a token did nothing),
		// and the right token works.
		res, body = b.post("/console/identities", url.Values{"name": {"csrf.example"}}, true)
		wantStatus(t, res, body, http.StatusSeeOther)
		if _, err := e.Identities.Get(ctx, e.Account.ID, "csrf.example"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSessionEnds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()

		// Logout.
		b := e.browser(t)
		b.signIn(e.Key)
		old := *b.c.Jar.Cookies(mustURL(t, e.srv.URL+"/console/"))[0]
		res, _ := b.post("/console/signout", nil, true)
		wantSignIn(t, res)
		res, _ = b.get("/console/identities")
		wantSignIn(t, res)
		// The old cookie, replayed, is dead too.
		replay := e.browser(t)
		replay.c.Jar.SetCookies(mustURL(t, e.srv.URL+"/console/"), []*http.Cookie{&old})
		res, _ = replay.get("/console/identities")
		wantSignIn(t, res)

		// A removed key ends the sessions it opened; another key's stays.
		k2, err := e.Accounts.AddKey(ctx, e.Account.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		b2, b1 := e.browser(t), e.browser(t)
		b2.signIn(k2)
		b1.signIn(e.Key)
		if err := e.Accounts.RemoveKey(ctx, e.Account.ID, k2.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		res, _ = b2.get("/console/identities")
		wantSignIn(t, res)
		res, body := b2.post("/console/identities", url.Values{"name": {"after.example"}}, true)
		wantStatus(t, res, body, http.StatusForbidden)
		res, body = b1.get("/console/identities")
		wantStatus(t, res, body, http.StatusOK)

		// Expiry, on the injected clock.
		e.Clock.Advance(59 * time.Minute)
		res, body = b1.get("/console/identities")
		wantStatus(t, res, body, http.StatusOK)
		e.Clock.Advance(2 * time.Minute)
		res, _ = b1.get("/console/identities")
		wantSignIn(t, res)
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSignInRefusedAndLimited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		b := e.browser(t)
		for i := range 5 {
			b.get("/console/signin")
			secret := "wrong"
			if i == 0 {
				secret = e.Key.Secret[:len(e.Key.Secret)-1]
			}
			res, body := b.post("/console/signin", url.Values{"access_key_id": {e.Key.AccessKeyID}, "secret": {secret}}, true)
			wantStatus(t, res, body, http.StatusUnauthorized)
			if !strings.Contains(body, "were not accepted") || cookie(res, "sesame_console") != nil {
				t.Fatalf("refused sign-in:\n%s", body)
			}
		}
		// Over the limit even the right secret is refused.
		b.get("/console/signin")
		res, body := b.post("/console/signin", url.Values{"access_key_id": {e.Key.AccessKeyID}, "secret": {e.Key.Secret}}, true)
		wantStatus(t, res, body, http.StatusTooManyRequests)
		// Until the window ends.
		e.Clock.Advance(5 * time.Minute)
		b.signIn(e.Key)
		// A wrong admin token is refused like a wrong key.
		a := e.browser(t)
		a.get("/console/signin")
		res, body = a.post("/console/signin", url.Values{"mode": {"admin"}, "admin_token": {"nope"}}, true)
		wantStatus(t, res, body, http.StatusUnauthorized)
	})
}

// TestAccountIsolation: one account's session cannot see or change
// another's identities, suppressed addresses or messages by editing URLs
// or forms.
func TestAccountIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		other, _ := e.OtherKey(t, "other")
		if _, err := e.Identities.Create(ctx, other.ID, "theirs.example", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		e.MarkVerifiedIn(t, other.ID, "theirs.example")
		if err := e.Suppression.Put(ctx, other.ID, "theirs@rcpt.example", suppression.Complaint); err != nil {
			t.Fatal(err)
		}
		sent, err := e.sender.Submit(ctx, send.Request{AccountID: other.ID, From: "a@theirs.example", MaxSize: send.MaxSizeV2, Operation: "SendEmail",
			Simple: &compose.Simple{From: "a@theirs.example", To: []string{"success@simulator.amazonses.com"}, Subject: "their secret subject", Text: "x"}})
		if err != nil {
			t.Fatal(err)
		}

		b := e.browser(t)
		b.signIn(e.Key)
		for _, p := range []string{"/console/identities/theirs.example", "/console/identities/theirs.example/records.csv",
			"/console/identities/theirs.example/delete", "/console/messages/" + sent.MessageID} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusNotFound)
			if strings.Contains(body, "their secret subject") {
				t.Errorf("%s shows the other account's data", p)
			}
		}
		for _, p := range []string{"/console/identities", "/console/suppression", "/console/messages", "/console/messages?q=theirs", "/console/suppression.csv"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusOK)
			for _, s := range []string{"theirs.example", "theirs@rcpt.example", sent.MessageID, "their secret subject"} {
				if strings.Contains(body, s) {
					t.Errorf("%s shows %q of the other account", p, s)
				}
			}
		}
		res, body := b.post("/console/identities/theirs.example/delete", nil, true)
		wantStatus(t, res, body, http.StatusNotFound)
		res, body = b.post("/console/identities/theirs.example/mail-from", url.Values{"mail_from_domain": {"m.theirs.example"}}, true)
		wantStatus(t, res, body, http.StatusNotFound)
		res, body = b.post("/console/suppression/delete", url.Values{"address": {"theirs@rcpt.example"}}, true)
		wantStatus(t, res, body, http.StatusNotFound)
		// An account's session cannot switch accounts.
		res, body = b.post("/console/accounts", url.Values{"account": {other.ID}}, true)
		wantStatus(t, res, body, http.StatusForbidden)

		i, err := e.Identities.Get(ctx, other.ID, "theirs.example")
		if err != nil || i.MailFrom.Domain != "" {
			t.Errorf("other account's identity changed: %+v, %v", i, err)
		}
		if _, err := e.Suppression.Get(ctx, other.ID, "theirs@rcpt.example"); err != nil {
			t.Errorf("other account's suppressed address removed: %v", err)
		}

		// The operator picks the account and sees it.
		a := e.browser(t)
		a.get("/console/signin")
		res, body = a.post("/console/signin", url.Values{"mode": {"admin"}, "admin_token": {adminToken}}, true)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/accounts" {
			t.Fatalf("admin sign-in: %s\n%s", res.Status, body)
		}
		res, body = a.get("/console/identities")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/accounts" {
			t.Fatalf("operator without an account: %s\n%s", res.Status, body)
		}
		a.get("/console/accounts")
		res, body = a.post("/console/accounts", url.Values{"account": {other.ID}}, true)
		wantStatus(t, res, body, http.StatusSeeOther)
		res, body = a.get("/console/identities/theirs.example")
		wantStatus(t, res, body, http.StatusOK)
	})
}

// TestEscaping: markup in a subject, a tag value and a display name is
// shown as text.
func TestEscaping(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		if _, err := e.Identities.Create(ctx, e.Account.ID, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy},
			Tags: []identity.Tag{{Key: "team", Value: `<img src=x onerror=alert(1)>`}}}); err != nil {
			t.Fatal(err)
		}
		e.MarkVerified(t, "example.test")
		const (
			subject = `<script>alert("subject")</script>`
			tag     = `<img src=x onerror=alert(1)>`
			from    = `"<b onclick=alert(2)>Eve</b>" <eve@example.test>`
		)
		sent, err := e.sender.Submit(ctx, send.Request{AccountID: e.Account.ID, From: from, MaxSize: send.MaxSizeV2, Operation: "SendEmail",
			Tags:   []compose.Tag{{Name: "campaign", Value: "spring-sale"}},
			Simple: &compose.Simple{From: from, To: []string{"success@simulator.amazonses.com"}, Subject: subject, Text: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		b.signIn(e.Key)
		for _, p := range []string{"/console/messages/" + sent.MessageID, "/console/messages?q=eve"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusOK)
			for _, raw := range []string{"<script>alert", "<img src=x", "<b onclick"} {
				if strings.Contains(body, raw) {
					t.Errorf("%s has unescaped %q", p, raw)
				}
			}
			if !strings.Contains(body, "&lt;script&gt;alert") {
				t.Errorf("%s does not show the subject as text:\n%s", p, body)
			}
		}
		// Message tags cannot hold markup (SES's rule, send's); identity
		// tags can.
		_, body := b.get("/console/messages/" + sent.MessageID)
		if !strings.Contains(body, "campaign=spring-sale") || !strings.Contains(body, "&lt;b onclick=alert(2)&gt;Eve&lt;/b&gt;") {
			t.Errorf("tag or display name not shown:\n%s", body)
		}
		_, body = b.get("/console/identities/example.test")
		if strings.Contains(body, tag) || !strings.Contains(body, "team=&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("identity tag not shown as text:\n%s", body)
		}
	})
}

// TestFormsRefuse: bad input gets the API's sentence next to its field,
// and nothing changes.
func TestFormsRefuse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		ctx := context.Background()
		if _, err := e.Identities.Create(ctx, e.Account.ID, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		b.signIn(e.Key)
		b.get("/console/identities/example.test")
		check := func(path string, form url.Values, id, sentence string) {
			t.Helper()
			res, body := b.post(path, form, true)
			wantStatus(t, res, body, http.StatusBadRequest)
			m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(body)
			if m == nil || !strings.Contains(html.UnescapeString(m[1]), sentence) {
				t.Errorf("%s %v: field error %q, want %q", path, form, m, sentence)
			}
		}
		// Not verified yet: the v2 sentence.
		check("/console/identities/example.test/mail-from", url.Values{"mail_from_domain": {"bounce.example.test"}}, "mail-from-error",
			"Identity example.test is not verified; verify it before setting a custom MAIL FROM domain.")
		e.MarkVerified(t, "example.test")
		check("/console/identities/example.test/mail-from", url.Values{"mail_from_domain": {"example.test"}}, "mail-from-error",
			"must be a subdomain of the domain of the identity 'example.test', not that domain itself")
		check("/console/identities/example.test/mail-from", url.Values{"mail_from_domain": {"bounce.other.test"}}, "mail-from-error",
			"is not subdomain of the domain of the identity")
		check("/console/identities/example.test/mail-from", url.Values{"mail_from_domain": {"bounce.example.test"}, "behavior": {"BOUNCE"}}, "behavior-error",
			`Invalid value "BOUNCE" for BehaviorOnMxFailure: must be one of USE_DEFAULT_VALUE, REJECT_MESSAGE.`)
		if i, _ := e.Identities.Get(ctx, e.Account.ID, "example.test"); i.MailFrom.Domain != "" {
			t.Errorf("a refused MAIL FROM was stored: %+v", i.MailFrom)
		}
		check("/console/identities", url.Values{"name": {"not an identity"}}, "name-error", "")
		check("/console/suppression", url.Values{"address": {"not-an-address"}, "reason": {"BOUNCE"}}, "address-error", "is not a valid email address")
		check("/console/suppression", url.Values{"address": {"a@rcpt.example"}, "reason": {"SPAM"}}, "reason-error", "it must be BOUNCE or COMPLAINT")
		check("/console/send", url.Values{"from": {"nobody@unverified.example"}, "scenario": {"success"}}, "from-error", "not verified")
		if es, _, _ := e.Suppression.List(ctx, e.Account.ID, suppression.ListOptions{}); len(es) != 0 {
			t.Errorf("refused forms added %v", es)
		}
		if n := e.Queued(t); n != 0 {
			t.Errorf("a refused send queued %d messages", n)
		}
		// And the good values work.
		res, body := b.post("/console/identities/example.test/mail-from", url.Values{"mail_from_domain": {"bounce.example.test"}, "behavior": {"REJECT_MESSAGE"}}, true)
		wantStatus(t, res, body, http.StatusSeeOther)
		if i, _ := e.Identities.Get(ctx, e.Account.ID, "example.test"); i.MailFrom.Domain != "bounce.example.test" || i.MailFrom.Behavior != identity.RejectMessage || i.MailFrom.Status != identity.Pending {
			t.Errorf("MAIL FROM: %+v", i.MailFrom)
		}
	})
}
