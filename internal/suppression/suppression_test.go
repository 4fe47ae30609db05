package suppression_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/suppression"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	acct  = "111111111111"
	other = "222222222222"
)

type fixture struct {
	ctx   context.Context
	d     *db.DB
	s     *suppression.Store
	clock *testkit.Clock
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{acct, other} {
		if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`, id, "acct-"+id, 1); err != nil {
			t.Fatal(err)
		}
	}
	clock := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s, err := suppression.New(suppression.Options{DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, d: d, s: s, clock: clock}
}

func (f *fixture) put(t *testing.T, account, address string, r suppression.Reason) {
	t.Helper()
	if err := f.s.Put(f.ctx, account, address, r); err != nil {
		t.Fatalf("put %s: %v", address, err)
	}
}

// count returns the number of entries of all accounts.
func (f *fixture) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.d.QueryRow(f.ctx, `SELECT COUNT(*) FROM suppressed_destinations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPutGetDelete(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		t0 := f.clock.Now()
		f.put(t, acct, "Jane.Doe@Example.COM", suppression.Bounce)
		e, err := f.s.Get(f.ctx, acct, "jane.doe@example.com")
		want := suppression.Entry{AccountID: acct, Address: "Jane.Doe@Example.COM", Key: "jane.doe@example.com", Reason: suppression.Bounce, LastUpdateTime: t0}
		if err != nil || e != want {
			t.Fatalf("Get = %+v, %v; want %+v", e, err, want)
		}
		// Another account does not see it.
		if _, err := f.s.Get(f.ctx, other, "jane.doe@example.com"); !errors.Is(err, suppression.ErrNotFound) {
			t.Fatalf("other account: %v", err)
		}
		// Replacing: the reason, the time and the address as given change,
		// and the attributes recorded by bounce processing are cleared.
		err = d.InTx(f.ctx, func(tx *db.Tx) error {
			_, err := f.s.Record(f.ctx, tx, acct, "JANE.DOE@example.com", suppression.Bounce, "msg-1", "fb-1", nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := f.s.Get(f.ctx, acct, "Jane.Doe@example.com"); e.MessageID != "msg-1" || e.FeedbackID != "fb-1" || e.Address != "JANE.DOE@example.com" {
			t.Fatalf("after Record: %+v", e)
		}
		f.clock.Advance(time.Hour)
		f.put(t, acct, " jane.doe@EXAMPLE.com ", suppression.Complaint)
		e, err = f.s.Get(f.ctx, acct, "JANE.DOE@EXAMPLE.COM")
		want = suppression.Entry{AccountID: acct, Address: "jane.doe@EXAMPLE.com", Key: "jane.doe@example.com", Reason: suppression.Complaint, LastUpdateTime: t0.Add(time.Hour)}
		if err != nil || e != want {
			t.Fatalf("after replace: %+v, %v; want %+v", e, err, want)
		}
		if n := f.count(t); n != 1 {
			t.Fatalf("%d rows after replacing, want 1", n)
		}
		// Internationalised domains: the Unicode and A-label forms are one entry.
		f.put(t, acct, "Anna@Bücher.example", suppression.Bounce)
		if e, err := f.s.Get(f.ctx, acct, "anna@xn--bcher-kva.example"); err != nil || e.Key != "anna@xn--bcher-kva.example" || e.Address != "Anna@Bücher.example" {
			t.Fatalf("IDN: %+v, %v", e, err)
		}
		// Delete: case-insensitive; only the caller's account; then gone.
		if err := f.s.Delete(f.ctx, other, "jane.doe@example.com"); !errors.Is(err, suppression.ErrNotFound) {
			t.Fatalf("delete from other account: %v", err)
		}
		if err := f.s.Delete(f.ctx, acct, "JANE.doe@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Delete(f.ctx, acct, "jane.doe@example.com"); !errors.Is(err, suppression.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := f.s.Get(f.ctx, acct, "jane.doe@example.com"); !errors.Is(err, suppression.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
	})
}

func TestBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		long := strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 130) + "example" // 332 characters
		for _, tc := range []struct {
			address string
			reason  suppression.Reason
			field   string
			msg     string // part of the message
		}{
			{"", suppression.Bounce, "EmailAddress", "required"},
			{"no-at-sign", suppression.Bounce, "EmailAddress", "needs an @"},
			{"a@b@", suppression.Bounce, "EmailAddress", "domain"},
			{"two words@example.com", suppression.Bounce, "EmailAddress", "not allowed"},
			{"x@localhost", suppression.Bounce, "EmailAddress", "two labels"},
			{long, suppression.Bounce, "EmailAddress", "at most 320"},
			{"ok@example.com", "HARD_BOUNCE", "Reason", "BOUNCE or COMPLAINT"},
			{"ok@example.com", "bounce", "Reason", "BOUNCE or COMPLAINT"},
			{"ok@example.com", "", "Reason", "BOUNCE or COMPLAINT"},
		} {
			err := f.s.Put(f.ctx, acct, tc.address, tc.reason)
			var ie *suppression.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Msg, tc.msg) || !errors.Is(err, suppression.ErrInvalid) {
				t.Errorf("Put(%q, %q) = %v; want an InvalidError on %s saying %q", tc.address, tc.reason, err, tc.field, tc.msg)
			}
			err = d.InTx(f.ctx, func(tx *db.Tx) error {
				_, err := f.s.Record(f.ctx, tx, acct, tc.address, tc.reason, "m", "f", nil)
				return err
			})
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("Record(%q, %q) = %v; want an InvalidError on %s", tc.address, tc.reason, err, tc.field)
			}
		}
		if _, err := f.s.Get(f.ctx, acct, "nope"); !errors.Is(err, suppression.ErrInvalid) {
			t.Errorf("Get of a bad address: %v", err)
		}
		if err := f.s.Delete(f.ctx, acct, "nope"); !errors.Is(err, suppression.ErrInvalid) {
			t.Errorf("Delete of a bad address: %v", err)
		}
		// A bad reason among good ones changes nothing.
		if err := f.s.SetAttributes(f.ctx, acct, []suppression.Reason{suppression.Complaint, "SPAM"}); !errors.Is(err, suppression.ErrInvalid) {
			t.Errorf("SetAttributes with a bad reason: %v", err)
		}
		if r, err := f.s.Attributes(f.ctx, acct); err != nil || !slices.Equal(r, suppression.DefaultReasons()) {
			t.Errorf("attributes after a refused change: %v, %v", r, err)
		}
		if n := f.count(t); n != 0 {
			t.Fatalf("%d rows written by refused calls", n)
		}
		// Bad list options.
		for _, o := range []suppression.ListOptions{
			{PageSize: -1},
			{PageSize: suppression.MaxPageSize + 1},
			{Reasons: []suppression.Reason{"SPAM"}},
			{Start: f.clock.Now(), End: f.clock.Now().Add(-time.Second)},
		} {
			if _, _, err := f.s.List(f.ctx, acct, o); !errors.Is(err, suppression.ErrInvalid) || errors.Is(err, suppression.ErrInvalidToken) {
				t.Errorf("List(%+v): %v", o, err)
			}
		}
		for _, tok := range []string{"garbage!", "aGVsbG8", "azE6", "%%%"} {
			if _, _, err := f.s.List(f.ctx, acct, suppression.ListOptions{Token: tok}); !errors.Is(err, suppression.ErrInvalidToken) || !errors.Is(err, suppression.ErrInvalid) {
				t.Errorf("List with token %q: %v", tok, err)
			}
		}
	})
}

func TestListFiltersAndPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		t0 := f.clock.Now()
		// 25 entries, one a minute; every third a complaint.
		for i := range 25 {
			r := suppression.Bounce
			if i%3 == 0 {
				r = suppression.Complaint
			}
			f.put(t, acct, fmt.Sprintf("user%02d@example.com", i), r)
			f.clock.Advance(time.Minute)
		}
		f.put(t, other, "user99@example.com", suppression.Bounce)

		all := func(o suppression.ListOptions) []string {
			t.Helper()
			var got []string
			for pages := 0; ; pages++ {
				es, next, err := f.s.List(f.ctx, acct, o)
				if err != nil {
					t.Fatal(err)
				}
				if o.PageSize > 0 && len(es) > o.PageSize {
					t.Fatalf("page of %d entries, PageSize %d", len(es), o.PageSize)
				}
				for _, e := range es {
					got = append(got, e.Address)
				}
				if next == "" {
					return got
				}
				if pages > 100 {
					t.Fatal("paging does not end")
				}
				o.Token = next
			}
		}
		names := func(is ...int) []string {
			var out []string
			for _, i := range is {
				out = append(out, fmt.Sprintf("user%02d@example.com", i))
			}
			return out
		}
		rangeOf := func(from, to int, keep func(int) bool) []int {
			var out []int
			for i := from; i < to; i++ {
				if keep(i) {
					out = append(out, i)
				}
			}
			return out
		}
		every := func(int) bool { return true }
		if got, want := all(suppression.ListOptions{}), names(rangeOf(0, 25, every)...); !slices.Equal(got, want) {
			t.Fatalf("all: %v", got)
		}
		if got, want := all(suppression.ListOptions{PageSize: 4}), names(rangeOf(0, 25, every)...); !slices.Equal(got, want) {
			t.Fatalf("pages of 4: %v", got)
		}
		complaints := func(i int) bool { return i%3 == 0 }
		if got, want := all(suppression.ListOptions{Reasons: []suppression.Reason{suppression.Complaint}, PageSize: 2}), names(rangeOf(0, 25, complaints)...); !slices.Equal(got, want) {
			t.Fatalf("complaints: %v", got)
		}
		if got := all(suppression.ListOptions{Reasons: []suppression.Reason{suppression.Complaint, suppression.Bounce}}); len(got) != 25 {
			t.Fatalf("both reasons: %d entries", len(got))
		}
		// [Start, End): entries 5 to 9.
		o := suppression.ListOptions{Start: t0.Add(5 * time.Minute), End: t0.Add(10 * time.Minute), PageSize: 3}
		if got, want := all(o), names(5, 6, 7, 8, 9); !slices.Equal(got, want) {
			t.Fatalf("dates: %v", got)
		}
		o.Reasons = []suppression.Reason{suppression.Bounce}
		if got, want := all(o), names(5, 7, 8); !slices.Equal(got, want) {
			t.Fatalf("dates and bounces: %v", got)
		}
		if got := all(suppression.ListOptions{Start: t0.Add(time.Hour)}); len(got) != 0 {
			t.Fatalf("after the last: %v", got)
		}
		// A full page of entries with nothing after it has no token.
		if es, next, err := f.s.List(f.ctx, acct, suppression.ListOptions{PageSize: 25}); len(es) != 25 || next != "" || err != nil {
			t.Fatalf("exact page: %d entries, token %q, %v", len(es), next, err)
		}
		// Entries added, updated and removed between pages: every entry
		// there for the whole walk comes exactly once; entries added ahead
		// of the position come too.
		es, next, err := f.s.List(f.ctx, acct, suppression.ListOptions{PageSize: 10})
		if err != nil || len(es) != 10 || next == "" || es[9].Address != "user09@example.com" {
			t.Fatalf("first page: %d, %q, %v", len(es), next, err)
		}
		seen := []string{}
		for _, e := range es {
			seen = append(seen, e.Address)
		}
		f.put(t, acct, "aaa@example.com", suppression.Bounce)     // behind: not seen
		f.put(t, acct, "user10b@example.com", suppression.Bounce) // ahead: seen
		f.put(t, acct, "user15@example.com", suppression.Bounce)  // updated: seen once
		f.put(t, acct, "user03@example.com", suppression.Bounce)  // updated behind: not again
		if err := f.s.Delete(f.ctx, acct, "user20@example.com"); err != nil {
			t.Fatal(err)
		}
		var ahead []string
		for next != "" {
			es, next, err = f.s.List(f.ctx, acct, suppression.ListOptions{PageSize: 10, Token: next})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				seen = append(seen, e.Address)
			}
			if next != "" {
				a := fmt.Sprintf("zzz%02d@example.com", len(seen)) // always ahead
				f.put(t, acct, a, suppression.Bounce)
				ahead = append(ahead, a)
			}
		}
		want := append(names(rangeOf(0, 25, func(i int) bool { return i != 20 })...), "user10b@example.com")
		want = append(want, ahead...)
		slices.Sort(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("walk with changes:\n got %v\nwant %v", seen, want)
		}
		// A token is a position, not a snapshot: it still works after the
		// entry it names is deleted.
		es, next, err = f.s.List(f.ctx, acct, suppression.ListOptions{PageSize: 2})
		if err != nil || next == "" {
			t.Fatal(err)
		}
		if err := f.s.Delete(f.ctx, acct, es[1].Address); err != nil {
			t.Fatal(err)
		}
		if es2, _, err := f.s.List(f.ctx, acct, suppression.ListOptions{PageSize: 2, Token: next}); err != nil || len(es2) != 2 || es2[0].Key <= es[1].Key {
			t.Fatalf("after deleting the token's entry: %+v, %v", es2, err)
		}
	})
}

