package dnscheck_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/notify"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	region   = "us-east-1"
	svc      = "sesame.example.test"
	feedback = "feedback-smtp.us-east-1.sesame.example.test"
	window   = 72 * time.Hour
)

// env is a checker over a real database and a real DNS server playing the
// customer's zone.
type env struct {
	t       *testing.T
	ctx     context.Context
	d       *db.DB
	clock   *testkit.Clock
	ids     *identity.Store
	dns     *dnstest.Server
	checker *dnscheck.Checker
	acct    string
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
	a, _, err := account.New(d, box, clock.Now).Create(ctx, account.CreateOptions{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t)
	c, err := dnscheck.New(dnscheck.Options{Store: ids, Resolver: srv.Resolver(), Now: clock.Now, Interval: time.Minute, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, d: d, clock: clock, ids: ids, dns: srv, checker: c, acct: a.ID}
}

// run runs one checker round and returns the identity afterwards.
func (e *env) run(name string) *identity.Identity {
	e.t.Helper()
	if _, err := e.checker.RunOnce(e.ctx); err != nil {
		e.t.Fatalf("RunOnce: %v", err)
	}
	i, err := e.ids.Get(e.ctx, e.acct, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return i
}

// tick advances the clock past the check interval and runs a round.
func (e *env) tick(name string, d time.Duration) *identity.Identity {
	e.t.Helper()
	e.clock.Advance(d)
	return e.run(name)
}

func (e *env) publishDKIM(i *identity.Identity) {
	for _, t := range i.DKIM.Tokens {
		e.dns.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", t, i.Domain, t, svc))
	}
}

func (e *env) verifiedDomain(name string) *identity.Identity {
	e.t.Helper()
	i, err := e.ids.Create(e.ctx, e.acct, name, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.publishDKIM(i)
	i = e.run(name)
	if i.Verification != identity.Success || i.DKIM.Status != identity.Success {
		e.t.Fatalf("domain not verified after publishing CNAMEs: %s / %s (%s)", i.Verification, i.DKIM.Status, i.DKIM.Diagnostic)
	}
	return i
}

func (e *env) transitions(i *identity.Identity, attr identity.Attribute) []string {
	ts, err := e.ids.Transitions(e.ctx, i.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, t := range ts {
		if t.Attribute == attr {
			out = append(out, fmt.Sprintf("%s->%s", t.From, t.To))
			if t.Reason == "" || t.At.IsZero() {
				e.t.Errorf("transition %+v has no reason or time", t)
			}
		}
	}
	return out
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func TestDKIMCNAMEsVerify(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		i, err := e.ids.Create(e.ctx, e.acct, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing published: still Pending, with a diagnostic naming the records.
		i = e.run("example.test")
		want(t, "verification", i.Verification, identity.Pending)
		want(t, "error type", i.VerificationError, "HOST_NOT_FOUND")
		if !strings.Contains(i.DKIM.Diagnostic, "no CNAME at "+i.DKIM.Tokens[0]+"._domainkey.example.test") {
			t.Fatalf("diagnostic %q does not name the missing CNAME", i.DKIM.Diagnostic)
		}
		// Two of three, one pointing elsewhere: still Pending.
		e.dns.Add(fmt.Sprintf("%s._domainkey.example.test. 300 IN CNAME %s.dkim.%s.", i.DKIM.Tokens[0], i.DKIM.Tokens[0], svc))
		e.dns.Add(fmt.Sprintf("%s._domainkey.example.test. 300 IN CNAME %s.dkim.elsewhere.example.", i.DKIM.Tokens[1], i.DKIM.Tokens[1]))
		i = e.tick("example.test", time.Minute)
		want(t, "verification", i.Verification, identity.Pending)
		want(t, "error type", i.VerificationError, "INVALID_VALUE")
		if !strings.Contains(i.DKIM.Diagnostic, "points at "+i.DKIM.Tokens[1]+".dkim.elsewhere.example") {
			t.Fatalf("diagnostic %q does not say where the CNAME points", i.DKIM.Diagnostic)
		}
		e.dns.Remove(i.DKIM.Tokens[1]+"._domainkey.example.test.", dns.TypeCNAME)
		e.publishDKIM(i)
		i = e.tick("example.test", time.Minute)
		want(t, "verification", i.Verification, identity.Success)
		want(t, "dkim", i.DKIM.Status, identity.Success)
		want(t, "error type", i.VerificationError, "")
		if i.LastSuccessAt.IsZero() || i.LastCheckedAt.IsZero() {
			t.Fatal("check times not recorded")
		}
		want(t, "dkim transitions", strings.Join(e.transitions(i, identity.AttrDKIM), " "), "NotStarted->Pending Pending->Success")
		// The optional Ed25519 CNAME: noted when published, not needed for Success.
		want(t, "ed25519 published", i.DKIM.Ed25519Published, false)
		e.dns.Add(fmt.Sprintf("%s._domainkey.example.test. 300 IN CNAME %s.dkim.%s.", i.DKIM.Ed25519Token, i.DKIM.Ed25519Token, svc))
		i = e.tick("example.test", time.Minute)
		want(t, "ed25519 published", i.DKIM.Ed25519Published, true)
	})
}

func TestAmazonSESTokenVerifies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		i, err := e.ids.EnsureDomain(e.ctx, e.acct, "txt.example.test")
		if err != nil {
			t.Fatal(err)
		}
		e.dns.Add(`_amazonses.txt.example.test. 300 IN TXT "some-other-value"`)
		i = e.run("txt.example.test")
		want(t, "verification", i.Verification, identity.Pending)
		e.dns.Add(fmt.Sprintf(`_amazonses.txt.example.test. 300 IN TXT "%s"`, i.VerificationToken))
		i = e.tick("txt.example.test", time.Minute)
		want(t, "verification", i.Verification, identity.Success)
		want(t, "dkim", i.DKIM.Status, identity.NotStarted)
	})
}

func TestBYODKIM(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		k, _ := testkit.FastKeys(dkim.RSA, 2048)
		der := x509.MarshalPKCS1PrivateKey(k.Signer.(*rsa.PrivateKey))
		_, err := e.ids.Create(e.ctx, e.acct, "byo.example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginExternal, Selector: "sel1", PrivateKey: base64.StdEncoding.EncodeToString(der)}})
		if err != nil {
			t.Fatal(err)
		}
		i := e.run("byo.example.test")
		want(t, "dkim", i.DKIM.Status, identity.Pending)
		// Published in PKCS#1 form: the same key, so it matches.
		pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&k.Signer.(*rsa.PrivateKey).PublicKey))
		var parts []string
		for _, p := range dkim.SplitTXT("v=DKIM1; k=rsa; p=" + pkcs1) {
			parts = append(parts, `"`+p+`"`)
		}
		e.dns.Add("sel1._domainkey.byo.example.test. 300 IN TXT " + strings.Join(parts, " "))
		i = e.tick("byo.example.test", time.Minute)
		want(t, "dkim", i.DKIM.Status, identity.Success)
		want(t, "verification", i.Verification, identity.Success)
	})
}

