package sesv2_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestConfigurationSetsV2: the set operations through the SDK's sesv2
// client, with SES's codes, the options Sesame refuses, and isolation.
func TestConfigurationSetsV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{
			ConfigurationSetName: aws.String("marketing"),
			SendingOptions:       &types.SendingOptions{SendingEnabled: true},
			ReputationOptions:    &types.ReputationOptions{ReputationMetricsEnabled: true},
			DeliveryOptions:      &types.DeliveryOptions{TlsPolicy: types.TlsPolicyRequire, MaxDeliverySeconds: aws.Int64(600)},
			SuppressionOptions:   &types.SuppressionOptions{SuppressedReasons: []types.SuppressionListReason{types.SuppressionListReasonBounce}},
			Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("growth")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("marketing")})
		if err != nil {
			t.Fatal(err)
		}
		if *got.ConfigurationSetName != "marketing" || !got.SendingOptions.SendingEnabled || !got.ReputationOptions.ReputationMetricsEnabled ||
			got.DeliveryOptions.TlsPolicy != types.TlsPolicyRequire || *got.DeliveryOptions.MaxDeliverySeconds != 600 ||
			!slices.Equal(got.SuppressionOptions.SuppressedReasons, []types.SuppressionListReason{types.SuppressionListReasonBounce}) ||
			len(got.Tags) != 1 || *got.Tags[0].Value != "growth" {
			t.Fatalf("GetConfigurationSet = %+v", got)
		}
		// A plain set: blocks not set are absent.
		if _, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("plain")}); err != nil {
			t.Fatal(err)
		}
		plain, err := c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("plain")})
		if err != nil || plain.SuppressionOptions != nil || plain.DeliveryOptions != nil || !plain.SendingOptions.SendingEnabled || plain.ReputationOptions.ReputationMetricsEnabled {
			t.Fatalf("plain set = %+v, %v", plain, err)
		}
		// SendingOptions{SendingEnabled: false}: the SDKs leave a false
		// out ("SendingOptions":{}), and the set is created paused, as
		// PutConfigurationSetSendingOptions takes an absent member.
		if _, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("paused"),
			SendingOptions: &types.SendingOptions{SendingEnabled: false}}); err != nil {
			t.Fatal(err)
		}
		paused, err := c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("paused")})
		if err != nil || paused.SendingOptions.SendingEnabled {
			t.Fatalf("set created with SendingEnabled false = %+v, %v", paused, err)
		}
		if _, err := c.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("paused")}); err != nil {
			t.Fatal(err)
		}

		// Errors.
		for name, c := range map[string]struct {
			err  error
			code string
		}{
			"duplicate": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("plain")})
				return err
			}(), "AlreadyExistsException"},
			"bad name": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("no.dots")})
				return err
			}(), "BadRequestException"},
			"tracking": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("t1"), TrackingOptions: &types.TrackingOptions{CustomRedirectDomain: aws.String("r.example.com")}})
				return err
			}(), "BadRequestException"},
			"vdm": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("t2"), VdmOptions: &types.VdmOptions{}})
				return err
			}(), "BadRequestException"},
			"archiving": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("t3"), ArchivingOptions: &types.ArchivingOptions{ArchiveArn: aws.String("arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-1234567")}})
				return err
			}(), "BadRequestException"},
			"sending pool": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("t4"), DeliveryOptions: &types.DeliveryOptions{SendingPoolName: aws.String("pool1")}})
				return err
			}(), "NotFoundException"},
			"validation options": {func() error {
				_, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("t5"), SuppressionOptions: &types.SuppressionOptions{
					ValidationOptions: &types.SuppressionValidationOptions{ConditionThreshold: &types.SuppressionConditionThreshold{ConditionThresholdEnabled: types.FeatureStatusEnabled}}}})
				return err
			}(), "BadRequestException"},
			"max delivery seconds": {func() error {
				_, err := c.PutConfigurationSetDeliveryOptions(ctx, &sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("plain"), MaxDeliverySeconds: aws.Int64(100)})
				return err
			}(), "BadRequestException"},
			"get unknown": {func() error {
				_, err := c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("nope")})
				return err
			}(), "NotFoundException"},
			"put tracking": {func() error {
				_, err := c.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("plain"), CustomRedirectDomain: aws.String("r.example.com")})
				return err
			}(), "BadRequestException"},
		} {
			if got := apitest.Code(c.err); got != c.code {
				t.Errorf("%s: %s (%v), want %s", name, got, c.err, c.code)
			}
		}
		for _, n := range []string{"t1", "t2", "t3", "t4", "t5"} {
			if _, err := env.ConfigSets.Get(ctx, env.Account.ID, n); err == nil {
				t.Errorf("refused set %s was stored", n)
			}
		}

		// Put*.
		if _, err := c.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: aws.String("plain"), SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutConfigurationSetReputationOptions(ctx, &sesv2.PutConfigurationSetReputationOptionsInput{ConfigurationSetName: aws.String("plain"), ReputationMetricsEnabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutConfigurationSetSuppressionOptions(ctx, &sesv2.PutConfigurationSetSuppressionOptionsInput{ConfigurationSetName: aws.String("plain"),
			SuppressedReasons: []types.SuppressionListReason{types.SuppressionListReasonComplaint}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutConfigurationSetDeliveryOptions(ctx, &sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("plain"), TlsPolicy: types.TlsPolicyOptional, MaxDeliverySeconds: aws.Int64(300)}); err != nil {
			t.Fatal(err)
		}
		plain, _ = c.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("plain")})
		if plain.SendingOptions.SendingEnabled || !plain.ReputationOptions.ReputationMetricsEnabled || plain.SuppressionOptions.SuppressedReasons[0] != types.SuppressionListReasonComplaint ||
			plain.DeliveryOptions.TlsPolicy != types.TlsPolicyOptional || *plain.DeliveryOptions.MaxDeliverySeconds != 300 {
			t.Fatalf("after Put*: %+v", plain)
		}

		// Paging: 2 sets, page size 1.
		p1, err := c.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{PageSize: aws.Int32(1)})
		if err != nil || !slices.Equal(p1.ConfigurationSets, []string{"marketing"}) || p1.NextToken == nil {
			t.Fatalf("page 1: %+v, %v", p1, err)
		}
		p2, err := c.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{PageSize: aws.Int32(1), NextToken: p1.NextToken})
		if err != nil || !slices.Equal(p2.ConfigurationSets, []string{"plain"}) || p2.NextToken != nil {
			t.Fatalf("page 2: %+v, %v", p2, err)
		}
		if _, err := c.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{NextToken: aws.String("bogus!")}); apitest.Code(err) != "BadRequestException" {
			t.Fatalf("bad token: %v", err)
		}

		// Tags on the set's ARN.
		arn := fmt.Sprintf("arn:aws:ses:%s:%s:configuration-set/marketing", apitest.Region, env.Account.ID)
		if _, err := c.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
			t.Fatal(err)
		}
		tags, err := c.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Key != "env" {
			t.Fatalf("tags: %+v, %v", tags, err)
		}

		// Isolation: another account sees none of it.
		_, _, other := env.Other(t, "other")
		if _, err := other.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("marketing")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account Get: %v", err)
		}
		if out, err := other.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{}); err != nil || len(out.ConfigurationSets) != 0 {
			t.Fatalf("other account List: %+v, %v", out, err)
		}
		if _, err := other.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("marketing")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account Delete: %v", err)
		}
		if _, err := other.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: aws.String("marketing")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account Put: %v", err)
		}
		if _, err := other.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account tags: %v", err)
		}

		// Delete.
		if _, err := c.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("marketing")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("marketing")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("second delete: %v", err)
		}
	})
}

