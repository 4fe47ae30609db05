package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sesv1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/testkit"
)

const svc = "sesame.example.test"

// running is a whole Sesame serving on loopback, with a DNS server playing
// the customers' zones as its resolver.
type running struct {
	app      *app.App
	ready    app.Ready
	customer *dnstest.Server
	v1       *ses.Client
	v2       *sesv2.Client
	key      account.Key
	acct     *account.Account
	stop     func() // stops the server (idempotent; also at the test's end)
}

type cfgT = config.Config

func ipList(s string) config.IPList {
	var l config.IPList
	if err := l.Set(s); err != nil {
		panic(err)
	}
	return l
}

func start(t *testing.T, d *db.DB) *running {
	t.Helper()
	return startWith(t, d, nil)
}

// startWith starts Sesame after letting configure change its settings.
func startWith(t *testing.T, d *db.DB, configure func(*config.Config)) *running {
	t.Helper()
	customer := dnstest.NewServer(t)
	cfg := config.Config{
		APIAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", Region: "us-east-1", ServiceDomain: svc,
		Resolver: customer.Addr(), MailFromWindow: 72 * time.Hour, CheckInterval: 50 * time.Millisecond,
		CheckConcurrency: 4, MasterKey: "e2e master key", LogLevel: "info", DataDir: t.TempDir(),
		RetryWindow: time.Hour, DeliveryWorkers: 4,
	}
	if configure != nil {
		configure(&cfg)
	}
	a, err := app.OpenDB(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)), d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan app.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(r app.Ready) { readyc <- r }) }()
	var r running
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	select {
	case r.ready = <-readyc:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not start")
	}
	r.app, r.customer = a, customer
	// A second server on the same database takes the same account, with a
	// key of its own.
	if r.acct, err = a.Accounts.Find(context.Background(), "acme"); err == nil {
		r.key, err = a.Accounts.AddKey(context.Background(), r.acct.ID, "", "")
	} else {
		r.acct, r.key, err = a.Accounts.Create(context.Background(), account.CreateOptions{Name: "acme", Email: "owner@rcpt.test"})
	}
	if err != nil {
		t.Fatal(err)
	}
	r.v1, r.v2 = clients("http://"+r.ready.API, r.key.AccessKeyID, r.key.Secret)
	return &r
}

func clients(url, id, secret string) (*ses.Client, *sesv2.Client) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1}
	return ses.NewFromConfig(cfg, func(o *ses.Options) { o.BaseEndpoint = aws.String(url) }),
		sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(url) })
}

