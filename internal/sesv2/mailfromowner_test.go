package sesv2_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestBorrowedMailFromRefused: an account that verified only an address
// cannot set a MAIL FROM domain under a domain another account has
// verified (InvalidParameterValue / BadRequestException naming
// MailFromDomain, not the other account); under its address's domain that
// nobody verified it can.
func TestBorrowedMailFromRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "a.example")
		env.MarkVerified(t, "a.example")
		b, v1, v2 := env.Other(t, "borrower")
		for _, a := range []string{"bob@a.example", "bob@b.example"} {
			if _, err := v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(a)}); err != nil {
				t.Fatal(err)
			}
			env.MarkVerifiedIn(t, b.ID, a)
			env.Clock.Advance(time.Second)
		}
		_, err := v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("bob@a.example"), MailFromDomain: aws.String("bounce.a.example")})
		refused(t, err, "InvalidParameterValue", http.StatusBadRequest, "Invalid MailFromDomain 'bounce.a.example': the domain a.example, which it equals or lies under, is verified by another account")
		_, err = v2.PutEmailIdentityMailFromAttributes(ctx, &sesv2.PutEmailIdentityMailFromAttributesInput{EmailIdentity: aws.String("bob@a.example"), MailFromDomain: aws.String("bounce.a.example")})
		refused(t, err, "BadRequestException", http.StatusBadRequest, "Invalid MailFromDomain 'bounce.a.example'")
		if strings.Contains(message(err), env.Account.ID) {
			t.Errorf("the refusal names the other account: %s", message(err))
		}
		g, err := v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("bob@a.example")})
		if err != nil || g.MailFromAttributes.MailFromDomain != nil {
			t.Fatalf("after the refusals: %+v, %v", g.MailFromAttributes, err)
		}
		if _, err := v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("bob@b.example"), MailFromDomain: aws.String("bounce.b.example")}); err != nil {
			t.Fatalf("under the address's own domain: %v", err)
		}
	})
}
