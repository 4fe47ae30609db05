package account

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
)

func TestAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("test secret")
		s := New(d, box, nil)
		a, k, err := s.Create(ctx, CreateOptions{Name: "acme", Email: "Ops@Acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		if len(a.ID) != 12 || !a.Sandbox || a.Email != "Ops@acme.example" || len(k.AccessKeyID) != 20 || len(k.Secret) != 40 {
			t.Fatalf("account %+v key %+v", a, k)
		}
		secret, acct, err := s.Secret(ctx, k.AccessKeyID)
		if err != nil || secret != k.Secret || acct != a.ID {
			t.Fatalf("Secret = %q, %q, %v", secret, acct, err)
		}
		if _, _, err := s.Secret(ctx, "AKIANOSUCHKEY0000000"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown key: %v", err)
		}
		// The secret is not stored in the clear.
		var sealed []byte
		d.QueryRow(ctx, `SELECT secret_sealed FROM access_keys WHERE access_key_id = ?`, k.AccessKeyID).Scan(&sealed)
		if string(sealed) == k.Secret || len(sealed) == 0 {
			t.Fatal("secret stored in the clear")
		}
		// Given keys, and the rules on them.
		b, k2, err := s.Create(ctx, CreateOptions{Name: "beta", AccessKeyID: "AKIDEXAMPLE00000001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
		if err != nil || k2.AccessKeyID != "AKIDEXAMPLE00000001" {
			t.Fatal(err)
		}
		for _, bad := range []CreateOptions{
			{Name: "acme"}, // duplicate name
			{Name: "x y"},
			{Name: "c", AccessKeyID: "AKIDEXAMPLE00000001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, // duplicate key
			{Name: "d", AccessKeyID: "short", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
			{Name: "e", AccessKeyID: "AKIDEXAMPLE00000009"},
			{Name: "f", Email: "not-an-address"},
		} {
			if _, _, err := s.Create(ctx, bad); err == nil {
				t.Errorf("Create(%+v) succeeded", bad)
			}
		}
		all, _ := s.List(ctx)
		if len(all) != 2 {
			t.Fatalf("List = %d accounts; a failed create left something behind", len(all))
		}
		for _, ref := range []string{"beta", b.ID, "AKIDEXAMPLE00000001"} {
			if got, err := s.Find(ctx, ref); err != nil || got.ID != b.ID {
				t.Errorf("Find(%q) = %v, %v", ref, got, err)
			}
		}
		if _, err := s.Find(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(nobody) = %v", err)
		}
		k3, err := s.AddKey(ctx, a.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := s.Keys(ctx, a.ID)
		if len(keys) != 2 || keys[0].Secret != "" {
			t.Fatalf("Keys = %+v", keys)
		}
		if _, acct, _ := s.Secret(ctx, k3.AccessKeyID); acct != a.ID {
			t.Fatal("added key does not belong to the account")
		}
	})
}

func TestProductionAndSending(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("k")
		s := New(d, box, nil)
		a, _, err := s.Create(ctx, CreateOptions{Name: "p"})
		if err != nil {
			t.Fatal(err)
		}
		nan, inf := math.NaN(), math.Inf(1)
		for _, bad := range [][2]float64{{0, 1}, {-2, 1}, {100, 0}, {-0.5, 1}, {50000.5, 1}, {nan, 1}, {inf, 1}, {-inf, 1}, {100, nan}, {100, inf}, {100, -1}} {
			if err := s.SetProduction(ctx, a.ID, bad[0], bad[1]); !errors.Is(err, ErrInvalid) {
				t.Errorf("SetProduction(%v) = %v", bad, err)
			}
		}
		if err := s.SetProduction(ctx, a.ID, DefaultProductionMax24HourSend, DefaultProductionMaxSendRate); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSendingEnabled(ctx, a.ID, false); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, a.ID)
		if got.Sandbox || got.SendingEnabled || got.Max24HourSend != 50000 || got.MaxSendRate != 14 {
			t.Fatalf("account = %+v", got)
		}
		if err := s.SetProduction(ctx, "000000000000", 1, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
	})
}

func TestDetails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("k")
		s := New(d, box, nil)
		a, _, _ := s.Create(ctx, CreateOptions{Name: "d"})
		if _, err := s.Details(ctx, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no details yet: %v", err)
		}
		good := Details{MailType: "TRANSACTIONAL", WebsiteURL: "https://shop.example", ContactLanguage: "EN", AdditionalContacts: []string{"ops@shop.example"}}
		for _, bad := range []Details{
			{MailType: "SPAM", WebsiteURL: "https://x.example"},
			{MailType: "MARKETING", WebsiteURL: "ftp://x.example"},
			{MailType: "MARKETING", WebsiteURL: "https://x.example", ContactLanguage: "DE"},
			{MailType: "MARKETING", WebsiteURL: "https://x.example", AdditionalContacts: []string{"nope"}},
		} {
			if err := s.SetDetails(ctx, a.ID, bad, true); !errors.Is(err, ErrInvalid) {
				t.Errorf("SetDetails(%+v) = %v", bad, err)
			}
		}
		if _, err := s.Details(ctx, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatal("a rejected request stored details")
		}
		if err := s.SetDetails(ctx, a.ID, good, true); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Details(ctx, a.ID)
		if got.ReviewStatus != "PENDING" || got.CaseID == "" || got.AdditionalContacts[0] != "ops@shop.example" {
			t.Fatalf("details = %+v", got)
		}
		if err := s.SetProduction(ctx, a.ID, 1000, 5); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Details(ctx, a.ID)
		if got.ReviewStatus != "GRANTED" {
			t.Fatalf("after production: %+v", got)
		}
	})
}

