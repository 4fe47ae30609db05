// Package event owns Sesame's sending events: the closed list of event
// kinds (Send, Reject, Delivery, Bounce, DeliveryDelay, Complaint,
// Rendering Failure, Subscription, Open, Click), their JSON in exactly the shape Amazon SES publishes
// to configuration-set event destinations (shared/ses-api.md §13), and the
// event outbox, the table `events`.
//
// An event is appended to the outbox with Append in the transaction of the
// state change that caused it (a message accepted, a recipient delivered
// or bounced), so no event is lost on a crash and none is recorded for a
// change that rolled back. List reads the outbox back in order, for
// `sesame events tail` and for the publisher.
//
// Publishing the stored events to the configuration set's destinations,
// and marking rows published (published_at), is package publish's.
package event

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is an event's kind, spelled as the eventType of SES's event JSON
// (ses-api.md §8).
type Type string

// The event kinds Sesame records. The list is closed: Validate refuses any
// other Type.
const (
	// Send: the message was accepted and queued. Details: SendDetails.
	Send Type = "Send"
	// Reject: the message was accepted by the API but refused before
	// delivery (SES: a virus was found). Details: RejectDetails.
	Reject Type = "Reject"
	// Bounce: delivery to one or more recipients failed for good, either at
	// once (a permanent reply) or when the retry window ran out. Details:
	// BounceDetails.
	Bounce Type = "Bounce"
	// Complaint: a recipient reported the message as spam. Details:
	// ComplaintDetails.
	Complaint Type = "Complaint"
	// Delivery: the recipient's mail server accepted the message. Details:
	// DeliveryDetails.
	Delivery Type = "Delivery"
	// DeliveryDelay: a delivery attempt failed temporarily and will be
	// retried. Details: DelayDetails.
	DeliveryDelay Type = "DeliveryDelay"
	// RenderingFailure: a templated message could not be rendered. SES
	// spells it with a space. Details: FailureDetails.
	RenderingFailure Type = "Rendering Failure"
	// Subscription: a contact changed its subscription to a contact list
	// (the one-click unsubscribe link, the preference page or the mailto
	// address of a message's List-Unsubscribe). Details:
	// SubscriptionDetails.
	Subscription Type = "Subscription"
	// Open: a recipient opened the message (its tracking pixel was
	// fetched). Details: OpenDetails.
	Open Type = "Open"
	// Click: a recipient followed a tracked link of the message. Details:
	// ClickDetails.
	Click Type = "Click"
)

