package sesv1_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestConfigurationSetsV1: the v1 actions through the SDK's ses client,
// with v1's spellings (lower camel event types, SNSDestination.TopicARN)
// and error codes, and isolation between accounts.
func TestConfigurationSetsV1(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V1
		if _, err := c.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &types.ConfigurationSet{Name: aws.String("cs")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &types.ConfigurationSet{Name: aws.String("cs")}}); apitest.Code(err) != "ConfigurationSetAlreadyExists" {
			t.Fatalf("duplicate: %v", err)
		}
		if _, err := c.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &types.ConfigurationSet{Name: aws.String("bad name")}}); apitest.Code(err) != "InvalidConfigurationSet" {
			t.Fatalf("bad name: %v", err)
		}
		topic := env.Topic(env.Account.ID, "events")
		dest := func(name string, mod func(*types.EventDestination)) *types.EventDestination {
			d := &types.EventDestination{Name: aws.String(name), Enabled: true, MatchingEventTypes: []types.EventType{types.EventTypeBounce, types.EventTypeRenderingFailure},
				SNSDestination: &types.SNSDestination{TopicARN: aws.String(topic)}}
			if mod != nil {
				mod(d)
			}
			return d
		}
		create := func(d *types.EventDestination) error {
			_, err := c.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestination: d})
			return err
		}
		if err := create(dest("sns", nil)); err != nil {
			t.Fatal(err)
		}
		if err := create(dest("cw", func(d *types.EventDestination) {
			d.SNSDestination = nil
			d.MatchingEventTypes = []types.EventType{types.EventTypeSend}
			d.CloudWatchDestination = &types.CloudWatchDestination{DimensionConfigurations: []types.CloudWatchDimensionConfiguration{{
				DimensionName: aws.String("ses:from-domain"), DimensionValueSource: types.DimensionValueSourceMessageTag, DefaultDimensionValue: aws.String("example.com")}}}
		})); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			d    *types.EventDestination
			code string
		}{
			"duplicate":     {dest("sns", nil), "EventDestinationAlreadyExists"},
			"missing topic": {dest("x", func(d *types.EventDestination) { d.SNSDestination.TopicARN = aws.String(topic + "-gone") }), "InvalidSNSDestination"},
			"firehose": {dest("x", func(d *types.EventDestination) {
				d.SNSDestination = nil
				d.KinesisFirehoseDestination = &types.KinesisFirehoseDestination{IAMRoleARN: aws.String("r"), DeliveryStreamARN: aws.String("s")}
			}), "InvalidFirehoseDestination"},
			"11 dimensions": {dest("x", func(d *types.EventDestination) {
				d.SNSDestination = nil
				d.CloudWatchDestination = &types.CloudWatchDestination{}
				for i := range 11 {
					d.CloudWatchDestination.DimensionConfigurations = append(d.CloudWatchDestination.DimensionConfigurations, types.CloudWatchDimensionConfiguration{
						DimensionName: aws.String(strings.Repeat("d", i+1)), DimensionValueSource: types.DimensionValueSourceEmailHeader, DefaultDimensionValue: aws.String("v")})
				}
			}), "InvalidCloudWatchDestination"},
		} {
			if err := create(c.d); apitest.Code(err) != c.code {
				t.Errorf("%s: %v, want %s", name, err, c.code)
			}
		}
		if err := create(dest("x", func(d *types.EventDestination) { d.SNSDestination.TopicARN = aws.String(topic + "-gone") })); err == nil || !strings.Contains(err.Error(), "SNS topic "+topic+"-gone not found.") {
			t.Errorf("missing topic message: %v", err)
		}

		// Describe: lower camel event types, SNSDestination.TopicARN.
		if _, err := c.PutConfigurationSetDeliveryOptions(ctx, &ses.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("cs"), DeliveryOptions: &types.DeliveryOptions{TlsPolicy: types.TlsPolicyRequire}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateConfigurationSetReputationMetricsEnabled(ctx, &ses.UpdateConfigurationSetReputationMetricsEnabledInput{ConfigurationSetName: aws.String("cs"), Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateConfigurationSetSendingEnabled(ctx, &ses.UpdateConfigurationSetSendingEnabledInput{ConfigurationSetName: aws.String("cs"), Enabled: false}); err != nil {
			t.Fatal(err)
		}
		out, err := c.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs"),
			ConfigurationSetAttributeNames: []types.ConfigurationSetAttribute{types.ConfigurationSetAttributeEventDestinations, types.ConfigurationSetAttributeDeliveryOptions, types.ConfigurationSetAttributeReputationOptions}})
		if err != nil {
			t.Fatal(err)
		}
		if *out.ConfigurationSet.Name != "cs" || len(out.EventDestinations) != 2 || out.DeliveryOptions.TlsPolicy != types.TlsPolicyRequire ||
			out.ReputationOptions.SendingEnabled || !out.ReputationOptions.ReputationMetricsEnabled {
			t.Fatalf("Describe = %+v", out)
		}
		cw, sns := out.EventDestinations[0], out.EventDestinations[1]
		if !slices.Equal(sns.MatchingEventTypes, []types.EventType{"bounce", "renderingFailure"}) || *sns.SNSDestination.TopicARN != topic || !sns.Enabled {
			t.Fatalf("SNS destination: %+v", sns)
		}
		if cw.CloudWatchDestination.DimensionConfigurations[0].DimensionValueSource != "messageTag" || *cw.CloudWatchDestination.DimensionConfigurations[0].DimensionName != "ses:from-domain" {
			t.Fatalf("CloudWatch destination: %+v", cw)
		}
		// Without attribute names: the name only.
		if out, err := c.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil || out.EventDestinations != nil || out.DeliveryOptions != nil {
			t.Fatalf("Describe without attributes: %+v, %v", out, err)
		}

		// Update and delete destinations.
		if _, err := c.UpdateConfigurationSetEventDestination(ctx, &ses.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"),
			EventDestination: dest("ghost", nil)}); apitest.Code(err) != "EventDestinationDoesNotExist" {
			t.Fatalf("update unknown: %v", err)
		}
		if _, err := c.UpdateConfigurationSetEventDestination(ctx, &ses.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"),
			EventDestination: dest("sns", func(d *types.EventDestination) { d.MatchingEventTypes = []types.EventType{types.EventTypeDelivery} })}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteConfigurationSetEventDestination(ctx, &ses.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("ghost")}); apitest.Code(err) != "EventDestinationDoesNotExist" ||
			!strings.Contains(err.Error(), "No EventDestination found for ghost") {
			t.Fatalf("delete unknown: %v", err)
		}
		if _, err := c.DeleteConfigurationSetEventDestination(ctx, &ses.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs"), EventDestinationName: aws.String("cw")}); err != nil {
			t.Fatal(err)
		}

		// A paused set refuses sends with v1's code.
		if _, err := c.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("example.com")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.com")
		_, err = c.SendEmail(ctx, &ses.SendEmailInput{Source: aws.String("a@example.com"), Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
			Message: &types.Message{Subject: &types.Content{Data: aws.String("Hi")}, Body: &types.Body{Text: &types.Content{Data: aws.String("Hi")}}}, ConfigurationSetName: aws.String("cs")})
		if apitest.Code(err) != "ConfigurationSetSendingPausedException" {
			t.Fatalf("send through a paused set: %v", err)
		}

		// Isolation.
		_, other, _ := env.Other(t, "other")
		if _, err := other.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); apitest.Code(err) != "ConfigurationSetDoesNotExist" {
			t.Fatalf("other account Describe: %v", err)
		}
		if _, err := other.DeleteConfigurationSet(ctx, &ses.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); apitest.Code(err) != "ConfigurationSetDoesNotExist" {
			t.Fatalf("other account Delete: %v", err)
		}
		if out, err := other.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{}); err != nil || len(out.ConfigurationSets) != 0 {
			t.Fatalf("other account List: %+v, %v", out, err)
		}

		// List with paging, then delete.
		if _, err := c.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &types.ConfigurationSet{Name: aws.String("cs2")}}); err != nil {
			t.Fatal(err)
		}
		l1, err := c.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{MaxItems: aws.Int32(1)})
		if err != nil || len(l1.ConfigurationSets) != 1 || *l1.ConfigurationSets[0].Name != "cs" || l1.NextToken == nil {
			t.Fatalf("page 1: %+v, %v", l1, err)
		}
		l2, err := c.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{MaxItems: aws.Int32(1), NextToken: l1.NextToken})
		if err != nil || len(l2.ConfigurationSets) != 1 || *l2.ConfigurationSets[0].Name != "cs2" || l2.NextToken != nil {
			t.Fatalf("page 2: %+v, %v", l2, err)
		}
		if _, err := c.DeleteConfigurationSet(ctx, &ses.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteConfigurationSet(ctx, &ses.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); apitest.Code(err) != "ConfigurationSetDoesNotExist" ||
			!strings.Contains(err.Error(), "Configuration set cs does not exist.") {
			t.Fatalf("second delete: %v", err)
		}
	})
}
