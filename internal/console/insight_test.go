package console_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/console"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/readiness"
	"github.com/sesame-email/sesame/internal/reputation"
	"github.com/sesame-email/sesame/internal/stats"
)

// insightEnv is a console with the authentication check and the
// deliverability page, over a loopback DNS server playing the customers'
// zones and the real DNS checker, statistics and guardrails.
type insightEnv struct {
	*env
	dns     *dnstest.Server
	checker *dnscheck.Checker
	stats   *stats.Store
	guard   *reputation.Guard
}

func newInsightEnv(t *testing.T, d *db.DB) *insightEnv {
	t.Helper()
	ie := &insightEnv{dns: dnstest.NewServer(t)}
	ie.env = newEnv(t, d, false, func(e *env, o *console.Options) {
		var err error
		if ie.stats, err = stats.New(stats.Options{DB: d, Now: e.Clock.Now}); err != nil {
			t.Fatal(err)
		}
		if ie.guard, err = reputation.New(reputation.Options{DB: d, Now: e.Clock.Now}); err != nil {
			t.Fatal(err)
		}
		ev, err := readiness.New(readiness.Options{Identities: e.Identities, Resolver: ie.dns.Resolver(), Stats: ie.stats, DB: d, Now: e.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if ie.checker, err = dnscheck.New(dnscheck.Options{Store: e.Identities, Resolver: ie.dns.Resolver(), Now: e.Clock.Now, Interval: time.Minute}); err != nil {
			t.Fatal(err)
		}
		o.Readiness, o.Stats, o.Reputation = ev, ie.stats, ie.guard
	})
	return ie
}

// domain creates a domain identity with Easy DKIM in accountID, publishes
// its CNAMEs (and a custom MAIL FROM's MX and SPF when mailFrom is set)
// and runs the real check until it settles.
func (ie *insightEnv) domain(t *testing.T, accountID, name, mailFrom string) {
	t.Helper()
	ctx := context.Background()
	i, err := ie.Identities.Create(ctx, accountID, name, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range i.DKIM.Tokens {
		ie.dns.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", tok, name, tok, apitest.ServiceDomain))
	}
	check := func() {
		t.Helper()
		ie.Clock.Advance(2 * time.Minute)
		i, err := ie.Identities.Get(ctx, accountID, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ie.checker.CheckNow(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	check()
	if mailFrom != "" {
		if err := ie.Identities.SetMailFrom(ctx, accountID, name, mailFrom, identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		ie.dns.Add(mailFrom + ". 300 IN MX 10 " + ie.Identities.FeedbackHost() + ".")
		ie.dns.Add(mailFrom + `. 300 IN TXT "v=spf1 include:` + apitest.ServiceDomain + ` ~all"`)
		check()
	}
	if i, _ := ie.Identities.Get(ctx, accountID, name); i.DKIM.Status != identity.Success || (mailFrom != "" && i.MailFrom.Status != identity.Success) {
		t.Fatalf("%s not set up: %s / %s / %s", name, i.Verification, i.DKIM.Status, i.MailFrom.Status)
	}
}

// scenarioRow returns the verdict of one setup's row, and whether it is
// marked as the one that applies.
func scenarioRow(t *testing.T, body, setup string) (string, bool) {
	t.Helper()
	m := regexp.MustCompile(`<tr id="scenario-` + setup + `"( class="applies")?>(?s:.*?)verdict">(\w+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no row for %s:\n%s", setup, body)
	}
	return m[2], m[1] != ""
}

// TestAuthenticationCheckPage: the page shows the published DMARC policy,
// the MAIL FROM domain's MX found now, the DKIM records, the result and
// the three setups' verdicts with the one that applies marked; strict SPF
// alignment is explained; another account's identity is not found; DNS
// data with markup is shown as text.
func TestAuthenticationCheckPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newInsightEnv(t, d)
		e.domain(t, e.Account.ID, "brand.example", "bounce.brand.example")
		e.dns.Add(`_dmarc.brand.example. 300 IN TXT "v=DMARC1; p=reject; aspf=s"`)
		e.domain(t, e.Account.ID, "shop.example", "")
		e.dns.Add(`_dmarc.shop.example. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:<script>alert(1)</script>@shop.example"`)
		if _, err := e.Identities.Create(context.Background(), e.Account.ID, "pending.example", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		b.signIn(e.Key)

		res, body := b.get("/console/identities/brand.example")
		wantStatus(t, res, body, http.StatusOK)
		if !strings.Contains(body, `href="/console/identities/brand.example/authentication"`) {
			t.Error("the identity page does not link its authentication check")
		}
		res, body = b.get("/console/identities/brand.example/authentication")
		wantStatus(t, res, body, http.StatusOK)
		for _, want := range []string{`id="dmarc-result">pass<`, `id="dmarc-via">dkim<`, "v=DMARC1; p=reject; aspf=s", "aspf=s",
			"MX 10 " + e.Identities.FeedbackHost(), "can never align", "bounce.brand.example", `id="dkim-records"`, "._domainkey.brand.example"} {
			if !strings.Contains(body, want) {
				t.Errorf("brand.example: no %q", want)
			}
		}
		for setup, want := range map[string]string{"address": "fail", "domain": "pass", "domain-mail-from": "pass"} {
			got, applies := scenarioRow(t, body, setup)
			if got != want || applies != (setup == "domain-mail-from") {
				t.Errorf("brand.example %s: %s (applies %v), want %s", setup, got, applies, want)
			}
		}

		res, body = b.get("/console/identities/shop.example/authentication")
		wantStatus(t, res, body, http.StatusOK)
		if _, applies := scenarioRow(t, body, "domain"); !applies {
			t.Error("shop.example: the domain setup is not marked")
		}
		if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Error("shop.example: the DMARC record's markup is not escaped")
		}

		res, body = b.get("/console/identities/pending.example/authentication")
		wantStatus(t, res, body, http.StatusOK)
		if !strings.Contains(body, `id="not-ready"`) || strings.Contains(body, `id="scenarios"`) {
			t.Errorf("unverified identity:\n%s", body)
		}

		// Another account's identity is not found.
		other, key := e.OtherKey(t, "other")
		e.domain(t, other.ID, "theirs.example", "")
		res, body = b.get("/console/identities/theirs.example/authentication")
		wantStatus(t, res, body, http.StatusNotFound)
		b2 := e.browser(t)
		b2.signIn(key)
		res, body = b2.get("/console/identities/brand.example/authentication")
		wantStatus(t, res, body, http.StatusNotFound)
	})
}

// event builds a valid event of account sent from identity through set.
func statEvent(t *testing.T, typ event.Type, accountID, set, ident string, at time.Time, rcpts ...string) *event.Event {
	t.Helper()
	e := &event.Event{Type: typ, AccountID: accountID, ConfigurationSet: set, Mail: event.Mail{
		Timestamp: at, MessageID: fmt.Sprintf("msg-%d-%s", at.UnixNano(), typ), Source: "sender@" + ident,
		SourceArn: "arn:aws:ses:us-east-1:" + accountID + ":identity/" + ident, SendingAccountID: accountID, Destination: rcpts}}
	var rs []event.Recipient
	for _, r := range rcpts {
		rs = append(rs, event.Recipient{EmailAddress: r})
	}
	switch typ {
	case event.Send:
		e.Send = &event.SendDetails{}
	case event.Delivery:
		e.Delivery = &event.DeliveryDetails{Timestamp: at, Recipients: rcpts, SMTPResponse: "250 ok"}
	case event.Complaint:
		e.Complaint = &event.ComplaintDetails{ComplainedRecipients: rcpts, Timestamp: at}
	case "Permanent", "Transient":
		e.Type, e.Bounce = event.Bounce, &event.BounceDetails{BounceType: string(typ), BounceSubType: "General", BouncedRecipients: rs, Timestamp: at}
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// cell returns the text of the element of class class in the section of
// id id.
func cell(t *testing.T, body, id, class string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `-counts"(?s:.*?)class="[^"]*\b` + class + `\b[^"]*">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in %s", class, id)
	}
	return m[1]
}

// TestDeliverabilityPage: the numbers on the page are the seeded
// statistics', per from-domain and per configuration set, with rates
// against the guardrails' levels, SVG charts, the mailbox providers and
// the sets' pauses; another account's mail is not shown; names with
// markup are escaped.
func TestDeliverabilityPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newInsightEnv(t, d)
		ctx := context.Background()
		now := e.Clock.Now()
		other, _ := e.OtherKey(t, "other")
		if err := e.ConfigSets.Create(ctx, configset.Set{AccountID: e.Account.ID, Name: "news", SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		day := now.Add(-3 * 24 * time.Hour)
		var evs []*event.Event
		for i := range 20 {
			evs = append(evs, statEvent(t, event.Send, e.Account.ID, "news", "brand.example", day, fmt.Sprintf("r%d@rcpt.example", i)))
		}
		evs = append(evs,
			statEvent(t, event.Delivery, e.Account.ID, "news", "brand.example", day, "r0@rcpt.example", "r1@rcpt.example", "r2@rcpt.example"),
			statEvent(t, "Permanent", e.Account.ID, "news", "brand.example", day, "r3@rcpt.example", "r4@rcpt.example"),
			statEvent(t, "Transient", e.Account.ID, "news", "brand.example", now.Add(-time.Hour), "r5@rcpt.example"),
			statEvent(t, event.Complaint, e.Account.ID, "news", "brand.example", now.Add(-time.Hour), "r6@rcpt.example"),
			statEvent(t, event.Send, e.Account.ID, "", "a@mail.example", now.Add(-time.Hour), "success@simulator.amazonses.com"),
			statEvent(t, event.Send, e.Account.ID, "<b>x</b>", "esc.example", now.Add(-time.Hour), "z@rcpt.example"),
			statEvent(t, event.Send, other.ID, "news", "brand.example", now.Add(-time.Hour), "theirs1@rcpt.example", "theirs2@rcpt.example"),
		)
		if err := d.InTx(ctx, func(tx *db.Tx) error { return e.stats.AddTx(ctx, tx, evs) }); err != nil {
			t.Fatal(err)
		}
		e.domain(t, e.Account.ID, "brand.example", "")

		b := e.browser(t)
		b.signIn(e.Key)
		res, body := b.get("/console/deliverability")
		wantStatus(t, res, body, http.StatusOK)
		for id, want := range map[string]map[string]string{
			"chart-domain-brand.example": {"n-sends": "20", "n-deliveries": "3", "n-permanent": "2", "n-transient": "1", "n-complaints": "1", "r-bounce": "10%", "r-complaint": "5%"},
			"chart-set-news":             {"n-sends": "20", "n-permanent": "2"},
			"chart-domain-mail.example":  {"n-sends": "1", "r-bounce": "—"},
		} {
			for class, v := range want {
				if got := cell(t, body, id, class); got != v {
					t.Errorf("%s %s = %q, want %q", id, class, got, v)
				}
			}
		}
		if !strings.Contains(body, `class="badge rate-pause r-bounce">10%`) {
			t.Error("a 10% bounce rate is not shown at the pause level")
		}
		if n := strings.Count(body, "<svg class=\"chart\""); n != 5 { // 3 domains, 2 sets
			t.Errorf("%d charts, want 5", n)
		}
		if !strings.Contains(body, `<polyline class="series s-sends" points="`) {
			t.Error("no sends line")
		}
		for _, want := range []string{`id="enforcement-status">HEALTHY<`, `<tr id="set-news">`, "paused", "Simulator", "Other",
			`href="/console/identities/brand.example/authentication"`, "1 of the sends went to the mailbox simulator"} {
			if !strings.Contains(body, want) {
				t.Errorf("no %q", want)
			}
		}
		if strings.Contains(body, "<b>x</b>") || !strings.Contains(body, "&lt;b&gt;x&lt;/b&gt;") {
			t.Error("a set name with markup is not escaped")
		}
		if strings.Contains(body, "theirs") || strings.Contains(body, ">22<") {
			t.Error("the other account's mail is shown")
		}

		res, body = b.get("/console/deliverability?days=30")
		wantStatus(t, res, body, http.StatusOK)
		res, body = b.get("/console/deliverability?days=7")
		wantStatus(t, res, body, http.StatusBadRequest)
		if !strings.Contains(body, "days must be 14 or 30") {
			t.Error("days=7: no sentence")
		}
		// Mail older than the period is not shown.
		e.Clock.Advance(20 * 24 * time.Hour)
		b.signIn(e.Key) // the session has expired meanwhile
		_, body = b.get("/console/deliverability")
		if !strings.Contains(body, `id="no-mail"`) {
			t.Errorf("mail of 20 days ago is shown in the last 14 days:\n%s", body)
		}
	})
}