// Types lists every Type, in the order of ses-api.md §13.1.
var Types = []Type{Send, Reject, Bounce, Complaint, Delivery, Open, Click, RenderingFailure, DeliveryDelay, Subscription}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// Header is one header field of the original message, as in mail.headers.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommonHeaders is SES's mail.commonHeaders: the original message's most
// used header fields, decoded. Empty fields are left out of the JSON.
type CommonHeaders struct {
	From       []string `json:"from,omitempty"`
	To         []string `json:"to,omitempty"`
	Cc         []string `json:"cc,omitempty"`
	Bcc        []string `json:"bcc,omitempty"`
	ReplyTo    []string `json:"replyTo,omitempty"`
	MessageID  string   `json:"messageId,omitempty"` // the sender's own Message-ID, not SES's
	Date       string   `json:"date,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	ReturnPath string   `json:"returnPath,omitempty"`
}

// Mail is SES's "mail" object: the message an event is about, as it was
// accepted. Every event about a message carries the same Mail.
//
// Mail's own JSON encoding (its struct tags, with SES's key names) is
// lossless, for storing a Mail beside its message; the exact SES shape,
// with millisecond timestamps and without SourceIP and CallerIdentity, is
// what Event.MarshalJSON writes.
type Mail struct {
	// Timestamp is when the message was accepted. Required.
	Timestamp time.Time `json:"timestamp"`
	// MessageID is the SES MessageId the API answered with. Required.
	MessageID string `json:"messageId"`
	// Source is the sender as given (may carry a display name).
	Source string `json:"source"`
	// SourceArn is the ARN of the identity that authorised the send,
	// arn:aws:ses:<region>:<account>:identity/<identity>.
	SourceArn string `json:"sourceArn"`
	// SourceIP and CallerIdentity are the caller's IP address and name.
	// SES's event-publishing JSON does not have them as mail fields (they
	// appear as the auto-tags ses:source-ip and ses:caller-identity, see
	// AutoTags); only its identity-notification format does.
	SourceIP       string `json:"sourceIp,omitempty"`
	CallerIdentity string `json:"callerIdentity,omitempty"`
	// SendingAccountID is the sending account's 12-digit id.
	SendingAccountID string `json:"sendingAccountId"`
	// Destination is every envelope recipient of the message.
	Destination []string `json:"destination"`
	// HeadersTruncated says that Headers were cut at MaxHeadersSize; see
	// SetHeaders.
	HeadersTruncated bool          `json:"headersTruncated"`
	Headers          []Header      `json:"headers"`
	CommonHeaders    CommonHeaders `json:"commonHeaders"`
	// Tags are the message tags and SES's auto-tags, name → values.
	Tags map[string][]string `json:"tags,omitempty"`
}

// The auto-tags SES adds to mail.tags (ses-api.md §13.2). A message's own
// tags cannot start with "ses:".
const (
	TagConfigurationSet = "ses:configuration-set" // the configuration set's name
	TagFromDomain       = "ses:from-domain"       // the domain of the From address
	TagSourceIP         = "ses:source-ip"         // the API or SMTP caller's IP address
	TagCallerIdentity   = "ses:caller-identity"   // who called: the access key's user, or the SMTP user
	TagOutgoingIP       = "ses:outgoing-ip"       // the IP address delivery left from; on events after a delivery attempt
	TagOperation        = "ses:operation"         // the API operation: SendEmail, SendRawEmail, ...
)

// AutoTags adds SES's auto-tags known when a message is accepted to m.Tags:
// ses:configuration-set, ses:from-domain, ses:source-ip and
// ses:caller-identity. An empty argument adds no tag (SES leaves
// ses:from-domain out when the From address cannot be parsed, and there is
// no configuration-set tag without a configuration set). Each tag replaces
// any value it had. sourceIP and callerIdentity are also recorded in
// m.SourceIP and m.CallerIdentity.
//
// ses:outgoing-ip is known only once delivery is attempted: add it with
// SetTag(m, TagOutgoingIP, ip) on the Mail of Delivery, Bounce and
// DeliveryDelay events; ses:operation likewise with SetTag.
func AutoTags(m *Mail, configurationSet, fromDomain, sourceIP, callerIdentity string) {
	SetTag(m, TagConfigurationSet, configurationSet)
	SetTag(m, TagFromDomain, fromDomain)
	SetTag(m, TagSourceIP, sourceIP)
	SetTag(m, TagCallerIdentity, callerIdentity)
	if sourceIP != "" {
		m.SourceIP = sourceIP
	}
	if callerIdentity != "" {
		m.CallerIdentity = callerIdentity
	}
}

// SetTag sets tag name of m to the single value; an empty value leaves m
// unchanged.
func SetTag(m *Mail, name, value string) {
	if value == "" {
		return
	}
	if m.Tags == nil {
		m.Tags = map[string][]string{}
	}
	m.Tags[name] = []string{value}
}

// MaxHeadersSize is the size of the original header section above which
// SES truncates mail.headers and sets mail.headersTruncated (10 KB).
const MaxHeadersSize = 10 * 1024

// SetHeaders sets m.Headers to hs, in order, as far as they fit in
// MaxHeadersSize bytes (each field counted as "Name: Value\r\n"); when some
// do not fit, they and every field after them are left out and
// m.HeadersTruncated is set.
func SetHeaders(m *Mail, hs []Header) {
	size := 0
	for i, h := range hs {
		size += len(h.Name) + len(": ") + len(h.Value) + len("\r\n")
		if size > MaxHeadersSize {
			m.Headers, m.HeadersTruncated = hs[:i:i], true
			return
		}
	}
	m.Headers, m.HeadersTruncated = hs, false
}

// Recipient is one entry of bounce.bouncedRecipients or
// deliveryDelay.delayedRecipients. EmailAddress is required; the other
// fields come from the DSN or the SMTP reply and are left out of the JSON
// when empty (SES has no Action in delayed recipients).
type Recipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`         // "failed" in a bounce
	Status         string `json:"status,omitempty"`         // the enhanced status code, "5.1.1"
	DiagnosticCode string `json:"diagnosticCode,omitempty"` // "smtp; 550 5.1.1 user unknown"
}

