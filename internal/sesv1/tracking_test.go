package sesv1_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTrackingOptionsV1: Create/Update/Delete
// ConfigurationSetTrackingOptions with v1's error codes, and
// DescribeConfigurationSet's trackingOptions.
func TestTrackingOptionsV1(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V1
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		if _, err := c.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &types.ConfigurationSet{Name: aws.String("cs")}}); err != nil {
			t.Fatal(err)
		}
		opts := func(domain string) *types.TrackingOptions {
			return &types.TrackingOptions{CustomRedirectDomain: aws.String(domain)}
		}
		describe := func() *types.TrackingOptions {
			t.Helper()
			out, err := c.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs"),
				ConfigurationSetAttributeNames: []types.ConfigurationSetAttribute{types.ConfigurationSetAttributeTrackingOptions}})
			if err != nil {
				t.Fatal(err)
			}
			return out.TrackingOptions
		}
		if describe() != nil {
			t.Fatal("a new set has trackingOptions")
		}
		code := func(err error, want string) {
			t.Helper()
			if got := apitest.Code(err); got != want {
				t.Errorf("%v, want %s", err, want)
			}
		}
		_, err := c.UpdateConfigurationSetTrackingOptions(ctx, &ses.UpdateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs"), TrackingOptions: opts("example.test")})
		code(err, "TrackingOptionsDoesNotExistException")
		_, err = c.DeleteConfigurationSetTrackingOptions(ctx, &ses.DeleteConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs")})
		code(err, "TrackingOptionsDoesNotExistException")
		_, err = c.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs"), TrackingOptions: opts("not verified.test")})
		code(err, "InvalidTrackingOptions")
		_, err = c.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs"), TrackingOptions: opts("other.test")})
		code(err, "InvalidTrackingOptions")
		_, err = c.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("nope"), TrackingOptions: opts("example.test")})
		code(err, "ConfigurationSetDoesNotExist")
		if describe() != nil {
			t.Fatal("refused calls stored trackingOptions")
		}

		if _, err := c.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs"), TrackingOptions: opts("t.example.test")}); err != nil {
			t.Fatal(err)
		}
		if got := describe(); got == nil || aws.ToString(got.CustomRedirectDomain) != "t.example.test" {
			t.Fatalf("trackingOptions = %+v", got)
		}
		_, err = c.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs"), TrackingOptions: opts("example.test")})
		code(err, "TrackingOptionsAlreadyExistsException")
		if _, err := c.UpdateConfigurationSetTrackingOptions(ctx, &ses.UpdateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs"), TrackingOptions: opts("example.test")}); err != nil {
			t.Fatal(err)
		}
		if got := describe(); got == nil || aws.ToString(got.CustomRedirectDomain) != "example.test" {
			t.Fatalf("after Update trackingOptions = %+v", got)
		}

		// Another account's set does not exist for it.
		_, otherV1, _ := env.Other(t, "other")
		_, err = otherV1.DeleteConfigurationSetTrackingOptions(ctx, &ses.DeleteConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs")})
		code(err, "ConfigurationSetDoesNotExist")

		if _, err := c.DeleteConfigurationSetTrackingOptions(ctx, &ses.DeleteConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs")}); err != nil {
			t.Fatal(err)
		}
		if describe() != nil {
			t.Error("trackingOptions after Delete")
		}
	})
}
