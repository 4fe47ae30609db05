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

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestConsoleInsightInBrowser: three identities set up in the loopback
// customer zone as the seed's three setups (an address identity; a
// domain identity; a domain identity with a custom MAIL FROM), each
// under a DMARC p=reject record: the authentication check of each shows
// its setup's verdict marked (fail; pass via DKIM; pass via DKIM and
// SPF). Then mail to the simulator (success, bounce, complaint): the
// deliverability page draws its charts with the counts.
func TestConsoleInsightInBrowser(t *testing.T) {
	bctx := newBrowser(t)
	shots := screenshotDir(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := startWith(t, d, func(c *cfgT) { c.CheckInterval = time.Hour })
		base := "http://" + r.ready.API + "/console"
		ctx, run, shot, text := browserTab(t, bctx, shots, 90*time.Second)
		bg := context.Background()

		// The three setups, in the customer's zone.
		if _, err := r.app.Identities.Create(bg, r.acct.ID, "alice@mailbox.test", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.app.Identities.ConfirmAddress(bg, testkit.VerificationSecret(t, d, "alice@mailbox.test")); err != nil {
			t.Fatal(err)
		}
		for _, dom := range []string{"shop.test", "brand.test"} {
			i, err := r.app.Identities.Create(bg, r.acct.ID, dom, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range i.DKIM.Tokens {
				r.customer.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", tok, dom, tok, svc))
			}
		}
		for _, dom := range []string{"mailbox.test", "shop.test", "brand.test"} {
			r.customer.Add(`_dmarc.` + dom + `. 300 IN TXT "v=DMARC1; p=reject"`)
		}

		run("sign in", chromedp.Navigate(base+"/signin"),
			chromedp.SendKeys(chromedp.ID("access_key_id"), r.key.AccessKeyID),
			chromedp.SendKeys(chromedp.ID("secret"), r.key.Secret),
			chromedp.Click(chromedp.ID("signin-button")),
			chromedp.WaitVisible(chromedp.ID("create-identity")))
		for _, dom := range []string{"shop.test", "brand.test"} {
			run("check "+dom+" now", chromedp.Navigate(base+"/identities/"+dom),
				chromedp.Click(chromedp.ID("check-now")), chromedp.WaitVisible(chromedp.ID("flash-checked")))
		}
		if err := r.app.Identities.SetMailFrom(bg, r.acct.ID, "brand.test", "bounce.brand.test", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		r.customer.Add("bounce.brand.test. 300 IN MX 10 feedback-smtp.us-east-1." + svc + ".")
		r.customer.Add(`bounce.brand.test. 300 IN TXT "v=spf1 include:` + svc + ` ~all"`)
		run("check brand.test's MAIL FROM now", chromedp.Navigate(base+"/identities/brand.test"),
			chromedp.Click(chromedp.ID("check-now")), chromedp.WaitVisible(chromedp.ID("flash-checked")))
		if s := text("#mail-from-status"); s != string(identity.Success) {
			t.Fatalf("brand.test MAIL FROM: %s", s)
		}

		for _, c := range []struct{ identity, setup, verdict, via, shot string }{
			{"alice@mailbox.test", "address", "fail", "", ""},
			{"shop.test", "domain", "pass", "dkim", ""},
			{"brand.test", "domain-mail-from", "pass", "dkim, spf", "authentication"},
		} {
			steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/identities/" + c.identity),
				chromedp.Click(chromedp.ID("auth-check")), chromedp.WaitVisible(chromedp.ID("scenarios"))}
			if c.shot != "" {
				steps = append(steps, shot(c.shot))
			}
			run("authentication check of "+c.identity, steps...)
			if got := text("#scenarios tr.applies .verdict"); got != c.verdict {
				t.Errorf("%s: the marked setup's verdict %q, want %q", c.identity, got, c.verdict)
			}
			if got := text("#scenarios tr.applies"); !strings.Contains(got, "yours") {
				t.Errorf("%s: marked row %q", c.identity, got)
			}
			if id := evaluate[string](t, ctx, "marked row", `document.querySelector("#scenarios tr.applies").id`); id != "scenario-"+c.setup {
				t.Errorf("%s: marked %s, want scenario-%s", c.identity, id, c.setup)
			}
			if got := text("#dmarc-result"); got != c.verdict {
				t.Errorf("%s: DMARC result %q", c.identity, got)
			}
			if c.via != "" && text("#dmarc-via") != c.via {
				t.Errorf("%s: via %q, want %q", c.identity, text("#dmarc-via"), c.via)
			}
		}

		// Mail to the simulator: success, bounce, complaint (at more than
		// the new account's one message a second).
		if err := r.app.Accounts.SetProduction(bg, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, to := range []string{"success", "bounce", "complaint"} {
			out, err := r.v2.SendEmail(bg, &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@brand.test"),
				Destination: &types.Destination{ToAddresses: []string{to + "@simulator.amazonses.com"}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hello " + to)},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}}}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, *out.MessageId)
		}
		for k, want := range []string{"Delivery", "Bounce", "Complaint"} {
			eventually(t, "the simulator's "+want, func() error {
				for _, e := range messageEvents(t, r, ids[k]) {
					if string(e.Type) == want {
						return nil
					}
				}
				return errors.New("no " + want + " yet")
			})
		}
		var counts string
		eventually(t, "the statistics", func() error {
			run("deliverability", chromedp.Navigate(base+"/deliverability"), chromedp.WaitVisible(chromedp.ID("reputation")))
			counts = evaluate[string](t, ctx, "counts", `[...document.querySelectorAll("#chart-domain-brand\\.test-counts tbody td")].slice(0, 5).map(td => td.textContent.trim()).join(" ")`)
			if counts != "3 2 1 0 1" { // the complaint simulator delivers, then complains
				return fmt.Errorf("brand.test counts %q", counts)
			}
			return nil
		})
		run("deliverability page", chromedp.WaitVisible(chromedp.CSS("#chart-domain-brand\\.test-svg polyline.s-sends")), shot("deliverability"))
		if n := evaluate[int](t, ctx, "charts", `document.querySelectorAll("svg.chart polyline").length`); n < 5 {
			t.Errorf("%d chart lines", n)
		}
		if got := text("#readiness-brand\\.test"); !strings.Contains(got, "authentication check of brand.test") {
			t.Errorf("readiness summary: %q", got)
		}
	})
}
