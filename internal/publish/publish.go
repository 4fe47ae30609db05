// Package publish is the outbox publisher: it reads the events that
// internal/event appended to the outbox (rows of `events` with
// published_at = 0), oldest first, and fans each one out to where it must
// go, in one write transaction per batch:
//
//   - to the enabled destinations of the event's configuration set that
//     match its type: an SNS destination gets the event's stored JSON as is
//     (SES's event-publishing format) with the subject
//     "Amazon SES Email Event Notification"; a CloudWatch destination is
//     noted and handed to Options.After once the batch is committed;
//   - for Bounce, Complaint and Delivery events, to the notification topic
//     the sending identity (the identity of mail.sourceArn) has for that
//     type, in SES's older identity-notification format
//     (event.Event.NotificationJSON), with the original headers when the
//     identity has them enabled for the type;
//   - to Options.InTx (statistics), and the rows are marked published.
//
// Publishing to a topic only writes rows in that transaction (push
// deliveries, system mail): nothing here waits for a subscriber, so a slow
// or dead one never slows the outbox. Either the whole batch commits or
// none of it does, so every event reaches every destination at least once.
// Two exceptions never hold the outbox up: a topic that no longer exists
// (Options.IsTopicGone) is skipped with a warning, and a row whose payload
// cannot be decoded is marked published with an error log.
//
// A failed batch is retried one event at a time, each in its own
// transaction, so that one event whose publishing keeps failing (a hook's
// error) does not hold up the others: they are published at once, and the
// failing event is set aside, not claimed again until its own backoff
// (Options.EventBackoff, doubling up to EventMaxBackoff) has passed, then
// tried alone. After EventTries failures in a row (by default 10, about 55
// minutes) it is dropped: marked published with an error log naming it,
// counted as FailDropped. Only an event's own failure counts against it:
// when a transaction fails in the database's own statements (begin, claim,
// marking, commit) the failure is the database's, and the publisher backs
// off as a whole (Options.Backoff) without counting it against any event.
// A hook's failure counts only when the database is seen to work: another
// event was published in the same step or, for an event already set
// aside, since its last failure. When every event tried fails and none
// was published since, nothing is counted: the events wait (the publisher
// backs off, a set-aside event keeps its backoff), so a database that is
// down drops nothing, however long. A consequence: an event that fails
// when no other is waiting is retried on the publisher's backoff until it
// fails beside another that is published. Set-aside events are remembered
// in memory, per Publisher, at most MaxPenalized of them; a restart
// forgets them (their count starts again).
//
// Several publishers may share one PostgreSQL database: each claims its
// batch with FOR UPDATE SKIP LOCKED inside the batch's transaction, so no
// event is published twice by two nodes. On SQLite one writer at a time is
// the database's own rule.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
)

// EventSubject is the SNS subject of every event published to an SNS
// event destination, as SES sets it (ses-api.md §13.4).
const EventSubject = "Amazon SES Email Event Notification"

// NotificationSubject is the SNS subject of identity notifications (the
// notificationType format): none. SES does not document one, and the
// notifications SES publishes to identity topics carry no Subject, so an
// HTTP subscriber sees no Subject key and an email subscriber SNS's
// default subject, as with SES.
const NotificationSubject = ""

// IdentityTopic is one identity notification topic (the same as
// sns.IdentityTopic, declared here so that publish does not import sns).
type IdentityTopic struct {
	TopicARN       string
	HeadersEnabled bool // SetIdentityHeadersInNotificationsEnabled for the type
}

// Published is one event of a committed batch, for Options.After.
type Published struct {
	Event *event.Event
	// CloudWatch are the event's configuration set's enabled CloudWatch
	// destinations that match its type; empty when none.
	CloudWatch []configset.Destination
}

// The defaults of Options.
const (
	DefaultBatch      = 256
	MaxBatch          = 1000
	DefaultPoll       = time.Second
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	// An event that fails on its own is tried again after 30 s, 1, 2, 4,
	// 8 min, then every 10 min, and dropped at its 10th failure: about
	// 55 minutes after its first.
	DefaultEventBackoff    = 30 * time.Second
	DefaultEventMaxBackoff = 10 * time.Minute
	DefaultEventTries      = 10
	// MaxPenalized bounds the failing events a Publisher sets aside; when
	// more fail, the one with the fewest failures is forgotten (and may
	// fail a batch again).
	MaxPenalized = 1000
)