func TestMailFromStateMachine(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.verifiedDomain("example.test")
		if err := e.ids.SetMailFrom(e.ctx, e.acct, "example.test", "bounce.example.test", identity.RejectMessage); err != nil {
			t.Fatal(err)
		}
		i := e.run("example.test")
		want(t, "mail from", i.MailFrom.Status, identity.Pending)
		if !strings.Contains(i.MailFrom.Diagnostic, "no MX record at bounce.example.test") || !strings.Contains(i.MailFrom.Diagnostic, "no SPF record") {
			t.Fatalf("diagnostic = %q", i.MailFrom.Diagnostic)
		}

		// Two MX records: not success, and the diagnostic names both.
		e.dns.Add("bounce.example.test. 300 IN MX 10 " + feedback + ".")
		e.dns.Add("bounce.example.test. 300 IN MX 20 mx.other.example.")
		i = e.tick("example.test", time.Minute)
		want(t, "mail from with two MX", i.MailFrom.Status, identity.Pending)
		for _, s := range []string{"found 2 MX records", "MX 10 " + feedback, "MX 20 mx.other.example", "exactly one"} {
			if !strings.Contains(i.MailFrom.Diagnostic, s) {
				t.Fatalf("diagnostic %q lacks %q", i.MailFrom.Diagnostic, s)
			}
		}
		// One MX pointing elsewhere: not success either.
		e.dns.Set("bounce.example.test.", dns.TypeMX, "bounce.example.test. 300 IN MX 10 mx.other.example.")
		i = e.tick("example.test", time.Minute)
		want(t, "mail from with a foreign MX", i.MailFrom.Status, identity.Pending)
		if !strings.Contains(i.MailFrom.Diagnostic, "points at mx.other.example, not "+feedback) {
			t.Fatalf("diagnostic = %q", i.MailFrom.Diagnostic)
		}

		// Exactly one correct MX (and the SPF record): Success.
		e.dns.Set("bounce.example.test.", dns.TypeMX, "bounce.example.test. 300 IN MX 10 "+feedback+".")
		e.dns.Add(`bounce.example.test. 300 IN TXT "v=spf1 include:` + svc + ` ~all"`)
		i = e.tick("example.test", time.Minute)
		want(t, "mail from", i.MailFrom.Status, identity.Success)
		if !strings.Contains(i.MailFrom.Diagnostic, "SPF record includes") {
			t.Fatalf("diagnostic = %q", i.MailFrom.Diagnostic)
		}

		// SERVFAIL and timeouts during Success move nothing.
		e.dns.Fail("bounce.example.test.", dns.RcodeServerFailure)
		i = e.tick("example.test", time.Minute)
		want(t, "mail from during SERVFAIL", i.MailFrom.Status, identity.Success)
		if !strings.Contains(i.MailFrom.Diagnostic, "failed") {
			t.Fatalf("diagnostic = %q", i.MailFrom.Diagnostic)
		}
		e.dns.Unfail("bounce.example.test.")
		e.dns.Drop("bounce.example.test.", true)
		i = e.tick("example.test", time.Minute)
		want(t, "mail from during timeouts", i.MailFrom.Status, identity.Success)
		e.dns.Drop("bounce.example.test.", false)

		// MX removed: TemporaryFailure; restored: Success.
		e.dns.Remove("bounce.example.test.", dns.TypeMX)
		i = e.tick("example.test", time.Minute)
		want(t, "mail from after MX removed", i.MailFrom.Status, identity.TemporaryFailure)
		e.dns.Add("bounce.example.test. 300 IN MX 10 " + feedback + ".")
		i = e.tick("example.test", time.Minute)
		want(t, "mail from after MX restored", i.MailFrom.Status, identity.Success)

		// Removed again for the whole window: TemporaryFailure, then Failed.
		e.dns.Remove("bounce.example.test.", dns.TypeMX)
		i = e.tick("example.test", time.Minute)
		want(t, "mail from", i.MailFrom.Status, identity.TemporaryFailure)
		i = e.tick("example.test", window-2*time.Minute)
		want(t, "mail from just inside the window", i.MailFrom.Status, identity.TemporaryFailure)
		i = e.tick("example.test", 2*time.Minute)
		want(t, "mail from after the window", i.MailFrom.Status, identity.Failed)
		// Failed is final: the record coming back does not revive it.
		e.dns.Add("bounce.example.test. 300 IN MX 10 " + feedback + ".")
		i = e.tick("example.test", time.Minute)
		want(t, "failed mail from", i.MailFrom.Status, identity.Failed)
		// Setting it again restarts at Pending, and it can succeed.
		if err := e.ids.SetMailFrom(e.ctx, e.acct, "example.test", "bounce.example.test", identity.RejectMessage); err != nil {
			t.Fatal(err)
		}
		i, _ = e.ids.Get(e.ctx, e.acct, "example.test")
		want(t, "mail from set again", i.MailFrom.Status, identity.Pending)
		i = e.run("example.test")
		want(t, "mail from", i.MailFrom.Status, identity.Success)

		want(t, "transitions", strings.Join(e.transitions(i, identity.AttrMailFrom), " "),
			"->Pending Pending->Success Success->TemporaryFailure TemporaryFailure->Success Success->TemporaryFailure TemporaryFailure->Failed Failed->Pending Pending->Success")
	})
}

