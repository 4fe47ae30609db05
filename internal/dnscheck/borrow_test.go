package dnscheck_test

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/notify"
)

// TestBorrowedMailFromFailsWhenOwnerVerifies: account B verified only the
// addresses bob@ and carol@a.example and set the MAIL FROM domain
// bounce.a.example (allowed: nobody had verified a.example), which the
// checker found in place, so B sent SPF-aligned mail for a.example. When
// account A's domain a.example is verified, B's MAIL FROM domains go to
// Failed with the reason, in the same transaction; B is told; B's mail
// then uses the default MAIL FROM domain (UseDefaultValue) or is rejected
// (RejectMessage), and B cannot set the domain again.
func TestBorrowedMailFromFailsWhenOwnerVerifies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		env := apitest.New(t, d)
		zone := dnstest.NewServer(t)
		checker, err := dnscheck.New(dnscheck.Options{Store: env.Identities, Resolver: zone.Resolver(), Now: env.Clock.Now, Interval: time.Minute, Window: window})
		if err != nil {
			t.Fatal(err)
		}
		notifier, err := notify.New(notify.Options{Identities: env.Identities, Accounts: env.Accounts, Queue: env.Queue,
			Region: apitest.Region, ServiceDomain: apitest.ServiceDomain, Now: env.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		check := func() {
			t.Helper()
			if _, err := checker.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tick := func() { env.Clock.Advance(time.Second) } // the sandbox's sending rate

		// A asks to verify a.example; its TXT record is not there yet.
		vd, err := env.V1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("a.example")})
		if err != nil {
			t.Fatal(err)
		}
		// B, with an address for notices, verifies two addresses by their links.
		bAcct, bKey, err := env.Accounts.Create(ctx, account.CreateOptions{Name: "borrower", Email: "owner@b.example"})
		if err != nil {
			t.Fatal(err)
		}
		bV1, bV2 := env.Clients(bKey.AccessKeyID, bKey.Secret)
		for _, a := range []string{"bob@a.example", "carol@a.example"} {
			tick()
			if _, err := bV1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(a)}); err != nil {
				t.Fatal(err)
			}
			env.MarkVerifiedIn(t, bAcct.ID, a) // as following the link would
		}
		for a, b := range map[string]sestypes.BehaviorOnMXFailure{"bob@a.example": sestypes.BehaviorOnMXFailureUseDefaultValue, "carol@a.example": sestypes.BehaviorOnMXFailureRejectMessage} {
			if _, err := bV1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String(a), MailFromDomain: aws.String("bounce.a.example"), BehaviorOnMXFailure: b}); err != nil {
				t.Fatalf("%s: MAIL FROM before anyone verified a.example: %v", a, err)
			}
		}
		zone.Add("bounce.a.example. 300 IN MX 10 " + feedback + ".")
		check()
		mailFrom := func() map[string]sestypes.IdentityMailFromDomainAttributes {
			t.Helper()
			out, err := bV1.GetIdentityMailFromDomainAttributes(ctx, &ses.GetIdentityMailFromDomainAttributesInput{Identities: []string{"bob@a.example", "carol@a.example"}})
			if err != nil {
				t.Fatal(err)
			}
			return out.MailFromDomainAttributes
		}
		for a, m := range mailFrom() {
			if m.MailFromDomainStatus != sestypes.CustomMailFromStatusSuccess {
				t.Fatalf("%s: MAIL FROM %+v; want Success", a, m)
			}
		}
		send := func(from string) (string, error) {
			t.Helper()
			tick()
			out, err := bV2.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String(from),
				Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
				Content:     &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("hi")}, Body: &types.Body{Text: &types.Content{Data: aws.String("hi")}}}}})
			if err != nil {
				return "", err
			}
			m, err := env.Queue.Lookup(ctx, aws.ToString(out.MessageId))
			if err != nil {
				t.Fatal(err)
			}
			return m.MailFrom, nil
		}
		if got, err := send("bob@a.example"); err != nil || !strings.HasSuffix(got, "@bounce.a.example") {
			t.Fatalf("before A verified: MAIL FROM %q, %v", got, err)
		}

		// A publishes its token: the next check verifies a.example and fails B's MAIL FROM domains.
		zone.Add(`_amazonses.a.example. 300 IN TXT "` + aws.ToString(vd.VerificationToken) + `"`)
		env.Clock.Advance(time.Minute)
		check()
		va, err := env.V1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{"a.example"}})
		if err != nil || va.VerificationAttributes["a.example"].VerificationStatus != sestypes.VerificationStatusSuccess {
			t.Fatalf("a.example: %+v, %v", va, err)
		}
		for a, m := range mailFrom() {
			if m.MailFromDomainStatus != sestypes.CustomMailFromStatusFailed {
				t.Fatalf("%s: MAIL FROM %+v; want Failed", a, m)
			}
			i, _ := env.Identities.Get(ctx, bAcct.ID, a)
			if i.MailFrom.Diagnostic != "the domain a.example is verified by another account" {
				t.Errorf("%s: diagnostic %q", a, i.MailFrom.Diagnostic)
			}
		}
		// B is told, at its notification address.
		if _, err := notifier.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		notices := noticesTo(t, d, "owner@b.example")
		for _, a := range []string{"bob@a.example", "carol@a.example"} {
			subject := "Custom MAIL FROM domain for " + a + " in region US-EAST-1 is now failing"
			if text, ok := notices[subject]; !ok || !strings.Contains(text, "the domain a.example is verified by another account") {
				t.Errorf("notice %q: %q (sent: %v)", subject, text, notices)
			}
		}

		// B's mail: the default MAIL FROM domain, or rejected.
		if got, err := send("bob@a.example"); err != nil || got != strings.Split(got, "@")[0]+"@us-east-1."+apitest.ServiceDomain {
			t.Fatalf("UseDefaultValue after A verified: MAIL FROM %q, %v", got, err)
		}
		if _, err := send("carol@a.example"); apitest.Code(err) != "MailFromDomainNotVerifiedException" {
			t.Fatalf("RejectMessage after A verified: %v", err)
		}
		// And the domain cannot be set again; checks leave it Failed.
		if _, err := bV1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("bob@a.example"), MailFromDomain: aws.String("bounce.a.example")}); apitest.Code(err) != "InvalidParameterValue" {
			t.Fatalf("setting the borrowed domain again: %v", err)
		}
		env.Clock.Advance(time.Minute)
		check()
		if m := mailFrom()["bob@a.example"]; m.MailFromDomainStatus != sestypes.CustomMailFromStatusFailed {
			t.Fatalf("after another check: %+v", m)
		}
	})
}

// noticesTo returns the texts of the messages queued to address, by
// subject, read as their recipient would.
func noticesTo(t *testing.T, d *db.DB, address string) map[string]string {
	t.Helper()
	rows, err := d.Query(context.Background(), `SELECT b.body FROM messages m JOIN recipients r ON r.message_id = m.id LEFT JOIN message_bodies b ON b.message_id = m.id WHERE r.address = ?`, address)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		out[m.Header.Get("Subject")] = string(text)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
