package sesv1_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
)

// TestSendThroughV1: SendEmail and SendRawEmail through the SDK reach the
// queue, and the admission rules answer with SES's v1 codes.
func TestSendThroughV1(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		simple := func(from string, to ...string) error {
			env.Clock.Advance(2 * time.Second) // the sandbox rate is one message a second
			_, err := env.V1.SendEmail(ctx, &ses.SendEmailInput{
				Source:      aws.String(from),
				Destination: &types.Destination{ToAddresses: to},
				Message: &types.Message{Subject: &types.Content{Data: aws.String("Hi")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}},
				Tags: []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
			})
			return err
		}
		// Unverified sender: MessageRejected, nothing queued.
		if got := apitest.Code(simple("a@example.test", "b@example.test")); got != "MessageRejected" {
			t.Fatalf("unverified sender: %s", got)
		}
		if _, err := env.V1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		// Verified sender and (sandbox) recipient under the verified domain.
		if err := simple("a@example.test", "b@example.test"); err != nil {
			t.Fatal(err)
		}
		// Sandbox: an unverified recipient is rejected.
		if err := simple("a@example.test", "someone@elsewhere.example"); apitest.Code(err) != "MessageRejected" || !strings.Contains(err.Error(), "US-EAST-1") {
			t.Fatalf("sandbox recipient: %v", err)
		}
		// 51 recipients.
		many := make([]string, 51)
		for k := range many {
			many[k] = "r" + string(rune('a'+k%26)) + string(rune('a'+k/26)) + "@example.test"
		}
		if got := apitest.Code(simple("a@example.test", many...)); got != "InvalidParameterValue" {
			t.Fatalf("51 recipients: %s", got)
		}
		// A custom MAIL FROM not in Success with RejectMessage: the code keeps its suffix.
		if _, err := env.V1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("example.test"), MailFromDomain: aws.String("bounce.example.test"), BehaviorOnMXFailure: types.BehaviorOnMXFailureRejectMessage}); err != nil {
			t.Fatal(err)
		}
		if got := apitest.Code(simple("a@example.test", "b@example.test")); got != "MailFromDomainNotVerifiedException" {
			t.Fatalf("MAIL FROM pending with RejectMessage: %s", got)
		}
		// MAIL FROM in Success: accepted, envelope sender under the custom domain.
		i, _ := env.Identities.Get(ctx, env.Account.ID, "example.test")
		if _, err := env.Identities.Record(ctx, identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: env.Clock.Now(), MailFromDomain: "bounce.example.test", MailFrom: identity.Present, MailFromDetail: "test", Window: 72 * time.Hour, Interval: time.Minute}); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(2 * time.Second)
		raw := "From: a@example.test\r\nTo: b@example.test\r\nSubject: raw\r\n\r\nraw body\r\n"
		out, err := env.V1.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &types.RawMessage{Data: []byte(raw)}})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := env.Queue.Claim(ctx, "test", 10, time.Minute)
		if err != nil || len(cs) != 2 {
			t.Fatalf("queued: %+v, %v", cs, err)
		}
		last := cs[1]
		if last.MessageID != *out.MessageId || last.MailFrom != *out.MessageId+"@bounce.example.test" {
			t.Fatalf("raw send queued as %+v (MessageId %s)", last, *out.MessageId)
		}
		if cs[0].MailFrom != cs[0].MessageID+"@us-east-1.sesame.example.test" {
			t.Fatalf("default MAIL FROM: %s", cs[0].MailFrom)
		}
		// Paused account.
		env.Clock.Advance(2 * time.Second)
		env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: false})
		if got := apitest.Code(simple("a@example.test", "b@example.test")); got != "AccountSendingPausedException" {
			t.Fatalf("paused: %s", got)
		}
		counts, _ := env.Queue.Counts(ctx)
		if counts[queue.Queued] != 2 {
			t.Fatalf("queue counts %v: a rejected send queued something", counts)
		}
		q, _ := env.V1.GetSendQuota(ctx, &ses.GetSendQuotaInput{})
		if q.SentLast24Hours != 2 {
			t.Fatalf("SentLast24Hours = %v", q.SentLast24Hours)
		}
	})
}
