package identity_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestVerificationResendCooldown: a second verification mail to an address
// within the cooldown is refused with ErrThrottled and changes nothing,
// whether the address is asked for again (v1) or deleted and created anew
// (v2); the refusal says when to ask again, and claims nothing about the
// link sent (deleting the identity killed it). One millisecond after the
// cooldown the mail goes.
func TestVerificationResendCooldown(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const addr = "jane@example.test"
		i, err := f.ids.EnsureAddress(f.ctx, f.acct, addr)
		if err != nil {
			t.Fatal(err)
		}
		first := testkit.VerificationSecret(t, d, addr)

		f.clock.Advance(identity.DefaultVerificationCooldown - time.Millisecond)
		_, err = f.ids.EnsureAddress(f.ctx, f.acct, "JANE@example.test")
		var le *identity.LimitError
		const want = "Rate exceeded: a verification email was sent to JANE@example.test less than 5m0s ago; ask again after 2026-05-01T08:05:00Z (EmailAddress: at most one verification email to an address every 5m0s)."
		if !errors.As(err, &le) || !errors.Is(err, identity.ErrThrottled) || le.Msg != want {
			t.Fatalf("resend within the cooldown: %v; want %q", err, want)
		}
		if _, err := f.ids.Create(f.ctx, f.acct, "Jane@example.test", identity.CreateOptions{}); !errors.Is(err, identity.ErrThrottled) {
			t.Fatalf("another case of the address within the cooldown: %v", err)
		}
		j, _ := f.ids.Get(f.ctx, f.acct, addr)
		if j.Version != i.Version || j.VerificationToken != i.VerificationToken || f.count(t, "messages") != 1 || f.count(t, "identities") != 1 {
			t.Fatalf("a refused resend changed something: version %d→%d, %d messages, %d identities", i.Version, j.Version, f.count(t, "messages"), f.count(t, "identities"))
		}
		// Deleting and adding the address again does not reset the cooldown.
		if err := f.ids.Delete(f.ctx, f.acct, addr); err != nil {
			t.Fatal(err)
		}
		_, err = f.ids.Create(f.ctx, f.acct, addr, identity.CreateOptions{})
		if !errors.Is(err, identity.ErrThrottled) || strings.Contains(err.Error(), "link") || !strings.Contains(err.Error(), "ask again after 2026-05-01T08:05:00Z") {
			t.Fatalf("re-created within the cooldown: %v", err)
		}
		if n := f.count(t, "identities"); n != 0 {
			t.Fatalf("a refused create stored %d identities", n)
		}
		// Another account is not limited by this one's mail.
		if _, err := f.ids.EnsureAddress(f.ctx, f.other, addr); err != nil {
			t.Fatalf("another account: %v", err)
		}

		f.clock.Advance(time.Millisecond)
		if _, err := f.ids.Create(f.ctx, f.acct, addr, identity.CreateOptions{}); err != nil {
			t.Fatalf("after the cooldown: %v", err)
		}
		second := testkit.VerificationSecret(t, d, addr)
		if second == first {
			t.Fatal("the resent mail carries the old link")
		}
		k, err := f.ids.ConfirmAddress(f.ctx, second)
		if err != nil || k.AccountID != f.acct || k.Verification != identity.Success {
			t.Fatalf("confirm: %+v, %v", k, err)
		}
	})
}

// TestVerificationLinkSurvivesRefusedResend: the link of the mail sent
// still works after a resend was refused within the cooldown.
func TestVerificationLinkSurvivesRefusedResend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := f.ids.EnsureAddress(f.ctx, f.acct, "jane@example.test"); err != nil {
			t.Fatal(err)
		}
		secret := testkit.VerificationSecret(t, d, "jane@example.test")
		f.clock.Advance(time.Minute)
		if _, err := f.ids.EnsureAddress(f.ctx, f.acct, "jane@example.test"); !errors.Is(err, identity.ErrThrottled) {
			t.Fatalf("resend: %v", err)
		}
		if i, err := f.ids.ConfirmAddress(f.ctx, secret); err != nil || i.Verification != identity.Success {
			t.Fatalf("the first link after a refused resend: %+v, %v", i, err)
		}
	})
}

