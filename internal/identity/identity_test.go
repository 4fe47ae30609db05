package identity_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/notify"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

type fixture struct {
	ctx    context.Context
	d      *db.DB
	clock  *testkit.Clock
	ids    *identity.Store
	mailer *notify.Mailer
	accts  *account.Store
	acct   string
	other  string
	kicks  int
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), d: d, clock: testkit.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))}
	box, _ := seal.New("identity test")
	q, err := queue.New(queue.Options{DB: d, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.mailer, err = notify.NewMailer(notify.MailerOptions{Queue: q, Region: "eu-west-1", ServiceDomain: "sesame.example.test", Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.ids = f.store(t, func(o *identity.Options) { o.Changed = func() { f.kicks++ } })
	f.accts = account.New(d, box, f.clock.Now)
	f.acct, f.other = f.account(t, "a"), f.account(t, "b")
	return f
}

// store returns an identity store over the fixture's database, clock and
// mailer, with the options changed by opts.
func (f *fixture) store(t *testing.T, opts func(*identity.Options)) *identity.Store {
	t.Helper()
	box, _ := seal.New("identity test")
	o := identity.Options{DB: f.d, Seal: box, Region: "eu-west-1", ServiceDomain: "sesame.example.test", Now: f.clock.Now,
		GenerateKey: testkit.FastKeys, VerifyURL: "https://sesame.example.test/", Mail: f.mailer.QueueTx}
	if opts != nil {
		opts(&o)
	}
	ids, err := identity.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// account creates an account and returns its ID.
func (f *fixture) account(t *testing.T, name string) string {
	t.Helper()
	a, _, err := f.accts.Create(f.ctx, account.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func (f *fixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.d.QueryRow(f.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) verify(t *testing.T, name string) {
	t.Helper()
	f.verifyIn(t, f.acct, name)
}

// verifyIn records a check of the account's identity that found its
// records, and returns the transitions it made.
func (f *fixture) verifyIn(t *testing.T, acct, name string) []identity.Transition {
	t.Helper()
	// On PostgreSQL a verification takes a database-wide advisory lock
	// (tryLockOwnership) and is discarded as stale while another
	// transaction holds it — in tests, another package's on the same
	// database. The checker checks again; so does this.
	for attempt := 0; ; attempt++ {
		i, err := f.ids.Get(f.ctx, acct, name)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := f.ids.Record(f.ctx, identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: f.clock.Now(), Verification: identity.Present, VerificationDetail: "test", Window: time.Hour, Interval: time.Minute})
		if errors.Is(err, identity.ErrStale) && attempt < 100 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
}

func TestCreateDomainKeysSealed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		i, err := f.ids.Create(f.ctx, f.acct, "Example.TEST", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA1024}, Tags: []identity.Tag{{"team", "mail=ops"}}})
		if err != nil {
			t.Fatal(err)
		}
		if i.Name != "example.test" || len(i.DKIM.Tokens) != 3 || i.DKIM.Ed25519Token == "" || i.DKIM.KeyLength != identity.RSA1024 || len(i.VerificationToken) != 44 || f.kicks != 1 {
			t.Fatalf("created %+v (kicks %d)", i, f.kicks)
		}
		got, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if len(got.Tags) != 1 || got.Tags[0] != (identity.Tag{"team", "mail=ops"}) {
			t.Fatalf("tags = %+v", got.Tags)
		}
		// Keys: published under each token, private parts sealed.
		for _, tok := range append(i.DKIM.Tokens, i.DKIM.Ed25519Token) {
			recs, err := f.ids.DKIMRecords(f.ctx, strings.ToUpper(tok))
			if err != nil || len(recs) != 1 || !strings.HasPrefix(recs[0], "v=DKIM1; k=") {
				t.Fatalf("DKIMRecords(%s) = %v, %v", tok, recs, err)
			}
		}
		if _, err := f.ids.DKIMRecords(f.ctx, "nosuchtoken"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		keys, err := f.ids.SigningKeys(f.ctx, i.ID)
		if err != nil || len(keys) != 2 || keys[0].Selector != i.DKIM.Tokens[0] || keys[0].Key.Bits != 1024 || keys[1].Selector != i.DKIM.Ed25519Token {
			t.Fatalf("SigningKeys = %+v, %v", keys, err)
		}
		der, _ := keys[0].Key.MarshalPrivate()
		var sealed []byte
		d.QueryRow(f.ctx, `SELECT private_sealed FROM dkim_keys WHERE selector = ?`, i.DKIM.Tokens[0]).Scan(&sealed)
		if bytes.Contains(sealed, der[len(der)-64:]) {
			t.Fatal("the private key is stored in the clear")
		}
		// Same name again: AlreadyExists, nothing added; another account may have it.
		before := f.count(t, "dkim_keys")
		if _, err := f.ids.Create(f.ctx, f.acct, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); !errors.Is(err, identity.ErrAlreadyExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if f.count(t, "dkim_keys") != before {
			t.Fatal("a refused create stored keys")
		}
		j, err := f.ids.Create(f.ctx, f.other, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
		if err != nil || j.DKIM.Tokens[0] == i.DKIM.Tokens[0] || j.VerificationToken == i.VerificationToken {
			t.Fatalf("other account's identity: %+v, %v", j, err)
		}
		// Delete takes keys and history with it.
		if err := f.ids.Delete(f.ctx, f.acct, "example.test"); err != nil {
			t.Fatal(err)
		}
		if err := f.ids.Delete(f.ctx, f.acct, "example.test"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := f.ids.DKIMRecords(f.ctx, i.DKIM.Tokens[0]); !errors.Is(err, identity.ErrNotFound) {
			t.Fatal("a deleted identity's key is still published")
		}
		if _, err := f.ids.Get(f.ctx, f.other, "example.test"); err != nil {
			t.Fatal("deleting one account's identity touched another's")
		}
	})
}

func TestCreateRejectsBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		cases := []struct {
			name  string
			opts  identity.CreateOptions
			field string
		}{
			{"bad..domain.test", identity.CreateOptions{}, "EmailIdentity"},
			{"nobody@", identity.CreateOptions{}, "EmailIdentity"},
			{"ok.example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: "RSA_4096_BIT"}}, "NextSigningKeyLength"},
			{"ok.example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginExternal, Selector: "-bad", PrivateKey: "AAAA"}}, "DomainSigningSelector"},
			{"ok.example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginExternal, Selector: "s1", PrivateKey: "bm90IGEga2V5"}}, "DomainSigningPrivateKey"},
			{"ok.example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginExternal, Selector: "s1"}}, "DomainSigningPrivateKey"},
			{"ok.example.test", identity.CreateOptions{Tags: []identity.Tag{{"", "x"}}}, "Tags"},
			{"ok.example.test", identity.CreateOptions{Tags: []identity.Tag{{"k", "1"}, {"k", "2"}}}, "Tags"},
		}
		for _, c := range cases {
			_, err := f.ids.Create(f.ctx, f.acct, c.name, c.opts)
			var ie *identity.InvalidError
			if !errors.As(err, &ie) || ie.Field != c.field || ie.Msg == "" {
				t.Errorf("Create(%q, %+v) = %v; want an InvalidError on %s", c.name, c.opts, err, c.field)
			}
		}
		if n := f.count(t, "identities"); n != 0 {
			t.Fatalf("%d identities stored after rejected creates", n)
		}
	})
}

func TestAddressVerification(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		i, err := f.ids.EnsureAddress(f.ctx, f.acct, "Someone+x@Example.test")
		if err != nil {
			t.Fatal(err)
		}
		if i.Name != "Someone+x@example.test" || i.Kind != identity.KindEmail || i.DKIM.Origin != identity.OriginNone {
			t.Fatalf("address identity %+v", i)
		}
		first := testkit.VerificationSecret(t, d, "Someone+x@example.test")
		var body []byte
		d.QueryRow(f.ctx, `SELECT b.body FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id`).Scan(&body)
		if f.count(t, "messages") != 1 || !bytes.Contains(body, []byte("Subject: Sesame - Email Address Verification Request in region EU-WEST-1")) {
			t.Fatalf("%d messages queued; the first:\n%s", f.count(t, "messages"), body)
		}
		// Asking again before it is confirmed sends a new link (once the
		// resend cooldown is over); the old one dies. Local parts keep their
		// case: another case is another identity, but the same mailbox for
		// the cooldown.
		if l, err := f.ids.EnsureAddress(f.ctx, f.acct, "someone+x@example.test"); !errors.Is(err, identity.ErrThrottled) {
			t.Fatalf("other-case address within the cooldown: %+v, %v", l, err)
		}
		f.clock.Advance(identity.DefaultVerificationCooldown)
		if l, err := f.ids.EnsureAddress(f.ctx, f.acct, "someone+x@example.test"); err != nil || l.ID == i.ID {
			t.Fatalf("other-case address: %+v, %v", l, err)
		}
		f.clock.Advance(identity.DefaultVerificationCooldown)
		j, err := f.ids.EnsureAddress(f.ctx, f.acct, "Someone+x@example.test")
		if err != nil || j.ID != i.ID || j.VerificationToken == i.VerificationToken {
			t.Fatalf("second EnsureAddress: %+v, %v", j, err)
		}
		second := testkit.VerificationSecret(t, d, "Someone+x@example.test")
		if _, err := f.ids.ConfirmAddress(f.ctx, first); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("old token: %v", err)
		}
		f.clock.Advance(23 * time.Hour)
		k, err := f.ids.ConfirmAddress(f.ctx, second)
		if err != nil || k.Verification != identity.Success {
			t.Fatalf("confirm: %+v, %v", k, err)
		}
		if k, err := f.ids.ConfirmAddress(f.ctx, second); err != nil || k.Verification != identity.Success {
			t.Fatalf("confirming twice: %v", err)
		}
		// A verified address is left alone by EnsureAddress.
		if l, _ := f.ids.EnsureAddress(f.ctx, f.acct, "Someone+x@example.test"); l.Verification != identity.Success {
			t.Fatalf("EnsureAddress reset a verified address: %s", l.Verification)
		}
	})
}

func TestSetMailFromRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := f.ids.EnsureDomain(f.ctx, f.acct, "example.test"); err != nil {
			t.Fatal(err)
		}
		if err := f.ids.SetMailFrom(f.ctx, f.acct, "example.test", "bounce.example.test", identity.UseDefaultValue); !errors.Is(err, identity.ErrNotVerified) {
			t.Fatalf("unverified: %v", err)
		}
		if err := f.ids.SetMailFrom(f.ctx, f.acct, "unknown.test", "bounce.unknown.test", identity.UseDefaultValue); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		f.verify(t, "example.test")
		before, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		for _, c := range []struct {
			domain, rule string
			beh          identity.Behavior
		}{
			{"bounce.example.org", "not subdomain", identity.UseDefaultValue},
			{"example.test", "not that domain itself", identity.UseDefaultValue},
			{"notexample.test", "not subdomain", identity.UseDefaultValue},
			{"bad_label.example.test", "contains", identity.UseDefaultValue},
			{strings.Repeat("a.", 125) + "example.test", "at most 253", identity.UseDefaultValue},
			{"bounce.example.test", "BehaviorOnMXFailure", "Sometimes"},
		} {
			err := f.ids.SetMailFrom(f.ctx, f.acct, "example.test", c.domain, c.beh)
			if !errors.Is(err, identity.ErrInvalid) || !strings.Contains(err.Error(), c.rule) {
				t.Errorf("SetMailFrom(%q) = %v; want the rule %q", c.domain, err, c.rule)
			}
		}
		after, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if after.Version != before.Version || after.MailFrom != before.MailFrom {
			t.Fatal("a rejected SetMailFrom changed the identity")
		}
		if err := f.ids.SetMailFrom(f.ctx, f.acct, "example.test", "Bounce.Example.TEST.", identity.RejectMessage); err != nil {
			t.Fatal(err)
		}
		i, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if i.MailFrom.Domain != "bounce.example.test" || i.MailFrom.Status != identity.Pending || i.MailFrom.Behavior != identity.RejectMessage {
			t.Fatalf("mail from = %+v", i.MailFrom)
		}
		// The same domain again only changes the behaviour.
		f.clock.Advance(time.Hour)
		if err := f.ids.SetMailFrom(f.ctx, f.acct, "example.test", "bounce.example.test", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		j, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if !j.MailFrom.Since.Equal(i.MailFrom.Since) || j.MailFrom.Behavior != identity.UseDefaultValue {
			t.Fatalf("re-set restarted the window: %+v", j.MailFrom)
		}
		// Clearing, and the records to publish.
		var zone bytes.Buffer
		recs, _ := f.ids.Records(f.ctx, j)
		identity.WriteZone(&zone, recs)
		if !strings.Contains(zone.String(), "bounce.example.test. 300 IN MX 10 feedback-smtp.eu-west-1.sesame.example.test.") {
			t.Fatalf("zone:\n%s", zone.String())
		}
		if err := f.ids.SetMailFrom(f.ctx, f.acct, "example.test", "", ""); err != nil {
			t.Fatal(err)
		}
		k, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if k.MailFrom.Domain != "" || k.MailFrom.Status != "" || k.MailFrom.Behavior != identity.UseDefaultValue {
			t.Fatalf("cleared mail from = %+v", k.MailFrom)
		}
	})
}

func TestStaleCheckDiscarded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.ids.EnsureDomain(f.ctx, f.acct, "example.test")
		f.verify(t, "example.test")
		// A check starts on this version; the customer sets a MAIL FROM
		// domain while it is in flight.
		i, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if err := f.ids.SetMailFrom(f.ctx, f.acct, "example.test", "bounce.example.test", identity.UseDefaultValue); err != nil {
			t.Fatal(err)
		}
		_, err := f.ids.Record(f.ctx, identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: f.clock.Now(), Verification: identity.Absent})
		if !errors.Is(err, identity.ErrStale) {
			t.Fatalf("stale result: %v", err)
		}
	})
}

