package sesv2_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

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
		for _, n := range []string{"example.test", "jane@example.test"} {
			if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(n)}); err != nil {
				t.Fatal(err)
			}
		}
		signing := func(n string) bool {
			t.Helper()
			out, err := env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(n)})
			if err != nil {
				t.Fatal(err)
			}
			return out.DkimAttributes.SigningEnabled
		}
		if !signing("jane@example.test") {
			t.Fatal("address does not sign with its domain's key")
		}
		if _, err := env.V2.PutEmailIdentityDkimAttributes(ctx, &sesv2.PutEmailIdentityDkimAttributesInput{EmailIdentity: aws.String("jane@example.test"), SigningEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if signing("jane@example.test") || !signing("example.test") {
			t.Fatal("turning DKIM off for the address did not show, or changed the domain")
		}
	})
}