// SendDetails is the details of a Send event: SES's "send" is always {}.
type SendDetails struct{}

// RejectReason is the one reason SES gives in a Reject event.
const RejectReason = "Bad content"

// RejectDetails is the details of a Reject event ("reject").
type RejectDetails struct {
	Reason string // required; SES only ever says RejectReason
}

// DeliveryDetails is the details of a Delivery event ("delivery").
type DeliveryDetails struct {
	Timestamp            time.Time // when the remote server accepted the message; required
	ProcessingTimeMillis int64     // from acceptance by the API to Timestamp
	Recipients           []string  // the recipients delivered to; at least one
	SMTPResponse         string    // the remote server's reply, "250 2.0.0 OK ..."
	ReportingMTA         string    // our host name that delivered; left out when empty
	RemoteMTAIP          string    // the remote server's IP address ("remoteMtaIp"); left out when empty
}

// The bounceType values and, for each, its bounceSubType values
// (ses-api.md §13.3); Validate accepts only these pairs.
var bounceSubTypes = map[string][]string{
	"Undetermined": {"Undetermined"},
	"Permanent":    {"General", "NoEmail", "Suppressed", "OnAccountSuppressionList"},
	"Transient":    {"General", "MailboxFull", "MessageTooLarge", "ContentRejected", "AttachmentRejected"},
}

// BounceDetails is the details of a Bounce event ("bounce").
type BounceDetails struct {
	BounceType        string      // Undetermined, Permanent or Transient; required
	BounceSubType     string      // one of the bounceType's subtypes (ses-api.md §13.3); required
	BouncedRecipients []Recipient // at least one
	Timestamp         time.Time   // when the bounce happened; required
	FeedbackID        string      // a unique id for this feedback ("feedbackId")
	ReportingMTA      string      // the DSN's Reporting-MTA, "dsn; mta.example.com"; left out when empty
	RemoteMTAIP       string      // the remote server's IP address ("remoteMtaIp"); left out when empty
}

// DelayDetails is the details of a DeliveryDelay event ("deliveryDelay").
type DelayDetails struct {
	DelayType         string      // TransientCommunicationFailure, MailboxFull, ... (ses-api.md §13.3); required
	ExpirationTime    time.Time   // when retrying stops; required
	DelayedRecipients []Recipient // at least one; Status and DiagnosticCode from the reply, no Action
	Timestamp         time.Time   // when the attempt failed; required
	ReportingMTA      string      // our host name that tried; left out when empty
}

// ComplaintDetails is the details of a Complaint event ("complaint").
type ComplaintDetails struct {
	ComplainedRecipients []string  // at least one
	Timestamp            time.Time // when the complaint was received; required
	FeedbackID           string    // a unique id for this feedback ("feedbackId")
	// From the ARF report when one was attached; left out when empty.
	ComplaintFeedbackType string // abuse, auth-failure, fraud, not-spam, other, virus
	UserAgent             string
	ArrivalDate           string
	// ComplaintSubType is nil (JSON null) or "OnAccountSuppressionList".
	ComplaintSubType *string
}

// FailureDetails is the details of a Rendering Failure event ("failure").
type FailureDetails struct {
	ErrorMessage string // required
	TemplateName string
}

// The subscription statuses of a Subscription event, in SES's spelling
// (not the API's OPT_IN / OPT_OUT).
const (
	SubscriptionOptIn  = "OptIn"
	SubscriptionOptOut = "OptOut"
)

// TopicStatus is one topic's status in a Subscription event.
type TopicStatus struct {
	TopicName          string `json:"topicName"`
	SubscriptionStatus string `json:"subscriptionStatus"` // SubscriptionOptIn or SubscriptionOptOut
}

// TopicPreferences is a contact's subscription before or after a change
// ("newTopicPreferences", "oldTopicPreferences").
type TopicPreferences struct {
	UnsubscribeAll          bool          `json:"unsubscribeAll"`
	TopicSubscriptionStatus []TopicStatus `json:"topicSubscriptionStatus"`
}

// SubscriptionDetails is the details of a Subscription event
// ("subscription").
type SubscriptionDetails struct {
	ContactList string    // required
	Timestamp   time.Time // when the change was made; required
	// Source says how the change was made: "UnsubscribeHeader" (the
	// List-Unsubscribe one-click POST or its mailto address),
	// "UnsubscribeLink" (the preference page). Required.
	Source              string
	NewTopicPreferences TopicPreferences
	OldTopicPreferences TopicPreferences
}