func TestVerifyDomainDkimRestartsFailedDKIM(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		i, _ := f.ids.Create(f.ctx, f.acct, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
		f.clock.Advance(73 * time.Hour)
		if _, err := f.ids.Record(f.ctx, identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: f.clock.Now(), DKIM: identity.Absent, DKIMDetail: "no CNAME", Verification: identity.Absent, Window: 72 * time.Hour, Interval: time.Minute}); err != nil {
			t.Fatal(err)
		}
		j, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if j.DKIM.Status != identity.Failed || j.Verification != identity.Failed {
			t.Fatalf("dkim = %s, verification = %s", j.DKIM.Status, j.Verification)
		}
		// The domain is looked for again too, or DKIM could succeed on a
		// domain that stays Failed for good.
		k, err := f.ids.SetDKIMSigning(f.ctx, f.acct, "example.test", identity.DKIMSetup{Origin: identity.OriginEasy}, true)
		if err != nil || k.DKIM.Status != identity.Pending || k.DKIM.Tokens[0] != i.DKIM.Tokens[0] || k.Verification != identity.Pending {
			t.Fatalf("restart: dkim %+v, verification %s, %v", k.DKIM, k.Verification, err)
		}
	})
}

func TestTagsAndFeedback(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := f.ids.EnsureDomain(f.ctx, f.acct, "example.test"); err != nil {
			t.Fatal(err)
		}
		if err := f.ids.TagIdentity(f.ctx, f.acct, "example.test", []identity.Tag{{"a", "1"}, {"b", "2"}}); err != nil {
			t.Fatal(err)
		}
		if err := f.ids.TagIdentity(f.ctx, f.acct, "example.test", []identity.Tag{{"a", "3"}}); err != nil {
			t.Fatal(err)
		}
		if err := f.ids.UntagIdentity(f.ctx, f.acct, "example.test", []string{"b", "zzz"}); err != nil {
			t.Fatal(err)
		}
		many := make([]identity.Tag, 50)
		for k := range many {
			many[k] = identity.Tag{Key: fmt.Sprint("k", k), Value: "v"}
		}
		if err := f.ids.TagIdentity(f.ctx, f.acct, "example.test", many); !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("51 tags: %v", err)
		}
		if err := f.ids.SetFeedbackForwarding(f.ctx, f.acct, "example.test", false); err != nil {
			t.Fatal(err)
		}
		i, _ := f.ids.Get(f.ctx, f.acct, "example.test")
		if len(i.Tags) != 1 || i.Tags[0] != (identity.Tag{"a", "3"}) || i.FeedbackForwarding {
			t.Fatalf("tags %+v, forwarding %v", i.Tags, i.FeedbackForwarding)
		}
		if err := f.ids.SetFeedbackForwarding(f.ctx, f.other, "example.test", false); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("another account: %v", err)
		}
	})
}

