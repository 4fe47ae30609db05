package reputation_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/reputation"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

// happened is one counted event of the fake statistics.
type happened struct {
	at         time.Time
	account    string
	set        string
	sends      int64
	bounces    int64
	transient  int64
	complaints int64
}

type mail struct{ account, subject, text string }

// fixture is a Guard over a real database with recording hooks and an
// in-memory event log behind Totals.
type fixture struct {
	ctx   context.Context
	d     *db.DB
	clock *testkit.Clock
	accts *account.Store
	acct  string
	other string

	mu        sync.Mutex
	log       []happened
	pausedAcc []string
	resumed   []string
	pausedSet []string
	repSets   map[string][]string
	mails     []mail
	counted   []string
	failPause error
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{ctx: t.Context(), d: d, clock: testkit.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)), repSets: map[string][]string{}}
	box, _ := seal.New("k")
	f.accts = account.New(d, box, f.clock.Now)
	for _, n := range []string{"a", "b"} {
		a, _, err := f.accts.Create(f.ctx, account.CreateOptions{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		if n == "a" {
			f.acct = a.ID
		} else {
			f.other = a.ID
		}
	}
	return f
}

func (f *fixture) guard(t *testing.T, mod func(*reputation.Options)) *reputation.Guard {
	t.Helper()
	o := reputation.Options{
		DB: f.d, Now: f.clock.Now, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Window: 24 * time.Hour, MinVolume: 100,
		Totals: func(ctx context.Context, accountID, set string, since time.Time) (reputation.Totals, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			var out reputation.Totals
			for _, h := range f.log {
				if h.account != accountID || set != "" && h.set != set || h.at.Before(since) {
					continue
				}
				out.Sends += h.sends
				out.PermanentBounces += h.bounces
				out.TransientBounces += h.transient
				out.Complaints += h.complaints
			}
			return out, nil
		},
		PauseAccount: func(ctx context.Context, id string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.failPause != nil {
				return f.failPause
			}
			f.pausedAcc = append(f.pausedAcc, id)
			return f.accts.SetSendingEnabled(ctx, id, false)
		},
		ResumeAccount: func(ctx context.Context, id string) error {
			f.mu.Lock()
			f.resumed = append(f.resumed, id)
			f.mu.Unlock()
			return f.accts.SetSendingEnabled(ctx, id, true)
		},
		PauseSet: func(ctx context.Context, id, set string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.pausedSet = append(f.pausedSet, id+"/"+set)
			return nil
		},
		ReputationSets: func(ctx context.Context, id string) ([]string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.repSets[id], nil
		},
		Notify: func(ctx context.Context, id, subject, text string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.mails = append(f.mails, mail{id, subject, text})
			return nil
		},
		Counted: func(scope, action string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.counted = append(f.counted, scope+":"+action)
		},
	}
	if mod != nil {
		mod(&o)
	}
	g, err := reputation.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// add records events now.
func (f *fixture) add(h happened) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h.account == "" {
		h.account = f.acct
	}
	h.at = f.clock.Now()
	f.log = append(f.log, h)
}

func (f *fixture) evaluate(t *testing.T, g *reputation.Guard, sets ...string) {
	t.Helper()
	if err := g.Evaluate(f.ctx, f.acct, sets); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) status(t *testing.T, g *reputation.Guard, id string) string {
	t.Helper()
	s, err := g.Status(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) takeMails() []mail {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.mails
	f.mails = nil
	return m
}

func (f *fixture) takeCounted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.counted
	f.counted = nil
	return c
}

func (f *fixture) sending(t *testing.T, id string) bool {
	t.Helper()
	a, err := f.accts.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return a.SendingEnabled
}

// TestMinVolume: rates far over the pause levels change nothing below
// the minimum volume.
func TestMinVolume(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		g := f.guard(t, nil)
		f.add(happened{sends: 10, bounces: 5, complaints: 3})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("status %s with 10 sends", s)
		}
		st, err := g.Account(f.ctx, f.acct)
		if err != nil || st.Last.Sends != 10 || st.Last.Bounce != 0.5 || st.Last.Complaint != 0.3 {
			t.Fatalf("last rates %+v, %v", st, err)
		}
		if m := f.takeMails(); len(m) != 0 || len(f.pausedAcc) != 0 {
			t.Fatalf("mails %v, paused %v", m, f.pausedAcc)
		}
		// 99 sends: still below.
		f.add(happened{sends: 89})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("status %s with 99 sends", s)
		}
		// The 100th send: 5/100 bounces is the pause level.
		f.add(happened{sends: 1, bounces: 5})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Shutdown {
			t.Fatalf("status %s with 100 sends and 10 bounces", s)
		}
	})
}

