package app_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestCustomVerificationEndToEnd: a custom verification mail sent through
// the API arrives at the address's MX, DKIM-signed as the template's
// domain (verified through DNS); its link, followed over HTTP, redirects
// to the template's success URL and verifies the address; a link past its
// 24 hours redirects to the failure URL and verifies nothing.
func TestCustomVerificationEndToEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) { c.OutboundPort = mx.port(t) })
		ctx := context.Background()
		r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
		verifyDomain(t, r, "example.test")
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateCustomVerificationEmailTemplate(ctx, &sesv2.CreateCustomVerificationEmailTemplateInput{
			TemplateName: aws.String("welcome"), FromEmailAddress: aws.String("hello@example.test"), TemplateSubject: aws.String("Confirm your address"),
			TemplateContent:       aws.String("<html><body><h1>Welcome to Example</h1><p>One last step.</p></body></html>"),
			SuccessRedirectionURL: aws.String("https://app.example.test/verified"), FailureRedirectionURL: aws.String("https://app.example.test/failed"),
		}); err != nil {
			t.Fatal(err)
		}
		sendTo := func(addr string) (received, string) {
			t.Helper()
			out, err := r.v1.SendCustomVerificationEmail(ctx, &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String(addr), TemplateName: aws.String("welcome")})
			if err != nil {
				t.Fatal(err)
			}
			var got received
			eventually(t, "custom verification mail delivered", func() error {
				for _, m := range mx.all() {
					if len(m.To) == 1 && m.To[0] == addr {
						got = m
						return nil
					}
				}
				return errors.New("not yet")
			})
			if !strings.HasPrefix(got.From, aws.ToString(out.MessageId)+"@") {
				t.Fatalf("envelope sender %q for message %s", got.From, aws.ToString(out.MessageId))
			}
			return got, customToken(t, got.Data)
		}

		got, token := sendTo("jane@rcpt.test")
		msg, _ := mail.ReadMessage(bytes.NewReader(got.Data))
		if msg.Header.Get("From") != "hello@example.test" || msg.Header.Get("Subject") != "Confirm your address" {
			t.Fatalf("mail headers:\n%s", got.Data)
		}
		customerDKIM(t, r, got.Data, "example.test")

		// Not followed yet: no identity.
		if _, err := r.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("jane@rcpt.test")}); err == nil {
			t.Fatal("the address is an identity before its link was followed")
		}
		if loc := follow(t, r, token); loc != "https://app.example.test/verified" {
			t.Fatalf("link redirected to %q", loc)
		}
		g, err := r.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("jane@rcpt.test")})
		if err != nil || g.VerificationStatus != types.VerificationStatusSuccess {
			t.Fatalf("after the link: %+v %v", g, err)
		}

		// An expired link (its mail 25 hours old).
		_, late := sendTo("late@rcpt.test")
		if _, err := r.app.DB.Exec(ctx, `UPDATE custom_verification_links SET created_at = ? WHERE address = ?`,
			db.Millis(time.Now().Add(-25*time.Hour)), "late@rcpt.test"); err != nil {
			t.Fatal(err)
		}
		if loc := follow(t, r, late); loc != "https://app.example.test/failed" {
			t.Fatalf("expired link redirected to %q", loc)
		}
		if _, err := r.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("late@rcpt.test")}); err == nil {
			t.Fatal("an expired link made an identity")
		}
		// An unknown token is Sesame's own page, as before.
		resp, err := http.Get("http://" + r.ready.API + "/verify?token=0123")
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown token: %v %v", resp, err)
		}
		resp.Body.Close()
	})
}

var customTokenRE = regexp.MustCompile(`/verify\?token=([0-9a-f]+)`)

// customToken is the link secret in a custom verification mail's HTML.
func customToken(t *testing.T, data []byte) string {
	t.Helper()
	_, html := testkit.MailText(t, data)
	m := customTokenRE.FindStringSubmatch(html)
	if m == nil || !strings.Contains(html, "Welcome to Example") || strings.Index(html, "Welcome") > strings.Index(html, m[0]) {
		t.Fatalf("the mail is not the content followed by the link:\n%s", html)
	}
	return m[1]
}

// follow opens the verification link as a browser would, without
// following the redirect, and returns where it redirects (303).
func follow(t *testing.T, r *running, token string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + r.ready.API + "/verify?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("verification link: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

// customerDKIM checks that msg carries DKIM signatures of domain that
// verify through the customer's CNAMEs and Sesame's own DNS.
func customerDKIM(t *testing.T, r *running, msg []byte, domain string) {
	t.Helper()
	ctx := context.Background()
	customerDNS := &sesdns.Client{Servers: []string{r.customer.Addr()}, Timeout: 2 * time.Second}
	res := zones{sesame: &sesdns.Client{Servers: []string{r.ready.DNS}, Timeout: 2 * time.Second}, customer: customerDNS}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		target := name
		if cname, err := customerDNS.LookupCNAME(ctx, name); err == nil {
			target = cname
		}
		return res.LookupTXT(ctx, target)
	}})
	if err != nil || len(vs) == 0 {
		t.Fatalf("DKIM: %v (%d signatures)", err, len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != domain {
			t.Fatalf("DKIM signature d=%s: %v\n%s", v.Domain, v.Err, msg)
		}
	}
}
