package sesv2_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/testkit"
)

var customTokenRE = regexp.MustCompile(`/verify\?token=([0-9a-f]+)`)

// customLink returns the secret of the newest custom verification link
// queued to address, read from the HTML its recipient gets.
func customLink(t *testing.T, env *apitest.Env, address string) string {
	t.Helper()
	var body []byte
	err := env.DB.QueryRow(context.Background(), `SELECT b.body FROM messages m JOIN recipients r ON r.message_id = m.id LEFT JOIN message_bodies b ON b.message_id = m.id
		WHERE r.address = ? ORDER BY m.created_at DESC LIMIT 1`, address).Scan(&body)
	if err != nil {
		t.Fatalf("no mail queued to %s: %v", address, err)
	}
	h, text := testkit.MailText(t, body)
	found := customTokenRE.FindStringSubmatch(text)
	if found == nil || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("no verification link in the HTML mail:\n%s", body)
	}
	return found[1]
}

func createTemplate(ctx context.Context, c *sesv2.Client, name, from string) error {
	_, err := c.CreateCustomVerificationEmailTemplate(ctx, &sesv2.CreateCustomVerificationEmailTemplateInput{
		TemplateName: aws.String(name), FromEmailAddress: aws.String(from), TemplateSubject: aws.String("Confirm your address"),
		TemplateContent:       aws.String("<html><body><h1>Welcome</h1></body></html>"),
		SuccessRedirectionURL: aws.String("https://app.example.test/ok"), FailureRedirectionURL: aws.String("https://app.example.test/failed"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("growth")}},
	})
	return err
}