// The kinds Options.Failed is called with.
const (
	FailBatch       = "batch"         // a batch rolled back (it is retried)
	FailTopicGone   = "topic_gone"    // a publish to a deleted topic, skipped
	FailUndecodable = "undecodable"   // a row whose payload cannot be decoded, dropped
	FailEvent       = "event_failed"  // an event failed on its own; set aside and retried
	FailDropped     = "event_dropped" // an event failed EventTries times; dropped
)

// Options configures a Publisher.
type Options struct {
	DB     *db.DB           // required
	Now    func() time.Time // nil: time.Now; published_at
	Logger *slog.Logger     // nil: discard
	// Batch is how many events one transaction publishes at most; 0:
	// DefaultBatch; more than MaxBatch: MaxBatch.
	Batch int
	// Poll is how often the outbox is looked at when nobody calls Kick;
	// 0: DefaultPoll.
	Poll time.Duration
	// Backoff is the wait after a failed batch, doubled after each further
	// failure up to MaxBackoff; 0: DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// EventBackoff is the wait before an event that failed on its own
	// (others published beside it) is tried again, doubled after each
	// further failure up to EventMaxBackoff; at its EventTries-th failure
	// it is dropped. 0: DefaultEventBackoff, DefaultEventMaxBackoff,
	// DefaultEventTries.
	EventBackoff, EventMaxBackoff time.Duration
	EventTries                    int

	// Destinations returns every destination of an account's
	// configuration set, read through q (the batch's transaction); an
	// unknown set: none (configset.Store.Destinations). Nil: no
	// configuration set has destinations.
	Destinations func(ctx context.Context, q db.Querier, accountID, set string) ([]configset.Destination, error)
	// IdentityTopics returns an identity's notification topics by
	// notification type ("Bounce", "Complaint", "Delivery"), read through
	// q (sns.Store.IdentityTopics). Nil: no identity notifications.
	IdentityTopics func(ctx context.Context, q db.Querier, accountID, identity string) (map[string]IdentityTopic, error)
	// Publish publishes a message to an account's topic in tx
	// (sns.Store.PublishTx); required. subject "" means none. When the
	// topic no longer exists it must say so (IsTopicGone) before writing
	// anything and without a failed statement in tx (PostgreSQL aborts a
	// transaction after one).
	Publish func(ctx context.Context, tx *db.Tx, accountID, topicARN, subject, message string) (messageID string, err error)
	// IsTopicGone reports whether an error of Publish means that the topic
	// does not exist (errors.Is(err, sns.ErrTopicNotFound)): such a
	// publish is skipped with a warning. Nil: no error does, and any
	// error of Publish rolls the batch back.
	IsTopicGone func(err error) bool

	// Before is called with the decoded events of a batch before its
	// transaction (stats.Store.Prepare: slow lookups out of the write
	// transaction). On PostgreSQL it may see events that another node
	// then publishes.
	Before func(ctx context.Context, events []*event.Event)
	// InTx is called in the batch's transaction with the events it
	// publishes (stats.Store.AddTx); an error rolls the batch back.
	InTx func(ctx context.Context, tx *db.Tx, events []*event.Event) error
	// After is called once a batch is committed, with every event it
	// published (also those with no CloudWatch destination), in outbox
	// order: metrics and reputation.
	After func(ctx context.Context, batch []Published)
	// Failed counts failures by kind (FailBatch, FailTopicGone,
	// FailUndecodable, FailEvent, FailDropped):
	// metrics.Metrics.PublishFailed. Nil: not counted.
	Failed func(kind string)
}

// Publisher publishes the outbox. Its methods are safe for concurrent use.
type Publisher struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger
	wake chan struct{}

	mu sync.Mutex
	// penalty holds the events set aside after failing on their own, by
	// row id; at most MaxPenalized.
	penalty map[int64]*penalty
	// published counts the transactions that published events (ran
	// hooks and committed): the database worked.
	published uint64
}

