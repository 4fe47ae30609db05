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
// one, which this test then names. The one exception is a contact list
// that does not exist: SES's bulk status enums have nothing for it (and
// SendBulkEmail's list is checked for the whole request first), so it
// shares INVALID_PARAMETER, deliberately.
func TestBulkStatusEveryKind(t *testing.T) {
	seen := map[string]send.Kind{}
	shared := map[send.Kind]bool{send.KindContactListDoesNotExist: true}
	for k := send.Kind(1); !strings.HasPrefix(k.String(), "Kind("); k++ {
		v1, v2, msg, ok := sesapi.BulkStatus(&send.Error{Kind: k, Msg: "why"})
		if !ok || msg != "why" || v1 == "" || v2 == "" {
			t.Errorf("%s: %q %q %q %v", k, v1, v2, msg, ok)
		}
		if shared[k] {
			if v2 != "INVALID_PARAMETER" || v1 != "InvalidParameterValue" {
				t.Errorf("%s: %q %q, want InvalidParameterValue / INVALID_PARAMETER", k, v1, v2)
			}
			continue
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
