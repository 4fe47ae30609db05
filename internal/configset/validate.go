package configset

import (
	"slices"
	"strings"
)

// EventTypes are the MatchingEventTypes values, in SES v2's enum spelling
// and SES's order. RENDERING_FAILURE, SUBSCRIPTION, OPEN and CLICK are
// accepted although Sesame does not produce those events yet.
var EventTypes = []string{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK", "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION"}

// ValidateName checks a set or destination name (the member named field):
// 1 to 64 characters, ASCII letters, digits, '_' and '-'.
func ValidateName(field, name string) error {
	kind := InvalidSet
	if field != "ConfigurationSetName" {
		kind = InvalidOther
	}
	if name == "" {
		return invalid(kind, field, "%s is required.", field)
	}
	if len(name) > MaxNameLength {
		return invalid(kind, field, "Invalid %s %q: at most %d characters allowed.", field, name, MaxNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return invalid(kind, field, "Invalid %s %q: only ASCII letters, numbers, underscores (_) and dashes (-) are allowed.", field, name)
		}
	}
	return nil
}

// ValidateTags checks SES's tag rules: at most 50, keys 1–128 characters
// and unique, values at most 256 characters.
func ValidateTags(tags []Tag) error {
	if len(tags) > MaxTags {
		return invalid(InvalidOther, "Tags", "Too many tags: %d (at most %d).", len(tags), MaxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 {
			return invalid(InvalidOther, "Tags", "Tag keys must be 1-128 characters long (got %q).", t.Key)
		}
		if len(t.Value) > 256 {
			return invalid(InvalidOther, "Tags", "Tag values must be at most 256 characters long (key %q).", t.Key)
		}
		if seen[t.Key] {
			return invalid(InvalidOther, "Tags", "Duplicate tag key %q.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func validateDelivery(tlsPolicy string, maxSeconds int64) error {
	if tlsPolicy != "" && tlsPolicy != "REQUIRE" && tlsPolicy != "OPTIONAL" {
		return invalid(InvalidDelivery, "DeliveryOptions.TlsPolicy", "Invalid DeliveryOptions.TlsPolicy %q: must be REQUIRE or OPTIONAL.", tlsPolicy)
	}
	if maxSeconds != 0 && (maxSeconds < MinDeliverySeconds || maxSeconds > MaxDeliverySeconds) {
		return invalid(InvalidDelivery, "DeliveryOptions.MaxDeliverySeconds", "Invalid DeliveryOptions.MaxDeliverySeconds %d: must be from %d to %d.", maxSeconds, MinDeliverySeconds, MaxDeliverySeconds)
	}
	return nil
}

func validateReasons(reasons []string) error {
	for _, r := range reasons {
		if r != "BOUNCE" && r != "COMPLAINT" {
			return invalid(InvalidOther, "SuppressionOptions.SuppressedReasons", "Invalid SuppressionOptions.SuppressedReasons value %q: must be BOUNCE or COMPLAINT.", r)
		}
	}
	return nil
}

// validDimensionText reports whether s is a CloudWatch dimension name or
// default value as SES allows them: 1–256 characters, ASCII letters,
// digits, '_', '-', '.', '@' and ':' (the auto-tags are "ses:...").
func validDimensionText(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.@:", r)) {
			return false
		}
	}
	return true
}

// validateDestination checks a destination's shape (not whether its
// topic exists): its name, at least one known MatchingEventType, exactly
// one kind, and the CloudWatch dimensions.
func validateDestination(d *Destination) error {
	if err := ValidateName("EventDestinationName", d.Name); err != nil {
		return err
	}
	if len(d.MatchingEventTypes) == 0 {
		return invalid(InvalidOther, "MatchingEventTypes", "MatchingEventTypes of event destination %s must name at least one event type.", d.Name)
	}
	for _, t := range d.MatchingEventTypes {
		if !slices.Contains(EventTypes, t) {
			return invalid(InvalidOther, "MatchingEventTypes", "Invalid MatchingEventTypes value %q: must be one of %s.", t, strings.Join(EventTypes, ", "))
		}
	}
	switch {
	case d.SNSTopicARN != "" && d.CloudWatch != nil:
		return invalid(InvalidOther, "EventDestination", "Event destination %s must have exactly one destination (SnsDestination or CloudWatchDestination), not both.", d.Name)
	case d.SNSTopicARN == "" && d.CloudWatch == nil:
		return invalid(InvalidOther, "EventDestination", "Event destination %s must have exactly one destination; Sesame supports SnsDestination and CloudWatchDestination.", d.Name)
	case d.CloudWatch != nil:
		if len(d.CloudWatch) == 0 {
			return invalid(InvalidCloudWatch, "CloudWatchDestination.DimensionConfigurations", "CloudWatchDestination.DimensionConfigurations of event destination %s must have at least one dimension.", d.Name)
		}
		if len(d.CloudWatch) > MaxDimensions {
			return invalid(InvalidCloudWatch, "CloudWatchDestination.DimensionConfigurations", "CloudWatchDestination.DimensionConfigurations of event destination %s has %d dimensions; at most %d are allowed.", d.Name, len(d.CloudWatch), MaxDimensions)
		}
		seen := map[string]bool{}
		for i, dim := range d.CloudWatch {
			switch {
			case !validDimensionText(dim.Name):
				return invalid(InvalidCloudWatch, "CloudWatchDestination.DimensionConfigurations", "Invalid DimensionName %q (dimension %d): 1-256 ASCII letters, numbers, underscores, dashes, periods, at signs and colons.", dim.Name, i+1)
			case seen[dim.Name]:
				return invalid(InvalidCloudWatch, "CloudWatchDestination.DimensionConfigurations", "Duplicate DimensionName %q.", dim.Name)
			case dim.Source != SourceMessageTag && dim.Source != SourceEmailHeader && dim.Source != SourceLinkTag:
				return invalid(InvalidCloudWatch, "CloudWatchDestination.DimensionConfigurations", "Invalid DimensionValueSource %q of dimension %s: must be MESSAGE_TAG, EMAIL_HEADER or LINK_TAG.", dim.Source, dim.Name)
			case !validDimensionText(dim.Default):
				return invalid(InvalidCloudWatch, "CloudWatchDestination.DimensionConfigurations", "Invalid DefaultDimensionValue %q of dimension %s: 1-256 ASCII letters, numbers, underscores, dashes, periods, at signs and colons.", dim.Default, dim.Name)
			}
			seen[dim.Name] = true
		}
	default:
		if !strings.HasPrefix(d.SNSTopicARN, "arn:") || strings.Count(d.SNSTopicARN, ":") != 5 || !strings.Contains(d.SNSTopicARN, ":sns:") {
			return invalid(InvalidSNS, "SnsDestination.TopicArn", "Invalid SnsDestination.TopicArn %q: expected arn:aws:sns:<region>:<account id>:<topic name>.", d.SNSTopicARN)
		}
	}
	return nil
}
