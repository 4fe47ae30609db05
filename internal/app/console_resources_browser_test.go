package app_test

import (
	"bytes"
	"context"
	"image/color"
	"image/png"
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
		// The frame is sandboxed without scripts (allow-same-origin only, so
		// that Chromium keeps it in the page's process and paints it): its
		// script did not run, and it holds the rendered HTML.
		if s := evaluate[string](t, ctx, "frame", `document.getElementById("rendered-html").getAttribute("sandbox")`); s != "allow-same-origin" {
			t.Errorf("the preview frame's sandbox is %q", s)
		}
		if s := evaluate[string](t, ctx, "frame title", `document.getElementById("rendered-html").contentDocument.title`); s == "ran" {
			t.Errorf("the preview's script ran in the frame")
		}
		if s := evaluate[string](t, ctx, "frame text", `document.getElementById("rendered-html").contentDocument.querySelector("h1")?.textContent ?? ""`); s != "Hi Ann" {
			t.Errorf("the preview frame's text is %q", s)
		}
		// The frame shows the rendered HTML: its picture holds dark
		// pixels (the heading's text) besides its border and background.
		var framePNG []byte
		run("picture the preview frame", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			framePNG, err = chromedp.Screenshot(chromedp.ID("rendered-html"))(ctx, tg)
			return err
		}))
		if n := darkPixels(t, framePNG); n < 50 {
			t.Errorf("the preview frame shows nothing: %d dark pixels", n)
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

// darkPixels counts the pixels of a PNG picture, less its outer 4 pixels
// (a frame's border), that are nearly black: text.
func darkPixels(t *testing.T, b []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode the picture: %v", err)
	}
	r, n := img.Bounds().Inset(4), 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := color.GrayModel.Convert(img.At(x, y)).(color.Gray); c.Y < 100 {
				n++
			}
		}
	}
	return n
}
