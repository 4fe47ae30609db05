package verifytemplate

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsAllowedTags: the invalid-content message sends users to
// the README's list of allowed tags, so the list is there and complete.
func TestREADMEListsAllowedTags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(b), "The tags a template may use")
	if !ok {
		t.Fatal("README has no list of the tags a custom verification template may use")
	}
	list, _, _ = strings.Cut(list, "CustomVerificationEmailInvalidContent")
	for tag, attrs := range allowedTags {
		if !strings.Contains(list, "`"+tag+"`") {
			t.Errorf("README's list lacks <%s>", tag)
		}
		for _, a := range attrs {
			if !strings.Contains(list, "`"+tag+"` (") || !strings.Contains(list, a) {
				t.Errorf("README's list lacks the attribute %s of <%s>", a, tag)
			}
		}
	}
}
