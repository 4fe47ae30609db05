package sesv2_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestSendThroughV2: SendEmail with Simple and Raw content through the SDK,
// and the v2 codes of the admission rules.
func TestSendThroughV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		simple := func(from string, to ...string) (*sesv2.SendEmailOutput, error) {
			env.Clock.Advance(2 * time.Second) // the sandbox rate is one message a second
			return env.V2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress: aws.String(from),
				Destination:      &types.Destination{ToAddresses: to},
				Content: &types.EmailContent{Simple: &types.Message{
					Subject:     &types.Content{Data: aws.String("Grüße")},
					Body:        &types.Body{Text: &types.Content{Data: aws.String("Hallo")}, Html: &types.Content{Data: aws.String("<p>Hallo</p>")}},
					Attachments: []types.Attachment{{FileName: aws.String("a.txt"), RawContent: []byte("attached")}},
				}},
				EmailTags: []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
			})
		}
		// nodemailer's verify() probe: From invalid@invalid → MessageRejected.
		if _, err := simple("invalid@invalid", "invalid@invalid"); apitest.Code(err) != "MessageRejected" {
			t.Fatalf("nodemailer probe: %v", err)
		}
		if _, err := simple("a@example.test", "b@example.test"); apitest.Code(err) != "MessageRejected" {
			t.Fatalf("unverified: %v", err)
		}
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		out, err := simple("a@example.test", "b@example.test")
		if err != nil || out.MessageId == nil {
			t.Fatalf("send: %v", err)
		}
		// Raw content, with Destination as the envelope.
		env.Clock.Advance(2 * time.Second)
		_, err = env.V2.SendEmail(ctx, &sesv2.SendEmailInput{
			Destination: &types.Destination{ToAddresses: []string{"c@example.test"}},
			Content:     &types.EmailContent{Raw: &types.RawMessage{Data: []byte("From: a@example.test\r\nTo: b@example.test\r\nSubject: raw\r\n\r\nbody\r\n")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Throttled: a second message within the same second.
		if _, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{
			Destination: &types.Destination{ToAddresses: []string{"c@example.test"}},
			Content:     &types.EmailContent{Raw: &types.RawMessage{Data: []byte("From: a@example.test\r\nTo: c@example.test\r\n\r\nbody\r\n")}},
		}); apitest.Code(err) != "TooManyRequestsException" {
			t.Fatalf("over the rate: %v", err)
		}
		// Unknown configuration set.
		env.Clock.Advance(2 * time.Second)
		if _, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{ConfigurationSetName: aws.String("nope"),
			Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte("From: a@example.test\r\nTo: c@example.test\r\n\r\nbody\r\n")}},
		}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("unknown configuration set: %v", err)
		}
		// Header injection through a custom header.
		env.Clock.Advance(2 * time.Second)
		_, err = env.V2.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("a@example.test"),
			Destination: &types.Destination{ToAddresses: []string{"b@example.test"}},
			Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("x")}, Body: &types.Body{Text: &types.Content{Data: aws.String("y")}},
				Headers: []types.MessageHeader{{Name: aws.String("X-Custom"), Value: aws.String("a\r\nBcc: victim@example.org")}}}},
		})
		if apitest.Code(err) != "BadRequestException" {
			t.Fatalf("header injection: %v", err)
		}
		// A raw message without a From header, or with two: BadRequestException
		// (not the nodemailer probe's MessageRejected).
		for _, raw := range []string{"To: c@example.test\r\n\r\nbody\r\n", "From: a@example.test\r\nFrom: a@example.test\r\nTo: c@example.test\r\n\r\nbody\r\n"} {
			env.Clock.Advance(2 * time.Second)
			_, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}})
			if apitest.Code(err) != "BadRequestException" {
				t.Fatalf("raw %q: %v", raw, err)
			}
		}
		a, _ := env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
		if a.SendQuota.SentLast24Hours != 2 {
			t.Fatalf("SentLast24Hours = %v", a.SendQuota.SentLast24Hours)
		}
	})
}
