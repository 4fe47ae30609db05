package sesv1_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestAddressDkimSwitch: an address signs with its domain's key unless
// DKIM is turned off for the address itself.
func TestAddressDkimSwitch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if _, err := env.V1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("jane@example.test")}); err != nil {
			t.Fatal(err)
		}
		enabled := func() (addr, dom bool) {
			t.Helper()
			out, err := env.V1.GetIdentityDkimAttributes(ctx, &ses.GetIdentityDkimAttributesInput{Identities: []string{"jane@example.test", "example.test"}})
			if err != nil {
				t.Fatal(err)
			}
			return out.DkimAttributes["jane@example.test"].DkimEnabled, out.DkimAttributes["example.test"].DkimEnabled
		}
		if a, dom := enabled(); !a || !dom {
			t.Fatalf("before: address %v, domain %v; want both on", a, dom)
		}
		if _, err := env.V1.SetIdentityDkimEnabled(ctx, &ses.SetIdentityDkimEnabledInput{Identity: aws.String("jane@example.test"), DkimEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if a, dom := enabled(); a || !dom {
			t.Fatalf("after turning the address off: address %v, domain %v", a, dom)
		}
	})
}