// TestVerificationDailyCap: an account's verification mails in any 24
// hours are capped (ErrLimitExceeded, nothing stored); the window rolls.
func TestVerificationDailyCap(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ids := f.store(t, func(o *identity.Options) { o.VerificationMailsPerDay = 3 })
		start := f.clock.Now()
		for k := range 3 {
			if _, err := ids.EnsureAddress(f.ctx, f.acct, fmt.Sprintf("user%d@example.test", k)); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour)
		}
		f.clock.Set(start.Add(24*time.Hour - time.Millisecond))
		_, err := ids.EnsureAddress(f.ctx, f.acct, "user3@example.test")
		var le *identity.LimitError
		if !errors.As(err, &le) || !errors.Is(err, identity.ErrLimitExceeded) || !strings.Contains(le.Msg, "at most 3 verification emails per account in any 24 hours") {
			t.Fatalf("fourth mail in 24 hours: %v", err)
		}
		if _, err := ids.Create(f.ctx, f.acct, "user3@example.test", identity.CreateOptions{}); !errors.Is(err, identity.ErrLimitExceeded) {
			t.Fatalf("fourth mail in 24 hours (Create): %v", err)
		}
		if f.count(t, "identities") != 3 || f.count(t, "messages") != 3 {
			t.Fatalf("refused mails stored %d identities, %d messages", f.count(t, "identities"), f.count(t, "messages"))
		}
		// Domains are not limited: they get no mail.
		if _, err := ids.EnsureDomain(f.ctx, f.acct, "example.test"); err != nil {
			t.Fatal(err)
		}
		// Another account has its own allowance.
		if _, err := ids.EnsureAddress(f.ctx, f.other, "user3@example.test"); err != nil {
			t.Fatal(err)
		}
		f.clock.Set(start.Add(24 * time.Hour))
		if _, err := ids.EnsureAddress(f.ctx, f.acct, "user3@example.test"); err != nil {
			t.Fatalf("once the first mail is 24 hours old: %v", err)
		}
	})
}

// TestVerificationConcurrentRequests: verification requests of one
// account running at once — new addresses, and addresses whose
// verification restarts — neither deadlock (PostgreSQL) nor pass the
// daily cap together: exactly as many succeed as the cap leaves room
// for, every other one is refused with ErrLimitExceeded, and one message
// is queued per success.
func TestVerificationConcurrentRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ids := f.store(t, func(o *identity.Options) { o.VerificationMailsPerDay = 15 })
		for k := range 5 { // restarted below
			if _, err := ids.EnsureAddress(f.ctx, f.acct, fmt.Sprintf("old%d@example.test", k)); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(identity.DefaultVerificationCooldown)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			ok     int
			capped int
		)
		for k := range 30 {
			addr := fmt.Sprintf("new%d@example.test", k)
			if k < 5 {
				addr = fmt.Sprintf("old%d@example.test", k)
			}
			wg.Go(func() {
				_, err := ids.EnsureAddress(f.ctx, f.acct, addr)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, identity.ErrLimitExceeded):
					capped++
				default:
					t.Errorf("%s: %v", addr, err)
				}
			})
		}
		wg.Wait()
		if ok != 10 || capped != 20 || f.count(t, "messages") != 15 {
			t.Fatalf("30 requests at once with room for 10: %d sent, %d refused for the cap, %d messages in all; want 10, 20, 15", ok, capped, f.count(t, "messages"))
		}
	})
}

// TestVerificationSecretStoredHashed: the database holds no clear link
// secret; the link works, the stored value, an old link or a wrong one
// does not.
func TestVerificationSecretStoredHashed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		i, err := f.ids.EnsureAddress(f.ctx, f.acct, "jane@example.test")
		if err != nil {
			t.Fatal(err)
		}
		old := testkit.VerificationSecret(t, d, "jane@example.test")
		f.clock.Advance(identity.DefaultVerificationCooldown)
		if _, err := f.ids.EnsureAddress(f.ctx, f.acct, "jane@example.test"); err != nil {
			t.Fatal(err)
		}
		secret := testkit.VerificationSecret(t, d, "jane@example.test")
		for _, table := range []string{"identities", "identity_transitions", "verification_mails"} {
			if row := rowContaining(t, d, table, secret, old); row != "" {
				t.Errorf("%s holds a link secret in the clear: %s", table, row)
			}
		}
		stored, _ := f.ids.Get(f.ctx, f.acct, "jane@example.test")
		if stored.VerificationToken == "" || stored.VerificationToken == i.VerificationToken {
			t.Fatalf("stored token %q (first %q)", stored.VerificationToken, i.VerificationToken)
		}
		for _, bad := range []string{stored.VerificationToken, old, "nope", strings.ToUpper(secret), ""} {
			if _, err := f.ids.ConfirmAddress(f.ctx, bad); !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("ConfirmAddress(%q) = %v; want ErrNotFound", bad, err)
			}
		}
		if j, err := f.ids.ConfirmAddress(f.ctx, secret); err != nil || j.Verification != identity.Success {
			t.Fatalf("the link: %+v, %v", j, err)
		}
	})
}

// rowContaining returns a row of table (as text) in which any of the
// strings appears, or "".
func rowContaining(t *testing.T, d *db.DB, table string, needles ...string) string {
	t.Helper()
	rows, err := d.Query(t.Context(), `SELECT * FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for k := range vals {
			ptrs[k] = &vals[k]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("%s", vals)
		for _, n := range needles {
			if strings.Contains(text, n) {
				return text
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ""
}