// penalty is the record of an event that failed on its own.
type penalty struct {
	fails int       // failures in a row
	next  time.Time // not claimed before
	seen  uint64    // Publisher.published at its last failure
}

// New returns a Publisher.
func New(o Options) (*Publisher, error) {
	if o.DB == nil || o.Publish == nil {
		return nil, errors.New("publish: DB and Publish are required")
	}
	p := &Publisher{opts: o, now: o.Now, log: o.Logger, wake: make(chan struct{}, 1), penalty: map[int64]*penalty{}}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.opts.Batch <= 0 {
		p.opts.Batch = DefaultBatch
	}
	p.opts.Batch = min(p.opts.Batch, MaxBatch)
	if p.opts.Poll <= 0 {
		p.opts.Poll = DefaultPoll
	}
	if p.opts.Backoff <= 0 {
		p.opts.Backoff = DefaultBackoff
	}
	if p.opts.MaxBackoff <= 0 {
		p.opts.MaxBackoff = max(DefaultMaxBackoff, p.opts.Backoff)
	}
	if p.opts.EventBackoff <= 0 {
		p.opts.EventBackoff = DefaultEventBackoff
	}
	if p.opts.EventMaxBackoff <= 0 {
		p.opts.EventMaxBackoff = max(DefaultEventMaxBackoff, p.opts.EventBackoff)
	}
	if p.opts.EventTries <= 0 {
		p.opts.EventTries = DefaultEventTries
	}
	return p, nil
}

// Kick wakes Run to look at the outbox now (events were appended: the
// queue's Notify, the feedback processor). It never blocks.
func (p *Publisher) Kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Backlog counts the events not yet published.
func (p *Publisher) Backlog(ctx context.Context) (int64, error) {
	var n int64
	if err := p.opts.DB.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE published_at = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("publish: count the backlog: %w", err)
	}
	return n, nil
}

// Run publishes the outbox until ctx ends, then returns nil. It publishes
// a batch when kicked, every Poll, and at once after a full batch; after a
// failed batch it waits (Backoff, doubling up to MaxBackoff, kicks
// ignored) and tries again.
func (p *Publisher) Run(ctx context.Context) error {
	timer := time.NewTimer(p.opts.Poll)
	defer timer.Stop()
	wait := func(d time.Duration, kickable bool) bool {
		timer.Reset(d) // Go 1.23+: no stale tick survives Reset
		wake := p.wake
		if !kickable {
			wake = nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-wake:
		case <-timer.C:
		}
		return true
	}
	failures := 0
	for {
		r, err := p.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			failures++
			d := p.backoff(failures)
			p.log.Error("publishing events failed; the batch is retried", "err", err, "failures", failures, "retry_in", d)
			if !wait(d, false) {
				return nil
			}
		case r.read == p.opts.Batch || r.claimed < r.read:
			// More waiting, or another node took some of ours: go on.
			failures = 0
		default:
			failures = 0
			if !wait(p.opts.Poll, true) {
				return nil
			}
		}
	}
}

// backoff is the wait after the n-th failure in a row (n ≥ 1).
func (p *Publisher) backoff(n int) time.Duration {
	return backoff(n, p.opts.Backoff, p.opts.MaxBackoff)
}

