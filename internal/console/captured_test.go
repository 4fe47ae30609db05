package console_test

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/console"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
)

// newCapturedEnv is newEnv's console with `sesame dev`'s captured mail.
func newCapturedEnv(t *testing.T, d *db.DB) (*env, *capture.Store) {
	t.Helper()
	var store *capture.Store
	e := newEnv(t, d, false, func(e *env, o *console.Options) {
		var err error
		if store, err = capture.NewStore(capture.StoreOptions{DB: d, Now: e.Clock.Now}); err != nil {
			t.Fatal(err)
		}
		o.Captured = store
	})
	return e, store
}

// hostileHTML tries every way to run script: an inline script, an event
// handler attribute and a javascript: link.
const hostileHTML = `<html><body onload="parent.document.title='pwned'"><h1 id="hello">Hello from the mail</h1>` +
	`<script>parent.document.title='pwned'; top.pwned = 1;</script>` +
	`<img src="x" onerror="parent.document.title='pwned'"><a href="javascript:parent.pwned=1">x</a></body></html>`

// capturedRaw is a multipart/mixed message: text and the hostile HTML as
// alternatives, and an attachment whose name tries to climb directories
// and break out of its quoting.
func capturedRaw(from, to, subject string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <m1@dev.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPlain caf=E9 <b>text</b>\r\n" +
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + hostileHTML + "\r\n" +
		"--inner--\r\n" +
		"--outer\r\nContent-Type: text/html; name=\"x.html\"\r\nContent-Disposition: attachment; filename=\"../../etc/\\\"evil\\\";.html\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\r\n" +
		"--outer--\r\n")
}

