package sesv1_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sesame-email/sesame/internal/apitest"
)

var cmpIgnoreNotificationSerde = cmpopts.IgnoreUnexported(types.IdentityNotificationAttributes{})

func notificationAttrs(t *testing.T, c *ses.Client, names ...string) map[string]types.IdentityNotificationAttributes {
	t.Helper()
	out, err := c.GetIdentityNotificationAttributes(t.Context(), &ses.GetIdentityNotificationAttributesInput{Identities: names})
	if err != nil {
		t.Fatalf("GetIdentityNotificationAttributes: %v", err)
	}
	return out.NotificationAttributes
}

// notifications is what GetIdentityNotificationAttributes reports for an
// identity without topics (nil, as the SDK leaves omitted members) or
// headers, forwarding as set.
func notifications(forwarding bool) types.IdentityNotificationAttributes {
	return types.IdentityNotificationAttributes{ForwardingEnabled: forwarding}
}

// version is the identity's version: every stored change bumps it.
func version(t *testing.T, env *apitest.Env, name string) int64 {
	t.Helper()
	i, err := env.Identities.Get(t.Context(), env.Account.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return i.Version
}

func TestFeedbackForwarding(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "fwd.example")
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("me@fwd.example")}); err != nil {
			t.Fatal(err)
		}
		setForwarding := func(c *ses.Client, name string, on bool) error {
			_, err := c.SetIdentityFeedbackForwardingEnabled(ctx, &ses.SetIdentityFeedbackForwardingEnabledInput{Identity: aws.String(name), ForwardingEnabled: on})
			return err
		}

		// On by default; the SDK accepts the omitted (model-required) topics.
		got := notificationAttrs(t, env.V1, "fwd.example", "me@fwd.example")
		want := map[string]types.IdentityNotificationAttributes{"fwd.example": notifications(true), "me@fwd.example": notifications(true)}
		if diff := cmp.Diff(want, got, cmpIgnoreNotificationSerde); diff != "" {
			t.Errorf("defaults (-want +got):\n%s", diff)
		}

		// Off without any SNS topic: SES would refuse, Sesame allows it.
		for _, on := range []bool{false, false, true, false} {
			if err := setForwarding(env.V1, "fwd.example", on); err != nil {
				t.Fatalf("SetIdentityFeedbackForwardingEnabled(%v): %v", on, err)
			}
			got := notificationAttrs(t, env.V1, "fwd.example", "me@fwd.example")
			want := map[string]types.IdentityNotificationAttributes{"fwd.example": notifications(on), "me@fwd.example": notifications(true)}
			if diff := cmp.Diff(want, got, cmpIgnoreNotificationSerde); diff != "" {
				t.Errorf("after SetIdentityFeedbackForwardingEnabled(%v) (-want +got):\n%s", on, diff)
			}
		}
		// The name is normalised like everywhere else.
		if err := setForwarding(env.V1, "me@FWD.example", false); err != nil {
			t.Fatal(err)
		}
		if g := notificationAttrs(t, env.V1, "me@fwd.example")["me@fwd.example"]; g.ForwardingEnabled {
			t.Errorf("address forwarding still on: %+v", g)
		}

		wantAPIError(t, setForwarding(env.V1, "nope.example", false), "InvalidParameterValue", "Identity nope.example does not exist.")
		wantAPIError(t, setForwarding(env.V1, "bad..example", false), "InvalidParameterValue")

		// Another account neither sees nor changes it.
		_, other, _ := env.Other(t, "other")
		wantAPIError(t, setForwarding(other, "fwd.example", true), "InvalidParameterValue", "Identity fwd.example does not exist.")
		if got := notificationAttrs(t, other, "fwd.example"); len(got) != 0 {
			t.Errorf("the other account reads notification attributes %v", got)
		}
		if g := notificationAttrs(t, env.V1, "fwd.example")["fwd.example"]; g.ForwardingEnabled {
			t.Errorf("the other account's call turned forwarding on: %+v", g)
		}

		// ForwardingEnabled is required and boolean.
		before := version(t, env, "fwd.example")
		resp, body := rawCall(t, env, http.MethodPost, url.Values{"Action": {"SetIdentityFeedbackForwardingEnabled"}, "Identity": {"fwd.example"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value null at 'forwardingEnabled' failed to satisfy constraint: Member must not be null")
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"SetIdentityFeedbackForwardingEnabled"}, "Identity": {"fwd.example"}, "ForwardingEnabled": {"yes"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value 'yes' at 'forwardingEnabled' failed to satisfy constraint: Member must be a boolean (true or false)")
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"SetIdentityFeedbackForwardingEnabled"}, "ForwardingEnabled": {"true"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value null at 'identity' failed to satisfy constraint: Member must not be null")
		if v := version(t, env, "fwd.example"); v != before {
			t.Errorf("rejected calls changed the identity: version %d → %d", before, v)
		}
	})
}