// backoff is base doubled n-1 times, at most limit.
func backoff(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// RunOnce publishes one batch and returns how many outbox rows it marked
// published (undecodable and dropped ones included).
func (p *Publisher) RunOnce(ctx context.Context) (int, error) {
	r, err := p.step(ctx)
	return r.claimed, err
}

// item is one outbox row of a batch.
type item struct {
	row event.Stored
	ev  *event.Event // nil when the payload cannot be decoded
	err error        // why not
}

// result says how a batch went: rows read before the transaction, and
// rows claimed (published) in it.
type result struct{ read, claimed int }

// step publishes one batch: the oldest unpublished rows but those set
// aside, in one transaction; when that fails, each of its events alone;
// then each set-aside event that is due, alone.
func (p *Publisher) step(ctx context.Context) (result, error) {
	now := p.now()
	rows, err := p.candidates(ctx, p.excluded(now))
	if err != nil || len(rows) == 0 {
		return result{}, err
	}
	items := make([]item, len(rows))
	var evs []*event.Event
	for i, r := range rows {
		items[i].row = r
		e, err := r.Event()
		if err == nil {
			err = e.Validate()
		}
		if err != nil {
			items[i].err = err
			continue
		}
		items[i].ev = e
		evs = append(evs, e)
	}
	if p.opts.Before != nil && len(evs) > 0 {
		p.opts.Before(ctx, evs)
	}
	res := result{read: len(rows)}
	normal, suspects := p.split(items, now)

	// healthy is set once a transaction that ran hooks has committed: the
	// database works, so an event that fails now fails on its own.
	var healthy bool
	var failed []failure
	// alone publishes it in a transaction of its own: an event's failure
	// joins failed; the database's (or ctx's end) is returned.
	alone := func(it item) error {
		b, fault, err := p.commit(ctx, []item{it})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			p.forgive(it.row.ID)
			res.claimed += len(b.claimed)
			healthy = healthy || len(b.out) > 0
		case !fault:
			return err
		default:
			failed = append(failed, failure{it, err})
		}
		return nil
	}
	if len(normal) > 0 {
		b, fault, err := p.commit(ctx, normal)
		switch {
		case err != nil && ctx.Err() != nil:
			return res, ctx.Err() // stopping: not a failure
		case err == nil:
			res.claimed += len(b.claimed)
			healthy = len(b.out) > 0
		case !fault:
			p.failed(FailBatch)
			return res, err
		case len(normal) == 1:
			p.failed(FailBatch)
			failed = append(failed, failure{normal[0], err})
		default:
			// Find the event at fault: publish the others.
			p.failed(FailBatch)
			p.log.Warn("publishing a batch of events failed; publishing them one at a time", "events", len(normal), "err", err)
			for _, it := range normal {
				if err := alone(it); err != nil {
					return res, err
				}
			}
		}
	}
	for _, it := range suspects {
		if err := alone(it); err != nil {
			if ctx.Err() == nil {
				p.failed(FailBatch)
			}
			return res, err
		}
	}
	if len(failed) == 0 {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	var dbErr error
	for _, f := range failed {
		dropped, backOff, err := p.penalize(ctx, f, now, healthy)
		switch {
		case err != nil:
			return res, err
		case dropped:
			res.claimed++
		case backOff && dbErr == nil:
			dbErr = f.err
		}
	}
	if dbErr != nil {
		// Every event tried failed, and nothing since says that the
		// database works: the failure is not held against the events.
		// Back off as a whole.
		if len(normal) == 0 {
			p.failed(FailBatch)
		}
		return res, dbErr
	}
	return res, nil
}

// failure is an event that failed alone, and why.
type failure struct {
	it  item
	err error
}

// commit publishes items in one transaction and, once it is committed,
// reports and hands them to Options.After. When it fails, fault says
// whether a hook failed (the events' fault, perhaps) rather than the
// database's own statements (begin, claim, marking, commit).
func (p *Publisher) commit(ctx context.Context, items []item) (b *batch, fault bool, err error) {
	err = p.opts.DB.InTx(ctx, func(tx *db.Tx) error {
		b = &batch{p: p, tx: tx, dests: map[[2]string][]configset.Destination{}, topics: map[[2]string]map[string]IdentityTopic{}}
		return b.run(ctx, items)
	})
	if err != nil {
		return nil, b != nil && b.hookErr != nil, err
	}
	if len(b.out) > 0 {
		p.mu.Lock()
		p.published++
		p.mu.Unlock()
	}
	b.report()
	if p.opts.After != nil && len(b.out) > 0 {
		p.opts.After(ctx, b.out)
	}
	return b, false, nil
}

// excluded returns the set-aside events whose next try is after now, for
// candidates to skip; nil when there are none (the usual case).
func (p *Publisher) excluded(now time.Time) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int64
	for id, pe := range p.penalty {
		if pe.next.After(now) {
			out = append(out, id)
		}
	}
	return out
}

