package reputation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// The enforcement statuses (GetAccount's EnforcementStatus).
const (
	Healthy   = "HEALTHY"
	Probation = "PROBATION"
	Shutdown  = "SHUTDOWN"
)

// SES's levels: an account is reviewed (PROBATION) at the review levels
// and its sending paused (SHUTDOWN) at the pause levels. Rates are
// fractions: 0.05 is 5%.
const (
	ReviewBounceRate    = 0.05
	ReviewComplaintRate = 0.001
	PauseBounceRate     = 0.10
	PauseComplaintRate  = 0.005
)

// Defaults for the zero values of Options' fields.
const (
	DefaultWindow    = 7 * 24 * time.Hour
	DefaultMinVolume = 500
)

// recordEvery is how often the last rates of an account or set are
// written when nothing else changes: evaluations come after every
// published batch, and a write per batch would cost more than the rates
// are worth.
const recordEvery = time.Minute

// Scopes and actions given to Options.Counted.
const (
	ScopeAccount = "account"
	ScopeSet     = "configuration_set"

	ActionProbation = "probation"
	ActionShutdown  = "shutdown"
	ActionHealthy   = "healthy"
	ActionReinstate = "reinstate"
	ActionPause     = "pause"
	ActionResume    = "resume"
)

// ErrInvalid is returned (wrapped, with the field and the rule) for a
// threshold out of range or a configuration set that does not exist.
var ErrInvalid = errors.New("reputation: invalid")

// ErrNotEnforced is returned by Reinstate for an account that is HEALTHY.
var ErrNotEnforced = errors.New("reputation: the account is HEALTHY: nothing to reinstate")

// Totals are the counts of events over a window, as the statistics store
// gives them (the fields of stats.Totals, so that reputation.Totals(t)
// converts one).
type Totals struct {
	Sends, Deliveries, PermanentBounces, TransientBounces, Complaints, Rejects int64
}

// Rates are an account's or a set's rates over a window.
type Rates struct {
	Sends     int64
	Bounce    float64 // permanent bounces / sends; 0 without sends
	Complaint float64 // complaints / sends; 0 without sends
}

func ratesOf(t Totals) Rates {
	r := Rates{Sends: t.Sends}
	if t.Sends > 0 {
		r.Bounce = float64(t.PermanentBounces) / float64(t.Sends)
		r.Complaint = float64(t.Complaints) / float64(t.Sends)
	}
	return r
}

// Threshold is a configuration set's pause threshold; a zero rate is
// none.
type Threshold struct {
	Bounce, Complaint float64
}

func (t Threshold) none() bool { return t.Bounce <= 0 && t.Complaint <= 0 }

func (t Threshold) reached(r Rates) bool {
	return t.Bounce > 0 && r.Bounce >= t.Bounce || t.Complaint > 0 && r.Complaint >= t.Complaint
}

// Options configures a Guard. Every field's zero value is documented.
type Options struct {
	DB     *db.DB           // required
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// Window is how far back the rates look; 0: 7 days.
	Window time.Duration
	// MinVolume is the fewest sends in the window for the rates to be
	// judged; 0: 500.
	MinVolume int64
	// SetMinVolume is MinVolume for configuration sets' thresholds; 0:
	// MinVolume.
	SetMinVolume int64
	// SetBounceRate and SetComplaintRate are the deployment's default
	// thresholds of sets with ReputationMetricsEnabled that have none of
	// their own; 0: none.
	SetBounceRate, SetComplaintRate float64

	// Totals counts the events of the account (set "") or of one of its
	// configuration sets at or after since, without the mailbox
	// simulator's recipients (stats.Store.Totals). Required by Evaluate.
	// It must not count events before since (a store kept in time buckets
	// must leave out a bucket that starts before since, not round since
	// down): after a pause or a reinstatement, since is the next
	// millisecond, and the events that caused it must not count again.
	Totals func(ctx context.Context, accountID, set string, since time.Time) (Totals, error)
	// PauseAccount pauses the account's sending
	// (account.Store.SetSendingEnabled false); required by Evaluate.
	PauseAccount func(ctx context.Context, accountID string) error
	// ResumeAccount resumes it; required by Reinstate.
	ResumeAccount func(ctx context.Context, accountID string) error
	// PauseSet pauses a configuration set's sending
	// (configset.Store.SetSendingEnabled false); required by Evaluate.
	PauseSet func(ctx context.Context, accountID, set string) error
	// ReputationSets lists the account's sets with
	// ReputationMetricsEnabled; nil: none (only operators' thresholds
	// apply). Called only when a default threshold is set.
	ReputationSets func(ctx context.Context, accountID string) ([]string, error)
	// SetExists says whether the account has the set; SetThreshold
	// refuses a set that does not exist. Nil: not checked.
	SetExists func(ctx context.Context, accountID, set string) (bool, error)
	// Notify mails the account's owner (a system mail to the account's
	// address); nil: no mail.
	Notify func(ctx context.Context, accountID, subject, text string) error
	// Counted counts a change (metrics.Metrics.Reputation); nil: none.
	Counted func(scope, action string)
}