func TestSuppressed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.put(t, acct, "Gone@Example.org", suppression.Bounce)
		f.put(t, acct, "angry@example.org", suppression.Complaint)
		f.put(t, other, "other@example.org", suppression.Bounce)
		given := []string{"gone@example.org", "GONE@EXAMPLE.ORG", "fine@example.org", "angry@example.org", "other@example.org", "not an address"}
		got, err := f.s.Suppressed(f.ctx, acct, nil, given)
		want := map[string]bool{"gone@example.org": true, "GONE@EXAMPLE.ORG": true, "angry@example.org": true}
		if err != nil || len(got) != len(want) {
			t.Fatalf("Suppressed = %v, %v; want %v", got, err, want)
		}
		for a := range want {
			if !got[a] {
				t.Fatalf("Suppressed = %v; want %v", got, want)
			}
		}
		// A configuration set's reasons override: only entries listed for
		// them count; no reasons, nothing is suppressed.
		if got, err := f.s.Suppressed(f.ctx, acct, []string{"COMPLAINT"}, given); err != nil || len(got) != 1 || !got["angry@example.org"] {
			t.Fatalf("COMPLAINT only: %v, %v", got, err)
		}
		if got, err := f.s.Suppressed(f.ctx, acct, []string{"BOUNCE", "COMPLAINT"}, given); err != nil || len(got) != 3 {
			t.Fatalf("both reasons: %v, %v", got, err)
		}
		if got, err := f.s.Suppressed(f.ctx, acct, []string{}, given); err != nil || len(got) != 0 {
			t.Fatalf("no reasons: %v, %v", got, err)
		}
		if got, err := f.s.Suppressed(f.ctx, acct, nil, nil); err != nil || len(got) != 0 {
			t.Fatalf("no addresses: %v, %v", got, err)
		}
		// More addresses than one query takes.
		many := make([]string, 1200)
		for i := range many {
			many[i] = fmt.Sprintf("r%d@example.org", i)
		}
		many[1100] = "gone@example.org"
		if got, err := f.s.Suppressed(f.ctx, acct, nil, many); err != nil || len(got) != 1 || !got["gone@example.org"] {
			t.Fatalf("1200 addresses: %v, %v", got, err)
		}
	})
}

