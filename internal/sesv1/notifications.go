package sesv1

import (
	"errors"
	"net/http"

	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// The notification actions of SES v1. SES sends an identity's bounce,
// complaint and delivery notifications to SNS topics and, by default,
// forwards bounces and complaints by mail to the sender ("feedback
// forwarding"). Sesame has no SNS: it keeps only the forwarding flag, and
// will publish bounces, complaints and deliveries through configuration
// set event destinations instead.

// notificationTypes are the NotificationType values, as SES lists them.
var notificationTypes = []string{"Bounce", "Complaint", "Delivery"}

// errSNSTopics is the answer to an attempt to set an identity's SNS topic.
var errSNSTopics = invalidParameter("SNS topics are not supported by Sesame; use a configuration set event destination")

// errHeadersInNotifications is the answer to an attempt to include headers
// in (SNS) notifications.
var errHeadersInNotifications = invalidParameter("Headers in notifications are not supported by Sesame: it sends no SNS notifications; use a configuration set event destination")

// notificationAttributes is IdentityNotificationAttributes. The model marks
// the three topics required, but a topic that is not set is left out (as
// SES is understood to do; not confirmed against live SES) and Sesame never
// has one. The AWS SDK for Go's deserializer accepts the omission (the
// tests read these answers through it).
type notificationAttributes struct {
	BounceTopic                            string `xml:",omitempty"`
	ComplaintTopic                         string `xml:",omitempty"`
	DeliveryTopic                          string `xml:",omitempty"`
	ForwardingEnabled                      bool
	HeadersInBounceNotificationsEnabled    bool
	HeadersInComplaintNotificationsEnabled bool
	HeadersInDeliveryNotificationsEnabled  bool
}

type getIdentityNotificationAttributesResult struct {
	NotificationAttributes entryMap[notificationAttributes]
}

// notificationType reads the required NotificationType parameter. A value
// outside the enum is InvalidParameterValue with SES's own wording (SES
// checks it in the service, not as a model constraint).
func (c *call) notificationType() (string, error) {
	t, err := c.required("NotificationType")
	if err != nil {
		return "", err
	}
	for _, v := range notificationTypes {
		if t == v {
			return t, nil
		}
	}
	return "", invalidParameter("Invalid notification type: %s. Valid values are: Bounce, Complaint, Delivery.", t)
}

// SetIdentityFeedbackForwardingEnabled: turn mailing bounces and
// complaints to the sender on or off.
//
// SES refuses to turn forwarding off unless the identity has both a Bounce
// and a Complaint SNS topic, so that feedback always goes somewhere.
// Sesame deliberately allows it: it has no SNS topics to require, and it
// publishes bounces and complaints through configuration set event
// destinations instead, so a customer who receives feedback that way must
// be able to stop the mails.
func (h *handler) setIdentityFeedbackForwardingEnabled(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	enabled, err := c.requiredBool("ForwardingEnabled")
	if err != nil {
		return nil, err
	}
	err = h.ids.SetFeedbackForwarding(c.ctx, c.account, name, enabled)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, doesNotExist(name)
	}
	return nil, err
}

// GetIdentityNotificationAttributes: for each existing identity, whether
// feedback forwarding is on; no topics (Sesame has none) and no headers
// in notifications. Unknown names are left out.
func (h *handler) getIdentityNotificationAttributes(c *call) (any, error) {
	names, found, err := h.getMany(c)
	if err != nil {
		return nil, err
	}
	res := getIdentityNotificationAttributesResult{}
	for _, n := range names {
		i, ok := found[n]
		if !ok {
			continue
		}
		v := notificationAttributes{ForwardingEnabled: i.FeedbackForwarding}
		res.NotificationAttributes.Entry = append(res.NotificationAttributes.Entry, mapEntry[notificationAttributes]{Key: n, Value: v})
	}
	return res, nil
}

// SetIdentityNotificationTopic: setting a topic is refused (Sesame has no
// SNS) and stores nothing; clearing one (no SnsTopic, or an empty one) is
// accepted and changes nothing, since no topic is ever set. Terraform's
// aws_ses_identity_notification_topic deletes by clearing, and treats an
// InvalidParameterValue containing "Must be a verified email address or
// domain" as "already gone", so an unknown identity is answered with SES's
// wording rather than doesNotExist's.
func (h *handler) setIdentityNotificationTopic(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	if _, err := c.notificationType(); err != nil {
		return nil, err
	}
	if _, err := h.ids.Get(c.ctx, c.account, name); errors.Is(err, identity.ErrNotFound) {
		return nil, invalidParameter("Identity %s is invalid. Must be a verified email address or domain.", name)
	} else if err != nil {
		return nil, err
	}
	if c.param("SnsTopic") != "" {
		return nil, errSNSTopics
	}
	return nil, nil
}

// SetIdentityHeadersInNotificationsEnabled: the flag says whether SNS
// notifications carry the original mail's headers. Sesame sends no SNS
// notifications, so there is nothing to include headers in:
//   - Enabled=false is accepted and stores nothing; it is what
//     GetIdentityNotificationAttributes always reports. Terraform's
//     aws_ses_identity_notification_topic sends it on every create and
//     update, topic or not.
//   - Enabled=true is refused with a clear message rather than accepted
//     without effect: the next GetIdentityNotificationAttributes would
//     report false, which Terraform shows as a change on every plan, and
//     a caller could believe headers will arrive somewhere.
//
// An unknown identity is MessageRejected, as SES answers.
func (h *handler) setIdentityHeadersInNotificationsEnabled(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	if _, err := c.notificationType(); err != nil {
		return nil, err
	}
	enabled, err := c.requiredBool("Enabled")
	if err != nil {
		return nil, err
	}
	if _, err := h.ids.Get(c.ctx, c.account, name); errors.Is(err, identity.ErrNotFound) {
		return nil, sesapi.Errorf(http.StatusBadRequest, "MessageRejected", "Identity %s is not verified or does not exist.", name)
	} else if err != nil {
		return nil, err
	}
	if enabled {
		return nil, errHeadersInNotifications
	}
	return nil, nil
}
