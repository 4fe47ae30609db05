package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// consoleTab opens a browser tab (of bctx, for 60 s) signed in to r's
// console with its key. run does steps, failing the test with the page's
// address; shot saves a screenshot into shots (the sqlite run's only).
func consoleTab(t *testing.T, bctx context.Context, r *running, shots string) (context.Context, func(string, ...chromedp.Action[chromedp.Void]), func(string) chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, run, shot, _ := browserTab(t, bctx, shots, 60*time.Second)
	run("sign in", chromedp.Navigate("http://"+r.ready.API+"/console/signin"),
		chromedp.SendKeys(chromedp.ID("access_key_id"), r.key.AccessKeyID),
		chromedp.SendKeys(chromedp.ID("secret"), r.key.Secret),
		chromedp.Click(chromedp.ID("signin-button")),
		chromedp.WaitVisible(chromedp.ID("create-identity")))
	return ctx, run, shot
}

// TestConsoleTopicsInBrowser creates an SNS topic, subscribes an HTTP
// subscriber on loopback (the deployment allows private endpoints, as
// Sesame's tests do), sees it PendingConfirmation until the subscriber
// follows the SubscribeURL it was sent, then Confirmed, and removes the
// subscription and the topic, in a real browser.
func TestConsoleTopicsInBrowser(t *testing.T) {
	bctx := newBrowser(t)
	shots := screenshotDir(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := &subscriber{}
		hook := httptest.NewServer(sub)
		defer hook.Close()
		r := startWith(t, d, func(c *cfgT) { c.CheckInterval = time.Hour; c.SNSAllowPrivateEndpoints = true })
		base := "http://" + r.ready.API + "/console"
		ctx, run, shot := consoleTab(t, bctx, r, shots)

		run("create a topic and subscribe the loopback subscriber", chromedp.Navigate(base+"/topics"),
			chromedp.SendKeys(chromedp.ID("topic-name"), "alerts"),
			chromedp.SendKeys(chromedp.ID("topic-display-name"), "Alerts"),
			chromedp.Click(chromedp.ID("create-topic-button")),
			chromedp.WaitVisible(chromedp.ID("flash-topic-created")),
			chromedp.SetValue(chromedp.ID("subscription-protocol"), "http"),
			chromedp.SendKeys(chromedp.ID("subscription-endpoint"), hook.URL+"/hook"),
			chromedp.Click(chromedp.ID("subscribe-button")),
			chromedp.WaitVisible(chromedp.ID("flash-subscribed")),
			chromedp.WaitVisible(chromedp.CSS("#subscriptions .badge.wait")))

		// The subscriber gets the SubscriptionConfirmation and follows its
		// SubscribeURL, as a real one does.
		var confirm map[string]string
		eventually(t, "the SubscriptionConfirmation at the subscriber", func() (err error) {
			confirm, err = sub.got("SubscriptionConfirmation")
			return err
		})
		// The test's public URL names port 0 (the listener's port is
		// picked at start): follow the link at the listener's address.
		u, err := url.Parse(confirm["SubscribeURL"])
		if err != nil || u.Path != "/sns/confirm" {
			t.Fatalf("SubscribeURL %q: %v", confirm["SubscribeURL"], err)
		}
		u.Host = r.ready.API
		res, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("SubscribeURL: %s", res.Status)
		}

		run("see it confirmed", chromedp.Navigate(base+"/topics/alerts"),
			chromedp.WaitVisible(chromedp.CSS("#subscriptions .badge.ok")), shot("topic"))
		if s := evaluate[string](t, ctx, "status", `document.querySelector("#subscriptions .badge").textContent`); s != "Confirmed" {
			t.Errorf("status %q", s)
		}
		run("remove the subscription and the topic",
			chromedp.Click(chromedp.CSS("#subscriptions button.remove")),
			chromedp.WaitVisible(chromedp.ID("flash-unsubscribed")),
			chromedp.Click(chromedp.ID("delete-topic-button")),
			chromedp.WaitVisible(chromedp.ID("flash-topic-deleted")))
		if n := evaluate[int](t, ctx, "topics", `document.querySelectorAll("#topics a").length`); n != 0 {
			t.Errorf("%d topics after deleting", n)
		}
		eventually(t, "the UnsubscribeConfirmation at the subscriber", func() error {
			_, err := sub.got("UnsubscribeConfirmation")
			return err
		})
	})
}