// OpenDetails is an Open event's "open" object: who fetched the pixel,
// and when.
type OpenDetails struct {
	IPAddress string    // the client's address; required
	Timestamp time.Time // when the pixel was fetched; required
	UserAgent string    // the client's User-Agent, as sent
}

// ClickDetails is a Click event's "click" object: who followed which link,
// and when.
type ClickDetails struct {
	IPAddress string    // the client's address; required
	Timestamp time.Time // when the link was followed; required
	UserAgent string    // the client's User-Agent, as sent
	Link      string    // the original URL; required
	// LinkTags are the link's ses:tags, name → values (SES's
	// click.linkTags); nil when it had none.
	LinkTags map[string][]string
}

// Event is one event: its type, the mail it is about, and the details of its
// type (exactly one non-nil, matching Type).
type Event struct {
	Type Type
	// AccountID is the account the message belongs to; required.
	AccountID string
	// ConfigurationSet is the configuration set the message was sent with,
	// "" for none. The JSON's mail.tags carry it as ses:configuration-set
	// (added by MarshalJSON when the tag is missing).
	ConfigurationSet string
	Mail             Mail

	Send          *SendDetails
	Reject        *RejectDetails
	Delivery      *DeliveryDetails
	Bounce        *BounceDetails
	DeliveryDelay *DelayDetails
	Complaint     *ComplaintDetails
	Failure       *FailureDetails // Rendering Failure
	Subscription  *SubscriptionDetails
	Open          *OpenDetails
	Click         *ClickDetails
}

// ErrInvalid is wrapped by every error of Validate.
var ErrInvalid = errors.New("event: invalid event")

// Validate checks that e can be stored and published: a known Type; exactly
// one details member, the one matching Type, with its required fields;
// AccountID, Mail.MessageID and Mail.Timestamp set; and a
// ses:configuration-set tag, if any, equal to ConfigurationSet. Every
// problem found is listed in the error, which wraps ErrInvalid.
func (e *Event) Validate() error {
	if e == nil {
		return fmt.Errorf("%w: nil event", ErrInvalid)
	}
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if !e.Type.Valid() {
		bad("unknown event type %q", e.Type)
	}
	if e.AccountID == "" {
		bad("no AccountID")
	}
	if e.Mail.MessageID == "" {
		bad("no Mail.MessageID")
	}
	if e.Mail.Timestamp.IsZero() {
		bad("no Mail.Timestamp")
	}
	if v, ok := e.Mail.Tags[TagConfigurationSet]; ok && (len(v) != 1 || v[0] != e.ConfigurationSet) {
		bad("tag %s is %q but ConfigurationSet is %q", TagConfigurationSet, v, e.ConfigurationSet)
	}

	var set []Type
	if e.Send != nil {
		set = append(set, Send)
	}
	if e.Reject != nil {
		set = append(set, Reject)
		if e.Reject.Reason == "" {
			bad("no reject reason")
		}
	}
	if d := e.Delivery; d != nil {
		set = append(set, Delivery)
		if d.Timestamp.IsZero() {
			bad("no delivery timestamp")
		}
		checkAddresses(bad, "delivery", d.Recipients)
	}
	if d := e.Bounce; d != nil {
		set = append(set, Bounce)
		if subs, ok := bounceSubTypes[d.BounceType]; !ok {
			bad("bounce type %q is not Undetermined, Permanent or Transient", d.BounceType)
		} else if !slices.Contains(subs, d.BounceSubType) {
			bad("bounce subtype %q does not go with bounce type %s (want one of %s)", d.BounceSubType, d.BounceType, strings.Join(subs, ", "))
		}
		if d.Timestamp.IsZero() {
			bad("no bounce timestamp")
		}
		checkRecipients(bad, "bounced", d.BouncedRecipients)
	}
	if d := e.DeliveryDelay; d != nil {
		set = append(set, DeliveryDelay)
		if d.DelayType == "" {
			bad("no delay type")
		}
		if d.Timestamp.IsZero() {
			bad("no delay timestamp")
		}
		if d.ExpirationTime.IsZero() {
			bad("no delay expiration time")
		}
		checkRecipients(bad, "delayed", d.DelayedRecipients)
	}
	if d := e.Complaint; d != nil {
		set = append(set, Complaint)
		if d.Timestamp.IsZero() {
			bad("no complaint timestamp")
		}
		checkAddresses(bad, "complained", d.ComplainedRecipients)
		if t := d.ComplaintFeedbackType; t != "" && !slices.Contains(complaintFeedbackTypes, t) {
			bad("complaint feedback type %q is not one of SES's (%s)", t, strings.Join(complaintFeedbackTypes, ", "))
		}
	}
	if e.Failure != nil {
		set = append(set, RenderingFailure)
		if e.Failure.ErrorMessage == "" {
			bad("no rendering failure error message")
		}
	}
	if d := e.Subscription; d != nil {
		set = append(set, Subscription)
		if d.ContactList == "" {
			bad("no subscription contact list")
		}
		if d.Timestamp.IsZero() {
			bad("no subscription timestamp")
		}
		if d.Source == "" {
			bad("no subscription source")
		}
		for _, p := range []TopicPreferences{d.NewTopicPreferences, d.OldTopicPreferences} {
			for _, t := range p.TopicSubscriptionStatus {
				if t.SubscriptionStatus != SubscriptionOptIn && t.SubscriptionStatus != SubscriptionOptOut {
					bad("subscription status %q of topic %q is not OptIn or OptOut", t.SubscriptionStatus, t.TopicName)
				}
			}
		}
	}
	if d := e.Open; d != nil {
		set = append(set, Open)
		if d.IPAddress == "" || d.Timestamp.IsZero() {
			bad("no open IP address or timestamp")
		}
	}
	if d := e.Click; d != nil {
		set = append(set, Click)
		if d.IPAddress == "" || d.Timestamp.IsZero() || d.Link == "" {
			bad("no click IP address, timestamp or link")
		}
	}
	switch {
	case len(set) == 0:
		bad("no details (want %s)", detailsField(e.Type))
	case len(set) > 1:
		names := make([]string, len(set))
		for i, t := range set {
			names[i] = detailsField(t)
		}
		bad("several details: %s", strings.Join(names, ", "))
	case e.Type.Valid() && set[0] != e.Type:
		bad("%s event with %s details", e.Type, detailsField(set[0]))
	}

	if len(p) == 0 {
		return nil
	}
	id := e.Mail.MessageID
	if id == "" {
		id = "(no message id)"
	}
	return fmt.Errorf("%w: %s event of %s: %s", ErrInvalid, e.Type, id, strings.Join(p, "; "))
}

