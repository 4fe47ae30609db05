package event

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// TimeLayout is how SES writes every timestamp of its event JSON: ISO 8601
// in UTC with milliseconds, "2026-01-02T03:04:05.678Z".
const TimeLayout = "2006-01-02T15:04:05.000Z"

// sesTime is a time in the event JSON; see TimeLayout. Finer precision is
// truncated.
type sesTime time.Time

func (t sesTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(TimeLayout) + `"`), nil
}

func (t *sesTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = sesTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = sesTime(v.UTC())
	return nil
}

// The wire structs below spell SES's event JSON (ses-api.md §13): key
// names, key order (as in SES's published examples) and which keys are
// always present.

type wireEvent = wireEventOf[wireMail]

// wireEventOf is wireEvent with the mail object of type M: wireMail, or
// json.RawMessage for an event stored without it (see AppendRef).
type wireEventOf[M any] struct {
	EventType     Type              `json:"eventType"`
	Mail          M                 `json:"mail"`
	Send          *SendDetails      `json:"send,omitempty"`
	Reject        *wireReject       `json:"reject,omitempty"`
	Bounce        *wireBounce       `json:"bounce,omitempty"`
	Complaint     *wireComplaint    `json:"complaint,omitempty"`
	Delivery      *wireDelivery     `json:"delivery,omitempty"`
	DeliveryDelay *wireDelay        `json:"deliveryDelay,omitempty"`
	Failure       *wireFailure      `json:"failure,omitempty"`
	Subscription  *wireSubscription `json:"subscription,omitempty"`
	Open          *wireOpen         `json:"open,omitempty"`
	Click         *wireClick        `json:"click,omitempty"`
}

type wireMail struct {
	Timestamp        sesTime             `json:"timestamp"`
	Source           string              `json:"source"`
	SourceArn        string              `json:"sourceArn"`
	SendingAccountID string              `json:"sendingAccountId"`
	MessageID        string              `json:"messageId"`
	Destination      []string            `json:"destination"`
	HeadersTruncated bool                `json:"headersTruncated"`
	Headers          []Header            `json:"headers"`
	CommonHeaders    CommonHeaders       `json:"commonHeaders"`
	Tags             map[string][]string `json:"tags"`
	// Only in SES's identity-notification format: never written, read
	// when present.
	SourceIP       string `json:"sourceIp,omitempty"`
	CallerIdentity string `json:"callerIdentity,omitempty"`
}

type wireReject struct {
	Reason string `json:"reason"`
}

type wireBounce struct {
	BounceType        string      `json:"bounceType"`
	BounceSubType     string      `json:"bounceSubType"`
	BouncedRecipients []Recipient `json:"bouncedRecipients"`
	Timestamp         sesTime     `json:"timestamp"`
	FeedbackID        string      `json:"feedbackId"`
	RemoteMTAIP       string      `json:"remoteMtaIp,omitempty"`
	ReportingMTA      string      `json:"reportingMTA,omitempty"`
}

type emailAddress struct {
	EmailAddress string `json:"emailAddress"`
}

type wireComplaint struct {
	ComplainedRecipients  []emailAddress `json:"complainedRecipients"`
	Timestamp             sesTime        `json:"timestamp"`
	FeedbackID            string         `json:"feedbackId"`
	ComplaintSubType      *string        `json:"complaintSubType"`
	UserAgent             string         `json:"userAgent,omitempty"`
	ComplaintFeedbackType string         `json:"complaintFeedbackType,omitempty"`
	ArrivalDate           string         `json:"arrivalDate,omitempty"`
}

type wireDelivery struct {
	Timestamp            sesTime  `json:"timestamp"`
	ProcessingTimeMillis int64    `json:"processingTimeMillis"`
	Recipients           []string `json:"recipients"`
	SMTPResponse         string   `json:"smtpResponse"`
	RemoteMTAIP          string   `json:"remoteMtaIp,omitempty"`
	ReportingMTA         string   `json:"reportingMTA,omitempty"`
}