func TestGetIdentityNotificationAttributes(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "known.example")
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("me@known.example")}); err != nil {
			t.Fatal(err)
		}
		names := []string{"unknown.example", "known.example", "nobody@known.example", "me@known.example", "not a name", "known.example"}
		got := notificationAttrs(t, env.V1, names...)
		want := map[string]types.IdentityNotificationAttributes{"known.example": notifications(true), "me@known.example": notifications(true)}
		if diff := cmp.Diff(want, got, cmpIgnoreNotificationSerde); diff != "" {
			t.Errorf("unknown identities (-want +got):\n%s", diff)
		}
		if got := notificationAttrs(t, env.V1, []string{}...); len(got) != 0 {
			t.Errorf("no names: %v", got)
		}

		// At most 100 names per call.
		var hundred []string
		for k := range 100 {
			hundred = append(hundred, fmt.Sprintf("d%d.example", k))
		}
		hundred[50] = "known.example"
		if got := notificationAttrs(t, env.V1, hundred...); len(got) != 1 {
			t.Errorf("100 names: %d entries; want 1", len(got))
		}
		_, err := env.V1.GetIdentityNotificationAttributes(ctx, &ses.GetIdentityNotificationAttributesInput{Identities: append(hundred, "one-more.example")})
		wantAPIError(t, err, "InvalidParameterValue", "101")

		// Identities is required.
		resp, body := rawCall(t, env, http.MethodPost, url.Values{"Action": {"GetIdentityNotificationAttributes"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value null at 'identities' failed to satisfy constraint: Member must not be null")

		// On the wire: no topic elements, the flags written out.
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"GetIdentityNotificationAttributes"}, "Identities.member.1": {"known.example"}})
		checkCommonHeaders(t, resp)
		_, paths, text := shape(t, body)
		const r = "GetIdentityNotificationAttributesResponse/GetIdentityNotificationAttributesResult/NotificationAttributes"
		wantPaths := []string{"GetIdentityNotificationAttributesResponse", "GetIdentityNotificationAttributesResponse/GetIdentityNotificationAttributesResult",
			r, r + "/entry", r + "/entry/key", r + "/entry/value",
			r + "/entry/value/ForwardingEnabled",
			r + "/entry/value/HeadersInBounceNotificationsEnabled",
			r + "/entry/value/HeadersInComplaintNotificationsEnabled",
			r + "/entry/value/HeadersInDeliveryNotificationsEnabled",
			"GetIdentityNotificationAttributesResponse/ResponseMetadata", "GetIdentityNotificationAttributesResponse/ResponseMetadata/RequestId"}
		if diff := cmp.Diff(wantPaths, paths); resp.StatusCode != 200 || diff != "" {
			t.Errorf("response shape: %d (-want +got):\n%s\n%s", resp.StatusCode, diff, body)
		}
		wantText := map[string]string{
			r + "/entry/key":                                                       "known.example",
			r + "/entry/value/ForwardingEnabled":                                   "true",
			r + "/entry/value/HeadersInBounceNotificationsEnabled":                 "false",
			r + "/entry/value/HeadersInComplaintNotificationsEnabled":              "false",
			r + "/entry/value/HeadersInDeliveryNotificationsEnabled":               "false",
			"GetIdentityNotificationAttributesResponse/ResponseMetadata/RequestId": resp.Header.Get("x-amzn-RequestId"),
		}
		if diff := cmp.Diff(wantText, text); diff != "" {
			t.Errorf("response text (-want +got):\n%s", diff)
		}
	})
}