// TestCapturedMail: the list with its filters and pages, one message
// whole, the sandboxed body's headers, the raw and attachment downloads,
// and every account seeing only its own captured mail, on both stores.
func TestCapturedMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, store := newCapturedEnv(t, d)
		ctx := context.Background()
		if _, err := e.Identities.Create(ctx, e.Account.ID, "dev.example", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		e.MarkVerified(t, "dev.example")
		sent, err := e.sender.Submit(ctx, send.Request{AccountID: e.Account.ID, From: "app@dev.example", MaxSize: send.MaxSizeV2, Operation: "SendEmail",
			Simple: &compose.Simple{From: "app@dev.example", To: []string{"success@simulator.amazonses.com"}, Subject: "x", Text: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		mine := &capture.Message{AccountID: e.Account.ID, MessageID: sent.MessageID, MailFrom: sent.MessageID + "@mail.dev.example",
			From: "App <app@dev.example>", Recipients: []string{"ana@rcpt.example"}, Subject: "Welcome <b>aboard</b>",
			Verdicts: capture.Verdicts{DKIM: "pass", SPF: "pass", DMARC: "pass", DKIMDomains: []string{"dev.example"}, SPFDomain: "mail.dev.example",
				FromDomain: "dev.example", Policy: "v=DMARC1; p=none", PolicyDomain: "_dmarc.dev.example", DKIMAligned: true, SPFAligned: true},
			Raw: capturedRaw("App <app@dev.example>", "ana@rcpt.example", "Welcome <b>aboard</b>")}
		if err := store.Add(ctx, mine); err != nil {
			t.Fatal(err)
		}
		other, _ := e.OtherKey(t, "other")
		theirs := &capture.Message{AccountID: other.ID, MessageID: "their-id", MailFrom: "b@theirs.example", From: "b@theirs.example",
			Recipients: []string{"ana@rcpt.example"}, Subject: "their secret subject", Verdicts: capture.Verdicts{DKIM: "none", SPF: "none", DMARC: "none"},
			Raw: capturedRaw("b@theirs.example", "ana@rcpt.example", "their secret subject")}
		if err := store.Add(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		// Enough newer messages for two pages.
		for k := range 50 {
			if err := store.Add(ctx, &capture.Message{AccountID: e.Account.ID, MailFrom: "bulk@dev.example", From: "bulk@dev.example",
				Recipients: []string{fmt.Sprintf("r%02d@bulk.example", k)}, Subject: fmt.Sprintf("bulk %02d", k),
				Verdicts: capture.Verdicts{DKIM: "fail", SPF: "softfail", DMARC: "fail"}, Raw: []byte("Subject: bulk\r\n\r\nx\r\n")}); err != nil {
				t.Fatal(err)
			}
		}

		b := e.browser(t)
		if res, _ := b.get("/console/captured"); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("signed out: %s, want a redirect to sign in", res.Status)
		}
		b.signIn(e.Key)
		res, body := b.get("/console/captured")
		wantStatus(t, res, body, http.StatusOK)
		if !strings.Contains(body, `id="nav-captured"`) {
			t.Error("no Captured mail menu entry")
		}
		if n := strings.Count(body, `class="captured-row"`); n != 50 {
			t.Errorf("first page has %d messages, want 50", n)
		}
		next := regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(body)
		if next == nil {
			t.Fatal("no next page")
		}
		res, body = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
		wantStatus(t, res, body, http.StatusOK)
		// Newest first: the first message captured is on the second page.
		if n := strings.Count(body, `class="captured-row"`); n != 1 || strings.Contains(body, "id=\"next-page\"") {
			t.Errorf("second page: %d messages, want 1\n%s", n, body)
		}
		if !strings.Contains(body, "Welcome &lt;b&gt;aboard&lt;/b&gt;") || strings.Contains(body, "<b>aboard") {
			t.Error("the subject is not shown, or not escaped")
		}
		for q, want := range map[string]int{"?id=" + sent.MessageID: 1, "?rcpt=ANA@": 1, "?rcpt=bulk.example": 50, "?sender=app@dev": 1,
			"?sender=bulk&rcpt=r07": 1, "?id=their-id": 0, "?rcpt=nobody": 0} {
			res, body := b.get("/console/captured" + q)
			wantStatus(t, res, body, http.StatusOK)
			if n := strings.Count(body, `class="captured-row"`); n != want {
				t.Errorf("%s: %d messages, want %d", q, n, want)
			}
			if strings.Contains(body, "their secret subject") {
				t.Errorf("%s shows the other account's message", q)
			}
		}

		page := fmt.Sprintf("/console/captured/%d", mine.ID)
		res, body = b.get(page)
		wantStatus(t, res, body, http.StatusOK)
		csp := res.Header.Get("Content-Security-Policy")
		if want := "frame-src " + e.srv.URL + page + "/body;"; !strings.Contains(csp, want) || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("message page CSP %q, want %q and frame-ancestors 'none'", csp, want)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("message page X-Frame-Options %q", res.Header.Get("X-Frame-Options"))
		}
		for _, want := range []string{`<iframe id="cap-html" class="captured-html" sandbox src="` + page + `/body"`,
			"Plain café &lt;b&gt;text&lt;/b&gt;", `id="v-dkim">pass`, "signed by dev.example", "policy <code>v=DMARC1; p=none</code>",
			`href="/console/messages/` + sent.MessageID + `"`, `<span class="badge ev">Send</span>`, "<th>Message-Id</th>",
			`href="` + page + `/raw"`, `href="` + page + `/attachments/1"`} {
			if !strings.Contains(body, want) {
				t.Errorf("message page lacks %s", want)
			}
		}
		if strings.Contains(body, "pwned") || strings.Contains(body, "<script>") {
			t.Error("the message page carries the mail's HTML itself")
		}
		// Other pages frame nothing.
		if res, _ := b.get("/console/captured"); strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-src") {
			t.Error("the list allows frames")
		}

		res, body = b.get(page + "/body")
		wantStatus(t, res, body, http.StatusOK)
		h := res.Header
		csp = h.Get("Content-Security-Policy")
		if !strings.HasPrefix(csp, "sandbox;") || strings.Contains(csp, "allow-") || !strings.Contains(csp, "default-src 'none'") ||
			strings.Contains(csp, "script-src") || !strings.Contains(csp, "frame-ancestors 'self'") {
			t.Errorf("body CSP %q: want a sandbox without allow-*, no script, framed by self only", csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "SAMEORIGIN" || h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("body headers %v", h)
		}
		if strings.TrimSpace(body) != hostileHTML {
			t.Errorf("body %q, want the HTML part", body)
		}

		res, body = b.get(page + "/raw")
		wantStatus(t, res, body, http.StatusOK)
		if _, p, _ := mime.ParseMediaType(res.Header.Get("Content-Disposition")); res.Header.Get("Content-Type") != "message/rfc822" ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") || p["filename"] != fmt.Sprintf("captured-%d.eml", mine.ID) || body != string(mine.Raw) {
			t.Errorf("raw: %v", res.Header)
		}

		res, body = b.get(page + "/attachments/1")
		wantStatus(t, res, body, http.StatusOK)
		disp, p, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || p["filename"] != "evil.html" || res.Header.Get("Content-Type") != "application/octet-stream" ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" || body != "<script>alert(1)</script>" {
			t.Errorf("attachment: %v %q %v\n%q", res.Header, p["filename"], err, body)
		}
		for _, p := range []string{page + "/attachments/2", page + "/attachments/0", page + "/attachments/x", "/console/captured/x", "/console/captured/0"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusNotFound)
		}

		// The other account's message is not there for this account.
		for _, p := range []string{"", "/body", "/raw", "/attachments/1"} {
			res, body := b.get(fmt.Sprintf("/console/captured/%d%s", theirs.ID, p))
			wantStatus(t, res, body, http.StatusNotFound)
			if strings.Contains(body, "their secret subject") || strings.Contains(body, "pwned") {
				t.Errorf("%s shows the other account's message", p)
			}
		}
	})
}

// TestCapturedMailOnlyInDev: without a capture store (sesame serve) the
// pages and the menu entry are absent.
func TestCapturedMailOnlyInDev(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, false)
		b := e.browser(t)
		b.signIn(e.Key)
		res, body := b.get("/console/identities")
		if strings.Contains(body, "nav-captured") {
			t.Error("Captured mail in the menu of sesame serve's console")
		}
		res, body = b.get("/console/captured")
		wantStatus(t, res, body, http.StatusNotFound)
		res, body = b.get("/console/captured/1/body")
		wantStatus(t, res, body, http.StatusNotFound)
	})
}

// TestSafeFilename pins what an attachment's name becomes.
func TestSafeFilename(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf": "report.pdf", "../../etc/passwd": "passwd", `C:\Users\x\a.exe`: "a.exe", "a\"b;c.txt": "abc.txt",
		"": "attachment-3", "..": "attachment-3", "\x00\r\n": "attachment-3", "café.txt": "café.txt",
		strings.Repeat("x", 200) + ".zip": strings.Repeat("x", 96) + ".zip",
	} {
		if got := console.SafeFilename(in, 3); got != want {
			t.Errorf("SafeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}
