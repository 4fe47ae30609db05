package identity_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
)

// TestMailFromOwnership: a MAIL FROM domain equal to or under a domain
// another account has verified is refused, naming the field and the rule
// but not the account; under an address identity's own domain, or a
// domain the account has verified itself, it is allowed.
func TestMailFromOwnership(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		owner, borrower := f.acct, f.other
		if _, err := f.ids.EnsureDomain(f.ctx, owner, "a.example"); err != nil {
			t.Fatal(err)
		}
		f.verifyIn(t, owner, "a.example")
		for _, n := range []string{"bob@a.example", "bob@mail.a.example", "bob@b.example"} {
			if _, err := f.ids.Create(f.ctx, borrower, n, identity.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.verifyIn(t, borrower, n)
		}
		before, _ := f.ids.Get(f.ctx, borrower, "bob@a.example")
		for _, c := range []struct{ identity, mailFrom string }{
			{"bob@a.example", "bounce.a.example"},
			{"bob@mail.a.example", "bounce.mail.a.example"},
		} {
			err := f.ids.SetMailFrom(f.ctx, borrower, c.identity, c.mailFrom, identity.UseDefaultValue)
			var ie *identity.InvalidError
			if !errors.As(err, &ie) || ie.Field != "MailFromDomain" || !strings.Contains(ie.Msg, "a.example, which it equals or lies under, is verified by another account") || strings.Contains(ie.Msg, owner) {
				t.Fatalf("SetMailFrom(%s, %s) = %v; want the ownership rule on MailFromDomain", c.identity, c.mailFrom, err)
			}
		}
		after, _ := f.ids.Get(f.ctx, borrower, "bob@a.example")
		if after.Version != before.Version || after.MailFrom != before.MailFrom {
			t.Fatal("a refused SetMailFrom changed the identity")
		}
		// Under the address's own domain, which nobody else verified: allowed.
		if err := f.ids.SetMailFrom(f.ctx, borrower, "bob@b.example", "bounce.b.example", identity.UseDefaultValue); err != nil {
			t.Fatalf("under an address identity's domain: %v", err)
		}
		// Having verified a.example itself, the borrower may use it too ...
		if _, err := f.ids.EnsureDomain(f.ctx, borrower, "a.example"); err != nil {
			t.Fatal(err)
		}
		f.verifyIn(t, borrower, "a.example")
		if err := f.ids.SetMailFrom(f.ctx, borrower, "bob@a.example", "bounce.a.example", identity.UseDefaultValue); err != nil {
			t.Fatalf("under the account's own verified domain: %v", err)
		}
		// ... but not under a more specific domain the owner verified.
		if _, err := f.ids.EnsureDomain(f.ctx, owner, "mail.a.example"); err != nil {
			t.Fatal(err)
		}
		f.verifyIn(t, owner, "mail.a.example")
		if err := f.ids.SetMailFrom(f.ctx, borrower, "bob@mail.a.example", "bounce.mail.a.example", identity.UseDefaultValue); !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("under the owner's more specific domain: %v", err)
		}
	})
}