func TestRecordHonoursAttributes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		record := func(address string, r suppression.Reason) bool {
			t.Helper()
			var added bool
			err := d.InTx(f.ctx, func(tx *db.Tx) error {
				var err error
				added, err = f.s.Record(f.ctx, tx, acct, address, r, "msg-"+address, "fb-"+address, nil)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return added
		}
		if r, err := f.s.Attributes(f.ctx, acct); err != nil || !slices.Equal(r, []suppression.Reason{suppression.Bounce, suppression.Complaint}) {
			t.Fatalf("default attributes: %v, %v", r, err)
		}
		if !record("b1@example.org", suppression.Bounce) || !record("c1@example.org", suppression.Complaint) {
			t.Fatal("default attributes: not recorded")
		}
		e, err := f.s.Get(f.ctx, acct, "b1@example.org")
		if err != nil || e.Reason != suppression.Bounce || e.MessageID != "msg-b1@example.org" || e.FeedbackID != "fb-b1@example.org" || !e.LastUpdateTime.Equal(f.clock.Now()) {
			t.Fatalf("recorded entry: %+v, %v", e, err)
		}
		// Complaints only (duplicates are ignored).
		if err := f.s.SetAttributes(f.ctx, acct, []suppression.Reason{suppression.Complaint, suppression.Complaint}); err != nil {
			t.Fatal(err)
		}
		if r, _ := f.s.Attributes(f.ctx, acct); !slices.Equal(r, []suppression.Reason{suppression.Complaint}) {
			t.Fatalf("attributes: %v", r)
		}
		if record("b2@example.org", suppression.Bounce) || !record("c2@example.org", suppression.Complaint) {
			t.Fatal("complaints only")
		}
		// Off.
		if err := f.s.SetAttributes(f.ctx, acct, nil); err != nil {
			t.Fatal(err)
		}
		if r, err := f.s.Attributes(f.ctx, acct); err != nil || r == nil || len(r) != 0 {
			t.Fatalf("attributes off: %#v, %v", r, err)
		}
		if record("b3@example.org", suppression.Bounce) || record("c3@example.org", suppression.Complaint) {
			t.Fatal("off: recorded")
		}
		// The other account still has the default; order is canonical.
		if err := f.s.SetAttributes(f.ctx, other, []suppression.Reason{suppression.Complaint, suppression.Bounce}); err != nil {
			t.Fatal(err)
		}
		if r, _ := f.s.Attributes(f.ctx, other); !slices.Equal(r, suppression.DefaultReasons()) {
			t.Fatalf("other account: %v", r)
		}
		for _, a := range []string{"b2@example.org", "b3@example.org", "c3@example.org"} {
			if _, err := f.s.Get(f.ctx, acct, a); !errors.Is(err, suppression.ErrNotFound) {
				t.Fatalf("%s: %v", a, err)
			}
		}
		// Record is part of the caller's transaction: rolled back with it.
		if err := f.s.SetAttributes(f.ctx, acct, suppression.DefaultReasons()); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = d.InTx(f.ctx, func(tx *db.Tx) error {
			if added, err := f.s.Record(f.ctx, tx, acct, "rolled@example.org", suppression.Bounce, "m", "f", nil); err != nil || !added {
				t.Fatalf("record: %v %v", added, err)
			}
			return boom
		})
		if err != boom {
			t.Fatal(err)
		}
		if _, err := f.s.Get(f.ctx, acct, "rolled@example.org"); !errors.Is(err, suppression.ErrNotFound) {
			t.Fatalf("rolled back entry: %v", err)
		}
		if _, err := f.s.Record(f.ctx, nil, acct, "x@example.org", suppression.Bounce, "", "", nil); err == nil {
			t.Fatal("Record without a transaction")
		}
	})
}

func TestAccountDeletionCascades(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.put(t, acct, "a@example.org", suppression.Bounce)
		f.put(t, other, "a@example.org", suppression.Bounce)
		if err := f.s.SetAttributes(f.ctx, acct, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(f.ctx, `DELETE FROM accounts WHERE id = ?`, acct); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*) FROM suppression_attributes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("attributes left: %d, %v", n, err)
		}
		if n := f.count(t); n != 1 {
			t.Fatalf("%d entries left, want the other account's 1", n)
		}
		if _, err := f.s.Get(f.ctx, other, "a@example.org"); err != nil {
			t.Fatal(err)
		}
	})
}
