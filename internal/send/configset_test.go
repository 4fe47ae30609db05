package send_test

import (
	"errors"
	"testing"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/suppression"
)

// csEnv is an env whose Sender has the real configuration set and
// suppression stores.
func csEnv(t testing.TB, d *db.DB) (*env, *configset.Store, *suppression.Store) {
	t.Helper()
	e := newEnv(t, d)
	sets, err := configset.New(configset.Options{DB: d, Now: e.clock.Now, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	supp, err := suppression.New(suppression.Options{DB: d, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.s, err = send.New(send.Options{Identities: e.ids, Accounts: e.accts, Queue: e.q, Region: region, ServiceDomain: serviceDomain,
		Now: e.clock.Now, Logger: e.logger, ConfigurationSet: sets.Get, Suppressed: supp.Suppressed})
	if err != nil {
		t.Fatal(err)
	}
	return e, sets, supp
}

func (e *env) createSet(sets *configset.Store, acct, name string) {
	e.t.Helper()
	if err := sets.Create(ctx, configset.NewSet(acct, name)); err != nil {
		e.t.Fatal(err)
	}
}

// TestConfigurationSetChoice: the request's set, else the raw header's,
// else the From identity's default, the address-level default before the
// domain-level one.
func TestConfigurationSetChoice(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, sets, _ := csEnv(t, d)
		for _, n := range []string{"req", "hdr", "dom", "addr"} {
			e.createSet(sets, e.acct, n)
		}
		setOf := func(id string) string { return e.sendEvent(id).ConfigurationSet }
		raw := []byte("From: a@example.test\r\nTo: bob@example.org\r\nX-SES-CONFIGURATION-SET: hdr\r\n\r\nHi\r\n")
		plain := []byte("From: a@example.test\r\nTo: bob@example.org\r\n\r\nHi\r\n")

		if got := setOf(e.mustSubmit(send.Request{Raw: plain})); got != "" {
			t.Fatalf("no set anywhere: %q", got)
		}
		if got := setOf(e.mustSubmit(send.Request{Raw: raw})); got != "hdr" {
			t.Fatalf("header: %q", got)
		}
		if got := setOf(e.mustSubmit(send.Request{Raw: raw, ConfigurationSet: "req"})); got != "req" {
			t.Fatalf("request beats header: %q", got)
		}
		// The domain's default.
		if err := e.ids.SetConfigurationSet(ctx, e.acct, "example.test", "dom"); err != nil {
			t.Fatal(err)
		}
		if got := setOf(e.mustSubmit(send.Request{Raw: plain})); got != "dom" {
			t.Fatalf("domain default: %q", got)
		}
		ev := e.sendEvent(e.mustSubmit(send.Request{Simple: simple("a@example.test", "bob@example.org")}))
		if tags := ev.Mail.Tags[event.TagConfigurationSet]; len(tags) != 1 || tags[0] != "dom" {
			t.Fatalf("auto-tag of the default set: %v", ev.Mail.Tags)
		}
		if got := setOf(e.mustSubmit(send.Request{Raw: raw})); got != "hdr" {
			t.Fatalf("header beats default: %q", got)
		}
		// An address identity's default beats its domain's; other
		// addresses of the domain keep the domain's.
		e.email(e.acct, "a@example.test", true)
		if err := e.ids.SetConfigurationSet(ctx, e.acct, "a@example.test", "addr"); err != nil {
			t.Fatal(err)
		}
		if got := setOf(e.mustSubmit(send.Request{Raw: plain})); got != "addr" {
			t.Fatalf("address default: %q", got)
		}
		if got := setOf(e.mustSubmit(send.Request{Simple: simple("other@example.test", "bob@example.org")})); got != "dom" {
			t.Fatalf("another address of the domain: %q", got)
		}
		// An address identity without a default inherits the domain's.
		e.email(e.acct, "b@example.test", true)
		if got := setOf(e.mustSubmit(send.Request{Simple: simple("b@example.test", "bob@example.org")})); got != "dom" {
			t.Fatalf("address without a default: %q", got)
		}
		// A default naming a deleted set fails like a named unknown set.
		if err := sets.Delete(ctx, e.acct, "addr"); err != nil {
			t.Fatal(err)
		}
		e.rejected(send.Request{Raw: plain}, send.KindConfigurationSetDoesNotExist, "Configuration set addr does not exist.")
		// A named set still wins over the broken default.
		if got := setOf(e.mustSubmit(send.Request{Raw: plain, ConfigurationSet: "req"})); got != "req" {
			t.Fatalf("named set with a broken default: %q", got)
		}
	})
}

// TestConfigurationSetIsolation: another account's set is unknown, by
// name and as a header.
func TestConfigurationSetIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, sets, _ := csEnv(t, d)
		other := e.account("other")
		e.createSet(sets, other, "theirs")
		e.rejected(send.Request{Simple: simple("a@example.test", "bob@example.org"), ConfigurationSet: "theirs"},
			send.KindConfigurationSetDoesNotExist, "Configuration set theirs does not exist.")
		raw := []byte("From: a@example.test\r\nTo: bob@example.org\r\nX-SES-CONFIGURATION-SET: theirs\r\n\r\nHi\r\n")
		e.rejected(send.Request{Raw: raw}, send.KindConfigurationSetDoesNotExist, "Configuration set theirs does not exist.")
	})
}