// TestMailFromBorrowedFailsWhenOwnerVerifies: a MAIL FROM domain set
// before another account verified the domain goes to Failed in the
// transaction of that verification, with the reason, a transition to
// notify and a new version (a check under way is discarded); an account
// that verified the domain itself keeps its MAIL FROM domain.
func TestMailFromBorrowedFailsWhenOwnerVerifies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		owner, borrower, coOwner := f.acct, f.other, f.account(t, "c")
		if _, err := f.ids.EnsureDomain(f.ctx, owner, "a.example"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ids.Create(f.ctx, borrower, "bob@a.example", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.verifyIn(t, borrower, "bob@a.example")
		if err := f.ids.SetMailFrom(f.ctx, borrower, "bob@a.example", "bounce.a.example", identity.RejectMessage); err != nil {
			t.Fatalf("before anyone verified a.example: %v", err)
		}
		bob, _ := f.ids.Get(f.ctx, borrower, "bob@a.example")
		if _, err := f.ids.Record(f.ctx, identity.CheckResult{IdentityID: bob.ID, Version: bob.Version, At: f.clock.Now(), MailFromDomain: "bounce.a.example",
			MailFrom: identity.Present, MailFromDetail: "MX found", Window: time.Hour, Interval: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if bob, _ = f.ids.Get(f.ctx, borrower, "bob@a.example"); bob.MailFrom.Status != identity.Success {
			t.Fatalf("borrowed MAIL FROM = %+v", bob.MailFrom)
		}
		// A third account verifies a.example too and uses it.
		if _, err := f.ids.EnsureDomain(f.ctx, coOwner, "a.example"); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		if ts := f.verifyIn(t, coOwner, "a.example"); len(ts) != 2 {
			t.Fatalf("the co-owner's verification made %+v", ts)
		}
		if err := f.ids.SetMailFrom(f.ctx, coOwner, "a.example", "mail.a.example", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		bob2, _ := f.ids.Get(f.ctx, borrower, "bob@a.example")
		want := "the domain a.example is verified by another account"
		if bob2.MailFrom.Status != identity.Failed || bob2.MailFrom.Diagnostic != want || bob2.Version == bob.Version || !bob2.MailFrom.Since.Equal(f.clock.Now()) {
			t.Fatalf("borrowed MAIL FROM after the co-owner verified: %+v (version %d→%d)", bob2.MailFrom, bob.Version, bob2.Version)
		}
		// The check of bob started before is stale now.
		if _, err := f.ids.Record(f.ctx, identity.CheckResult{IdentityID: bob.ID, Version: bob.Version, At: f.clock.Now(), MailFromDomain: "bounce.a.example",
			MailFrom: identity.Present, Window: time.Hour, Interval: time.Minute}); !errors.Is(err, identity.ErrStale) {
			t.Fatalf("a check under way: %v", err)
		}
		ts, _ := f.ids.Transitions(f.ctx, bob.ID)
		last := ts[len(ts)-1]
		if last.Attribute != identity.AttrMailFrom || last.From != identity.Success || last.To != identity.Failed || last.Reason != want {
			t.Fatalf("last transition %+v", last)
		}
		pending, _ := f.ids.Unnotified(f.ctx, 100)
		if !containsTransition(pending, last.ID) {
			t.Fatal("the borrower is not going to be told")
		}
		// The first owner verifying later leaves the co-owner's MAIL FROM alone.
		f.clock.Advance(time.Minute)
		if ts := f.verifyIn(t, owner, "a.example"); len(ts) != 1 {
			t.Fatalf("the owner's verification made %+v", ts)
		}
		co, _ := f.ids.Get(f.ctx, coOwner, "a.example")
		if co.MailFrom.Status != identity.Pending {
			t.Fatalf("the co-owner's MAIL FROM = %+v", co.MailFrom)
		}
	})
}

func containsTransition(ts []identity.Transition, id int64) bool {
	for _, t := range ts {
		if t.ID == id {
			return true
		}
	}
	return false
}

// TestMailFromOwnershipRace: a MAIL FROM domain set while another account
// verifies the domain it lies under, at the same time, never survives
// both: either SetMailFrom sees the verification and refuses, or the
// verification sees the MAIL FROM domain and fails it.
func TestMailFromOwnershipRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		owner, borrower := f.acct, f.other
		for k := range 8 {
			domain := fmt.Sprintf("d%d.example", k)
			bob := "bob@" + domain
			if _, err := f.ids.EnsureDomain(f.ctx, owner, domain); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ids.Create(f.ctx, borrower, bob, identity.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.verifyIn(t, borrower, bob)
			i, _ := f.ids.Get(f.ctx, owner, domain)
			set := make(chan error, 1)
			go func() { set <- f.ids.SetMailFrom(f.ctx, borrower, bob, "bounce."+domain, identity.UseDefaultValue) }()
			for {
				_, err := f.ids.Record(f.ctx, identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: f.clock.Now(), Verification: identity.Present, Window: time.Hour, Interval: time.Minute})
				if err == nil {
					break
				}
				if !errors.Is(err, identity.ErrStale) {
					t.Fatal(err)
				}
			}
			err := <-set
			if err != nil && !errors.Is(err, identity.ErrInvalid) {
				t.Fatal(err)
			}
			b, _ := f.ids.Get(f.ctx, borrower, bob)
			if mf := b.MailFrom; mf.Domain != "" && mf.Status != identity.Failed {
				t.Fatalf("%s: the borrowed MAIL FROM domain survived its owner's verification: %+v (SetMailFrom: %v)", domain, mf, err)
			}
		}
	})
}
