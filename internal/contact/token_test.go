package contact

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTokenNotText: a NextToken that decodes to the right prefix but to a
// position that is not text (a NUL, invalid UTF-8), which PostgreSQL
// refuses as a parameter, is a bad token (*InvalidError naming
// NextToken), not a failed query, on both stores and for every list.
func TestTokenNotText(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		const acct = "111122223333"
		if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, 0)`, acct, "a"); err != nil {
			t.Fatal(err)
		}
		s, err := New(Options{DB: d})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateList(ctx, acct, List{Name: "l"}); err != nil {
			t.Fatal(err)
		}
		im, err := NewImports(ImportOptions{DB: d, Contacts: s})
		if err != nil {
			t.Fatal(err)
		}
		for _, pos := range []string{"a\x00b", "\xff\xfe"} {
			tok := func(prefix string) string { return base64.RawURLEncoding.EncodeToString([]byte(prefix + pos)) }
			_, _, errLists := s.ListLists(ctx, acct, tok(listToken), 0)
			_, _, errContacts := s.ListContacts(ctx, acct, "l", Filter{}, tok(contactToken), 0)
			_, _, errJobs := im.List(ctx, acct, "", tok(jobToken), 0)
			for name, err := range map[string]error{"ListLists": errLists, "ListContacts": errContacts, "Imports.List": errJobs} {
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Field != "NextToken" {
					t.Errorf("%s with a token of %q: %v, want an *InvalidError for NextToken", name, pos, err)
				}
			}
		}
	})
}