// split divides a batch's items into those published together and the
// set-aside events that are due, tried alone. Set-aside events that are
// due but were not read are published by now (or being published by
// another node): forgotten.
func (p *Publisher) split(items []item, now time.Time) (normal, suspects []item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.penalty) == 0 {
		return items, nil
	}
	read := make(map[int64]bool, len(items))
	for _, it := range items {
		read[it.row.ID] = true
		if pe := p.penalty[it.row.ID]; pe != nil && it.ev != nil {
			suspects = append(suspects, it)
		} else {
			normal = append(normal, it)
		}
	}
	last, full := items[len(items)-1].row.ID, len(items) >= p.opts.Batch
	for id, pe := range p.penalty {
		if !pe.next.After(now) && !read[id] && (!full || id < last) {
			delete(p.penalty, id)
		}
	}
	return normal, suspects
}

// forgive forgets a set-aside event that was published.
func (p *Publisher) forgive(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.penalty, id)
}

// penalize deals with the failure of f's event alone. The failure counts
// against the event when the database has been seen to work: healthy (a
// transaction published events in this step), or, for an event already set
// aside, one did since its last failure. A counted failure sets the event
// aside until its next try, or drops it (marks it published) at its
// EventTries-th. An uncounted one puts off the next try of an event
// already set aside; for one that is not, backOff says the caller must
// back off (the database's failure, perhaps).
func (p *Publisher) penalize(ctx context.Context, f failure, now time.Time, healthy bool) (dropped, backOff bool, err error) {
	row := f.it.row
	attrs := []any{"event_id", row.ID, "account", row.AccountID, "message_id", row.MessageID, "event_type", string(row.Type)}
	p.mu.Lock()
	pe := p.penalty[row.ID]
	if !healthy && (pe == nil || p.published == pe.seen) {
		if pe == nil {
			p.mu.Unlock()
			return false, true, nil
		}
		fails := pe.fails
		wait := backoff(fails, p.opts.EventBackoff, p.opts.EventMaxBackoff)
		pe.next = now.Add(wait)
		p.mu.Unlock()
		p.log.Warn("publishing an event failed again, with no other event published since; not counted, tried again later",
			append(attrs, "failures", fails, "retry_in", wait, "err", f.err)...)
		return false, false, nil
	}
	if pe == nil {
		if len(p.penalty) >= MaxPenalized {
			p.evict()
		}
		pe = &penalty{}
		p.penalty[row.ID] = pe
	}
	pe.fails++
	pe.seen = p.published
	fails := pe.fails
	wait := backoff(fails, p.opts.EventBackoff, p.opts.EventMaxBackoff)
	pe.next = now.Add(wait)
	p.mu.Unlock()

	p.failed(FailEvent)
	attrs = append(attrs, "failures", fails)
	if fails < p.opts.EventTries {
		p.log.Warn("publishing an event failed; the others are published, it is tried again later",
			append(attrs, "retry_in", wait, "err", f.err)...)
		return false, false, nil
	}
	res, err := p.opts.DB.Exec(ctx, `UPDATE events SET published_at = ? WHERE id = ? AND published_at = 0`, max(db.Millis(p.now()), 1), row.ID)
	if err != nil {
		return false, false, fmt.Errorf("publish: drop event %d: %w", row.ID, err)
	}
	p.forgive(row.ID)
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, false, err // published meanwhile (by another node)
	}
	p.failed(FailDropped)
	p.log.Error("publishing an event kept failing; dropped (marked published, not published)", append(attrs, "err", f.err)...)
	return true, false, nil
}

// evict forgets the set-aside event with the fewest failures (the one
// whose next try is soonest among them), to make room. p.mu is held.
func (p *Publisher) evict() {
	var victim int64
	var v *penalty
	for id, pe := range p.penalty {
		if v == nil || pe.fails < v.fails || (pe.fails == v.fails && pe.next.Before(v.next)) {
			victim, v = id, pe
		}
	}
	delete(p.penalty, victim)
	p.log.Warn("too many failing events set aside; one is forgotten", "event_id", victim, "failures", v.fails)
}

