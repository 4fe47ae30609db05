package sesv1

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/sns"
)

// The notification actions of SES v1. SES sends an identity's bounce,
// complaint and delivery notifications (in its older notificationType
// format) to SNS topics of the account, and, by default, forwards bounces
// and complaints by mail to the sender ("feedback forwarding"). Sesame's
// topics are those of its SNS-compatible service (Options.Topics).

// notificationTypes are the NotificationType values, as SES lists them.
var notificationTypes = []string{"Bounce", "Complaint", "Delivery"}

// notificationAttributes is IdentityNotificationAttributes. The model marks
// the three topics required, but a topic that is not set is left out (as
// SES is understood to do; not confirmed against live SES). The AWS SDK
// for Go's deserializer accepts the omission (the tests read these
// answers through it).
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

// errNoTopics answers the topic actions of a handler without Topics.
var errNoTopics = errors.New("sesv1: no Topics configured")

// SetIdentityFeedbackForwardingEnabled: turn mailing bounces and
// complaints to the sender on or off.
//
// SES refuses to turn forwarding off unless the identity has both a Bounce
// and a Complaint SNS topic, so that feedback always goes somewhere.
// Sesame deliberately allows it: it also publishes bounces and complaints
// through configuration set event destinations, which SES's check does
// not see, so a customer who receives feedback that way must be able to
// stop the mails.
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
// feedback forwarding is on, its topics and its headers flags. Unknown
// names are left out.
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
		if h.topics != nil {
			topics, err := h.topics.IdentityTopicsByID(c.ctx, i.ID)
			if err != nil {
				return nil, err
			}
			v.BounceTopic, v.HeadersInBounceNotificationsEnabled = topics["Bounce"].TopicARN, topics["Bounce"].HeadersEnabled
			v.ComplaintTopic, v.HeadersInComplaintNotificationsEnabled = topics["Complaint"].TopicARN, topics["Complaint"].HeadersEnabled
			v.DeliveryTopic, v.HeadersInDeliveryNotificationsEnabled = topics["Delivery"].TopicARN, topics["Delivery"].HeadersEnabled
		}
		res.NotificationAttributes.Entry = append(res.NotificationAttributes.Entry, mapEntry[notificationAttributes]{Key: n, Value: v})
	}
	return res, nil
}

// SetIdentityNotificationTopic: set the topic an identity's notifications
// of one type are published to; no SnsTopic (or an empty one) clears it.
// The topic must be one of the account's. Terraform's
// aws_ses_identity_notification_topic deletes by clearing, and treats an
// InvalidParameterValue containing "Must be a verified email address or
// domain" as "already gone", so an unknown identity is answered with SES's
// wording rather than doesNotExist's.
func (h *handler) setIdentityNotificationTopic(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	nt, err := c.notificationType()
	if err != nil {
		return nil, err
	}
	i, err := h.ids.Get(c.ctx, c.account, name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, invalidParameter("Identity %s is invalid. Must be a verified email address or domain.", name)
	} else if err != nil {
		return nil, err
	}
	if h.topics == nil {
		return nil, errNoTopics
	}
	topic := c.param("SnsTopic")
	err = h.topics.SetIdentityTopic(c.ctx, c.account, i.ID, nt, topic)
	if errors.Is(err, sns.ErrTopicNotFound) {
		return nil, invalidParameter("Invalid SNS topic %s: it is not a topic of this account in this region.", topic)
	}
	return nil, err
}

// SetIdentityHeadersInNotificationsEnabled: whether the notifications of
// one type include the original mail's headers. An unknown identity is
// MessageRejected, as SES answers.
func (h *handler) setIdentityHeadersInNotificationsEnabled(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	nt, err := c.notificationType()
	if err != nil {
		return nil, err
	}
	enabled, err := c.requiredBool("Enabled")
	if err != nil {
		return nil, err
	}
	i, err := h.ids.Get(c.ctx, c.account, name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, sesapi.Errorf(http.StatusBadRequest, "MessageRejected", "Identity %s is not verified or does not exist.", name)
	} else if err != nil {
		return nil, err
	}
	if h.topics == nil {
		return nil, errNoTopics
	}
	if err := h.topics.SetIdentityHeaders(c.ctx, i.ID, nt, enabled); err != nil {
		return nil, fmt.Errorf("sesv1: %w", err)
	}
	return nil, nil
}
