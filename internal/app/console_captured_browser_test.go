package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/chromedp/chromedp"

	"github.com/sesame-email/sesame/internal/app"
)

// capturedScript is the HTML of a mail that tries to run script in the
// console: an inline script, an onload and an onerror attribute; each
// would rename the console's tab and set a global in it.
const capturedScript = `<html><body onload="parent.document.title='pwned by onload'; parent.pwned = 1">` +
	`<h1 id="mail-hello">Hello from the mail</h1><p>Your order <b>#42</b> has shipped.</p>` +
	`<script>parent.document.title = 'pwned by script'; parent.pwned = 1; document.body.dataset.ran = 'yes';</script>` +
	`<img src="data:," onerror="parent.document.title='pwned by onerror'; parent.pwned = 1"></body></html>`

// TestConsoleCapturedInBrowser: under `sesame dev`, an application sends
// with the SDK and the printed settings; the developer signs in with the
// printed key, finds the message under Captured mail and opens it: the
// verdicts pass, the sandboxed frame shows the mail's HTML, and none of
// the mail's scripts ran, in the console or in the frame.
func TestConsoleCapturedInBrowser(t *testing.T) {
	bctx := newBrowser(t)
	shots := screenshotDir(t)
	s, _, _ := runDev(t, app.DevOptions{Memory: true})
	ctx := context.Background()
	v2 := devClient(s)
	if _, err := v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("shop.example")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "shop.example verified", func() error {
		o, err := v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("shop.example")})
		if err != nil {
			return err
		}
		if !o.VerifiedForSendingStatus || o.DkimAttributes.Status != types.DkimStatusSuccess {
			return errors.New("not verified yet")
		}
		return nil
	})
	sent, err := v2.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("Shop <orders@shop.example>"),
		Destination:      &types.Destination{ToAddresses: []string{"customer@rcpt.example"}},
		Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Your order has shipped")},
			Body: &types.Body{Text: &types.Content{Data: aws.String("Your order #42 has shipped.")}, Html: &types.Content{Data: aws.String(capturedScript)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := waitCaptured(t, s, *sent.MessageId)

	tab, run, shot, _ := browserTab(t, bctx, shots, 60*time.Second)
	base := s.Endpoint + "/console"
	run("sign in with the printed key",
		chromedp.Navigate(base+"/signin"),
		chromedp.SendKeys(chromedp.ID("access_key_id"), s.AccessKeyID),
		chromedp.SendKeys(chromedp.ID("secret"), s.Secret),
		chromedp.Click(chromedp.ID("signin-button")),
		chromedp.WaitVisible(chromedp.ID("nav-captured")))
	run("find the message under Captured mail",
		chromedp.Click(chromedp.ID("nav-captured")),
		chromedp.WaitVisible(chromedp.CSS("a.open-captured")), shot("captured"))
	run("open it",
		chromedp.Click(chromedp.CSS("a.open-captured")),
		chromedp.WaitVisible(chromedp.ID("cap-html")))
	for _, v := range []string{"#v-dkim", "#v-spf", "#v-dmarc"} {
		if got, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(v))); err != nil || got != "pass" {
			t.Errorf("%s: %q %v, want pass", v, got, err)
		}
	}
	if got, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("cap-text"))); !strings.Contains(got, "Your order #42 has shipped.") {
		t.Errorf("text part: %q", got)
	}

	// The frame shows the mail's HTML. Chrome runs the sandboxed frame (an
	// opaque origin) in a process of its own: attach to it as a target.
	var frame context.Context
	frameErr := poll(15*time.Second, func() error {
		infos, err := chromedp.Targets(tab)
		if err != nil {
			return err
		}
		for _, in := range infos {
			if in.Type == "iframe" && strings.HasSuffix(in.URL, fmt.Sprintf("/console/captured/%d/body", m.ID)) {
				var fcancel context.CancelFunc
				frame, fcancel = chromedp.NewContext(tab, chromedp.WithTargetID(in.TargetID))
				t.Cleanup(fcancel)
				return nil
			}
		}
		return fmt.Errorf("no iframe target among %d", len(infos))
	})
	// Whether or not it is there, none of the mail's scripts reached the
	// console.
	title, err := chromedp.Run(tab, chromedp.Title())
	if err != nil || strings.Contains(title, "pwned") || !strings.Contains(title, "Your order has shipped") {
		t.Errorf("console title %q (%v): a script of the mail ran in the console", title, err)
	}
	if pwned := evaluate[bool](t, tab, "the console's globals", `typeof window.pwned !== "undefined"`); pwned {
		t.Error("a script of the mail set a global in the console")
	}
	if frameErr != nil {
		t.Fatalf("the sandboxed frame: %v", frameErr)
	}
	if got, err := chromedp.Run(frame, chromedp.Text(chromedp.ID("mail-hello"))); err != nil || got != "Hello from the mail" {
		t.Fatalf("the frame's heading: %q %v", got, err)
	}
	if ran, err := chromedp.Run(frame, chromedp.AttributeValue(chromedp.CSS("body"), "data-ran")); err != nil || ran.Exists {
		t.Errorf("the mail's script ran in its frame (data-ran %q, %v)", ran.Value, err)
	}
	run("captured message page", shot("captured-message"))

	// The frame cannot reach the console's document either way.
	if reach := evaluate[bool](t, tab, "the frame's origin", `(() => { try { return !!document.querySelector("#cap-html").contentDocument } catch (e) { return false } })()`); reach {
		t.Error("the console can read the frame's document: it is not sandboxed into an opaque origin")
	}
	if m.Subject != "Your order has shipped" {
		t.Errorf("captured subject %q", m.Subject)
	}
}

// poll calls f until it succeeds or d has passed, and returns its last
// error.
func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