type wireDelay struct {
	Timestamp         sesTime     `json:"timestamp"`
	DelayType         string      `json:"delayType"`
	ExpirationTime    sesTime     `json:"expirationTime"`
	DelayedRecipients []Recipient `json:"delayedRecipients"`
	ReportingMTA      string      `json:"reportingMTA,omitempty"`
}

type wireFailure struct {
	ErrorMessage string `json:"errorMessage"`
	// TemplateName is omitted for inline content (v2 TemplateContent),
	// which has no name, rather than published as "".
	TemplateName string `json:"templateName,omitempty"`
}

type wireSubscription struct {
	ContactList         string           `json:"contactList"`
	Timestamp           sesTime          `json:"timestamp"`
	Source              string           `json:"source"`
	NewTopicPreferences TopicPreferences `json:"newTopicPreferences"`
	OldTopicPreferences TopicPreferences `json:"oldTopicPreferences"`
}

type wireOpen struct {
	IPAddress string  `json:"ipAddress"`
	Timestamp sesTime `json:"timestamp"`
	UserAgent string  `json:"userAgent"`
}

type wireClick struct {
	IPAddress string              `json:"ipAddress"`
	Timestamp sesTime             `json:"timestamp"`
	UserAgent string              `json:"userAgent"`
	Link      string              `json:"link"`
	LinkTags  map[string][]string `json:"linkTags,omitempty"`
}

// prefs is p with topicSubscriptionStatus never null.
func prefs(p TopicPreferences) TopicPreferences {
	p.TopicSubscriptionStatus = orEmpty(p.TopicSubscriptionStatus)
	return p
}

// MarshalJSON writes e exactly as SES publishes it to event destinations:
//
//	{"eventType":"Send","mail":{...},"send":{}}
//
// with timestamps in TimeLayout, the mail object's destination, headers and
// tags always present (as [] or {} when empty), and mail.tags carrying
// ses:configuration-set when e has a ConfigurationSet. HTML characters are
// not escaped ("Name <a@example.com>" stays as it is). An event that does
// not pass Validate is not marshalled.
func (e *Event) MarshalJSON() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := encode(wireOf(e))
	if err != nil {
		return nil, fmt.Errorf("event: encode %s event of %s: %w", e.Type, e.Mail.MessageID, err)
	}
	return b, nil
}

// wireOf is e in the wire structs of its event JSON; e must be valid.
func wireOf(e *Event) wireEvent {
	return wireWith(e, wireMailOf(&e.Mail, e.ConfigurationSet))
}

