package sesv2_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestSendTagLimits: SES's limits on message tags, in EmailTags and in a raw
// message's X-SES-MESSAGE-TAGS header: 50 tags are taken, 51 are refused,
// as are a repeated name and an oversize value, with BadRequestException
// naming the field and the rule, and nothing queued.
func TestSendTagLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
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
		header := func(tt []types.MessageTag) string {
			var l []string
			for _, t := range tt {
				l = append(l, *t.Name+"="+*t.Value)
			}
			return strings.Join(l, ", ")
		}
		queued := func() int {
			var n int
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM messages`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		send := func(api bool, tt []types.MessageTag) error {
			env.Clock.Advance(2 * time.Second) // the sandbox rate is one message a second
			raw := "From: a@example.test\r\nTo: b@example.test\r\nSubject: tags\r\n"
			in := &sesv2.SendEmailInput{}
			if api {
				in.EmailTags = tt
			} else {
				raw += "X-SES-MESSAGE-TAGS: " + header(tt) + "\r\n"
			}
			in.Content = &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw + "\r\nbody\r\n")}}
			_, err := env.V2.SendEmail(ctx, in)
			return err
		}
		dup := append(tags(2), types.MessageTag{Name: aws.String("t0"), Value: aws.String("again")})
		long := append(tags(1), types.MessageTag{Name: aws.String("big"), Value: aws.String(strings.Repeat("x", 256))})
		for _, where := range []struct {
			api   bool
			field string
		}{{true, "EmailTags"}, {false, "X-SES-MESSAGE-TAGS"}} {
			before := queued()
			if err := send(where.api, tags(50)); err != nil {
				t.Fatalf("%s: 50 tags: %v", where.field, err)
			}
			if queued() != before+1 {
				t.Fatalf("%s: 50 tags not queued", where.field)
			}
			for _, c := range []struct {
				name string
				tags []types.MessageTag
				want []string // in the message
			}{
				{"51 tags", tags(51), []string{where.field, "51 tags", "at most 50"}},
				{"duplicate name", dup, []string{where.field, "t0", "more than once"}},
				{"oversize value", long, []string{"cannot exceed 255 characters"}},
			} {
				err := send(where.api, c.tags)
				if apitest.Code(err) != "BadRequestException" {
					t.Fatalf("%s: %s: %v", where.field, c.name, err)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %s: error %q does not say %q", where.field, c.name, err, w)
					}
				}
			}
			if queued() != before+1 {
				t.Fatalf("%s: a refused message was queued", where.field)
			}
		}
	})
}
