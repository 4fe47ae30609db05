package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
)

// TestVerifyWaitsForOwnershipLock (PostgreSQL, where transactions run
// side by side): while another transaction holds the MAIL FROM ownership
// lock (a SetMailFrom checking who owns its domain), a check that would
// verify a domain is discarded with ErrStale instead of waiting for the
// lock while holding its row — and changes nothing; once the lock is free
// it goes through.
func TestVerifyWaitsForOwnershipLock(t *testing.T) {
	d := dbtest.Postgres(t)
	ctx := context.Background()
	box, _ := seal.New("k")
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	s, err := New(Options{DB: d, Seal: box, Region: "eu-west-1", ServiceDomain: "sesame.example.test", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := account.New(d, box, func() time.Time { return now }).Create(ctx, account.CreateOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	i, err := s.Create(ctx, a.ID, "a.example", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := CheckResult{IdentityID: i.ID, Version: i.Version, At: now, Verification: Present, Window: time.Hour, Interval: time.Minute}
	err = d.InTx(ctx, func(tx *db.Tx) error {
		if err := lockOwnership(ctx, tx); err != nil {
			return err
		}
		if _, err := s.Record(ctx, check); !errors.Is(err, ErrStale) {
			t.Errorf("Record while the lock is held: %v; want ErrStale", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := s.GetByID(ctx, i.ID); j.Verification != Pending || j.Version != i.Version {
		t.Fatalf("a discarded check changed the identity: %s, version %d", j.Verification, j.Version)
	}
	if _, err := s.Record(ctx, check); err != nil {
		t.Fatalf("Record once the lock is free: %v", err)
	}
	if j, _ := s.GetByID(ctx, i.ID); j.Verification != Success {
		t.Fatalf("verification = %s", j.Verification)
	}
}

// TestValidityWords: the verification mail says "24 hours", as SES's
// does, not Go's "24h0m0s".
func TestValidityWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24 hours", time.Hour: "1 hour", 90 * time.Minute: "90 minutes", 1500 * time.Millisecond: "1.5s",
	} {
		if got := validity(d); got != want {
			t.Errorf("validity(%v) = %q, want %q", d, got, want)
		}
	}
}