// TestEventDestinationsV2: create, get, update and delete destinations;
// SNS topics must be the account's; unsupported kinds are refused.
func TestEventDestinationsV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		if _, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil {
			t.Fatal(err)
		}
		topic := env.Topic(env.Account.ID, "events")
		create := func(name string, def types.EventDestinationDefinition) error {
			_, err := c.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
				ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String(name), EventDestination: &def})
			return err
		}
		if err := create("sns", types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: []types.EventType{types.EventTypeBounce, types.EventTypeComplaint},
			SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}}); err != nil {
			t.Fatal(err)
		}
		if v := env.ValidatedTopics(); !slices.Equal(v, []string{env.Account.ID + " " + topic}) {
			t.Fatalf("validation message: %v", v)
		}
		if err := create("cw", types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: []types.EventType{types.EventTypeSend, types.EventTypeDelivery, types.EventTypeDeliveryDelay},
			CloudWatchDestination: &types.CloudWatchDestination{DimensionConfigurations: []types.CloudWatchDimensionConfiguration{{
				DimensionName: aws.String("ses:from-domain"), DimensionValueSource: types.DimensionValueSourceMessageTag, DefaultDimensionValue: aws.String("example.com")}}}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("cs")})
		if err != nil || len(out.EventDestinations) != 2 {
			t.Fatalf("Get = %+v, %v", out, err)
		}
		cw, sns := out.EventDestinations[0], out.EventDestinations[1]
		if *cw.Name != "cw" || !cw.Enabled || cw.SnsDestination != nil || *cw.CloudWatchDestination.DimensionConfigurations[0].DimensionName != "ses:from-domain" ||
			cw.CloudWatchDestination.DimensionConfigurations[0].DimensionValueSource != types.DimensionValueSourceMessageTag ||
			!slices.Equal(cw.MatchingEventTypes, []types.EventType{types.EventTypeSend, types.EventTypeDelivery, types.EventTypeDeliveryDelay}) {
			t.Fatalf("CloudWatch destination: %+v", cw)
		}
		if *sns.Name != "sns" || *sns.SnsDestination.TopicArn != topic || sns.CloudWatchDestination != nil {
			t.Fatalf("SNS destination: %+v", sns)
		}

		otherAcct, _, other := env.Other(t, "other")
		theirs := env.Topic(otherAcct.ID, "theirs")
		for name, c := range map[string]struct {
			def  types.EventDestinationDefinition
			code string
			msg  string
		}{
			"missing topic": {types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, SnsDestination: &types.SnsDestination{TopicArn: aws.String("arn:aws:sns:us-east-1:" + env.Account.ID + ":gone")}},
				"BadRequestException", "SNS topic arn:aws:sns:us-east-1:" + env.Account.ID + ":gone not found."},
			"another account's topic": {types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, SnsDestination: &types.SnsDestination{TopicArn: aws.String(theirs)}},
				"BadRequestException", "not found"},
			"eventbridge": {types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, EventBridgeDestination: &types.EventBridgeDestination{EventBusArn: aws.String("arn:aws:events:us-east-1:123456789012:event-bus/default")}},
				"BadRequestException", "EventBridgeDestination is not supported"},
			"firehose": {types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, KinesisFirehoseDestination: &types.KinesisFirehoseDestination{IamRoleArn: aws.String("r"), DeliveryStreamArn: aws.String("s")}},
				"BadRequestException", "SnsDestination (its SNS-compatible topics) and CloudWatchDestination"},
			"pinpoint": {types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, PinpointDestination: &types.PinpointDestination{ApplicationArn: aws.String("a")}},
				"BadRequestException", "PinpointDestination"},
			"no types": {types.EventDestinationDefinition{SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}}, "BadRequestException", "MatchingEventTypes"},
			"no kind":  {types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}}, "BadRequestException", "exactly one destination"},
		} {
			err := create("bad", c.def)
			if apitest.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: %v, want %s with %q", name, err, c.code, c.msg)
			}
		}
		if err := create("sns", types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}}); apitest.Code(err) != "AlreadyExistsException" {
			t.Fatalf("duplicate: %v", err)
		}
		if _, err := c.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("nope"), EventDestinationName: aws.String("x"),
			EventDestination: &types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}}}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("unknown set: %v", err)
		}

		// Update: the CloudWatch destination becomes an SNS one, disabled.
		if _, err := c.UpdateConfigurationSetEventDestination(ctx, &sesv2.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("cw"),
			EventDestination: &types.EventDestinationDefinition{Enabled: false, MatchingEventTypes: []types.EventType{types.EventTypeReject}, SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}}}); err != nil {
			t.Fatal(err)
		}
		out, _ = c.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("cs")})
		if cw := out.EventDestinations[0]; cw.Enabled || cw.CloudWatchDestination != nil || *cw.SnsDestination.TopicArn != topic || cw.MatchingEventTypes[0] != types.EventTypeReject {
			t.Fatalf("after update: %+v", cw)
		}
		if _, err := c.UpdateConfigurationSetEventDestination(ctx, &sesv2.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("ghost"),
			EventDestination: &types.EventDestinationDefinition{MatchingEventTypes: []types.EventType{types.EventTypeSend}, SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}}}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("update unknown: %v", err)
		}

		// Isolation.
		if _, err := other.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("cs")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account Get: %v", err)
		}
		if _, err := other.DeleteConfigurationSetEventDestination(ctx, &sesv2.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("sns")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account Delete: %v", err)
		}

		// Delete.
		if _, err := c.DeleteConfigurationSetEventDestination(ctx, &sesv2.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("sns")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteConfigurationSetEventDestination(ctx, &sesv2.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("sns")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("second delete: %v", err)
		}
		out, _ = c.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("cs")})
		if len(out.EventDestinations) != 1 {
			t.Fatalf("after delete: %+v", out.EventDestinations)
		}
	})
}

