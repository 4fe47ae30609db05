package readiness_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/notify"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/readiness"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	region   = "us-east-1"
	svc      = "sesame.example.test"
	feedback = "feedback-smtp.us-east-1.sesame.example.test"
)

// env is the report over a real database, the real DNS checker and a
// real DNS server on loopback playing the customers' zones.
type env struct {
	t       *testing.T
	ctx     context.Context
	d       *db.DB
	clock   *testkit.Clock
	ids     *identity.Store
	dns     *dnstest.Server
	checker *dnscheck.Checker
	stats   *stats.Store
	ev      *readiness.Evaluator
	acct    string
	other   string
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	ctx := context.Background()
	box, _ := seal.New("k")
	clock := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	q, err := queue.New(queue.Options{DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := notify.NewMailer(notify.MailerOptions{Queue: q, Region: region, ServiceDomain: svc, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Options{DB: d, Seal: box, Region: region, ServiceDomain: svc, Now: clock.Now, GenerateKey: testkit.FastKeys, Mail: mailer.QueueTx})
	if err != nil {
		t.Fatal(err)
	}
	accts := account.New(d, box, clock.Now)
	a, _, err := accts.Create(ctx, account.CreateOptions{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := accts.Create(ctx, account.CreateOptions{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t)
	c, err := dnscheck.New(dnscheck.Options{Store: ids, Resolver: srv.Resolver(), Now: clock.Now, Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stats.New(stats.Options{DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := readiness.New(readiness.Options{Identities: ids, Resolver: srv.Resolver(), Stats: st, DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, d: d, clock: clock, ids: ids, dns: srv, checker: c, stats: st, ev: ev, acct: a.ID, other: b.ID}
}

// check runs the DNS checker as often as it takes to settle.
func (e *env) check() {
	e.t.Helper()
	for range 2 {
		e.clock.Advance(2 * time.Minute)
		if _, err := e.checker.RunOnce(e.ctx); err != nil {
			e.t.Fatal(err)
		}
	}
}

// domain creates a domain identity with Easy DKIM for acct, publishes its
// CNAMEs and checks it; mailFrom != "" sets and publishes a custom MAIL
// FROM domain.
func (e *env) domain(acct, name, mailFrom string) {
	e.t.Helper()
	i, err := e.ids.Create(e.ctx, acct, name, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tok := range i.DKIM.Tokens {
		e.dns.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", tok, name, tok, svc))
	}
	e.check()
	if mailFrom != "" {
		if err := e.ids.SetMailFrom(e.ctx, acct, name, mailFrom, identity.UseDefaultValue); err != nil {
			e.t.Fatal(err)
		}
		e.dns.Add(mailFrom + ". 300 IN MX 10 " + feedback + ".")
		e.dns.Add(mailFrom + `. 300 IN TXT "v=spf1 include:` + svc + ` ~all"`)
	}
	e.check()
	i, err = e.ids.Get(e.ctx, acct, name)
	if err != nil {
		e.t.Fatal(err)
	}
	if i.Verification != identity.Success || i.DKIM.Status != identity.Success || (mailFrom != "" && i.MailFrom.Status != identity.Success) {
		e.t.Fatalf("%s not set up: %s / %s / %s", name, i.Verification, i.DKIM.Status, i.MailFrom.Status)
	}
}

func (e *env) dmarc(domain, record string) {
	e.dns.Add(fmt.Sprintf("_dmarc.%s. 300 IN TXT %q", domain, record))
}

func (e *env) report(name string) *readiness.Report {
	e.t.Helper()
	r, err := e.ev.Evaluate(e.ctx, e.acct, name)
	if err != nil {
		e.t.Fatalf("Evaluate(%s): %v", name, err)
	}
	return r
}

// expect checks the verdict of one check and that its summary (and
// evidence and advice) say each of says.
func expect(t *testing.T, r *readiness.Report, name string, want readiness.Status, says ...string) {
	t.Helper()
	c := r.Check(name)
	if c == nil {
		t.Fatalf("%s: no check %s", r.Domain, name)
	}
	all := c.Summary + "\n" + strings.Join(c.Evidence, "\n") + "\n" + strings.Join(c.Advice, "\n")
	if c.Status != want {
		t.Errorf("%s %s = %s, want %s:\n%s", r.Domain, name, c.Status, want, all)
	}
	for _, s := range says {
		if !strings.Contains(all, s) {
			t.Errorf("%s %s does not say %q:\n%s", r.Domain, name, s, all)
		}
	}
	if c.Status != readiness.Pass && c.Status != readiness.Unknown && len(c.Advice) == 0 {
		t.Errorf("%s %s is %s with no advice", r.Domain, name, c.Status)
	}
}

func result(t *testing.T, r *readiness.Report, want string, via ...string) {
	t.Helper()
	if r.Result.Result != want || !slices.Equal(r.Result.Via, via) {
		t.Errorf("%s: DMARC result %s via %v, want %s via %v", r.Domain, r.Result.Result, r.Result.Via, want, via)
	}
}

// TestThreeSetups: the seed documents' three DMARC setups, with the
// verdicts they explain.
func TestThreeSetups(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		// 1. An address identity at a mailbox provider's domain the
		// sender does not control: DMARC fails alignment.
		if _, err := e.ids.Create(e.ctx, e.acct, "alice@mailbox.test", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ids.ConfirmAddress(e.ctx, testkit.VerificationSecret(t, e.d, "alice@mailbox.test")); err != nil {
			t.Fatal(err)
		}
		e.dmarc("mailbox.test", "v=DMARC1; p=reject")
		r := e.report("mailbox.test")
		if r.SentAs != "alice@mailbox.test" || r.IdentityKind != identity.KindEmail {
			t.Fatalf("judged as %s (%s)", r.SentAs, r.IdentityKind)
		}
		expect(t, r, readiness.CheckDMARCRecord, readiness.Pass, "p=reject")
		expect(t, r, readiness.CheckSPF, readiness.Fail, "us-east-1."+svc, "does not align", "send from a domain you own")
		expect(t, r, readiness.CheckDKIM, readiness.Fail, "not signed", "an address identity alone has no DKIM key")
		expect(t, r, readiness.CheckDMARCResult, readiness.Fail, "DMARC fails", "refuse such mail")
		result(t, r, "fail")
		if r.Ready {
			t.Error("address identity reported ready")
		}

		// 2. A domain identity without a custom MAIL FROM: DKIM aligns,
		// SPF passes for Sesame's domain but does not align.
		e.domain(e.acct, "shop.test", "")
		e.dmarc("shop.test", "v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.test")
		r = e.report("shop.test")
		expect(t, r, readiness.CheckDKIM, readiness.Pass, "d=shop.test", "both modes")
		expect(t, r, readiness.CheckSPF, readiness.Warn, "No custom MAIL FROM domain", "DMARC still passes through DKIM", "bounce.shop.test")
		expect(t, r, readiness.CheckDMARCResult, readiness.Pass, "via DKIM")
		result(t, r, "pass", "dkim")
		if r.SPF.MailFromDomain != "us-east-1."+svc || !r.SPF.Pass || r.SPF.Aligned.Relaxed {
			t.Errorf("SPF = %+v", r.SPF)
		}

		// 3. A domain identity with a custom MAIL FROM in Success: both
		// align.
		e.domain(e.acct, "brand.test", "bounce.brand.test")
		e.dmarc("brand.test", "v=DMARC1; p=reject; rua=mailto:dmarc@brand.test")
		r = e.report("brand.test")
		expect(t, r, readiness.CheckSPF, readiness.Pass, "bounce.brand.test", "relaxed mode")
		expect(t, r, readiness.CheckDKIM, readiness.Pass)
		result(t, r, "pass", "dkim", "spf")

		// A custom MAIL FROM whose MX is gone: not aligned any more.
		e.dns.Remove("bounce.brand.test.", dns.TypeMX)
		e.check()
		r = e.report("brand.test")
		expect(t, r, readiness.CheckSPF, readiness.Warn, "TemporaryFailure", "exactly one MX record")
		result(t, r, "pass", "dkim")
	})
}

// TestStrictModes: aspf=s with a MAIL FROM subdomain can never pass;
// adkim=s refuses a parent domain's key.
func TestStrictModes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.domain(e.acct, "strict.test", "bounce.strict.test")
		e.dmarc("strict.test", "v=DMARC1; p=reject; aspf=s; rua=mailto:d@strict.test")
		r := e.report("strict.test")
		expect(t, r, readiness.CheckSPF, readiness.Warn, "aspf=s", "can never align", "relaxed SPF alignment")
		result(t, r, "pass", "dkim")

		// A parent domain's key for a subdomain's mail, adkim=s.
		e.domain(e.acct, "parent.test", "")
		e.dmarc("news.parent.test", "v=DMARC1; p=reject; adkim=s")
		r = e.report("news.parent.test")
		if r.Identity != "parent.test" || r.DKIM.Domain != "parent.test" {
			t.Fatalf("identity %s, d=%s", r.Identity, r.DKIM.Domain)
		}
		expect(t, r, readiness.CheckDKIM, readiness.Fail, "adkim=s", "relaxed mode only", "Verify news.parent.test itself")
		result(t, r, "fail")

		// The same key under relaxed alignment passes, relaxed only.
		e.dmarc("relaxed.parent.test", "v=DMARC1; p=reject")
		r = e.report("relaxed.parent.test")
		expect(t, r, readiness.CheckDKIM, readiness.Pass, "a parent of relaxed.parent.test")
		result(t, r, "pass", "dkim")
	})
}

// TestDMARCRecords: missing, p=none, broken, several, inherited from the
// organizational domain, and a failed lookup.
func TestDMARCRecords(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.domain(e.acct, "corp.test", "")

		r := e.report("corp.test")
		expect(t, r, readiness.CheckDMARCRecord, readiness.Fail, "No DMARC record", "_dmarc.corp.test")
		expect(t, r, readiness.CheckDMARCResult, readiness.Fail, "would pass via DKIM")
		result(t, r, "none", "dkim")

		e.dns.Add(`_dmarc.corp.test. 300 IN TXT "v=spf1 -all"`) // not a DMARC record
		e.dmarc("corp.test", "v=DMARC1; p=none; sp=quarantine")
		r = e.report("corp.test")
		expect(t, r, readiness.CheckDMARCRecord, readiness.Pass, "p=none", "only monitors", "p=quarantine", "rua=")
		result(t, r, "pass", "dkim")

		// Organizational-domain fallback: sp= applies.
		r = e.report("mail.corp.test")
		if !r.DMARC.Inherited || r.DMARC.Name != "_dmarc.corp.test" || r.DMARC.Policy != "quarantine" || r.OrganizationalDomain != "corp.test" {
			t.Errorf("inherited record: %+v (org %s)", r.DMARC, r.OrganizationalDomain)
		}
		expect(t, r, readiness.CheckDMARCRecord, readiness.Pass, "organizational domain", "policy quarantine")

		// Broken: says what is wrong.
		e.domain(e.acct, "broken.test", "")
		e.dmarc("broken.test", "v=DMARC1; p=block")
		r = e.report("broken.test")
		expect(t, r, readiness.CheckDMARCRecord, readiness.Fail, "broken", "invalid policy for parameter 'p'", "p=block")
		result(t, r, "none", "dkim")
		e.dns.Remove("_dmarc.broken.test.", dns.TypeTXT)
		e.dmarc("broken.test", "v=DMARC1; adkim=s")
		r = e.report("broken.test")
		expect(t, r, readiness.CheckDMARCRecord, readiness.Fail, "missing a 'p' parameter")

		// Two records: none applies.
		e.domain(e.acct, "twice.test", "")
		e.dmarc("twice.test", "v=DMARC1; p=reject")
		e.dmarc("twice.test", "v=DMARC1; p=none")
		r = e.report("twice.test")
		expect(t, r, readiness.CheckDMARCRecord, readiness.Fail, "more than one DMARC record")

		// A failed lookup is no evidence.
		e.dns.Fail("_dmarc.corp.test.", dns.RcodeServerFailure)
		r = e.report("corp.test")
		expect(t, r, readiness.CheckDMARCRecord, readiness.Unknown, "SERVFAIL")
	})
}

// TestAccountIsolation: another account's domain is not found; an
// unverified one says so.
func TestAccountIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.domain(e.other, "theirs.test", "")
		if _, err := e.ev.Evaluate(e.ctx, e.acct, "theirs.test"); !errors.Is(err, readiness.ErrNotFound) {
			t.Fatalf("other account's domain: %v", err)
		}
		if _, err := e.ev.Evaluate(e.ctx, e.other, "theirs.test"); err != nil {
			t.Fatalf("own domain: %v", err)
		}
		if _, err := e.ids.Create(e.ctx, e.acct, "pending.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ev.Evaluate(e.ctx, e.acct, "pending.test"); !errors.Is(err, readiness.ErrNotVerified) {
			t.Fatalf("unverified domain: %v", err)
		}
		var inv *identity.InvalidError
		if _, err := e.ev.Evaluate(e.ctx, e.acct, "not a domain"); !errors.As(err, &inv) {
			t.Fatalf("bad name: %v", err)
		}
	})
}

// seed adds n sends and k complaints of identity's mail at at.
func (e *env) seed(identity string, at time.Time, n, k int) {
	e.t.Helper()
	rcpts := make([]string, n)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("r%d@rcpt.test", i)
	}
	mail := event.Mail{Timestamp: at, MessageID: fmt.Sprintf("m-%d-%d", at.UnixNano(), n), Source: "news@" + identity,
		SourceArn: "arn:aws:ses:us-east-1:" + e.acct + ":identity/" + identity, SendingAccountID: e.acct, Destination: rcpts}
	evs := []*event.Event{{Type: event.Send, AccountID: e.acct, Mail: mail, Send: &event.SendDetails{}}}
	if k > 0 {
		evs = append(evs, &event.Event{Type: event.Complaint, AccountID: e.acct, Mail: mail,
			Complaint: &event.ComplaintDetails{ComplainedRecipients: rcpts[:k], Timestamp: at}})
	}
	if err := e.d.InTx(e.ctx, func(tx *db.Tx) error { return e.stats.AddTx(e.ctx, tx, evs) }); err != nil {
		e.t.Fatal(err)
	}
}

// TestComplaintRate: the rate from the statistics of the window, with
// its thresholds, and too little mail to judge.
func TestComplaintRate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.domain(e.acct, "shop.test", "")
		e.dmarc("shop.test", "v=DMARC1; p=reject")
		for _, c := range []struct {
			sends, complaints int
			want              readiness.Status
			says              string
		}{
			{100, 1, readiness.Unknown, "Not enough mail to judge: 100 sends"},
			{2000, 1, readiness.Pass, "0.05%"},
			{1000, 2, readiness.Warn, "0.2%"},
			{1000, 5, readiness.Fail, "0.5%"},
		} {
			// Mail of 8 days ago is outside the window; another
			// account's is not this one's.
			e.seed("shop.test", e.clock.Now().Add(-8*24*time.Hour), 5000, 5000)
			e.seed("shop.test", e.clock.Now().Add(-time.Hour), c.sends, c.complaints)
			r := e.report("shop.test")
			expect(t, r, readiness.CheckComplaints, c.want, c.says, fmt.Sprintf("%d complaints of %d sends", c.complaints, c.sends))
			e.clock.Advance(8 * 24 * time.Hour)
		}
		// Mail sent as an address identity at the domain counts too.
		e.seed("shop.test", e.clock.Now().Add(-time.Hour), 1600, 0)
		e.seed("news@shop.test", e.clock.Now().Add(-time.Hour), 400, 1)
		e.seed("news@elsewhere.test", e.clock.Now().Add(-time.Hour), 400, 400)
		r := e.report("shop.test")
		expect(t, r, readiness.CheckComplaints, readiness.Pass, "1 complaints of 2000 sends")
	})
}
