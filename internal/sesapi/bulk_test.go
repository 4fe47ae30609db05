package sesapi_test

import (
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// TestBulkStatusEveryKind: every kind of rejection the admission door has
// (each Kind with a name) has its own bulk status in both APIs, so
// BulkStatus's fallback to Failed is only for a kind added later without
// one, which this test then names.
func TestBulkStatusEveryKind(t *testing.T) {
	seen := map[string]send.Kind{}
	for k := send.Kind(1); !strings.HasPrefix(k.String(), "Kind("); k++ {
		v1, v2, msg, ok := sesapi.BulkStatus(&send.Error{Kind: k, Msg: "why"})
		if !ok || msg != "why" || v1 == "" || v2 == "" {
			t.Errorf("%s: %q %q %q %v", k, v1, v2, msg, ok)
		}
		if other, dup := seen[v2]; dup {
			t.Errorf("%s and %s share the status %s", k, other, v2)
		}
		seen[v2] = k
	}
	if len(seen) < 9 {
		t.Errorf("only %d kinds have statuses: %v", len(seen), seen)
	}
}