func TestMailFromPendingExpires(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.verifiedDomain("example.test")
		if err := e.ids.SetMailFrom(e.ctx, e.acct, "example.test", "mail.example.test", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		i := e.run("example.test")
		want(t, "mail from", i.MailFrom.Status, identity.Pending)
		// Lookups failing at the end of the window are no evidence: still Pending.
		e.dns.Fail("mail.example.test.", dns.RcodeServerFailure)
		i = e.tick("example.test", window+time.Hour)
		want(t, "mail from while lookups fail", i.MailFrom.Status, identity.Pending)
		e.dns.Unfail("mail.example.test.")
		i = e.tick("example.test", time.Minute)
		want(t, "mail from after the window", i.MailFrom.Status, identity.Failed)
		ts, _ := e.ids.Transitions(e.ctx, i.ID)
		last := ts[len(ts)-1]
		if !strings.Contains(last.Reason, "72h0m0s") || !strings.Contains(last.Reason, "no MX record") {
			t.Fatalf("reason = %q", last.Reason)
		}
	})
}

func TestDKIMRemovedAfterSuccess(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		i := e.verifiedDomain("example.test")
		e.dns.Remove(i.DKIM.Tokens[2]+"._domainkey.example.test.", dns.TypeCNAME)
		i = e.tick("example.test", time.Minute)
		want(t, "dkim", i.DKIM.Status, identity.TemporaryFailure)
		want(t, "verification", i.Verification, identity.TemporaryFailure)
		i = e.tick("example.test", window)
		want(t, "dkim", i.DKIM.Status, identity.Failed)
		want(t, "verification", i.Verification, identity.Failed)
		// Nothing left to check: no more rounds pick it.
		want(t, "next check", i.NextCheckAt.IsZero(), true)
	})
}