// candidates reads the oldest unpublished rows but those excluded, at most
// a batch. On
// PostgreSQL, rows another node has claimed (locked in its batch's
// transaction) are skipped, so that nodes work on different rows; the
// locks taken here end with the statement.
func (p *Publisher) candidates(ctx context.Context, excluded []int64) ([]event.Stored, error) {
	where := `e.published_at = 0`
	args := make([]any, 0, len(excluded)+1)
	if len(excluded) > 0 {
		where += ` AND e.id NOT IN (` + placeholders(len(excluded)) + `)`
		for _, id := range excluded {
			args = append(args, id)
		}
	}
	tail := `ORDER BY e.id LIMIT ?`
	if p.opts.DB.Dialect == db.Postgres {
		tail += ` FOR UPDATE OF e SKIP LOCKED`
	}
	out, err := event.Read(ctx, p.opts.DB, where, append(args, p.opts.Batch), tail)
	if err != nil {
		return nil, fmt.Errorf("publish: read the outbox: %w", err)
	}
	return out, nil
}

func (p *Publisher) failed(kind string) {
	if p.opts.Failed != nil {
		p.opts.Failed(kind)
	}
}

// batch is one batch's transaction and what it found.
type batch struct {
	p  *Publisher
	tx *db.Tx
	// Per batch caches: a set's destinations and an identity's topics by
	// (account, name).
	dests  map[[2]string][]configset.Destination
	topics map[[2]string]map[string]IdentityTopic

	claimed     []int64
	out         []Published
	undecodable []item
	gone        map[[2]string]int    // (account, topic) → publishes skipped
	foreign     map[[2]string]string // (account, sourceArn) → message id: identity of another account
	// hookErr is the error of a hook (or of encoding an event) that
	// failed the batch: the events' doing rather than the database's.
	hookErr error
}

// blame notes that err, from a hook, fails the batch, and returns it.
func (b *batch) blame(err error) error {
	b.hookErr = err
	return err
}

func (b *batch) run(ctx context.Context, items []item) error {
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.row.ID
	}
	claimed, err := b.claim(ctx, ids)
	if err != nil {
		return err
	}
	var evs []*event.Event
	for _, it := range items {
		if !claimed[it.row.ID] {
			continue // published or claimed by another node meanwhile
		}
		b.claimed = append(b.claimed, it.row.ID)
		if it.ev == nil {
			b.undecodable = append(b.undecodable, it)
			continue
		}
		cw, err := b.fanOut(ctx, &it)
		if err != nil {
			return err
		}
		b.out = append(b.out, Published{Event: it.ev, CloudWatch: cw})
		evs = append(evs, it.ev)
	}
	if len(b.claimed) == 0 {
		return nil
	}
	if b.p.opts.InTx != nil && len(evs) > 0 {
		if err := b.p.opts.InTx(ctx, b.tx, evs); err != nil {
			return b.blame(fmt.Errorf("publish: %w", err))
		}
	}
	args := make([]any, 0, len(b.claimed)+1)
	args = append(args, max(db.Millis(b.p.now()), 1))
	for _, id := range b.claimed {
		args = append(args, id)
	}
	if _, err := b.tx.Exec(ctx, `UPDATE events SET published_at = ? WHERE id IN (`+placeholders(len(b.claimed))+`)`, args...); err != nil {
		return fmt.Errorf("publish: mark %d events published: %w", len(b.claimed), err)
	}
	return nil
}

// claim locks the rows of ids that are still unpublished and returns
// them. On PostgreSQL rows locked by another node's batch are skipped
// (SKIP LOCKED) and rows it has published since are not unpublished any
// more; either way they are not ours.
func (b *batch) claim(ctx context.Context, ids []int64) (map[int64]bool, error) {
	q := `SELECT id FROM events WHERE published_at = 0 AND id IN (` + placeholders(len(ids)) + `)`
	if b.tx.Dialect() == db.Postgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rs, err := b.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("publish: claim events: %w", err)
	}
	defer rs.Close()
	out := make(map[int64]bool, len(ids))
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			return nil, fmt.Errorf("publish: claim events: %w", err)
		}
		out[id] = true
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("publish: claim events: %w", err)
	}
	return out, nil
}

