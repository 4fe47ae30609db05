package sesv2_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	v1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestSendTagLimits: SES's limits on message tags, through both APIs (v2
// EmailTags, v1 Tags of SendEmail and SendRawEmail) and a raw message's
// X-SES-MESSAGE-TAGS header: 50 tags are taken; 51, a repeated name and an
// oversize name or value are refused with the API's code
// (BadRequestException, InvalidParameterValue) and a message naming the
// field and the rule, and nothing is queued.
func TestSendTagLimits(t *testing.T) {
	type tag struct{ name, value string }
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		const raw = "From: a@example.test\r\nTo: b@example.test\r\nSubject: tags\r\n"
		withHeader := func(tt []tag) []byte {
			var l []string
			for _, t := range tt {
				l = append(l, t.name+"="+t.value)
			}
			return []byte(raw + "X-SES-MESSAGE-TAGS: " + strings.Join(l, ", ") + "\r\n\r\nbody\r\n")
		}
		v2Tags := func(tt []tag) (out []types.MessageTag) {
			for _, t := range tt {
				out = append(out, types.MessageTag{Name: aws.String(t.name), Value: aws.String(t.value)})
			}
			return out
		}
		v1Tags := func(tt []tag) (out []v1types.MessageTag) {
			for _, t := range tt {
				out = append(out, v1types.MessageTag{Name: aws.String(t.name), Value: aws.String(t.value)})
			}
			return out
		}
		senders := []struct {
			name, field, code string
			send              func(tt []tag) error
		}{
			{"v2 EmailTags", "EmailTags", "BadRequestException", func(tt []tag) error {
				_, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{EmailTags: v2Tags(tt),
					Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw + "\r\nbody\r\n")}}})
				return err
			}},
			{"v2 header", "X-SES-MESSAGE-TAGS", "BadRequestException", func(tt []tag) error {
				_, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: withHeader(tt)}}})
				return err
			}},
			{"v1 SendEmail Tags", "Tags", "InvalidParameterValue", func(tt []tag) error {
				_, err := env.V1.SendEmail(ctx, &ses.SendEmailInput{Source: aws.String("a@example.test"),
					Destination: &v1types.Destination{ToAddresses: []string{"b@example.test"}},
					Message:     &v1types.Message{Subject: &v1types.Content{Data: aws.String("Hi")}, Body: &v1types.Body{Text: &v1types.Content{Data: aws.String("Hello")}}},
					Tags:        v1Tags(tt)})
				return err
			}},
			{"v1 SendRawEmail Tags", "Tags", "InvalidParameterValue", func(tt []tag) error {
				_, err := env.V1.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &v1types.RawMessage{Data: []byte(raw + "\r\nbody\r\n")}, Tags: v1Tags(tt)})
				return err
			}},
			{"v1 header", "X-SES-MESSAGE-TAGS", "InvalidParameterValue", func(tt []tag) error {
				_, err := env.V1.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &v1types.RawMessage{Data: withHeader(tt)}})
				return err
			}},
		}
		tags := func(n int) []tag {
			out := make([]tag, n)
			for i := range out {
				out[i] = tag{fmt.Sprintf("t%d", i), "v"}
			}
			return out
		}
		for _, s := range senders {
			before := env.Queued(t)
			env.Clock.Advance(2 * time.Second) // the sandbox rate is one message a second
			if err := s.send(tags(50)); err != nil {
				t.Fatalf("%s: 50 tags: %v", s.name, err)
			}
			for _, c := range []struct {
				name string
				tags []tag
				want []string // in the message
			}{
				{"51 tags", tags(51), []string{s.field + " has 51 tags", "at most 50"}},
				{"repeated name", append(tags(2), tag{"t1", "again"}), []string{s.field + " gives the tag name t1 more than once"}},
				{"oversize name", append(tags(1), tag{strings.Repeat("n", 256), "v"}), []string{"Tag name cannot exceed 255 characters"}},
				{"oversize value", append(tags(1), tag{"big", strings.Repeat("v", 256)}), []string{"Tag value cannot exceed 255 characters"}},
			} {
				env.Clock.Advance(2 * time.Second)
				err := s.send(c.tags)
				if apitest.Code(err) != s.code {
					t.Fatalf("%s: %s: %v; want %s", s.name, c.name, err, s.code)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %s: error %q does not say %q", s.name, c.name, err, w)
					}
				}
			}
			if got := env.Queued(t) - before; got != 1 {
				t.Fatalf("%s: %d messages queued; want the one with 50 tags", s.name, got)
			}
		}
	})
}