func TestAddressLinkExpires(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		i, err := e.ids.Create(e.ctx, e.acct, "someone@example.test", identity.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		i = e.run("someone@example.test")
		want(t, "verification (not due yet)", i.Verification, identity.Pending)
		i = e.tick("someone@example.test", 24*time.Hour)
		want(t, "verification after 24h", i.Verification, identity.Failed)
		if _, err := e.ids.ConfirmAddress(e.ctx, testkit.VerificationSecret(t, e.d, "someone@example.test")); !errors.Is(err, identity.ErrExpired) {
			t.Fatalf("an expired link: %v; want ErrExpired", err)
		}
	})
}

func TestLeaseSkipsRound(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		held := false
		c, _ := dnscheck.New(dnscheck.Options{Store: e.ids, Resolver: e.dns.Resolver(), Now: e.clock.Now,
			Lease: func(ctx context.Context) (bool, error) { return held, nil }})
		if _, err := e.ids.Create(e.ctx, e.acct, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		n, _ := c.RunOnce(e.ctx)
		want(t, "checked without the lease", n, 0)
		held = true
		n, _ = c.RunOnce(e.ctx)
		want(t, "checked with the lease", n, 1)
	})
}

// TestAddressMailFrom: a verified address with a custom MAIL FROM domain
// under its domain stays verified, and its MAIL FROM is checked like a
// domain's.
func TestAddressMailFrom(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		if _, err := e.ids.Create(e.ctx, e.acct, "jane@example.test", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ids.ConfirmAddress(e.ctx, testkit.VerificationSecret(t, e.d, "jane@example.test")); err != nil {
			t.Fatal(err)
		}
		if err := e.ids.SetMailFrom(e.ctx, e.acct, "jane@example.test", "mail.example.test", identity.RejectMessage); err != nil {
			t.Fatal(err)
		}
		i := e.run("jane@example.test")
		want(t, "verification", i.Verification, identity.Success)
		want(t, "mail from", i.MailFrom.Status, identity.Pending)
		e.dns.Add("mail.example.test. 300 IN MX 10 " + feedback + ".")
		i = e.tick("jane@example.test", time.Minute)
		want(t, "verification", i.Verification, identity.Success)
		want(t, "mail from", i.MailFrom.Status, identity.Success)
		e.dns.Remove("mail.example.test.", dns.TypeMX)
		i = e.tick("jane@example.test", time.Minute)
		want(t, "mail from", i.MailFrom.Status, identity.TemporaryFailure)
		i = e.tick("jane@example.test", window)
		want(t, "mail from", i.MailFrom.Status, identity.Failed)
		want(t, "verification", i.Verification, identity.Success)
		want(t, "next check", i.NextCheckAt.IsZero(), true)
	})
}

