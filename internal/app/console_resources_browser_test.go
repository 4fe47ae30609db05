package app_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestConsoleResourcesInBrowser creates and removes a configuration set,
// a template (with a test render whose script must not run) and a
// contact list with a contact, in a real browser.
func TestConsoleResourcesInBrowser(t *testing.T) {
	bctx := newBrowser(t)
	shots := screenshotDir(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := startWith(t, d, func(c *cfgT) { c.CheckInterval = time.Hour })
		base := "http://" + r.ready.API + "/console"
		ctx, run, shot := consoleTab(t, bctx, r, shots)

		run("create a configuration set", chromedp.Navigate(base+"/configuration-sets"),
			chromedp.SendKeys(chromedp.ID("set-name"), "marketing"),
			chromedp.Click(chromedp.ID("create-set-button")),
			chromedp.WaitVisible(chromedp.ID("flash-set-created")),
			chromedp.Click(chromedp.ID("pause")),
			chromedp.WaitVisible(chromedp.ID("flash-set-paused")), shot("configuration-set"),
			chromedp.Click(chromedp.ID("delete-set-button")),
			chromedp.WaitVisible(chromedp.ID("flash-set-deleted")))

		run("create a template and render it", chromedp.Navigate(base+"/templates"),
			chromedp.SendKeys(chromedp.ID("template-name"), "welcome"),
			chromedp.SendKeys(chromedp.ID("template-subject"), "Hello {{name}}"),
			chromedp.SendKeys(chromedp.ID("template-text"), "Dear {{name}}"),
			chromedp.SendKeys(chromedp.ID("template-html"), `<h1>Hi {{name}}</h1><script>parent.document.title="pwned";document.title="ran"</script>`),
			chromedp.Click(chromedp.ID("create-template-button")),
			chromedp.WaitVisible(chromedp.ID("flash-template-created")),
			chromedp.SetValue(chromedp.ID("render-data"), `{"name":"Ann"}`),
			chromedp.Click(chromedp.ID("render-button")),
			chromedp.WaitVisible(chromedp.ID("rendered-html")))
		// The frame shows the HTML; its script ran neither there nor in
		// the console's page.
		time.Sleep(300 * time.Millisecond)
		title := evaluate[string](t, ctx, "title", `document.title`)
		if title != "Template welcome · Sesame console" {
			t.Errorf("the preview's script changed the console's title: %q", title)
		}
		if s := evaluate[string](t, ctx, "subject", `document.getElementById("rendered-subject").textContent`); s != "Hello Ann" {
			t.Errorf("rendered subject %q", s)
		}
		if s := evaluate[string](t, ctx, "frame", `(() => { try { return document.getElementById("rendered-html").contentDocument === null ? "opaque" : "same-origin" } catch (e) { return "opaque" } })()`); s != "opaque" {
			t.Errorf("the preview frame is %s to the console", s)
		}
		run("screenshot the render and delete the template", shot("template-render"),
			chromedp.Click(chromedp.ID("delete-template-button")),
			chromedp.WaitVisible(chromedp.ID("flash-template-deleted")))

		run("create a contact list and a contact", chromedp.Navigate(base+"/contact-lists"),
			chromedp.SendKeys(chromedp.ID("list-name"), "news"),
			chromedp.SendKeys(chromedp.ID("list-topics"), "sports | Sports | OPT_IN\nweather | Weather | OPT_OUT"),
			chromedp.Click(chromedp.ID("create-list-button")),
			chromedp.WaitVisible(chromedp.ID("flash-list-created")),
			chromedp.SendKeys(chromedp.ID("contact-address"), "ann@rcpt.example"),
			chromedp.Click(chromedp.ID("add-contact-button")),
			chromedp.WaitVisible(chromedp.ID("flash-contact-added")), shot("contact-list"),
			chromedp.Click(chromedp.CSS("#contacts button.remove")),
			chromedp.WaitVisible(chromedp.ID("flash-contact-removed")),
			chromedp.Click(chromedp.ID("delete-list-button")),
			chromedp.WaitVisible(chromedp.ID("flash-list-deleted")))
		if n := evaluate[int](t, ctx, "lists", `document.querySelectorAll("#lists a").length`); n != 0 {
			t.Errorf("%d lists after deleting", n)
		}
	})
}