// TestConfigurationSetPaused: a set with sending disabled refuses every
// message sent through it, named or default, until it is resumed.
func TestConfigurationSetPaused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, sets, _ := csEnv(t, d)
		e.createSet(sets, e.acct, "cs")
		if err := sets.SetSendingEnabled(ctx, e.acct, "cs", false); err != nil {
			t.Fatal(err)
		}
		se := e.rejected(send.Request{Simple: simple("a@example.test", "bob@example.org"), ConfigurationSet: "cs"},
			send.KindConfigurationSetSendingPaused, "Sending is paused for this configuration set.")
		if !errors.Is(se, send.ErrConfigurationSetPaused) || errors.Is(se, send.ErrSendingPaused) {
			t.Errorf("sentinels of the paused error")
		}
		if err := e.ids.SetConfigurationSet(ctx, e.acct, "example.test", "cs"); err != nil {
			t.Fatal(err)
		}
		e.rejected(send.Request{Simple: simple("a@example.test", "bob@example.org")},
			send.KindConfigurationSetSendingPaused, "Sending is paused for this configuration set.")
		if err := sets.SetSendingEnabled(ctx, e.acct, "cs", true); err != nil {
			t.Fatal(err)
		}
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "bob@example.org")})
	})
}

// TestConfigurationSetSuppression: a set's SuppressedReasons decide which
// entries of the account's list suppress its mail.
func TestConfigurationSetSuppression(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, sets, supp := csEnv(t, d)
		if err := supp.Put(ctx, e.acct, "bounced@example.org", suppression.Bounce); err != nil {
			t.Fatal(err)
		}
		if err := supp.Put(ctx, e.acct, "angry@example.org", suppression.Complaint); err != nil {
			t.Fatal(err)
		}
		e.createSet(sets, e.acct, "plain") // no SuppressionOptions
		e.createSet(sets, e.acct, "bounces")
		if err := sets.PutSuppressionOptions(ctx, e.acct, "bounces", []string{"BOUNCE"}); err != nil {
			t.Fatal(err)
		}
		e.createSet(sets, e.acct, "none")
		if err := sets.PutSuppressionOptions(ctx, e.acct, "none", []string{}); err != nil {
			t.Fatal(err)
		}
		suppressed := func(set string) int {
			t.Helper()
			id := e.mustSubmit(send.Request{Simple: simple("a@example.test", "bounced@example.org", "angry@example.org", "fine@example.org"), ConfigurationSet: set})
			var n int
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM recipients WHERE message_id = ? AND state = ?`, id, string(queue.Bounced)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for set, want := range map[string]int{"": 2, "plain": 2, "bounces": 1, "none": 0} {
			if got := suppressed(set); got != want {
				t.Errorf("set %q: %d recipients suppressed, want %d", set, got, want)
			}
		}
	})
}