// TestCustomVerificationV2: the template operations under
// /v2/email/custom-verification-email-templates and
// SendCustomVerificationEmail through the SDK's sesv2 client, with v2's
// codes; the link verifies the address in the sending account only,
// within its validity.
func TestCustomVerificationV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if got := apitest.Code(createTemplate(ctx, env.V2, "welcome", "hello@example.test")); got != "BadRequestException" {
			t.Fatalf("unverified from: %s", got)
		}
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		if err := createTemplate(ctx, env.V2, "welcome", "hello@example.test"); err != nil {
			t.Fatal(err)
		}
		if got := apitest.Code(createTemplate(ctx, env.V2, "welcome", "hello@example.test")); got != "AlreadyExistsException" {
			t.Fatalf("duplicate: %s", got)
		}
		got, err := env.V2.GetCustomVerificationEmailTemplate(ctx, &sesv2.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
		if err != nil || aws.ToString(got.FromEmailAddress) != "hello@example.test" || len(got.Tags) != 1 || aws.ToString(got.Tags[0].Value) != "growth" ||
			aws.ToString(got.FailureRedirectionURL) != "https://app.example.test/failed" {
			t.Fatalf("Get: %+v %v", got, err)
		}
		update := func(name, content string) error {
			_, err := env.V2.UpdateCustomVerificationEmailTemplate(ctx, &sesv2.UpdateCustomVerificationEmailTemplateInput{
				TemplateName: aws.String(name), FromEmailAddress: aws.String("hello@example.test"), TemplateSubject: aws.String("New subject"),
				TemplateContent:       aws.String(content),
				SuccessRedirectionURL: aws.String("https://app.example.test/ok2"), FailureRedirectionURL: aws.String("https://app.example.test/failed2"),
			})
			return err
		}
		if err := update("welcome", "<p>Hi</p>"); err != nil {
			t.Fatal(err)
		}
		if got := apitest.Code(update("nope", "<p>Hi</p>")); got != "NotFoundException" {
			t.Fatalf("Update unknown: %s", got)
		}
		if got := apitest.Code(update("welcome", "<a href='https://x.test'>x</a>")); got != "BadRequestException" {
			t.Fatalf("Update with a link: %s", got)
		}
		if _, err := env.V2.GetCustomVerificationEmailTemplate(ctx, &sesv2.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("nope")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("Get unknown: %v", err)
		}
		l, err := env.V2.ListCustomVerificationEmailTemplates(ctx, &sesv2.ListCustomVerificationEmailTemplatesInput{PageSize: aws.Int32(50)})
		if err != nil || len(l.CustomVerificationEmailTemplates) != 1 || aws.ToString(l.CustomVerificationEmailTemplates[0].TemplateSubject) != "New subject" {
			t.Fatalf("List: %+v %v", l, err)
		}
		if _, err := env.V2.ListCustomVerificationEmailTemplates(ctx, &sesv2.ListCustomVerificationEmailTemplatesInput{PageSize: aws.Int32(51)}); apitest.Code(err) != "BadRequestException" {
			t.Fatalf("PageSize 51: %v", err)
		}

		// Another account sees none of it.
		_, _, otherV2 := env.Other(t, "other")
		if _, err := otherV2.GetCustomVerificationEmailTemplate(ctx, &sesv2.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account's Get: %v", err)
		}
		if l, err := otherV2.ListCustomVerificationEmailTemplates(ctx, &sesv2.ListCustomVerificationEmailTemplatesInput{}); err != nil || len(l.CustomVerificationEmailTemplates) != 0 {
			t.Fatalf("other account's List: %+v %v", l, err)
		}
		if _, err := otherV2.DeleteCustomVerificationEmailTemplate(ctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account's Delete: %v", err)
		}

		// Send.
		send := func(c *sesv2.Client, addr, tpl string) (string, error) {
			out, err := c.SendCustomVerificationEmail(ctx, &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String(addr), TemplateName: aws.String(tpl)})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.MessageId), nil
		}
		if _, err := send(env.V2, "jane@rcpt.test", "welcome"); apitest.Code(err) != "MessageRejected" || !strings.Contains(err.Error(), "Production access") {
			t.Fatalf("sandbox send: %v", err)
		}
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, 1000, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := send(env.V2, "jane@rcpt.test", "nope"); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("unknown template: %v", err)
		}
		if _, err := send(otherV2, "jane@rcpt.test", "welcome"); apitest.Code(err) != "MessageRejected" && apitest.Code(err) != "NotFoundException" {
			t.Fatalf("another account's template: %v", err)
		}
		id, err := send(env.V2, "jane@rcpt.test", "welcome")
		if err != nil || id == "" {
			t.Fatalf("send: %q %v", id, err)
		}
		secret := customLink(t, env, "jane@rcpt.test")
		if _, err := env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("jane@rcpt.test")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("identity before the link is followed: %v", err)
		}
		// The template changes after the mail: the link keeps the URLs it was mailed with.
		if err := update("welcome", "<p>Hello again</p>"); err != nil {
			t.Fatal(err)
		}
		link, i, err := env.Identities.ConfirmCustomLink(ctx, secret)
		if err != nil || link.SuccessURL != "https://app.example.test/ok2" || i.Name != "jane@rcpt.test" || i.AccountID != env.Account.ID {
			t.Fatalf("follow the link: %+v %+v %v", link, i, err)
		}
		g, err := env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("jane@rcpt.test")})
		if err != nil || g.VerificationStatus != types.VerificationStatusSuccess || !g.VerifiedForSendingStatus {
			t.Fatalf("identity after the link: %+v %v", g, err)
		}
		if _, err := otherV2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("jane@rcpt.test")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("the other account got the identity: %v", err)
		}
		// Following it again: still success, nothing changes.
		if _, _, err := env.Identities.ConfirmCustomLink(ctx, secret); err != nil {
			t.Fatalf("second follow: %v", err)
		}

		// A Pending identity (VerifyEmailIdentity's) is verified by the custom link.
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("pending@rcpt.test")}); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Second)
		if _, err := send(env.V2, "pending@rcpt.test", "welcome"); err != nil {
			t.Fatal(err)
		}
		if _, i, err := env.Identities.ConfirmCustomLink(ctx, customLink(t, env, "pending@rcpt.test")); err != nil || i.Verification != identity.Success {
			t.Fatalf("custom link of a Pending identity: %+v %v", i, err)
		}

		// Expired: 24 hours later the link leads to the failure URL and creates nothing.
		if _, err := send(env.V2, "late@rcpt.test", "welcome"); err != nil {
			t.Fatal(err)
		}
		late := customLink(t, env, "late@rcpt.test")
		// Deleting the template does not break the links it mailed.
		if _, err := env.V2.DeleteCustomVerificationEmailTemplate(ctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V2.DeleteCustomVerificationEmailTemplate(ctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("second Delete: %v", err)
		}
		env.Clock.Advance(24 * time.Hour)
		link, _, err = env.Identities.ConfirmCustomLink(ctx, late)
		if !errors.Is(err, identity.ErrExpired) || link == nil || link.FailureURL != "https://app.example.test/failed2" {
			t.Fatalf("expired link: %+v %v", link, err)
		}
		if _, err := env.Identities.Get(ctx, env.Account.ID, "late@rcpt.test"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("an expired link created the identity: %v", err)
		}
		// jane's old link: expired, but jane is verified — success.
		if _, _, err := env.Identities.ConfirmCustomLink(ctx, secret); err != nil {
			t.Fatalf("old link of a verified address: %v", err)
		}
		if _, _, err := env.Identities.ConfirmCustomLink(ctx, testkit.VerificationSecret(t, env.DB, "pending@rcpt.test")); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("an address verification link taken for a custom one: %v", err)
		}

	})
}

// TestCustomVerificationRefusedSend: a send the admission door refuses (an
// unknown configuration set, the daily quota) leaves no link behind and
// changes no identity.
func TestCustomVerificationRefusedSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		if err := createTemplate(ctx, env.V2, "welcome", "hello@example.test"); err != nil {
			t.Fatal(err)
		}
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, 1, 100); err != nil {
			t.Fatal(err)
		}
		send := func(addr, set string) error {
			in := &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String(addr), TemplateName: aws.String("welcome")}
			if set != "" {
				in.ConfigurationSetName = aws.String(set)
			}
			_, err := env.V2.SendCustomVerificationEmail(ctx, in)
			return err
		}
		if err := send("a@rcpt.test", "no-such-set"); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("unknown set: %v", err)
		}
		if err := send("a@rcpt.test", ""); err != nil {
			t.Fatal(err)
		}
		if err := send("b@rcpt.test", ""); apitest.Code(err) != "TooManyRequestsException" {
			t.Fatalf("over the daily quota: %v", err)
		}
		var n int
		if err := env.DB.QueryRow(ctx, `SELECT COUNT(*) FROM custom_verification_links`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("links after one accepted and two refused sends: %d %v", n, err)
		}
		if err := env.DB.QueryRow(ctx, `SELECT COUNT(*) FROM identities WHERE name LIKE '%@rcpt.test'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("identities after sends: %d %v", n, err)
		}
	})
}