// TestAccountLevels walks HEALTHY → PROBATION → HEALTHY → PROBATION →
// SHUTDOWN, which stays, then reinstate.
func TestAccountLevels(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		g := f.guard(t, nil)
		f.add(happened{sends: 1000, bounces: 49, complaints: 0, transient: 500})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("4.9%% bounces (transient ones do not count): %s", s)
		}
		// 50/1000 = 5%: review.
		f.clock.Advance(time.Hour)
		f.add(happened{bounces: 1})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Probation {
			t.Fatalf("5%% bounces: %s", s)
		}
		st, _ := g.Account(f.ctx, f.acct)
		if !st.Since.Equal(f.clock.Now()) || st.Last.Bounce != 0.05 {
			t.Fatalf("state %+v", st)
		}
		if c := f.takeCounted(); !slices.Equal(c, []string{"account:probation"}) {
			t.Fatalf("counted %v", c)
		}
		m := f.takeMails()
		if len(m) != 1 || m[0].account != f.acct || !strings.Contains(m[0].subject, "under review") || !strings.Contains(m[0].text, "bounce rate     5%") ||
			!strings.Contains(m[0].text, "1000 messages sent") {
			t.Fatalf("mails %+v", m)
		}
		if !f.sending(t, f.acct) {
			t.Fatal("PROBATION paused sending")
		}
		// Evaluating again changes nothing and mails nothing.
		f.evaluate(t, g)
		if m := f.takeMails(); len(m) != 0 {
			t.Fatalf("mails %v", m)
		}
		// The window slides past the bad hour's start: the first 1000
		// sends drop out, clean mail replaces them.
		f.clock.Advance(24 * time.Hour)
		f.add(happened{sends: 1000, bounces: 10})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("1%% bounces after the window moved: %s", s)
		}
		if c := f.takeCounted(); !slices.Equal(c, []string{"account:healthy"}) {
			t.Fatalf("counted %v", c)
		}
		if m := f.takeMails(); len(m) != 1 || !strings.Contains(m[0].subject, "no longer under review") {
			t.Fatalf("mails %+v", m)
		}
		// Complaints: 0.1% (with the 1000 sends, 2/2000 = 0.1%) → PROBATION.
		f.add(happened{sends: 1000, complaints: 2})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Probation {
			t.Fatalf("0.1%% complaints: %s", s)
		}
		// 10/2000 = 0.5% complaints → SHUTDOWN, sending paused.
		f.add(happened{complaints: 8})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Shutdown {
			t.Fatalf("0.5%% complaints: %s", s)
		}
		// (Paused twice: before SHUTDOWN is recorded, and after, to undo
		// a customer's resume that raced it.)
		if f.sending(t, f.acct) || !slices.Equal(slices.Compact(f.pausedAcc), []string{f.acct}) {
			t.Fatalf("SHUTDOWN did not pause: %v", f.pausedAcc)
		}
		f.takeCounted()
		if m := f.takeMails(); len(m) != 2 || !strings.Contains(m[1].subject, "Sending paused for your account") || !strings.Contains(m[1].text, "complaint rate  0.5%") {
			t.Fatalf("mails %+v", m)
		}
		// SHUTDOWN stays even when the rates fall.
		f.clock.Advance(48 * time.Hour)
		f.add(happened{sends: 5000})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Shutdown || f.sending(t, f.acct) {
			t.Fatalf("SHUTDOWN left by itself: %s", s)
		}
		// The other account is untouched.
		if s := f.status(t, g, f.other); s != reputation.Healthy || !f.sending(t, f.other) {
			t.Fatalf("other account: %s", s)
		}
		// Reinstate: HEALTHY, sending, counted and mailed.
		if err := g.Reinstate(f.ctx, f.acct); err != nil {
			t.Fatal(err)
		}
		if s := f.status(t, g, f.acct); s != reputation.Healthy || !f.sending(t, f.acct) {
			t.Fatalf("after reinstate: %s", s)
		}
		if c := f.takeCounted(); !slices.Equal(c, []string{"account:reinstate"}) {
			t.Fatalf("counted %v", c)
		}
		if m := f.takeMails(); len(m) != 1 || !strings.Contains(m[0].subject, "Sending resumed for your account") {
			t.Fatalf("mails %+v", m)
		}
		if err := g.Reinstate(f.ctx, f.acct); !errors.Is(err, reputation.ErrNotEnforced) {
			t.Fatalf("reinstating a HEALTHY account: %v", err)
		}
		if err := g.Reinstate(f.ctx, f.other); !errors.Is(err, reputation.ErrNotEnforced) {
			t.Fatalf("reinstating an account never evaluated: %v", err)
		}
	})
}

