package configset_test

import (
	"slices"
	"testing"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/event"
)

// TestEventTypeNames: every event Sesame records has its MatchingEventTypes
// name, so a destination can take it (Subscription too: SUBSCRIPTION).
func TestEventTypeNames(t *testing.T) {
	for _, ty := range event.Types {
		n := configset.EventTypeName(ty)
		if !slices.Contains(configset.EventTypes, n) {
			t.Errorf("%s: name %q is not one of %v", ty, n, configset.EventTypes)
		}
		d := configset.Destination{Enabled: true, MatchingEventTypes: []string{n}}
		if !d.Matches(ty) {
			t.Errorf("a destination for %s does not take it", n)
		}
	}
	d := configset.Destination{Enabled: true, MatchingEventTypes: []string{"SEND"}}
	if d.Matches(event.Subscription) {
		t.Error("a SEND destination takes Subscription events")
	}
}