// wireWith is e in the wire structs with mail as its mail object.
func wireWith[M any](e *Event, mail M) wireEventOf[M] {
	w := wireEventOf[M]{EventType: e.Type, Mail: mail}
	switch e.Type {
	case Send:
		w.Send = &SendDetails{}
	case Reject:
		w.Reject = &wireReject{Reason: e.Reject.Reason}
	case Bounce:
		d := e.Bounce
		w.Bounce = &wireBounce{BounceType: d.BounceType, BounceSubType: d.BounceSubType, BouncedRecipients: d.BouncedRecipients,
			Timestamp: sesTime(d.Timestamp), FeedbackID: d.FeedbackID, RemoteMTAIP: d.RemoteMTAIP, ReportingMTA: d.ReportingMTA}
	case Complaint:
		d := e.Complaint
		c := &wireComplaint{ComplainedRecipients: make([]emailAddress, len(d.ComplainedRecipients)), Timestamp: sesTime(d.Timestamp),
			FeedbackID: d.FeedbackID, ComplaintSubType: d.ComplaintSubType, UserAgent: d.UserAgent,
			ComplaintFeedbackType: d.ComplaintFeedbackType, ArrivalDate: d.ArrivalDate}
		for i, r := range d.ComplainedRecipients {
			c.ComplainedRecipients[i].EmailAddress = r
		}
		w.Complaint = c
	case Delivery:
		d := e.Delivery
		w.Delivery = &wireDelivery{Timestamp: sesTime(d.Timestamp), ProcessingTimeMillis: d.ProcessingTimeMillis, Recipients: d.Recipients,
			SMTPResponse: d.SMTPResponse, RemoteMTAIP: d.RemoteMTAIP, ReportingMTA: d.ReportingMTA}
	case DeliveryDelay:
		d := e.DeliveryDelay
		w.DeliveryDelay = &wireDelay{Timestamp: sesTime(d.Timestamp), DelayType: d.DelayType, ExpirationTime: sesTime(d.ExpirationTime),
			DelayedRecipients: d.DelayedRecipients, ReportingMTA: d.ReportingMTA}
	case RenderingFailure:
		w.Failure = &wireFailure{ErrorMessage: e.Failure.ErrorMessage, TemplateName: e.Failure.TemplateName}
	case Subscription:
		d := e.Subscription
		w.Subscription = &wireSubscription{ContactList: d.ContactList, Timestamp: sesTime(d.Timestamp), Source: d.Source,
			NewTopicPreferences: prefs(d.NewTopicPreferences), OldTopicPreferences: prefs(d.OldTopicPreferences)}
	case Open:
		d := e.Open
		w.Open = &wireOpen{IPAddress: d.IPAddress, Timestamp: sesTime(d.Timestamp), UserAgent: d.UserAgent}
	case Click:
		d := e.Click
		w.Click = &wireClick{IPAddress: d.IPAddress, Timestamp: sesTime(d.Timestamp), UserAgent: d.UserAgent, Link: d.Link, LinkTags: d.LinkTags}
	}
	return w
}

// wireMailOf is m as the mail object of an event with configurationSet.
func wireMailOf(m *Mail, configurationSet string) wireMail {
	return wireMail{
		Timestamp:        sesTime(m.Timestamp),
		Source:           m.Source,
		SourceArn:        m.SourceArn,
		SendingAccountID: m.SendingAccountID,
		MessageID:        m.MessageID,
		Destination:      orEmpty(m.Destination),
		HeadersTruncated: m.HeadersTruncated,
		Headers:          orEmpty(m.Headers),
		CommonHeaders:    m.CommonHeaders,
		Tags:             wireTags(m.Tags, configurationSet),
	}
}