// TestFailedDomainStartsAgainWithNewDKIM: new signing attributes restart
// a domain whose verification failed.
func TestFailedDomainStartsAgainWithNewDKIM(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		if _, err := e.ids.Create(e.ctx, e.acct, "late.example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		e.run("late.example.test")
		i := e.tick("late.example.test", window)
		want(t, "verification", i.Verification, identity.Failed)
		want(t, "dkim", i.DKIM.Status, identity.Failed)
		// A new key length: same tokens, a new key, and both searches restart.
		i, err := e.ids.SetDKIMSigning(e.ctx, e.acct, "late.example.test", identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA1024}, false)
		if err != nil {
			t.Fatal(err)
		}
		want(t, "verification", i.Verification, identity.Pending)
		want(t, "dkim", i.DKIM.Status, identity.Pending)
		e.publishDKIM(i)
		i = e.tick("late.example.test", time.Minute)
		want(t, "verification", i.Verification, identity.Success)
		want(t, "dkim", i.DKIM.Status, identity.Success)
	})
}

// TestCheckNow: CheckNow checks one identity whose next check is not due
// yet and records what it found; a check of an identity changed
// meanwhile is stale and records nothing.
func TestCheckNow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		i := e.verifiedDomain("now.example")
		if err := e.ids.SetMailFrom(e.ctx, e.acct, "now.example", "bounce.now.example", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		e.run("now.example") // the MX is not there yet: Pending, next check a minute away
		e.dns.Add("bounce.now.example. 300 IN MX 10 " + feedback + ".")
		i, err := e.ids.Get(e.ctx, e.acct, "now.example")
		if err != nil {
			t.Fatal(err)
		}
		want(t, "MAIL FROM before", i.MailFrom.Status, identity.Pending)
		ts, err := e.checker.CheckNow(e.ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 1 || ts[0].Attribute != identity.AttrMailFrom || ts[0].To != identity.Success {
			t.Fatalf("transitions %+v", ts)
		}
		i, _ = e.ids.Get(e.ctx, e.acct, "now.example")
		want(t, "MAIL FROM after", i.MailFrom.Status, identity.Success)

		old := i
		if err := e.ids.SetMailFrom(e.ctx, e.acct, "now.example", "other.now.example", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		if _, err := e.checker.CheckNow(e.ctx, old); !errors.Is(err, identity.ErrStale) {
			t.Fatalf("check of a changed identity: %v, want ErrStale", err)
		}
	})
}