// TestChangeOnDeletedIdentity: a DKIM change prepared while the identity
// is deleted (and another account creates an identity meanwhile) fails
// with NotFound and touches nobody else's identity.
func TestChangeOnDeletedIdentity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		box, _ := seal.New("identity test")
		var ids *identity.Store
		interfere := false
		ids, _ = identity.New(identity.Options{DB: d, Seal: box, Region: "eu-west-1", ServiceDomain: "sesame.example.test", Now: f.clock.Now,
			GenerateKey: func(alg dkim.Algorithm, bits int) (*dkim.Key, error) {
				if interfere {
					interfere = false
					if err := ids.Delete(f.ctx, f.acct, "example.test"); err != nil {
						t.Error(err)
					}
					if _, err := ids.Create(f.ctx, f.other, "other.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
						t.Error(err)
					}
				}
				return testkit.FastKeys(alg, bits)
			}})
		if _, err := ids.Create(f.ctx, f.acct, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}}); err != nil {
			t.Fatal(err)
		}
		interfere = true
		_, err := ids.SetDKIMSigning(f.ctx, f.acct, "example.test", identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA1024}, false)
		if !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("SetDKIMSigning on a deleted identity: %v", err)
		}
		other, err := ids.Get(f.ctx, f.other, "other.test")
		if err != nil || other.DKIM.KeyLength != identity.RSA2048 {
			t.Fatalf("the other account's identity: %+v, %v", other, err)
		}
	})
}

