package sesv2_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTrackingOptionsV2: TrackingOptions on CreateConfigurationSet and
// PutConfigurationSetTrackingOptions through the SDK: a verified domain
// only, SES's HttpsPolicy values, an empty Put clears, another account's
// set is NotFound.
func TestTrackingOptionsV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		for _, n := range []string{"example.test", "pending.test"} {
			if _, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(n)}); err != nil {
				t.Fatal(err)
			}
		}
		env.MarkVerified(t, "example.test")

		if _, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("news"),
			TrackingOptions: &types.TrackingOptions{CustomRedirectDomain: aws.String("click.example.test"), HttpsPolicy: types.HttpsPolicyRequire}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("news")})
		if err != nil {
			t.Fatal(err)
		}
		if got.TrackingOptions == nil || aws.ToString(got.TrackingOptions.CustomRedirectDomain) != "click.example.test" || got.TrackingOptions.HttpsPolicy != types.HttpsPolicyRequire {
			t.Fatalf("TrackingOptions = %+v", got.TrackingOptions)
		}

		for name, in := range map[string]*sesv2.PutConfigurationSetTrackingOptionsInput{
			"unverified domain": {CustomRedirectDomain: aws.String("click.pending.test")},
			"unknown domain":    {CustomRedirectDomain: aws.String("elsewhere.test")},
			"not a domain":      {CustomRedirectDomain: aws.String("click.example.test:443")},
			"bad policy":        {CustomRedirectDomain: aws.String("click.example.test"), HttpsPolicy: "ALWAYS"},
		} {
			in.ConfigurationSetName = aws.String("news")
			if _, err := c.PutConfigurationSetTrackingOptions(ctx, in); apitest.Code(err) != "BadRequestException" {
				t.Errorf("%s: %v, want BadRequestException", name, err)
			}
		}
		if _, err := c.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("news"),
			CustomRedirectDomain: aws.String("example.test"), HttpsPolicy: types.HttpsPolicyRequireOpenOnly}); err != nil {
			t.Fatal(err)
		}
		got, _ = c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("news")})
		if got.TrackingOptions == nil || aws.ToString(got.TrackingOptions.CustomRedirectDomain) != "example.test" || got.TrackingOptions.HttpsPolicy != types.HttpsPolicyRequireOpenOnly {
			t.Fatalf("after Put TrackingOptions = %+v", got.TrackingOptions)
		}

		// Another account: NotFound, and a's options unchanged.
		_, _, other := env.Other(t, "other")
		if _, err := other.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("news")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account's Put: %v, want NotFoundException", err)
		}
		if _, err := other.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("news")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account's Get: %v, want NotFoundException", err)
		}

		// An empty Put clears.
		if _, err := c.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("news")}); err != nil {
			t.Fatal(err)
		}
		got, _ = c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("news")})
		if got.TrackingOptions != nil {
			t.Errorf("after an empty Put TrackingOptions = %+v", got.TrackingOptions)
		}
	})
}
