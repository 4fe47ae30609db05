// Package configset owns configuration sets: their sending, reputation,
// suppression and delivery options, their tags, and their event
// destinations, stored per account (table configuration_sets and
// event_destinations).
package configset

import (
	"errors"
	"slices"
	"time"

	"github.com/sesame-email/sesame/internal/event"
)

// ErrNotFound is returned (wrapped) for a configuration set or event
// destination that does not exist in the account.
var ErrNotFound = errors.New("configset: not found")

// Set is one configuration set of an account.
type Set struct {
	AccountID string
	Name      string
	// SendingEnabled is SendingOptions.SendingEnabled: false pauses every
	// send through the set.
	SendingEnabled bool
	// ReputationMetricsEnabled is ReputationOptions.ReputationMetricsEnabled:
	// the set's own bounce and complaint rates are tracked (and its
	// reputation thresholds apply).
	ReputationMetricsEnabled bool
	// LastFreshStart is ReputationOptions.LastFreshStart; zero when never.
	LastFreshStart time.Time
	// TLSPolicy is DeliveryOptions.TlsPolicy, "REQUIRE" or "OPTIONAL"
	// ("" when DeliveryOptions were never set: OPTIONAL).
	TLSPolicy string
	// MaxDeliverySeconds is DeliveryOptions.MaxDeliverySeconds; 0 means
	// the deployment's retry window.
	MaxDeliverySeconds int64
	// SuppressedReasons is SuppressionOptions.SuppressedReasons ("BOUNCE",
	// "COMPLAINT"). Nil means the set has no SuppressionOptions (the
	// account's reasons apply); an empty non-nil slice means the set
	// suppresses nothing.
	SuppressedReasons []string
	// Tracking is TrackingOptions; nil when the set has none.
	Tracking *TrackingOptions
	// TracksOpen and TracksClick say whether an enabled event destination
	// of the set takes OPEN (CLICK) events: mail through the set then gets
	// an open pixel (rewritten links), as in SES. Only Get fills them.
	TracksOpen, TracksClick bool
	Tags                    []Tag
	CreatedAt               time.Time
}

// The HttpsPolicy values of TrackingOptions.
const (
	HTTPSRequire         = "REQUIRE"           // https for the pixel and the links
	HTTPSRequireOpenOnly = "REQUIRE_OPEN_ONLY" // https for the pixel; a link keeps its own scheme
	HTTPSOptional        = "OPTIONAL"          // the link's own scheme, the public URL's for the pixel
)

// TrackingOptions is a set's TrackingOptions.
type TrackingOptions struct {
	// CustomRedirectDomain is the host of the tracking links ("" for the
	// deployment's public host); a verified domain of the account.
	CustomRedirectDomain string
	// HTTPSPolicy is one of the HTTPS* constants; "" means OPTIONAL.
	HTTPSPolicy string
}

// Tag is one resource tag.
type Tag struct{ Key, Value string }

// The DimensionValueSource values of a CloudWatch dimension.
const (
	SourceMessageTag  = "MESSAGE_TAG"
	SourceEmailHeader = "EMAIL_HEADER"
	SourceLinkTag     = "LINK_TAG"
)

// Dimension is one CloudWatchDimensionConfiguration.
type Dimension struct {
	Name    string // DimensionName, e.g. "ses:from-domain"
	Source  string // DimensionValueSource: SourceMessageTag, SourceEmailHeader or SourceLinkTag
	Default string // DefaultDimensionValue
}

// Destination is one event destination of a set. Exactly one of
// SNSTopicARN and CloudWatch is set.
type Destination struct {
	Name    string
	Enabled bool
	// MatchingEventTypes in SES v2's enum spelling: "SEND", "REJECT",
	// "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK",
	// "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION".
	MatchingEventTypes []string
	// SNSTopicARN is SnsDestination.TopicArn.
	SNSTopicARN string
	// CloudWatch is CloudWatchDestination.DimensionConfigurations; non-nil
	// for a CloudWatch destination.
	CloudWatch []Dimension
}

// EventTypeName returns the v2 enum spelling of t ("Rendering Failure" →
// "RENDERING_FAILURE", DeliveryDelay → "DELIVERY_DELAY").
func EventTypeName(t event.Type) string {
	switch t {
	case event.Send:
		return "SEND"
	case event.Reject:
		return "REJECT"
	case event.Bounce:
		return "BOUNCE"
	case event.Complaint:
		return "COMPLAINT"
	case event.Delivery:
		return "DELIVERY"
	case event.DeliveryDelay:
		return "DELIVERY_DELAY"
	case event.RenderingFailure:
		return "RENDERING_FAILURE"
	case event.Subscription:
		return "SUBSCRIPTION"
	case event.Open:
		return "OPEN"
	case event.Click:
		return "CLICK"
	}
	return ""
}

// Matches reports whether d is enabled and takes events of type t.
func (d *Destination) Matches(t event.Type) bool {
	n := EventTypeName(t)
	return d.Enabled && n != "" && slices.Contains(d.MatchingEventTypes, n)
}