// eventually polls f until it returns nil or 15 seconds pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd walks the user story through the real SDKs: create
// a domain, publish its CNAMEs, see it verified by the running checker,
// resolve its DKIM key through Sesame's own DNS server, set a custom MAIL
// FROM and see it succeed, and read it all back from the CLI's views.
func TestEndToEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := start(t, d)
		ctx := context.Background()

		out, err := r.v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.DkimAttributes.Tokens) != 3 || out.DkimAttributes.Status != types.DkimStatusPending {
			t.Fatalf("CreateEmailIdentity = %+v", out.DkimAttributes)
		}
		for _, tok := range out.DkimAttributes.Tokens {
			r.customer.Add(fmt.Sprintf("%s._domainkey.example.test. 300 IN CNAME %s.dkim.%s.", tok, tok, svc))
		}
		eventually(t, "domain verified", func() error {
			g, err := r.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.test")})
			if err != nil {
				return err
			}
			if g.VerificationStatus != types.VerificationStatusSuccess || g.DkimAttributes.Status != types.DkimStatusSuccess || !g.VerifiedForSendingStatus {
				return fmt.Errorf("status %s, DKIM %s", g.VerificationStatus, g.DkimAttributes.Status)
			}
			return nil
		})
		v, err := r.v1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{"example.test"}})
		if err != nil || v.VerificationAttributes["example.test"].VerificationStatus != sesv1types.VerificationStatusSuccess {
			t.Fatalf("v1 verification attributes = %+v, %v", v, err)
		}

		// The DKIM key resolves through the customer's CNAME and Sesame's
		// own DNS server, and verifies a signature made with the stored key.
		i, err := r.app.Identities.Get(ctx, r.acct.ID, "example.test")
		if err != nil {
			t.Fatal(err)
		}
		// The Ed25519 key's CNAME is optional; publish it to test that key too.
		r.customer.Add(fmt.Sprintf("%s._domainkey.example.test. 300 IN CNAME %s.dkim.%s.", i.DKIM.Ed25519Token, i.DKIM.Ed25519Token, svc))
		keys, err := r.app.Identities.SigningKeys(ctx, i.ID)
		if err != nil || len(keys) != 2 {
			t.Fatalf("SigningKeys = %d keys, %v", len(keys), err)
		}
		lookupTXT := func(name string) ([]string, error) {
			target := name
			if m := query(t, "udp", r.customer.Addr(), name, dns.TypeCNAME); len(m.Answer) == 1 {
				target = m.Answer[0].(*dns.CNAME).Target
			}
			for _, network := range []string{"udp", "tcp"} {
				m := query(t, network, r.ready.DNS, target, dns.TypeTXT)
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
					return nil, fmt.Errorf("%s %s: rcode %d, %d answers", network, target, m.Rcode, len(m.Answer))
				}
				if network == "tcp" {
					return []string{strings.Join(m.Answer[0].(*dns.TXT).Txt, "")}, nil
				}
			}
			return nil, errors.New("unreachable")
		}
		for _, k := range keys {
			var signed bytes.Buffer
			msg := "From: a@example.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
			if err := msgdkim.Sign(&signed, strings.NewReader(msg), &msgdkim.SignOptions{Domain: "example.test", Selector: k.Selector, Signer: k.Key.Signer}); err != nil {
				t.Fatal(err)
			}
			vs, err := msgdkim.VerifyWithOptions(&signed, &msgdkim.VerifyOptions{LookupTXT: lookupTXT})
			if err != nil || len(vs) != 1 || vs[0].Err != nil {
				t.Fatalf("%s signature does not verify through DNS: %v %+v", k.Key.Algorithm, err, vs[0])
			}
		}

		// Custom MAIL FROM through v1, detected by the checker.
		_, err = r.v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("example.test"), MailFromDomain: aws.String("bounce.example.test"), BehaviorOnMXFailure: sesv1types.BehaviorOnMXFailureRejectMessage})
		if err != nil {
			t.Fatal(err)
		}
		r.customer.Add("bounce.example.test. 300 IN MX 10 feedback-smtp.us-east-1." + svc + ".")
		r.customer.Add("bounce.example.test. 300 IN MX 20 backup.example.org.")
		time.Sleep(300 * time.Millisecond) // several check rounds
		mf, err := r.v1.GetIdentityMailFromDomainAttributes(ctx, &ses.GetIdentityMailFromDomainAttributesInput{Identities: []string{"example.test"}})
		if err != nil || mf.MailFromDomainAttributes["example.test"].MailFromDomainStatus != sesv1types.CustomMailFromStatusPending {
			t.Fatalf("with two MX records: %+v, %v", mf, err)
		}
		if i, _ := r.app.Identities.Get(ctx, r.acct.ID, "example.test"); !strings.Contains(i.MailFrom.Diagnostic, "found 2 MX records (MX 10 feedback-smtp.us-east-1."+svc+", MX 20 backup.example.org)") {
			t.Fatalf("diagnostic with two MX records = %q", i.MailFrom.Diagnostic)
		}
		r.customer.Remove("bounce.example.test.", dns.TypeMX)
		r.customer.Add("bounce.example.test. 300 IN MX 10 feedback-smtp.us-east-1." + svc + ".")
		eventually(t, "MAIL FROM success", func() error {
			g, err := r.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.test")})
			if err != nil {
				return err
			}
			if g.MailFromAttributes.MailFromDomainStatus != types.MailFromDomainStatusSuccess || g.MailFromAttributes.BehaviorOnMxFailure != types.BehaviorOnMxFailureRejectMessage {
				return fmt.Errorf("MAIL FROM %+v", g.MailFromAttributes)
			}
			return nil
		})

		// What the operator's CLI shows.
		var show bytes.Buffer
		if err := r.app.ShowIdentity(ctx, &show, "example.test", ""); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"verification        Success", "bounce.example.test: Success", "exactly one MX, pointing at the feedback host", "custom MAIL FROM domain bounce.example.test set", "history:"} {
			if !strings.Contains(show.String(), s) {
				t.Errorf("identity show lacks %q:\n%s", s, show.String())
			}
		}
		var csv, zone bytes.Buffer
		r.app.IdentityRecords(ctx, &csv, "example.test", "acme", "csv")
		r.app.IdentityRecords(ctx, &zone, "example.test", "", "zone")
		for _, s := range []string{"Type,Name,Value,Priority,TTL,Purpose", "MX,bounce.example.test,feedback-smtp.us-east-1." + svc + ",10,300", "TXT,bounce.example.test,v=spf1 include:" + svc + " ~all", "CNAME," + i.DKIM.Tokens[0] + "._domainkey.example.test," + i.DKIM.Tokens[0] + ".dkim." + svc, "TXT,_dmarc.example.test,v=DMARC1"} {
			if !strings.Contains(csv.String(), s) {
				t.Errorf("CSV lacks %q:\n%s", s, csv.String())
			}
		}
		for _, s := range []string{"bounce.example.test. 300 IN MX 10 feedback-smtp.us-east-1." + svc + ".", `bounce.example.test. 300 IN TXT "v=spf1 include:` + svc + ` ~all"`} {
			if !strings.Contains(zone.String(), s) {
				t.Errorf("zone lacks %q:\n%s", s, zone.String())
			}
		}
	})
}

func query(t *testing.T, network, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return in
}

// TestAddressVerificationLink follows the link in the verification mail,
// as the recipient would.
func TestAddressVerificationLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) { c.OutboundPort = mx.port(t) })
		r.customer.Add("example.test. 300 IN MX 10 mx.example.test.")
		r.customer.Add("mx.example.test. 300 IN A 127.0.0.1")
		ctx := context.Background()
		if _, err := r.v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("Jane@Example.test")}); err != nil {
			t.Fatal(err)
		}
		var msg []byte
		eventually(t, "verification mail delivered", func() error {
			for _, m := range mx.all() {
				if len(m.To) == 1 && m.To[0] == "Jane@example.test" {
					msg = m.Data
					return nil
				}
			}
			return errors.New("not yet")
		})
		link := "http://" + r.ready.API + "/verify?token=" + testkit.VerificationSecretIn(t, msg)
		bad, _ := http.Get("http://" + r.ready.API + "/verify?token=nope")
		if bad.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown token: status %d", bad.StatusCode)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "Jane@example.test") {
			t.Fatalf("verify page: %d %s", resp.StatusCode, page)
		}
		v, err := r.v1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{"Jane@example.test"}})
		if err != nil || v.VerificationAttributes["Jane@example.test"].VerificationStatus != sesv1types.VerificationStatusSuccess {
			t.Fatalf("after the link: %+v, %v", v, err)
		}
	})
}
