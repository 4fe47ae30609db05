package send_test

import (
	"context"
	"testing"

	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// BenchmarkHotLookups is the lookups a send makes besides the queue: the
// access key's secret, the account (twice: limits and state), the
// identity chain, the configuration set and the suppression check.
func BenchmarkHotLookups(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		e, sets, supp := csEnv(b, d)
		e.createSet(sets, e.acct, "cs")
		k, err := e.accts.AddKey(ctx, e.acct, "AKIABENCHLOOKUP01", "bench-secret-0123456789")
		if err != nil {
			b.Fatal(err)
		}
		names := []string{"a@example.test", "example.test", "to@example.org", "example.org"}
		rcpts := []string{"to@example.org"}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			c := cachever.WithMemo(context.Background()) // as send.Submit does
			if _, _, err := e.accts.Secret(c, k.AccessKeyID); err != nil {
				b.Fatal(err)
			}
			for range 2 {
				if _, err := e.accts.Get(c, e.acct); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := e.ids.GetMany(c, e.acct, names); err != nil {
				b.Fatal(err)
			}
			if _, err := sets.Get(c, e.acct, "cs"); err != nil {
				b.Fatal(err)
			}
			if _, err := supp.Suppressed(c, e.acct, nil, rcpts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
