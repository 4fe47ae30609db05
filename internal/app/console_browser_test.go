package app_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/suppression"
)

// Browser tests drive Debian's chromium through chromedp. Without a
// chromium they skip, unless SESAME_REQUIRE_BROWSER=1 (CI), which makes a
// missing browser a failure. SESAME_SCREENSHOTS_DIR, when set, is where
// they save screenshots of the main pages (the README's come from
// SESAME_SCREENSHOTS_DIR=$PWD/docs/screenshots); else a temporary
// directory.
const (
	envRequireBrowser = "SESAME_REQUIRE_BROWSER"
	envScreenshots    = "SESAME_SCREENSHOTS_DIR"
)

// browserPath finds chromium, or skips or fails the test.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatalf("%s=1 but no chromium is installed (apt-get install -y chromium)", envRequireBrowser)
	}
	t.Skipf("browser test skipped: no chromium found (apt-get install -y chromium; %s=1 makes this a failure)", envRequireBrowser)
	return ""
}

// newBrowser starts one headless chromium for the test (each store's run
// gets a tab of its own) and returns its context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(browserPath(t)), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// screenshotDir is where the test saves its screenshots.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv(envScreenshots); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// browserTab opens a tab of bctx for at most timeout. run does steps,
// failing the test with the page's address; shot saves a full-page
// screenshot into shots (one set of pictures: none from a PostgreSQL run);
// text reads an element's text.
func browserTab(t *testing.T, bctx context.Context, shots string, timeout time.Duration) (
	ctx context.Context, run func(string, ...chromedp.Action[chromedp.Void]), shot func(string) chromedp.Action[chromedp.Void], text func(string) string) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	onPostgres := filepath.Base(t.Name()) == "postgres"
	shot = func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100: PNG
			if err != nil || onPostgres {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	run = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s (at %s): %v", what, loc, err)
		}
	}
	text = func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	return ctx, run, shot, text
}