func TestSetIdentityNotificationTopic(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "topic.example")
		setTopic := func(c *ses.Client, name string, nt types.NotificationType, topic *string) error {
			_, err := c.SetIdentityNotificationTopic(ctx, &ses.SetIdentityNotificationTopicInput{Identity: aws.String(name), NotificationType: nt, SnsTopic: topic})
			return err
		}
		newTopic := func(c *sns.Client, name string) string {
			out, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
			if err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			return *out.TopicArn
		}
		want := func(w types.IdentityNotificationAttributes) {
			t.Helper()
			got := notificationAttrs(t, env.V1, "topic.example")
			if diff := cmp.Diff(map[string]types.IdentityNotificationAttributes{"topic.example": w}, got, cmpIgnoreNotificationSerde); diff != "" {
				t.Errorf("notification attributes (-want +got):\n%s", diff)
			}
		}
		bounces, complaints := newTopic(env.SNSClient, "bounces"), newTopic(env.SNSClient, "complaints")

		if err := setTopic(env.V1, "topic.example", types.NotificationTypeBounce, aws.String(bounces)); err != nil {
			t.Fatal(err)
		}
		if err := setTopic(env.V1, "Topic.Example", types.NotificationTypeComplaint, aws.String(complaints)); err != nil {
			t.Fatal(err)
		}
		if err := setTopic(env.V1, "topic.example", types.NotificationTypeDelivery, aws.String(bounces)); err != nil {
			t.Fatal(err)
		}
		set := notifications(true)
		set.BounceTopic, set.ComplaintTopic, set.DeliveryTopic = aws.String(bounces), aws.String(complaints), aws.String(bounces)
		want(set)
		// The store's view, as the publisher reads it.
		got, err := env.SNS.IdentityTopics(ctx, env.DB, env.Account.ID, "topic.example")
		if err != nil || got["Bounce"].TopicARN != bounces || got["Complaint"].TopicARN != complaints || len(got) != 3 {
			t.Errorf("IdentityTopics = %v, %v", got, err)
		}

		// A topic the account does not have: refused, nothing changes.
		_, otherKey := env.OtherKey(t, "other")
		otherV1, _ := env.Clients(otherKey.AccessKeyID, otherKey.Secret)
		otherSNS := env.SNSClientFor(otherKey.AccessKeyID, otherKey.Secret)
		foreign := newTopic(otherSNS, "bounces")
		for _, arn := range []string{"arn:aws:sns:us-east-1:" + env.Account.ID + ":nope", foreign, "arn:aws:sns:eu-west-1:" + env.Account.ID + ":bounces", "not an arn"} {
			wantAPIError(t, setTopic(env.V1, "topic.example", types.NotificationTypeBounce, aws.String(arn)), "InvalidParameterValue", "Invalid SNS topic "+arn)
		}
		want(set)
		// Another account neither sees nor changes the identity.
		wantAPIError(t, setTopic(otherV1, "topic.example", types.NotificationTypeBounce, aws.String(foreign)), "InvalidParameterValue",
			"Identity topic.example is invalid. Must be a verified email address or domain.")
		if got := notificationAttrs(t, otherV1, "topic.example"); len(got) != 0 {
			t.Errorf("the other account reads %v", got)
		}
		want(set)

		// Clearing (Terraform's delete): no SnsTopic, or an empty one.
		if err := setTopic(env.V1, "topic.example", types.NotificationTypeBounce, nil); err != nil {
			t.Errorf("clearing: %v", err)
		}
		if err := setTopic(env.V1, "topic.example", types.NotificationTypeDelivery, aws.String("")); err != nil {
			t.Errorf("clearing with an empty SnsTopic: %v", err)
		}
		set.BounceTopic, set.DeliveryTopic = nil, nil
		want(set)

		// Notification type validation comes first.
		for _, bad := range []types.NotificationType{"InvalidType", "bounce", "Open"} {
			err := setTopic(env.V1, "topic.example", bad, nil)
			wantAPIError(t, err, "InvalidParameterValue", fmt.Sprintf("Invalid notification type: %s. Valid values are: Bounce, Complaint, Delivery.", bad))
		}
		resp, body := rawCall(t, env, http.MethodPost, url.Values{"Action": {"SetIdentityNotificationTopic"}, "Identity": {"topic.example"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value null at 'notificationType' failed to satisfy constraint: Member must not be null")

		// An unknown identity: Terraform's delete recognises this wording as
		// "already gone".
		for _, topic := range []*string{nil, aws.String(bounces)} {
			wantAPIError(t, setTopic(env.V1, "unknown.example", types.NotificationTypeBounce, topic), "InvalidParameterValue",
				"Identity unknown.example is invalid. Must be a verified email address or domain.")
		}
		want(set)

		// The topics go with the identity: a new identity of the same name
		// starts with none.
		if _, err := env.V1.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String("topic.example")}); err != nil {
			t.Fatal(err)
		}
		verifyDomain(t, env.V1, "topic.example")
		want(notifications(true))
	})
}