// Guard evaluates reputations and acts on them. Its methods are safe for
// concurrent use, also from several nodes sharing one database.
type Guard struct {
	o   Options
	log *slog.Logger
	now func() time.Time
}

// New returns a Guard.
func New(o Options) (*Guard, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("reputation: DB is required")
	case o.Window < 0 || o.MinVolume < 0 || o.SetMinVolume < 0:
		return nil, errors.New("reputation: Window, MinVolume and SetMinVolume must not be negative")
	case !rateOK(o.SetBounceRate) || !rateOK(o.SetComplaintRate):
		return nil, errors.New("reputation: SetBounceRate and SetComplaintRate must be between 0 and 1")
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.MinVolume == 0 {
		o.MinVolume = DefaultMinVolume
	}
	if o.SetMinVolume == 0 {
		o.SetMinVolume = o.MinVolume
	}
	g := &Guard{o: o, log: o.Logger, now: o.Now}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g, nil
}

func rateOK(r float64) bool { return r >= 0 && r <= 1 }

// AccountState is an account's stored reputation.
type AccountState struct {
	Status string    // Healthy, Probation or Shutdown
	Since  time.Time // zero for an account never evaluated
	// CountFrom is when the operator last reinstated the account: events
	// before it do not count. Zero: never.
	CountFrom   time.Time
	Last        Rates     // of the last recorded evaluation
	EvaluatedAt time.Time // zero: never
	stored      bool
}

// Account returns the account's stored reputation; an account never
// evaluated is HEALTHY.
func (g *Guard) Account(ctx context.Context, accountID string) (AccountState, error) {
	s := AccountState{Status: Healthy}
	var since, from, at int64
	err := g.o.DB.QueryRow(ctx, `SELECT status, since, count_from, sends, bounce_rate, complaint_rate, evaluated_at
		FROM reputation_accounts WHERE account_id = ?`, accountID).
		Scan(&s.Status, &since, &from, &s.Last.Sends, &s.Last.Bounce, &s.Last.Complaint, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reputation: read account %s: %w", accountID, err)
	}
	s.Since, s.CountFrom, s.EvaluatedAt, s.stored = db.Time(since), db.Time(from), db.Time(at), true
	return s, nil
}

// Status returns the account's enforcement status: HEALTHY, PROBATION or
// SHUTDOWN (sesv2.Options.EnforcementStatus).
func (g *Guard) Status(ctx context.Context, accountID string) (string, error) {
	s, err := g.Account(ctx, accountID)
	return s.Status, err
}