// evaluate runs a script in the page and returns its value (awaited, when
// it is a promise).
func evaluate[T any](t *testing.T, ctx context.Context, what, script string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestConsoleInBrowser walks the console as an operator of a new domain
// would, in a real browser: sign in; create a domain identity; read its
// records from the page and publish them in the customer's DNS (the
// checker's resolver); "check now" verifies it; set a custom MAIL FROM,
// publish its MX and SPF, "check now" shows Success; download and parse
// the CSV record set; send a test email to the bounce simulator and find
// its Bounce under Messages; remove a suppressed address; a CSRF-less POST
// from the page is refused.
func TestConsoleInBrowser(t *testing.T) {
	bctx := newBrowser(t)
	shots := screenshotDir(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		// The checker's own rounds are an hour apart: only "check now"
		// moves the states in this test.
		r := startWith(t, d, func(c *cfgT) { c.CheckInterval = time.Hour })
		base := "http://" + r.ready.API + "/console"
		ctx, run, shot, text := browserTab(t, bctx, shots, 90*time.Second)

		run("sign in", chromedp.Navigate(base+"/signin"), shot("signin"),
			chromedp.SendKeys(chromedp.ID("access_key_id"), r.key.AccessKeyID),
			chromedp.SendKeys(chromedp.ID("secret"), r.key.Secret),
			chromedp.Click(chromedp.ID("signin-button")),
			chromedp.WaitVisible(chromedp.ID("create-identity")))

		run("create a domain identity",
			chromedp.SendKeys(chromedp.ID("new-identity"), "example.test"),
			chromedp.Click(chromedp.ID("create-button")),
			chromedp.WaitVisible(chromedp.ID("flash-created")),
			chromedp.Click(chromedp.CSS(`a[href="/console/identities/example.test"]`)),
			chromedp.WaitVisible(chromedp.ID("records")))
		if s := text("#verification-status"); s != string(identity.Pending) {
			t.Fatalf("new identity: %s", s)
		}

		// The records, as the page shows them: publish the CNAMEs.
		// publish reads the records the page shows and adds to the
		// customer's zone the zone-file line zone makes of each ("" for
		// none); want is how many it must make.
		var recs [][]string
		publish := func(what string, want int, zone func(typ, name, value string) string) {
			t.Helper()
			recs = evaluate[[][]string](t, ctx, "read the records", `[...document.querySelectorAll("#records tbody tr")].map(tr => [...tr.cells].slice(0, 3).map(td => td.textContent.trim()))`)
			n := 0
			for _, rec := range recs {
				if line := zone(rec[0], rec[1], rec[2]); line != "" {
					r.customer.Add(line)
					n++
				}
			}
			if n != want {
				t.Fatalf("%s: %d records published from the page's %v, want %d", what, n, recs, want)
			}
		}
		publish("DKIM CNAMEs", 4, func(typ, name, value string) string {
			if typ != "CNAME" {
				return ""
			}
			return fmt.Sprintf("%s. 300 IN CNAME %s.", name, value)
		})
		run("check now: verified",
			chromedp.Click(chromedp.ID("check-now")),
			chromedp.WaitVisible(chromedp.ID("flash-checked")))
		if s := text("#verification-status"); s != string(identity.Success) {
			t.Fatalf("after check now: verification %s", s)
		}

		run("set a custom MAIL FROM",
			chromedp.SetValue(chromedp.ID("mail-from-domain"), "bounce.example.test"),
			chromedp.SetValue(chromedp.ID("behavior"), identity.RejectMessageV2),
			chromedp.Click(chromedp.ID("save-mail-from")),
			chromedp.WaitVisible(chromedp.ID("flash-mailfrom")))
		if s := text("#mail-from-status"); s != string(identity.Pending) {
			t.Fatalf("MAIL FROM after saving: %s", s)
		}
		publish("MAIL FROM MX and SPF", 2, func(typ, name, value string) string {
			switch {
			case name != "bounce.example.test":
				return ""
			case typ == "MX":
				return fmt.Sprintf("%s. 300 IN MX %s.", name, value) // "10 feedback-smtp..."
			case typ == "TXT":
				return fmt.Sprintf("%s. 300 IN TXT %q", name, value)
			}
			return ""
		})
		run("check now: MAIL FROM Success",
			chromedp.Click(chromedp.ID("check-now")),
			chromedp.WaitVisible(chromedp.ID("flash-checked")), shot("identity"))
		if s := text("#mail-from-status"); s != string(identity.Success) {
			t.Fatalf("MAIL FROM after check now: %s (%s)", s, text("#mail-from-finding"))
		}
		if h := text("#history"); !strings.Contains(h, "custom MAIL FROM domain bounce.example.test set") {
			t.Errorf("history: %s", h)
		}

		// The CSV record set, fetched by the page's own link.
		body := evaluate[string](t, ctx, "download the CSV", `fetch(document.querySelector("#records-csv").href).then(r => r.text())`)
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, body)
		}
		if !slices.Equal(rows[0][:3], []string{"Type", "Name", "Value"}) {
			t.Fatalf("CSV header %v", rows[0])
		}
		var mx bool
		for _, row := range rows[1:] {
			mx = mx || row[0] == "MX" && row[1] == "bounce.example.test" && row[2] == "feedback-smtp.us-east-1."+svc
		}
		if !mx || len(rows) != len(recs)+1 {
			t.Errorf("CSV rows %v, page %v", rows, recs)
		}

		// A test email to the bounce simulator, and its Bounce.
		run("send a test email",
			chromedp.Navigate(base+"/send"),
			chromedp.SetValue(chromedp.ID("from"), "sender@example.test"),
			chromedp.Click(chromedp.ID("scenario-bounce")),
			chromedp.SetValue(chromedp.ID("subject"), "Bounce me"), shot("send"),
			chromedp.Click(chromedp.ID("send-button")),
			chromedp.WaitVisible(chromedp.ID("sent-id")))
		id := text("#sent-id")
		run("find the Bounce under Messages",
			chromedp.Navigate(base+"/messages?q=bounce%40simulator"),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/console/messages/`+id+`"]`)), shot("messages"))
		// Delivery runs in the background: wait for its Bounce, then look.
		eventually(t, "the simulator's bounce", func() error {
			for _, e := range messageEvents(t, r, id) {
				if e.Type == "Bounce" {
					return nil
				}
			}
			return errors.New("no Bounce yet")
		})
		run("open the message", chromedp.Navigate(base+"/messages/"+id), chromedp.WaitVisible(chromedp.CSS("#timeline li.ev-Bounce")))
		run("message page", shot("message"))
		if tl := text("#timeline"); !strings.Contains(tl, "Send") || !strings.Contains(tl, "Permanent") {
			t.Errorf("timeline: %s", tl)
		}

		// The suppression list: add an address, then remove it.
		run("suppress an address",
			chromedp.Navigate(base+"/suppression"),
			chromedp.SetValue(chromedp.ID("add-address"), "gone@rcpt.test"),
			chromedp.SetValue(chromedp.ID("add-reason"), "BOUNCE"),
			chromedp.Click(chromedp.ID("add-button")),
			chromedp.WaitVisible(chromedp.CSS(`button.remove[data-address="gone@rcpt.test"]`)), shot("suppression"))
		run("remove it",
			chromedp.Click(chromedp.CSS(`button.remove[data-address="gone@rcpt.test"]`)),
			chromedp.WaitVisible(chromedp.ID("flash-unsuppressed")))
		if _, err := r.app.Suppression.Get(context.Background(), r.acct.ID, "gone@rcpt.test"); !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("suppressed address after removal: %v", err)
		}

		// A POST without the form's CSRF token, from the page itself.
		status := evaluate[int](t, ctx, "CSRF-less POST", `fetch("/console/identities", {method: "POST", body: new URLSearchParams({name: "evil.example"})}).then(r => r.status)`)
		if status != 403 {
			t.Errorf("CSRF-less POST: %d", status)
		}
		if _, err := r.app.Identities.Get(context.Background(), r.acct.ID, "evil.example"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("CSRF-less POST created an identity: %v", err)
		}
		run("identities page", chromedp.Navigate(base+"/identities"), chromedp.WaitVisible(chromedp.ID("identities")), shot("identities"))
	})
}
