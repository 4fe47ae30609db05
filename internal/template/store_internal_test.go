package template

import (
	"testing"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
)

// TestPreviewUsesCache: TestRenderTemplate's preview compiles through the
// store's cache, as sends do (a 500 KB template takes ~0.4 s to compile:
// every call compiling it again would let a client spend the CPU at will).
func TestPreviewUsesCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		box, err := seal.New("template test secret")
		if err != nil {
			t.Fatal(err)
		}
		a, _, err := account.New(d, box, nil).Create(t.Context(), account.CreateOptions{Name: "acct"})
		if err != nil {
			t.Fatal(err)
		}
		s := NewStore(d, nil)
		c := Content{Subject: "Hi {{name}}", Text: "Hello {{name}}"}
		if err := s.Create(t.Context(), a.ID, Template{Name: "welcome", Content: c}); err != nil {
			t.Fatal(err)
		}
		s.cache = cache{} // as after a restart
		if _, err := s.Preview(t.Context(), a.ID, "welcome", `{"name":"Ann"}`, "us-east-1"); err != nil {
			t.Fatal(err)
		}
		first := s.cache.m[c]
		if first == nil {
			t.Fatal("the preview's compiled template is not in the cache")
		}
		if _, err := s.Preview(t.Context(), a.ID, "welcome", `{"name":"Bob"}`, "us-east-1"); err != nil {
			t.Fatal(err)
		}
		if s.cache.m[c] != first || len(s.cache.m) != 1 {
			t.Error("the second preview compiled the template again")
		}
	})
}