// TestReinstateCountsAfresh: the data that shut an account down does not
// shut it down again after the operator reinstates it; new bad data does.
func TestReinstateCountsAfresh(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		g := f.guard(t, nil)
		f.add(happened{sends: 200, bounces: 40})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Shutdown {
			t.Fatalf("20%% bounces: %s", s)
		}
		f.clock.Advance(time.Minute)
		if err := g.Reinstate(f.ctx, f.acct); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		f.add(happened{sends: 50, bounces: 1})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("after reinstate, old data counted: %s", s)
		}
		f.add(happened{sends: 50, bounces: 10})
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Shutdown {
			t.Fatalf("11%% bounces after reinstate: %s", s)
		}
	})
}

// TestReinstateDuringShutdown: an operator's Reinstate that runs between
// an evaluation's record of SHUTDOWN and its second pause (the one that
// undoes a customer's racing resume) leaves the account HEALTHY and
// sending — the evaluation gives its pause back. (TestAccountEnforcement
// in internal/app met this race under load.)
func TestReinstateDuringShutdown(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		var g *reputation.Guard
		pauses := 0
		g = f.guard(t, func(o *reputation.Options) {
			pause := o.PauseAccount
			o.PauseAccount = func(ctx context.Context, id string) error {
				if pauses++; pauses == 2 { // the pause after the record
					if err := g.Reinstate(ctx, id); err != nil {
						return err
					}
				}
				return pause(ctx, id)
			}
		})
		f.add(happened{sends: 200, bounces: 40})
		f.evaluate(t, g)
		if pauses != 2 {
			t.Fatalf("%d pauses; want the one before and the one after the record", pauses)
		}
		if s := f.status(t, g, f.acct); s != reputation.Healthy || !f.sending(t, f.acct) {
			t.Errorf("after a reinstate during the shutdown: status %s, sending %v; want HEALTHY and sending", s, f.sending(t, f.acct))
		}
	})
}

// TestPauseFailureRetried: a pause that fails is not recorded, so the next
// evaluation pauses again.
func TestPauseFailureRetried(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		g := f.guard(t, nil)
		f.failPause = errors.New("database gone")
		f.add(happened{sends: 200, bounces: 40})
		if err := g.Evaluate(f.ctx, f.acct, nil); err == nil || !strings.Contains(err.Error(), "database gone") {
			t.Fatalf("Evaluate = %v", err)
		}
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("status %s recorded without the pause", s)
		}
		f.failPause = nil
		f.evaluate(t, g)
		if s := f.status(t, g, f.acct); s != reputation.Shutdown || f.sending(t, f.acct) {
			t.Fatalf("status %s", s)
		}
	})
}

