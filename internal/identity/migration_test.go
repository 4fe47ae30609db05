package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestMigrationDropsClearSecrets: migration 0007 on a database written by
// the previous version, whose address identities hold their link secrets
// in the clear and whose pending_mail holds the mails: a pending address
// verification fails with a reason saying why, no clear secret is left
// and none works, domain tokens are kept, and the mails whose links the
// upgrade killed do not stop their owners from asking for a new one at
// once (no resend cooldown, nothing counted for the daily cap).
func TestMigrationDropsClearSecrets(t *testing.T) {
	stores := map[string]func(t *testing.T) func() *db.DB{
		"sqlite": func(t *testing.T) func() *db.DB {
			dir := t.TempDir()
			return func() *db.DB { return open(t, db.Options{DataDir: filepath.Join(dir, "data")}) }
		},
		"postgres": func(t *testing.T) func() *db.DB {
			url := dbtest.PostgresURL(t)
			return func() *db.DB { return open(t, db.Options{URL: url}) }
		},
	}
	for name, reopen := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			reopen := reopen(t)
			d := reopen()
			box, _ := seal.New("k")
			at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			ids, err := identity.New(identity.Options{DB: d, Seal: box, Region: "eu-west-1", ServiceDomain: "sesame.example.test", Now: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			a, _, err := account.New(d, box, nil).Create(ctx, account.CreateOptions{Name: "a"})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"x.example", "pending@x.example", "verified@x.example"} {
				if _, err := ids.Create(ctx, a.ID, n, identity.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			dom, _ := ids.Get(ctx, a.ID, "x.example")
			v, _ := ids.Get(ctx, a.ID, "verified@x.example")
			if _, err := ids.Record(ctx, identity.CheckResult{IdentityID: v.ID, Version: v.Version, At: at, Verification: identity.Present}); err != nil {
				t.Fatal(err)
			}
			// Back to the previous version's schema and data.
			testkit.Before0007(t, d)
			for _, q := range []string{
				`UPDATE identities SET verification_token = 'clear-secret-1' WHERE name = 'pending@x.example'`,
				`UPDATE identities SET verification_token = 'clear-secret-2' WHERE name = 'verified@x.example'`,
			} {
				if _, err := d.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := d.Exec(ctx, `INSERT INTO pending_mail (id, account_id, kind, recipient, subject, body, created_at, sent_at) VALUES (1, ?, 'verification', 'Pending@x.example', 's', ?, ?, ?)`,
				a.ID, "https://sesame.example.test/verify?token=clear-secret-1", db.Millis(at), db.Millis(at)); err != nil {
				t.Fatal(err)
			}
			d.Close()

			d = reopen() // migrates
			ids, _ = identity.New(identity.Options{DB: d, Seal: box, Region: "eu-west-1", ServiceDomain: "sesame.example.test", Now: func() time.Time { return at.Add(time.Minute) },
				Mail: func(context.Context, *db.Tx, identity.Mail) error { return nil }})
			p, _ := ids.Get(ctx, a.ID, "pending@x.example")
			if p.Verification != identity.Failed || p.VerificationToken != "" || time.Since(p.VerificationSince) > time.Minute {
				t.Fatalf("pending address after the migration: %s, token %q, since %v", p.Verification, p.VerificationToken, p.VerificationSince)
			}
			ts, _ := ids.Transitions(ctx, p.ID)
			if last := ts[len(ts)-1]; last.From != identity.Pending || last.To != identity.Failed || !strings.Contains(last.Reason, "invalidated by an upgrade") {
				t.Fatalf("last transition %+v", last)
			}
			if v, _ := ids.Get(ctx, a.ID, "verified@x.example"); v.Verification != identity.Success || v.VerificationToken != "" {
				t.Fatalf("verified address after the migration: %s, token %q", v.Verification, v.VerificationToken)
			}
			if got, _ := ids.Get(ctx, a.ID, "x.example"); got.VerificationToken != dom.VerificationToken {
				t.Fatal("the domain's public token changed")
			}
			for _, s := range []string{"clear-secret-1", "clear-secret-2"} {
				if _, err := ids.ConfirmAddress(ctx, s); !errors.Is(err, identity.ErrNotFound) {
					t.Errorf("old link %s: %v", s, err)
				}
			}
			if row := rowContaining(t, d, "identities", "clear-secret"); row != "" {
				t.Errorf("a clear secret survived: %s", row)
			}
			if _, err := d.Exec(ctx, `SELECT 1 FROM pending_mail`); err == nil {
				t.Error("pending_mail (with its clear links) is still there")
			}
			// The failed address asks for a new mail a minute after the old
			// one went, as the reason tells it to, and gets it.
			var n int
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM verification_mails`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("verification_mails after the upgrade: %d rows, %v; want none", n, err)
			}
			if p, err := ids.EnsureAddress(ctx, a.ID, "pending@x.example"); err != nil || p.Verification != identity.Pending {
				t.Fatalf("a new mail a minute after the one whose link the upgrade killed: %+v, %v", p, err)
			}
		})
	}
}

func open(t *testing.T, o db.Options) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
