package send_test

import (
	"errors"
	"testing"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/suppression"
	"github.com/sesame-email/sesame/internal/testkit"
)

// node is a second set of stores over the same database, with caches of
// their own: another Sesame process sharing the database.
type node struct {
	accts *account.Store
	ids   *identity.Store
	sets  *configset.Store
	supp  *suppression.Store
}

func newNode(t *testing.T, d *db.DB, e *env) *node {
	t.Helper()
	box, err := seal.New("send test master secret")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{accts: account.New(d, box, e.clock.Now)}
	if n.ids, err = identity.New(identity.Options{DB: d, Seal: box, Region: region, ServiceDomain: serviceDomain, Now: e.clock.Now, GenerateKey: testkit.FastKeys, VerifyURL: "http://sesame.example.test"}); err != nil {
		t.Fatal(err)
	}
	if n.sets, err = configset.New(configset.Options{DB: d, Now: e.clock.Now, Region: region}); err != nil {
		t.Fatal(err)
	}
	if n.supp, err = suppression.New(suppression.Options{DB: d, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCachedLookupsSeeChanges changes each thing the send path caches —
// through the sending node's own stores and through another node's — and
// sends at once: the next send sees the change.
func TestCachedLookupsSeeChanges(t *testing.T) {
	for _, via := range []string{"this node", "another node"} {
		t.Run(via, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				e, sets, supp := csEnv(t, d)
				w := &node{accts: e.accts, ids: e.ids, sets: sets, supp: supp}
				if via == "another node" {
					w = newNode(t, d, e)
				}
				e.createSet(sets, e.acct, "cs")
				req := func() send.Request {
					return send.Request{Simple: simple("a@example.test", "to@example.org"), ConfigurationSet: "cs"}
				}
				suppressed := func(id string) int {
					t.Helper()
					var n int
					if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM recipients WHERE message_id = ? AND state = ?`, id, string(queue.Bounced)).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
				wantKind := func(step string, k send.Kind) {
					t.Helper()
					_, err := e.submit(req())
					var se *send.Error
					if !errors.As(err, &se) || se.Kind != k {
						t.Fatalf("%s: submit = %v, want %v", step, err, k)
					}
				}
				// Warm every cache, twice.
				for range 2 {
					if id := e.mustSubmit(req()); suppressed(id) != 0 {
						t.Fatal("warm-up: recipient suppressed")
					}
				}

				// Suppression: listed → suppressed at once; removed → sent.
				if err := w.supp.Put(ctx, e.acct, "to@example.org", suppression.Bounce); err != nil {
					t.Fatal(err)
				}
				if id := e.mustSubmit(req()); suppressed(id) != 1 {
					t.Fatal("suppressed address: not suppressed by the next send")
				}
				if err := w.supp.Delete(ctx, e.acct, "to@example.org"); err != nil {
					t.Fatal(err)
				}
				if id := e.mustSubmit(req()); suppressed(id) != 0 {
					t.Fatal("removed from the list: still suppressed")
				}

				// Configuration set: paused → refused; resumed → sent;
				// its suppression options → applied; deleted → unknown.
				if err := w.sets.SetSendingEnabled(ctx, e.acct, "cs", false); err != nil {
					t.Fatal(err)
				}
				wantKind("set paused", send.KindConfigurationSetSendingPaused)
				if err := w.sets.SetSendingEnabled(ctx, e.acct, "cs", true); err != nil {
					t.Fatal(err)
				}
				e.mustSubmit(req())
				if err := w.supp.Put(ctx, e.acct, "to@example.org", suppression.Complaint); err != nil {
					t.Fatal(err)
				}
				if err := w.sets.PutSuppressionOptions(ctx, e.acct, "cs", []string{"BOUNCE"}); err != nil {
					t.Fatal(err)
				}
				if id := e.mustSubmit(req()); suppressed(id) != 0 {
					t.Fatal("set counts only BOUNCE: a COMPLAINT entry suppressed")
				}
				if err := w.sets.PutSuppressionOptions(ctx, e.acct, "cs", []string{"COMPLAINT"}); err != nil {
					t.Fatal(err)
				}
				if id := e.mustSubmit(req()); suppressed(id) != 1 {
					t.Fatal("set counts COMPLAINT: not suppressed")
				}
				if err := w.sets.Delete(ctx, e.acct, "cs"); err != nil {
					t.Fatal(err)
				}
				wantKind("set deleted", send.KindConfigurationSetDoesNotExist)
				e.createSet(w.sets, e.acct, "cs")

				// Account: paused → refused; resumed → sent; quota → applied.
				if err := w.accts.SetSendingEnabled(ctx, e.acct, false); err != nil {
					t.Fatal(err)
				}
				wantKind("account paused", send.KindSendingPaused)
				if err := w.accts.SetSendingEnabled(ctx, e.acct, true); err != nil {
					t.Fatal(err)
				}
				e.mustSubmit(req())
				if err := w.accts.SetProduction(ctx, e.acct, 1, 1000); err != nil { // far fewer than sent today
					t.Fatal(err)
				}
				wantKind("quota lowered", send.KindDailyQuotaExceeded)
				if err := w.accts.SetProduction(ctx, e.acct, -1, 1000); err != nil {
					t.Fatal(err)
				}
				e.mustSubmit(req())

				// Identity: MAIL FROM with RejectMessage, still pending →
				// refused; deleted → not verified.
				if err := w.ids.SetMailFrom(ctx, e.acct, "example.test", "bounce.example.test", identity.RejectMessage); err != nil {
					t.Fatal(err)
				}
				wantKind("MAIL FROM pending, RejectMessage", send.KindMailFromNotVerified)
				if err := w.ids.SetMailFrom(ctx, e.acct, "example.test", "", identity.UseDefaultValue); err != nil {
					t.Fatal(err)
				}
				e.mustSubmit(req())
				if err := w.ids.Delete(ctx, e.acct, "example.test"); err != nil {
					t.Fatal(err)
				}
				wantKind("identity deleted", send.KindMessageRejected)
			})
		})
	}
}

// TestCachedSecretSeesKeyChanges: a removed access key is refused by the
// next lookup on every node, and an added one is found.
func TestCachedSecretSeesKeyChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		other := newNode(t, d, e)
		k1, err := e.accts.AddKey(ctx, e.acct, "AKIACACHETEST0001", "secret-one-0123456789")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*account.Store{e.accts, other.accts} {
			for range 2 { // the second answer comes from the cache
				secret, acct, err := s.Secret(ctx, k1.AccessKeyID)
				if err != nil || secret != k1.Secret || acct != e.acct {
					t.Fatalf("Secret = %q, %q, %v", secret, acct, err)
				}
			}
		}
		for _, remover := range []*account.Store{other.accts, e.accts} {
			if err := remover.RemoveKey(ctx, e.acct, k1.AccessKeyID, true); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*account.Store{e.accts, other.accts} {
				if _, _, err := s.Secret(ctx, k1.AccessKeyID); !errors.Is(err, account.ErrUnknownKey) {
					t.Fatalf("removed key: Secret = %v, want ErrUnknownKey", err)
				}
			}
			// The same id again with another secret: the new secret.
			k1, err = remover.AddKey(ctx, e.acct, k1.AccessKeyID, "secret-two-0123456789")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []*account.Store{e.accts, other.accts} {
				if secret, _, err := s.Secret(ctx, k1.AccessKeyID); err != nil || secret != "secret-two-0123456789" {
					t.Fatalf("re-added key: Secret = %q, %v", secret, err)
				}
			}
			k1.Secret = "secret-two-0123456789"
		}
	})
}