// fanOut publishes one event to its set's matching SNS destinations and
// its identity's notification topic, and returns its set's matching
// CloudWatch destinations.
func (b *batch) fanOut(ctx context.Context, it *item) ([]configset.Destination, error) {
	e := it.ev
	var cw []configset.Destination
	if e.ConfigurationSet != "" && b.p.opts.Destinations != nil {
		key := [2]string{e.AccountID, e.ConfigurationSet}
		ds, ok := b.dests[key]
		if !ok {
			var err error
			if ds, err = b.p.opts.Destinations(ctx, b.tx, e.AccountID, e.ConfigurationSet); err != nil {
				return nil, b.blame(fmt.Errorf("publish: destinations of configuration set %q of account %s: %w", e.ConfigurationSet, e.AccountID, err))
			}
			b.dests[key] = ds
		}
		for _, d := range ds {
			if !d.Matches(e.Type) {
				continue
			}
			if d.SNSTopicARN != "" {
				if err := b.publish(ctx, it, d.SNSTopicARN, EventSubject, string(it.row.Payload)); err != nil {
					return nil, err
				}
			}
			if d.CloudWatch != nil {
				cw = append(cw, d)
			}
		}
	}
	if !event.HasNotification(e.Type) || b.p.opts.IdentityTopics == nil {
		return cw, nil
	}
	account, identity, ok := SourceIdentity(e.Mail.SourceArn)
	if !ok {
		return cw, nil
	}
	if account != e.AccountID {
		// Only an identity of the event's own account may be told.
		if b.foreign == nil {
			b.foreign = map[[2]string]string{}
		}
		b.foreign[[2]string{e.AccountID, e.Mail.SourceArn}] = e.Mail.MessageID
		return cw, nil
	}
	key := [2]string{e.AccountID, identity}
	ts, ok := b.topics[key]
	if !ok {
		var err error
		if ts, err = b.p.opts.IdentityTopics(ctx, b.tx, e.AccountID, identity); err != nil {
			return nil, b.blame(fmt.Errorf("publish: notification topics of identity %s of account %s: %w", identity, e.AccountID, err))
		}
		b.topics[key] = ts
	}
	t := ts[string(e.Type)]
	if t.TopicARN == "" {
		return cw, nil
	}
	msg, err := e.NotificationJSON(t.HeadersEnabled)
	if err != nil {
		return nil, b.blame(fmt.Errorf("publish: event %d: %w", it.row.ID, err))
	}
	if err := b.publish(ctx, it, t.TopicARN, NotificationSubject, string(msg)); err != nil {
		return nil, err
	}
	return cw, nil
}

// publish publishes one message of the event to one of its account's
// topics. A topic that is gone is noted and skipped.
func (b *batch) publish(ctx context.Context, it *item, topicARN, subject, message string) error {
	_, err := b.p.opts.Publish(ctx, b.tx, it.ev.AccountID, topicARN, subject, message)
	if err == nil {
		return nil
	}
	if b.p.opts.IsTopicGone != nil && b.p.opts.IsTopicGone(err) {
		if b.gone == nil {
			b.gone = map[[2]string]int{}
		}
		b.gone[[2]string{it.ev.AccountID, topicARN}]++
		return nil
	}
	return b.blame(fmt.Errorf("publish: event %d (%s of %s) to %s: %w", it.row.ID, it.ev.Type, it.ev.Mail.MessageID, topicARN, err))
}

// report logs and counts, once the batch is committed, what it dropped or
// skipped.
func (b *batch) report() {
	p := b.p
	for _, it := range b.undecodable {
		p.failed(FailUndecodable)
		p.log.Error("outbox event cannot be decoded; dropped", "event_id", it.row.ID, "account", it.row.AccountID,
			"message_id", it.row.MessageID, "event_type", string(it.row.Type), "err", it.err)
	}
	for k, n := range b.gone {
		for range n {
			p.failed(FailTopicGone)
		}
		p.log.Warn("topic no longer exists; events for it skipped", "account", k[0], "topic", k[1], "events", n)
	}
	for k, id := range b.foreign {
		p.log.Warn("identity of another account; no identity notification", "account", k[0], "source_arn", k[1], "message_id", id)
	}
}

// SourceIdentity splits mail.sourceArn, arn:aws:ses:<region>:<account>:identity/<identity>,
// into its account and identity; ok is false for anything else.
func SourceIdentity(sourceArn string) (account, identity string, ok bool) {
	parts := strings.SplitN(sourceArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ses" || parts[4] == "" {
		return "", "", false
	}
	identity, ok = strings.CutPrefix(parts[5], "identity/")
	if !ok || identity == "" {
		return "", "", false
	}
	return parts[4], identity, true
}

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