// Evaluate computes the rates of the account and of the named sets ("" and
// repeated names are skipped) and makes the changes they call for. The
// publisher calls it after each batch with the sets of the batch's events.
// Errors are joined; one set's failure does not stop the others.
func (g *Guard) Evaluate(ctx context.Context, accountID string, sets []string) error {
	if g.o.Totals == nil || g.o.PauseAccount == nil || g.o.PauseSet == nil {
		return errors.New("reputation: Evaluate needs the Totals, PauseAccount and PauseSet hooks")
	}
	errs := []error{g.evaluateAccount(ctx, accountID)}
	var reputationSets []string
	listed := false
	seen := map[string]bool{}
	for _, set := range sets {
		if set == "" || seen[set] {
			continue
		}
		seen[set] = true
		st, err := g.Set(ctx, accountID, set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		th := st.Threshold
		if th.none() && (g.o.SetBounceRate > 0 || g.o.SetComplaintRate > 0) && g.o.ReputationSets != nil {
			if !listed {
				reputationSets, err = g.o.ReputationSets(ctx, accountID)
				if err != nil {
					errs = append(errs, fmt.Errorf("reputation: sets with reputation metrics of %s: %w", accountID, err))
					continue
				}
				listed = true
			}
			if slices.Contains(reputationSets, set) {
				th = Threshold{Bounce: g.o.SetBounceRate, Complaint: g.o.SetComplaintRate}
			}
		}
		if th.none() {
			continue
		}
		errs = append(errs, g.evaluateSet(ctx, accountID, st, th))
	}
	return errors.Join(errs...)
}

// level is what the rates call for: 0 nothing, 1 review, 2 pause.
func level(r Rates) int {
	switch {
	case r.Bounce >= PauseBounceRate || r.Complaint >= PauseComplaintRate:
		return 2
	case r.Bounce >= ReviewBounceRate || r.Complaint >= ReviewComplaintRate:
		return 1
	}
	return 0
}

func (g *Guard) evaluateAccount(ctx context.Context, accountID string) error {
	st, err := g.Account(ctx, accountID)
	if err != nil {
		return err
	}
	now := g.now()
	since := later(now.Add(-g.o.Window), after(st.CountFrom))
	t, err := g.o.Totals(ctx, accountID, "", since)
	if err != nil {
		return fmt.Errorf("reputation: totals of account %s: %w", accountID, err)
	}
	r := ratesOf(t)
	next := st.Status
	if r.Sends >= g.o.MinVolume {
		switch l := level(r); {
		case l == 2:
			next = Shutdown
		case l == 1 && st.Status == Healthy:
			next = Probation
		case l == 0 && st.Status == Probation:
			next = Healthy
		}
	}
	if next == st.Status && st.stored && now.Sub(st.EvaluatedAt) < recordEvery {
		return nil
	}
	if next == Shutdown && st.Status != Shutdown {
		// Pause first: if recording fails, the next evaluation pauses
		// (idempotently) and records again.
		if err := g.o.PauseAccount(ctx, accountID); err != nil {
			return fmt.Errorf("reputation: pause account %s: %w", accountID, err)
		}
	}
	changed, err := g.writeAccount(ctx, accountID, st, next, now, st.CountFrom, r)
	if err != nil || !changed || next == st.Status {
		return err
	}
	if next == Shutdown {
		// And again once recorded: the customer's resume
		// (account.Store.ResumeSending) checks the status before and
		// after it resumes, so one that ran between the first pause
		// and the record is undone here.
		if err := g.o.PauseAccount(ctx, accountID); err != nil {
			return fmt.Errorf("reputation: pause account %s: %w", accountID, err)
		}
		// An operator's Reinstate may have lifted the SHUTDOWN between
		// the record and this pause: it records HEALTHY before it
		// resumes, so if the record is no longer ours, this pause came
		// after its resume and is given back.
		if cur, err := g.Account(ctx, accountID); err != nil {
			return err
		} else if cur.Status != Shutdown || db.Millis(cur.Since) != db.Millis(now) {
			if g.o.ResumeAccount == nil {
				return fmt.Errorf("reputation: account %s was reinstated while being shut down, and no ResumeAccount hook can give its sending back", accountID)
			}
			if err := g.o.ResumeAccount(ctx, accountID); err != nil {
				return fmt.Errorf("reputation: resume account %s: %w", accountID, err)
			}
			return nil
		}
	}
	action := map[string]string{Probation: ActionProbation, Shutdown: ActionShutdown, Healthy: ActionHealthy}[next]
	g.changed(ctx, accountID, "", ScopeAccount, action, r, Threshold{})
	return nil
}

// writeAccount stores the account's state as next (since now when it
// changes) with the rates r, if the stored state is still old. It
// reports whether it wrote.
func (g *Guard) writeAccount(ctx context.Context, accountID string, old AccountState, next string, now, countFrom time.Time, r Rates) (bool, error) {
	since := old.Since
	if next != old.Status || !old.stored {
		since = now
	}
	var res sql.Result
	var err error
	if !old.stored {
		res, err = g.o.DB.Exec(ctx, `INSERT INTO reputation_accounts (account_id, status, since, count_from, sends, bounce_rate, complaint_rate, evaluated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id) DO NOTHING`,
			accountID, next, db.Millis(since), db.Millis(countFrom), r.Sends, r.Bounce, r.Complaint, db.Millis(now))
	} else {
		res, err = g.o.DB.Exec(ctx, `UPDATE reputation_accounts SET status = ?, since = ?, count_from = ?, sends = ?, bounce_rate = ?, complaint_rate = ?, evaluated_at = ?
			WHERE account_id = ? AND status = ? AND since = ?`,
			next, db.Millis(since), db.Millis(countFrom), r.Sends, r.Bounce, r.Complaint, db.Millis(now),
			accountID, old.Status, db.Millis(old.Since))
	}
	if err != nil {
		return false, fmt.Errorf("reputation: record account %s: %w", accountID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("reputation: record account %s: %w", accountID, err)
	}
	return n == 1, nil
}

// Reinstate lifts an account's SHUTDOWN (or PROBATION): it resumes the
// account's sending and makes it HEALTHY, counting only events from now
// on. A HEALTHY account is ErrNotEnforced.
func (g *Guard) Reinstate(ctx context.Context, accountID string) error {
	if g.o.ResumeAccount == nil {
		return errors.New("reputation: Reinstate needs the ResumeAccount hook")
	}
	st, err := g.Account(ctx, accountID)
	if err != nil {
		return err
	}
	if st.Status == Healthy {
		return ErrNotEnforced
	}
	// Record HEALTHY first, then resume: an evaluation that pauses the
	// account after this resume finds the record changed and gives its
	// pause back (evaluateAccount).
	now := g.now()
	changed, err := g.writeAccount(ctx, accountID, st, Healthy, now, now, Rates{})
	if err != nil {
		return err
	}
	if !changed {
		return fmt.Errorf("reputation: account %s changed while being reinstated; try again", accountID)
	}
	if err := g.o.ResumeAccount(ctx, accountID); err != nil {
		return fmt.Errorf("reputation: account %s is HEALTHY but its sending could not be resumed (the customer can resume it): %w", accountID, err)
	}
	g.changed(ctx, accountID, "", ScopeAccount, ActionReinstate, st.Last, Threshold{})
	return nil
}

// SetState is a configuration set's stored reputation.
type SetState struct {
	AccountID, Set string
	Threshold      Threshold // the operator's; zero: none
	PausedAt       time.Time // the guard's last pause; zero: never
	ResumedAt      time.Time // when that pause was lifted; zero: not (yet)
	Last           Rates
	EvaluatedAt    time.Time
	stored         bool
}

// Paused reports whether the guard's last pause of the set has not been
// lifted (as far as SetResumed was told).
func (s SetState) Paused() bool { return !s.PausedAt.IsZero() && s.ResumedAt.Before(s.PausedAt) }

// Set returns the set's stored reputation (zero when none).
func (g *Guard) Set(ctx context.Context, accountID, set string) (SetState, error) {
	s := SetState{AccountID: accountID, Set: set}
	var paused, resumed, at int64
	err := g.o.DB.QueryRow(ctx, `SELECT bounce_threshold, complaint_threshold, paused_at, resumed_at, sends, bounce_rate, complaint_rate, evaluated_at
		FROM reputation_sets WHERE account_id = ? AND set_name = ?`, accountID, set).
		Scan(&s.Threshold.Bounce, &s.Threshold.Complaint, &paused, &resumed, &s.Last.Sends, &s.Last.Bounce, &s.Last.Complaint, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reputation: read set %s of %s: %w", set, accountID, err)
	}
	s.PausedAt, s.ResumedAt, s.EvaluatedAt, s.stored = db.Time(paused), db.Time(resumed), db.Time(at), true
	return s, nil
}

func (g *Guard) evaluateSet(ctx context.Context, accountID string, st SetState, th Threshold) error {
	now := g.now()
	since := later(later(now.Add(-g.o.Window), after(st.PausedAt)), after(st.ResumedAt))
	t, err := g.o.Totals(ctx, accountID, st.Set, since)
	if err != nil {
		return fmt.Errorf("reputation: totals of set %s of %s: %w", st.Set, accountID, err)
	}
	r := ratesOf(t)
	pause := r.Sends >= g.o.SetMinVolume && th.reached(r)
	if !pause && st.stored && now.Sub(st.EvaluatedAt) < recordEvery {
		return nil
	}
	if pause {
		if err := g.o.PauseSet(ctx, accountID, st.Set); err != nil {
			return fmt.Errorf("reputation: pause set %s of %s: %w", st.Set, accountID, err)
		}
	}
	pausedAt := st.PausedAt
	if pause {
		pausedAt = now
	}
	var res sql.Result
	if !st.stored {
		res, err = g.o.DB.Exec(ctx, `INSERT INTO reputation_sets (account_id, set_name, paused_at, sends, bounce_rate, complaint_rate, evaluated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, set_name) DO NOTHING`,
			accountID, st.Set, db.Millis(pausedAt), r.Sends, r.Bounce, r.Complaint, db.Millis(now))
	} else {
		res, err = g.o.DB.Exec(ctx, `UPDATE reputation_sets SET paused_at = ?, sends = ?, bounce_rate = ?, complaint_rate = ?, evaluated_at = ?
			WHERE account_id = ? AND set_name = ? AND paused_at = ?`,
			db.Millis(pausedAt), r.Sends, r.Bounce, r.Complaint, db.Millis(now), accountID, st.Set, db.Millis(st.PausedAt))
	}
	if err != nil {
		return fmt.Errorf("reputation: record set %s of %s: %w", st.Set, accountID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 || !pause {
		return err
	}
	g.changed(ctx, accountID, st.Set, ScopeSet, ActionPause, r, th)
	return nil
}

// SetResumed records that the customer resumed the set's sending
// (PutConfigurationSetSendingOptions or
// UpdateConfigurationSetSendingEnabled with true): when the guard had
// paused it, the resume is logged, counted and mailed, and only events
// from now on count for the set. Otherwise it does nothing.
func (g *Guard) SetResumed(ctx context.Context, accountID, set string) error {
	st, err := g.Set(ctx, accountID, set)
	if err != nil || !st.Paused() {
		return err
	}
	now := g.now()
	res, err := g.o.DB.Exec(ctx, `UPDATE reputation_sets SET resumed_at = ? WHERE account_id = ? AND set_name = ? AND resumed_at = ? AND paused_at = ?`,
		db.Millis(now), accountID, set, db.Millis(st.ResumedAt), db.Millis(st.PausedAt))
	if err != nil {
		return fmt.Errorf("reputation: record the resume of set %s of %s: %w", set, accountID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return err
	}
	g.changed(ctx, accountID, set, ScopeSet, ActionResume, st.Last, st.Threshold)
	return nil
}

// SetThreshold sets the operator's threshold of a configuration set; a
// zero rate removes that half, a zero Threshold removes both (the
// deployment's default applies again to a set with
// ReputationMetricsEnabled). Rates are fractions between 0 and 1.
func (g *Guard) SetThreshold(ctx context.Context, accountID, set string, th Threshold) error {
	switch {
	case set == "":
		return fmt.Errorf("%w: the configuration set name is required", ErrInvalid)
	case !rateOK(th.Bounce):
		return fmt.Errorf("%w: bounce rate %g must be between 0 and 1 (0.05 is 5%%)", ErrInvalid, th.Bounce)
	case !rateOK(th.Complaint):
		return fmt.Errorf("%w: complaint rate %g must be between 0 and 1 (0.001 is 0.1%%)", ErrInvalid, th.Complaint)
	}
	if g.o.SetExists != nil {
		ok, err := g.o.SetExists(ctx, accountID, set)
		if err != nil {
			return fmt.Errorf("reputation: look for set %s of %s: %w", set, accountID, err)
		}
		if !ok {
			return fmt.Errorf("%w: account %s has no configuration set %q", ErrInvalid, accountID, set)
		}
	}
	_, err := g.o.DB.Exec(ctx, `INSERT INTO reputation_sets (account_id, set_name, bounce_threshold, complaint_threshold) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, set_name) DO UPDATE SET bounce_threshold = excluded.bounce_threshold, complaint_threshold = excluded.complaint_threshold`,
		accountID, set, th.Bounce, th.Complaint)
	if err != nil {
		return fmt.Errorf("reputation: set the threshold of set %s of %s: %w", set, accountID, err)
	}
	g.log.Info("configuration set threshold set", "account", accountID, "configuration_set", set, "bounce_rate", th.Bounce, "complaint_rate", th.Complaint)
	return nil
}

// Forget removes what the guard keeps about a set (its threshold and
// pause); the app calls it when the set is deleted, so that a new set of
// the same name starts afresh.
func (g *Guard) Forget(ctx context.Context, accountID, set string) error {
	if _, err := g.o.DB.Exec(ctx, `DELETE FROM reputation_sets WHERE account_id = ? AND set_name = ?`, accountID, set); err != nil {
		return fmt.Errorf("reputation: forget set %s of %s: %w", set, accountID, err)
	}
	return nil
}

// changed logs, counts and mails one change.
func (g *Guard) changed(ctx context.Context, accountID, set, scope, action string, r Rates, th Threshold) {
	args := []any{"account", accountID, "action", action, "sends", r.Sends, "bounce_rate", r.Bounce, "complaint_rate", r.Complaint}
	if set != "" {
		args = append(args, "configuration_set", set)
	}
	g.log.Warn("reputation "+scope+" "+action, args...)
	if g.o.Counted != nil {
		g.o.Counted(scope, action)
	}
	if g.o.Notify == nil {
		return
	}
	subject, text := g.message(accountID, set, action, r, th)
	if err := g.o.Notify(ctx, accountID, subject, text); err != nil {
		g.log.Error("reputation notice could not be mailed", append(args, "err", err)...)
	}
}

// after is the first instant Totals may count after t: times are stored
// in milliseconds, so events of t's millisecond are before it. Zero stays
// zero.
func after(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Millisecond).Add(time.Millisecond)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