func TestSetIdentityHeadersInNotificationsEnabled(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "headers.example")
		setHeaders := func(name string, nt types.NotificationType, on bool) error {
			_, err := env.V1.SetIdentityHeadersInNotificationsEnabled(ctx, &ses.SetIdentityHeadersInNotificationsEnabledInput{Identity: aws.String(name), NotificationType: nt, Enabled: on})
			return err
		}
		want := func(w types.IdentityNotificationAttributes) {
			t.Helper()
			got := notificationAttrs(t, env.V1, "headers.example")
			if diff := cmp.Diff(map[string]types.IdentityNotificationAttributes{"headers.example": w}, got, cmpIgnoreNotificationSerde); diff != "" {
				t.Errorf("notification attributes (-want +got):\n%s", diff)
			}
		}
		for _, nt := range []types.NotificationType{types.NotificationTypeBounce, types.NotificationTypeComplaint, types.NotificationTypeDelivery} {
			if err := setHeaders("headers.example", nt, false); err != nil {
				t.Errorf("disabling %s headers: %v", nt, err)
			}
		}
		want(notifications(true))
		if err := setHeaders("headers.example", types.NotificationTypeBounce, true); err != nil {
			t.Fatal(err)
		}
		if err := setHeaders("headers.example", types.NotificationTypeDelivery, true); err != nil {
			t.Fatal(err)
		}
		w := notifications(true)
		w.HeadersInBounceNotificationsEnabled, w.HeadersInDeliveryNotificationsEnabled = true, true
		want(w)
		if err := setHeaders("headers.example", types.NotificationTypeBounce, false); err != nil {
			t.Fatal(err)
		}
		w.HeadersInBounceNotificationsEnabled = false
		want(w)

		wantAPIError(t, setHeaders("unknown@example.com", types.NotificationTypeBounce, false), "MessageRejected",
			"Identity unknown@example.com is not verified or does not exist.")
		for _, bad := range []types.NotificationType{"InvalidType", "delivery"} {
			wantAPIError(t, setHeaders("headers.example", bad, true), "InvalidParameterValue",
				fmt.Sprintf("Invalid notification type: %s. Valid values are: Bounce, Complaint, Delivery.", bad))
		}
		resp, body := rawCall(t, env, http.MethodPost, url.Values{"Action": {"SetIdentityHeadersInNotificationsEnabled"}, "Identity": {"headers.example"}, "NotificationType": {"Bounce"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value null at 'enabled' failed to satisfy constraint: Member must not be null")
		want(w)

		// The empty Result element of a Set* action.
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"SetIdentityHeadersInNotificationsEnabled"}, "Identity": {"headers.example"}, "NotificationType": {"Complaint"}, "Enabled": {"false"}})
		_, paths, _ := shape(t, body)
		wantPaths := []string{"SetIdentityHeadersInNotificationsEnabledResponse", "SetIdentityHeadersInNotificationsEnabledResponse/SetIdentityHeadersInNotificationsEnabledResult",
			"SetIdentityHeadersInNotificationsEnabledResponse/ResponseMetadata", "SetIdentityHeadersInNotificationsEnabledResponse/ResponseMetadata/RequestId"}
		if diff := cmp.Diff(wantPaths, paths); resp.StatusCode != 200 || diff != "" {
			t.Errorf("response: %d (-want +got):\n%s", resp.StatusCode, diff)
		}
	})
}

// TestTerraformNotificationTopic follows aws_ses_identity_notification_topic
// without topic_arn: create and update clear the topic and set the headers
// flag, read takes the identity's entry, delete clears the topic.
func TestTerraformNotificationTopic(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "tf.example")
		for range 2 { // create, then update
			if _, err := env.V1.SetIdentityNotificationTopic(ctx, &ses.SetIdentityNotificationTopicInput{Identity: aws.String("tf.example"), NotificationType: types.NotificationTypeComplaint}); err != nil {
				t.Fatal(err)
			}
			if _, err := env.V1.SetIdentityHeadersInNotificationsEnabled(ctx, &ses.SetIdentityHeadersInNotificationsEnabledInput{Identity: aws.String("tf.example"), NotificationType: types.NotificationTypeComplaint}); err != nil {
				t.Fatal(err)
			}
			a, ok := notificationAttrs(t, env.V1, "tf.example")["tf.example"]
			if !ok || a.ComplaintTopic != nil || a.HeadersInComplaintNotificationsEnabled {
				t.Fatalf("read: %+v, present %v", a, ok)
			}
		}
		if _, err := env.V1.SetIdentityNotificationTopic(ctx, &ses.SetIdentityNotificationTopicInput{Identity: aws.String("tf.example"), NotificationType: types.NotificationTypeComplaint}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		// Deleting after the identity is gone fails with the message
		// Terraform ignores.
		if _, err := env.V1.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String("tf.example")}); err != nil {
			t.Fatal(err)
		}
		_, err := env.V1.SetIdentityNotificationTopic(ctx, &ses.SetIdentityNotificationTopicInput{Identity: aws.String("tf.example"), NotificationType: types.NotificationTypeComplaint})
		wantAPIError(t, err, "InvalidParameterValue", "Must be a verified email address or domain")
		if got := notificationAttrs(t, env.V1, "tf.example"); len(got) != 0 {
			t.Errorf("a deleted identity's attributes: %v", got)
		}
	})
}