// TestNamesThatLookLikeReferences: a name that looks like an account ID or
// an access key ID is refused, and Find resolves an account ID first, then
// an access key ID, then a name, so an admin command never acts on the
// wrong account.
func TestNamesThatLookLikeReferences(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("test secret")
		s := New(d, box, nil)
		victim, vk, err := s.Create(ctx, CreateOptions{Name: "victim", AccessKeyID: "AKIDVICTIM000000001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, rule string }{
			{"836309891122", "looks like an account ID"},
			{victim.ID, "looks like an account ID"},
			{vk.AccessKeyID, "looks like an access key ID"},
			{"AKIAIOSFODNN7EXAMPLE", "looks like an access key ID"},
			{"acmecorporation1", "looks like an access key ID"},
		} {
			_, _, err := s.Create(ctx, CreateOptions{Name: c.name})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.rule) {
				t.Errorf("Create(name %q) = %v; want ErrInvalid saying %q", c.name, err, c.rule)
			}
		}
		// Names that merely contain digits or are short stay allowed.
		for _, name := range []string{"8363098911", "8363098911223", "acme-corporation", "team42"} {
			if _, _, err := s.Create(ctx, CreateOptions{Name: name}); err != nil {
				t.Errorf("Create(name %q): %v", name, err)
			}
		}
		all, _ := s.List(ctx)
		if len(all) != 5 {
			t.Fatalf("%d accounts; a refused name left one behind", len(all))
		}

		// Accounts from before the rule may have such names; Find must
		// still resolve an ID to its account and a key to its account.
		for _, name := range []string{victim.ID, vk.AccessKeyID} {
			if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, email, sandbox, sending_enabled, max_24h_send, max_send_rate, created_at) VALUES (?, ?, '', ?, ?, 200, 1, 0)`,
				"0000000000"+fmt.Sprint(len(name)), name, true, true); err != nil {
				t.Fatal(err)
			}
		}
		for _, ref := range []string{victim.ID, vk.AccessKeyID, "victim"} {
			if got, err := s.Find(ctx, ref); err != nil || got.ID != victim.ID {
				t.Errorf("Find(%q) = %+v, %v; want the account %s", ref, got, err, victim.ID)
			}
		}
		if got, err := s.Find(ctx, "acme-corporation"); err != nil || got.Name != "acme-corporation" {
			t.Errorf("Find by name = %+v, %v", got, err)
		}
	})
}

// TestRemoveKey: a key is removed from its own account only; requests
// signed with it then find no key. The last key goes only with force.
// Two removals at once cannot take an account's last two keys.
func TestRemoveKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("test secret")
		s := New(d, box, nil)
		a, k1, err := s.Create(ctx, CreateOptions{Name: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		b, kb, err := s.Create(ctx, CreateOptions{Name: "beta"})
		if err != nil {
			t.Fatal(err)
		}
		k2, err := s.AddKey(ctx, a.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveKey(ctx, a.ID, kb.AccessKeyID, true); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "account "+a.ID+" has no access key "+kb.AccessKeyID) {
			t.Fatalf("another account's key: %v", err)
		}
		if err := s.RemoveKey(ctx, a.ID, "AKIANOSUCHKEY0000000", true); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("an unknown key: %v", err)
		}
		if err := s.RemoveKey(ctx, a.ID, k1.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Secret(ctx, k1.AccessKeyID); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("a removed key still signs: %v", err)
		}
		err = s.RemoveKey(ctx, a.ID, k2.AccessKeyID, false)
		if !errors.Is(err, ErrLastKey) || !strings.Contains(err.Error(), "is the only access key of account "+a.ID) || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("the last key without force: %v", err)
		}
		if _, _, err := s.Secret(ctx, k2.AccessKeyID); err != nil {
			t.Fatalf("a refused removal removed the key: %v", err)
		}
		if err := s.RemoveKey(ctx, a.ID, k2.AccessKeyID, true); err != nil {
			t.Fatalf("the last key with force: %v", err)
		}
		if keys, _ := s.Keys(ctx, a.ID); len(keys) != 0 {
			t.Fatalf("keys left: %v", keys)
		}
		if keys, _ := s.Keys(ctx, b.ID); len(keys) != 1 {
			t.Fatalf("the other account's keys: %v", keys)
		}

		// Two removals at once, one of each of the last two keys.
		for round := range 5 {
			x, err := s.AddKey(ctx, b.ID, "", "")
			if err != nil {
				t.Fatal(err)
			}
			keys, _ := s.Keys(ctx, b.ID)
			errs := make(chan error, 2)
			for _, k := range keys {
				go func() { errs <- s.RemoveKey(ctx, b.ID, k.AccessKeyID, false) }()
			}
			var removed, last int
			for range 2 {
				switch err := <-errs; {
				case err == nil:
					removed++
				case errors.Is(err, ErrLastKey):
					last++
				default:
					t.Fatal(err)
				}
			}
			if keys, _ := s.Keys(ctx, b.ID); removed != 1 || last != 1 || len(keys) != 1 {
				t.Fatalf("round %d (%s added): %d removed, %d refused as last, %d keys left; want 1, 1, 1", round, x.AccessKeyID, removed, last, len(keys))
			}
		}
	})
}

// TestRemovedKeySecretLeavesMemory: once a removed key is looked up, its
// unsealed secret is no longer held by the store's cache.
func TestRemovedKeySecretLeavesMemory(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("test secret")
		s := New(d, box, nil)
		a, k1, err := s.Create(ctx, CreateOptions{Name: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		k2, err := s.AddKey(ctx, a.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{k1.AccessKeyID, k2.AccessKeyID} {
			if _, _, err := s.Secret(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.secrets.Len(); n != 2 {
			t.Fatalf("cached secrets = %d, want 2", n)
		}
		if err := s.RemoveKey(ctx, a.ID, k1.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Secret(ctx, k1.AccessKeyID); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("removed key: %v", err)
		}
		if _, _, ok := s.secrets.Peek(k1.AccessKeyID); ok {
			t.Fatal("the removed key's secret is still cached")
		}
		if secret, _, err := s.Secret(ctx, k2.AccessKeyID); err != nil || secret != k2.Secret {
			t.Fatalf("the remaining key: %q, %v", secret, err)
		}
		if _, _, ok := s.secrets.Peek(k2.AccessKeyID); !ok {
			t.Fatal("the remaining key is not cached again")
		}
	})
}

// TestKeyActive: a deactivated key stops signing at once, though its
// secret was cached; Keys shows when it was deactivated; activated again,
// it signs again. Another account's key cannot be switched.
func TestKeyActive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("test secret")
		at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		s := New(d, box, func() time.Time { return at })
		a, k1, err := s.Create(ctx, CreateOptions{Name: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		_, kb, err := s.Create(ctx, CreateOptions{Name: "beta"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Secret(ctx, k1.AccessKeyID); err != nil { // cached
			t.Fatal(err)
		}
		for _, id := range []string{kb.AccessKeyID, "AKIANOSUCHKEY0000000"} {
			if err := s.SetKeyActive(ctx, a.ID, id, false); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("deactivate %s through acme: %v", id, err)
			}
		}
		if _, _, err := s.Secret(ctx, kb.AccessKeyID); err != nil {
			t.Fatalf("beta's key after a refused deactivation: %v", err)
		}

		if err := s.SetKeyActive(ctx, a.ID, k1.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Secret(ctx, k1.AccessKeyID); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("a deactivated key still signs: %v", err)
		}
		at = at.Add(time.Hour) // a second deactivation keeps the first time
		if err := s.SetKeyActive(ctx, a.ID, k1.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		keys, err := s.Keys(ctx, a.ID)
		if err != nil || len(keys) != 1 || !keys[0].InactiveAt.Equal(at.Add(-time.Hour)) {
			t.Fatalf("Keys after deactivation: %+v, %v", keys, err)
		}

		if err := s.SetKeyActive(ctx, a.ID, k1.AccessKeyID, true); err != nil {
			t.Fatal(err)
		}
		if secret, acct, err := s.Secret(ctx, k1.AccessKeyID); err != nil || secret != k1.Secret || acct != a.ID {
			t.Fatalf("an activated key: %q %q %v", secret, acct, err)
		}
		if keys, _ := s.Keys(ctx, a.ID); len(keys) != 1 || !keys[0].InactiveAt.IsZero() {
			t.Fatalf("Keys after activation: %+v", keys)
		}
	})
}