// wireTags is tags as an event's mail.tags: never null, no null values,
// and ses:configuration-set added when configurationSet is set and the tag
// is missing.
func wireTags(tags map[string][]string, configurationSet string) map[string][]string {
	out := make(map[string][]string, len(tags)+1)
	for k, v := range tags {
		if v == nil {
			v = []string{}
		}
		out[k] = v
	}
	if _, ok := out[TagConfigurationSet]; !ok && configurationSet != "" {
		out[TagConfigurationSet] = []string{configurationSet}
	}
	return out
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// UnmarshalJSON reads an event in SES's JSON, as MarshalJSON writes it (and
// as Append stores it). AccountID is not part of SES's JSON and stays
// empty; ConfigurationSet is taken from the ses:configuration-set tag, and
// Mail.SourceIP and Mail.CallerIdentity from the mail object's sourceIp and
// callerIdentity when present, from the ses:source-ip and
// ses:caller-identity tags otherwise. Every details object present is
// read, so Validate reports a payload with the wrong ones. Unknown keys are
// ignored.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("event: decode: %w", err)
	}
	if !w.EventType.Valid() {
		return fmt.Errorf("event: decode: unknown eventType %q", w.EventType)
	}
	ev := Event{Type: w.EventType, Mail: mailOfWire(&w.Mail)}
	ev.ConfigurationSet = singleTag(ev.Mail.Tags, TagConfigurationSet)
	ev.Send = w.Send
	if d := w.Reject; d != nil {
		ev.Reject = &RejectDetails{Reason: d.Reason}
	}
	if d := w.Bounce; d != nil {
		ev.Bounce = &BounceDetails{BounceType: d.BounceType, BounceSubType: d.BounceSubType, BouncedRecipients: d.BouncedRecipients,
			Timestamp: time.Time(d.Timestamp), FeedbackID: d.FeedbackID, ReportingMTA: d.ReportingMTA, RemoteMTAIP: d.RemoteMTAIP}
	}
	if d := w.Complaint; d != nil {
		c := &ComplaintDetails{Timestamp: time.Time(d.Timestamp), FeedbackID: d.FeedbackID, ComplaintFeedbackType: d.ComplaintFeedbackType,
			UserAgent: d.UserAgent, ArrivalDate: d.ArrivalDate, ComplaintSubType: d.ComplaintSubType}
		for _, r := range d.ComplainedRecipients {
			c.ComplainedRecipients = append(c.ComplainedRecipients, r.EmailAddress)
		}
		ev.Complaint = c
	}
	if d := w.Delivery; d != nil {
		ev.Delivery = &DeliveryDetails{Timestamp: time.Time(d.Timestamp), ProcessingTimeMillis: d.ProcessingTimeMillis, Recipients: d.Recipients,
			SMTPResponse: d.SMTPResponse, ReportingMTA: d.ReportingMTA, RemoteMTAIP: d.RemoteMTAIP}
	}
	if d := w.DeliveryDelay; d != nil {
		ev.DeliveryDelay = &DelayDetails{DelayType: d.DelayType, ExpirationTime: time.Time(d.ExpirationTime), DelayedRecipients: d.DelayedRecipients,
			Timestamp: time.Time(d.Timestamp), ReportingMTA: d.ReportingMTA}
	}
	if d := w.Failure; d != nil {
		ev.Failure = &FailureDetails{ErrorMessage: d.ErrorMessage, TemplateName: d.TemplateName}
	}
	if d := w.Subscription; d != nil {
		ev.Subscription = &SubscriptionDetails{ContactList: d.ContactList, Timestamp: time.Time(d.Timestamp), Source: d.Source,
			NewTopicPreferences: d.NewTopicPreferences, OldTopicPreferences: d.OldTopicPreferences}
	}
	if d := w.Open; d != nil {
		ev.Open = &OpenDetails{IPAddress: d.IPAddress, Timestamp: time.Time(d.Timestamp), UserAgent: d.UserAgent}
	}
	if d := w.Click; d != nil {
		ev.Click = &ClickDetails{IPAddress: d.IPAddress, Timestamp: time.Time(d.Timestamp), UserAgent: d.UserAgent, Link: d.Link, LinkTags: d.LinkTags}
	}
	*e = ev
	return nil
}

// mailOfWire is the Mail of a decoded mail object: Mail.SourceIP and
// Mail.CallerIdentity from its sourceIp and callerIdentity when present,
// from the ses:source-ip and ses:caller-identity tags otherwise; no tags
// is nil Tags.
func mailOfWire(wm *wireMail) Mail {
	m := Mail{
		Timestamp:        time.Time(wm.Timestamp),
		MessageID:        wm.MessageID,
		Source:           wm.Source,
		SourceArn:        wm.SourceArn,
		SourceIP:         wm.SourceIP,
		CallerIdentity:   wm.CallerIdentity,
		SendingAccountID: wm.SendingAccountID,
		Destination:      wm.Destination,
		HeadersTruncated: wm.HeadersTruncated,
		Headers:          wm.Headers,
		CommonHeaders:    wm.CommonHeaders,
	}
	if len(wm.Tags) > 0 {
		m.Tags = maps.Clone(wm.Tags)
	}
	if m.SourceIP == "" {
		m.SourceIP = singleTag(m.Tags, TagSourceIP)
	}
	if m.CallerIdentity == "" {
		m.CallerIdentity = singleTag(m.Tags, TagCallerIdentity)
	}
	return m
}

// singleTag is the value of tags' tag name when it has exactly one, and ""
// otherwise.
func singleTag(tags map[string][]string, name string) string {
	if v := tags[name]; len(v) == 1 {
		return v[0]
	}
	return ""
}