// detailsField names the Event field holding the details of type t.
func detailsField(t Type) string {
	switch t {
	case DeliveryDelay:
		return "DeliveryDelay"
	case RenderingFailure:
		return "Failure"
	case "":
		return "the details of the type"
	}
	return string(t)
}

func checkRecipients(bad func(string, ...any), what string, rs []Recipient) {
	if len(rs) == 0 {
		bad("no %s recipients", what)
	}
	for i, r := range rs {
		if r.EmailAddress == "" {
			bad("%s recipient %d has no email address", what, i)
		}
	}
}

// checkAddresses reports an empty list of what recipients, or an empty
// address in it.
func checkAddresses(bad func(string, ...any), what string, addrs []string) {
	if len(addrs) == 0 {
		bad("no %s recipients", what)
	}
	for i, a := range addrs {
		if a == "" {
			bad("%s recipient %d is empty", what, i)
		}
	}
}

// NewFeedbackID returns a new feedbackId in SES's shape: the time in hex
// milliseconds, a random UUID, and "-000000".
func NewFeedbackID(now time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%016x-%x-%x-%x-%x-%x-000000", now.UnixMilli(), b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ValidBounce reports whether bounceType and subType are a pair SES gives
// (ses-api.md §13.3).
func ValidBounce(bounceType, subType string) bool {
	return slices.Contains(bounceSubTypes[bounceType], subType)
}

// The complaintFeedbackType values SES gives (ses-api.md §13.3): the ARF
// feedback types of RFC 5965, RFC 6591 and RFC 6650.
var complaintFeedbackTypes = []string{"abuse", "auth-failure", "fraud", "not-spam", "other", "virus"}

// ComplaintFeedbackType maps a report's Feedback-Type onto SES's values:
// one of them as it is (without case), "" for none, anything else (such as
// "opt-out") "other".
func ComplaintFeedbackType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" || slices.Contains(complaintFeedbackTypes, t) {
		return t
	}
	return "other"
}
