package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// NotificationTypes are the event types SES also sends as identity
// notifications (v1 SetIdentityNotificationTopic), spelled as the
// NotificationType values of its API: "Bounce", "Complaint", "Delivery".
var NotificationTypes = []Type{Bounce, Complaint, Delivery}

// HasNotification reports whether events of type t have an identity
// notification (t is one of NotificationTypes).
func HasNotification(t Type) bool { return slices.Contains(NotificationTypes, t) }

// The wire structs of SES's identity-notification format (ses-api.md §13;
// SES's "Amazon SNS notification contents"): key order as in SES's
// published examples, which put bounce and complaint before mail and
// delivery after it.

type wireNotification struct {
	NotificationType Type             `json:"notificationType"`
	Bounce           *wireBounce      `json:"bounce,omitempty"`
	Complaint        *wireComplaint   `json:"complaint,omitempty"`
	Mail             wireNotifiedMail `json:"mail"`
	Delivery         *wireDelivery    `json:"delivery,omitempty"`
}

// wireNotifiedMail is the mail object of a notification: sourceIp and
// callerIdentity, no tags, and the header fields only when the identity
// has headers in notifications enabled for the type (nil pointers here).
type wireNotifiedMail struct {
	Timestamp        sesTime        `json:"timestamp"`
	Source           string         `json:"source"`
	SourceArn        string         `json:"sourceArn"`
	SourceIP         string         `json:"sourceIp,omitempty"`
	SendingAccountID string         `json:"sendingAccountId"`
	CallerIdentity   string         `json:"callerIdentity,omitempty"`
	MessageID        string         `json:"messageId"`
	Destination      []string       `json:"destination"`
	HeadersTruncated *bool          `json:"headersTruncated,omitempty"`
	Headers          *[]Header      `json:"headers,omitempty"`
	CommonHeaders    *CommonHeaders `json:"commonHeaders,omitempty"`
}

// NotificationJSON writes e in SES's identity-notification format, what
// SES publishes to the topics an identity names with
// SetIdentityNotificationTopic:
//
//	{"notificationType":"Bounce","bounce":{...},"mail":{...}}
//
// It differs from the event JSON of MarshalJSON in that the top-level key
// is notificationType, only Bounce, Complaint and Delivery events have
// one (HasNotification; any other type is an error), mail has sourceIp
// and callerIdentity (left out when unknown) and no tags, and mail's
// headersTruncated, headers and commonHeaders are there only when
// withHeaders is set (SetIdentityHeadersInNotificationsEnabled for the
// type). The bounce, complaint and delivery objects are those of the event
// JSON, remoteMtaIp included when known. Timestamps and HTML escaping are
// as in MarshalJSON. An event that does not pass Validate is an error.
func (e *Event) NotificationJSON(withHeaders bool) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if !HasNotification(e.Type) {
		return nil, fmt.Errorf("event: %s events have no identity notification (only Bounce, Complaint and Delivery)", e.Type)
	}
	w := wireOf(e)
	m := &e.Mail
	n := wireNotification{
		NotificationType: e.Type,
		Bounce:           w.Bounce,
		Complaint:        w.Complaint,
		Delivery:         w.Delivery,
		Mail: wireNotifiedMail{
			Timestamp:        sesTime(m.Timestamp),
			Source:           m.Source,
			SourceArn:        m.SourceArn,
			SourceIP:         m.SourceIP,
			SendingAccountID: m.SendingAccountID,
			CallerIdentity:   m.CallerIdentity,
			MessageID:        m.MessageID,
			Destination:      orEmpty(m.Destination),
		},
	}
	if withHeaders {
		truncated, headers, common := m.HeadersTruncated, orEmpty(m.Headers), m.CommonHeaders
		n.Mail.HeadersTruncated, n.Mail.Headers, n.Mail.CommonHeaders = &truncated, &headers, &common
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("event: encode %s notification of %s: %w", e.Type, e.Mail.MessageID, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