// TestIdentityDefaultSetV2: PutEmailIdentityConfigurationSetAttributes and
// CreateEmailIdentity's ConfigurationSetName, shown by GetEmailIdentity
// and used by SendEmail; a paused set refuses with SendingPausedException.
func TestIdentityDefaultSetV2(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		if _, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com"), ConfigurationSetName: aws.String("nope")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("create with an unknown set: %v", err)
		}
		if _, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com"), ConfigurationSetName: aws.String("cs")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.com")
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, -1, 1000); err != nil {
			t.Fatal(err)
		}
		if got, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil || aws.ToString(got.ConfigurationSetName) != "cs" {
			t.Fatalf("GetEmailIdentity: %v, %v", got, err)
		}
		send := func() error {
			_, err := c.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("a@example.com"), Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hi")}, Body: &types.Body{Text: &types.Content{Data: aws.String("Hi")}}}}})
			return err
		}
		if err := send(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: aws.String("cs"), SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if err := send(); apitest.Code(err) != "SendingPausedException" || !strings.Contains(err.Error(), "Sending is paused for this configuration set.") {
			t.Fatalf("paused set: %v", err)
		}
		// Cleared, the paused set no longer applies.
		if _, err := c.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{EmailIdentity: aws.String("example.com")}); err != nil {
			t.Fatal(err)
		}
		if err := send(); err != nil {
			t.Fatal(err)
		}
		for name, err := range map[string]error{
			"unknown set": func() error {
				_, err := c.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{EmailIdentity: aws.String("example.com"), ConfigurationSetName: aws.String("nope")})
				return err
			}(),
			"unknown identity": func() error {
				_, err := c.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{EmailIdentity: aws.String("other.example"), ConfigurationSetName: aws.String("cs")})
				return err
			}(),
		} {
			if apitest.Code(err) != "NotFoundException" {
				t.Errorf("%s: %v", name, err)
			}
		}
		// Another account cannot name this account's set.
		_, _, other := env.Other(t, "other")
		if _, err := other.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.org"), ConfigurationSetName: aws.String("cs")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account naming the set: %v", err)
		}
	})
}