func TestGetMany(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		for _, n := range []string{"a.test", "b.test", "x@a.test"} {
			if _, err := f.ids.Create(f.ctx, f.acct, n, identity.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.ids.Create(f.ctx, f.other, "c.test", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := f.ids.GetMany(f.ctx, f.acct, []string{"A.test", "a.test", "x@A.TEST", "c.test", "unknown.test", "bad..name", "b.test"})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k, i := range got {
			keys = append(keys, k+"="+i.Name)
		}
		slices.Sort(keys)
		if strings.Join(keys, " ") != "A.test=a.test a.test=a.test b.test=b.test x@A.TEST=x@a.test" {
			t.Fatalf("GetMany = %v", keys)
		}
	})
}

// TestConcurrentTags: changes made at once all land (each reads the row
// locked, so none starts from a row another is about to replace).
func TestConcurrentTags(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := f.ids.EnsureDomain(f.ctx, f.acct, "example.test"); err != nil {
			t.Fatal(err)
		}
		const n = 10
		errs := make(chan error, n)
		for k := range n {
			go func() {
				errs <- f.ids.TagIdentity(f.ctx, f.acct, "example.test", []identity.Tag{{Key: fmt.Sprint("k", k), Value: "v"}})
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		i, err := f.ids.Get(f.ctx, f.acct, "example.test")
		if err != nil || len(i.Tags) != n {
			t.Fatalf("%d tags after %d concurrent TagIdentity calls (%v)", len(i.Tags), n, err)
		}
	})
}