// TestSetThreshold: an operator's threshold pauses a set; the resume is
// recorded; the same data does not pause it again; new data does.
func TestSetThreshold(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		exists := map[string]bool{f.acct + "/news": true, f.acct + "/receipts": true}
		g := f.guard(t, func(o *reputation.Options) {
			o.SetMinVolume = 50
			o.SetExists = func(ctx context.Context, id, set string) (bool, error) { return exists[id+"/"+set], nil }
		})
		if err := g.SetThreshold(f.ctx, f.acct, "news", reputation.Threshold{Bounce: 0.03, Complaint: 0.002}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			acct, set string
			th        reputation.Threshold
			want      string
		}{
			{f.acct, "news", reputation.Threshold{Bounce: 1.5}, "bounce rate 1.5 must be between 0 and 1"},
			{f.acct, "news", reputation.Threshold{Complaint: -0.1}, "complaint rate -0.1 must be between 0 and 1"},
			{f.acct, "nosuch", reputation.Threshold{Bounce: 0.1}, `no configuration set "nosuch"`},
			{f.other, "news", reputation.Threshold{Bounce: 0.1}, `no configuration set "news"`}, // another account's set
		} {
			err := g.SetThreshold(f.ctx, bad.acct, bad.set, bad.th)
			if !errors.Is(err, reputation.ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("SetThreshold(%s, %+v) = %v", bad.set, bad.th, err)
			}
		}
		if st, _ := g.Set(f.ctx, f.acct, "news"); st.Threshold != (reputation.Threshold{Bounce: 0.03, Complaint: 0.002}) {
			t.Fatalf("a refused change was written: %+v", st.Threshold)
		}
		// Account-wide mail is clean; the set's is not. Below the set's
		// minimum volume nothing happens.
		f.add(happened{sends: 5000})
		f.add(happened{set: "news", sends: 40, bounces: 4})
		f.add(happened{set: "receipts", sends: 100, bounces: 50}) // no threshold: never paused
		f.evaluate(t, g, "news", "receipts", "")
		if len(f.pausedSet) != 0 {
			t.Fatalf("paused %v below the minimum volume", f.pausedSet)
		}
		f.add(happened{set: "news", sends: 10})
		f.evaluate(t, g, "news", "receipts", "news")
		if !slices.Equal(f.pausedSet, []string{f.acct + "/news"}) {
			t.Fatalf("paused %v; want news (4/50 = 8%% ≥ 3%%)", f.pausedSet)
		}
		if c := f.takeCounted(); !slices.Equal(c, []string{"configuration_set:pause"}) {
			t.Fatalf("counted %v", c)
		}
		m := f.takeMails()
		if len(m) != 1 || !strings.Contains(m[0].subject, "configuration set news") || !strings.Contains(m[0].text, "bounce rate     8%") ||
			!strings.Contains(m[0].text, "PutConfigurationSetSendingOptions") || !strings.Contains(m[0].text, "bounce rate     3%") {
			t.Fatalf("mails %+v", m)
		}
		st, _ := g.Set(f.ctx, f.acct, "news")
		if !st.Paused() || !st.PausedAt.Equal(f.clock.Now()) || st.Last.Sends != 50 {
			t.Fatalf("set state %+v", st)
		}
		if s := f.status(t, g, f.acct); s != reputation.Healthy {
			t.Fatalf("account %s", s)
		}
		// Evaluating again with the same data: no second pause.
		f.clock.Advance(time.Minute)
		f.evaluate(t, g, "news")
		if len(f.pausedSet) != 1 {
			t.Fatalf("paused again: %v", f.pausedSet)
		}
		// The customer resumes: recorded, counted, mailed; once only.
		f.clock.Advance(time.Minute)
		if err := g.SetResumed(f.ctx, f.acct, "news"); err != nil {
			t.Fatal(err)
		}
		if err := g.SetResumed(f.ctx, f.acct, "news"); err != nil {
			t.Fatal(err)
		}
		if err := g.SetResumed(f.ctx, f.acct, "receipts"); err != nil { // never paused by the guard
			t.Fatal(err)
		}
		if c := f.takeCounted(); !slices.Equal(c, []string{"configuration_set:resume"}) {
			t.Fatalf("counted %v", c)
		}
		if m := f.takeMails(); len(m) != 1 || !strings.Contains(m[0].subject, "Sending resumed for configuration set news") {
			t.Fatalf("mails %+v", m)
		}
		// Late bounces of the old mail arrive: with few new sends, no pause.
		f.clock.Advance(time.Minute)
		f.add(happened{set: "news", sends: 60, bounces: 1})
		f.add(happened{set: "news", bounces: 0})
		f.evaluate(t, g, "news")
		if len(f.pausedSet) != 1 {
			t.Fatalf("paused again for clean mail: %v", f.pausedSet)
		}
		// New bad mail: 0.2% complaints of the mail since the resume.
		f.clock.Advance(2 * time.Minute)
		f.add(happened{set: "news", sends: 940, complaints: 2})
		f.evaluate(t, g, "news")
		if len(f.pausedSet) != 2 {
			t.Fatalf("not paused for 2/1000 complaints: %v", f.pausedSet)
		}
		// Clearing the threshold: nothing guards the set any more.
		if err := g.SetThreshold(f.ctx, f.acct, "news", reputation.Threshold{}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(2 * time.Minute)
		f.add(happened{set: "news", sends: 100, bounces: 100})
		f.evaluate(t, g, "news")
		if len(f.pausedSet) != 2 {
			t.Fatalf("paused without a threshold: %v", f.pausedSet)
		}
	})
}

// TestDefaultSetThreshold: the deployment's default applies to sets with
// ReputationMetricsEnabled only, and an operator's threshold beats it.
func TestDefaultSetThreshold(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.repSets[f.acct] = []string{"tracked", "own"}
		g := f.guard(t, func(o *reputation.Options) { o.SetBounceRate = 0.04 })
		if err := g.SetThreshold(f.ctx, f.acct, "own", reputation.Threshold{Bounce: 0.5}); err != nil {
			t.Fatal(err)
		}
		for _, set := range []string{"tracked", "untracked", "own"} {
			f.add(happened{set: set, sends: 100, bounces: 4})
		}
		f.add(happened{sends: 10000})
		f.evaluate(t, g, "tracked", "untracked", "own")
		if !slices.Equal(f.pausedSet, []string{f.acct + "/tracked"}) {
			t.Fatalf("paused %v; want tracked only", f.pausedSet)
		}
	})
}

func TestNewChecksOptions(t *testing.T) {
	d := dbtest.SQLite(t)
	for _, o := range []reputation.Options{
		{},
		{DB: d, Window: -time.Second},
		{DB: d, MinVolume: -1},
		{DB: d, SetBounceRate: 2},
	} {
		if _, err := reputation.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	g, err := reputation.New(reputation.Options{DB: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Evaluate(t.Context(), "x", nil); err == nil {
		t.Error("Evaluate without hooks")
	}
	if err := g.Reinstate(t.Context(), "x"); err == nil {
		t.Error("Reinstate without ResumeAccount")
	}
}
