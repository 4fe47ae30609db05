package sesv1_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestSendTagLimits: SES's limits on message tags, in Tags (SendEmail and
// SendRawEmail) and in a raw message's X-SES-MESSAGE-TAGS header: 50 tags
// are taken, 51 are refused, as are a repeated name and an oversize value,
// with InvalidParameterValue naming the field and the rule, and nothing
// queued.
func TestSendTagLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if _, err := env.V1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		tags := func(n int) []types.MessageTag {
			out := make([]types.MessageTag, n)
			for i := range out {
				out[i] = types.MessageTag{Name: aws.String(fmt.Sprintf("t%d", i)), Value: aws.String("v")}
			}
			return out
		}
		queued := func() int {
			var n int
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM messages`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		const raw = "From: a@example.test\r\nTo: b@example.test\r\nSubject: tags\r\n"
		senders := []struct {
			name, field string
			send        func(tt []types.MessageTag) error
		}{
			{"SendEmail", "Tags", func(tt []types.MessageTag) error {
				_, err := env.V1.SendEmail(ctx, &ses.SendEmailInput{Source: aws.String("a@example.test"),
					Destination: &types.Destination{ToAddresses: []string{"b@example.test"}},
					Message:     &types.Message{Subject: &types.Content{Data: aws.String("Hi")}, Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}},
					Tags:        tt})
				return err
			}},
			{"SendRawEmail", "Tags", func(tt []types.MessageTag) error {
				_, err := env.V1.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &types.RawMessage{Data: []byte(raw + "\r\nbody\r\n")}, Tags: tt})
				return err
			}},
			{"SendRawEmail header", "X-SES-MESSAGE-TAGS", func(tt []types.MessageTag) error {
				var l []string
				for _, t := range tt {
					l = append(l, *t.Name+"="+*t.Value)
				}
				data := raw + "X-SES-MESSAGE-TAGS: " + strings.Join(l, ", ") + "\r\n\r\nbody\r\n"
				_, err := env.V1.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &types.RawMessage{Data: []byte(data)}})
				return err
			}},
		}
		dup := append(tags(2), types.MessageTag{Name: aws.String("t1"), Value: aws.String("again")})
		long := append(tags(1), types.MessageTag{Name: aws.String(strings.Repeat("n", 256)), Value: aws.String("v")})
		for _, s := range senders {
			before := queued()
			env.Clock.Advance(2 * time.Second) // the sandbox rate is one message a second
			if err := s.send(tags(50)); err != nil {
				t.Fatalf("%s: 50 tags: %v", s.name, err)
			}
			for _, c := range []struct {
				name string
				tags []types.MessageTag
				want []string // in the message
			}{
				{"51 tags", tags(51), []string{s.field, "51 tags", "at most 50"}},
				{"duplicate name", dup, []string{s.field, "t1", "more than once"}},
				{"oversize name", long, []string{"cannot exceed 255 characters"}},
			} {
				env.Clock.Advance(2 * time.Second)
				err := s.send(c.tags)
				if apitest.Code(err) != "InvalidParameterValue" {
					t.Fatalf("%s: %s: %v", s.name, c.name, err)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %s: error %q does not say %q", s.name, c.name, err, w)
					}
				}
			}
			if queued() != before+1 {
				t.Fatalf("%s: %d messages queued, want the one with 50 tags", s.name, queued()-before)
			}
		}
	})
}
