package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/deliver"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/metrics"
	"github.com/sesame-email/sesame/internal/netguard"
	"github.com/sesame-email/sesame/internal/notify"
	"github.com/sesame-email/sesame/internal/publish"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/reputation"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesv1"
	"github.com/sesame-email/sesame/internal/sns"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/track"
	"github.com/sesame-email/sesame/internal/unsub"
)

// The event side of Sesame ([5/10]): what happens to an event once the
// change that caused it has committed it to the outbox. The publisher
// fans it out to its configuration set's destinations and the sending
// identity's notification topics, counts it in the statistics, then
// hands it to the metrics and the reputation guard; the SNS service turns
// a topic message into deliveries (HTTP/S through the push queue, email
// as system mail).

// statsRetention is how long the per-bucket send statistics are kept:
// GetSendStatistics looks back two weeks, the reputation window a week by
// default; BatchGetMetricData answers for this long.
const statsRetention = 93 * 24 * time.Hour

// publishPoll is how often the publisher looks at the outbox. Nothing
// wakes it sooner: events are published in batches of what a poll finds
// (a commit per message would contend with sending for the writer), at
// most this long after the change that made them.
const publishPoll = 250 * time.Millisecond

// openEvents builds the stores of the event side: the push queue, the SNS
// service (only to serve: it holds the signing key), the configuration
// sets, the statistics and the metrics. The Sender and the reputation
// guard, built after, use them.
func (a *App) openEvents(d *db.DB, box *seal.Box, mailer *notify.Mailer, serviceDomain string) (err error) {
	cfg, log := a.cfg, a.log
	// Unless the operator allows them, subscriptions may not reach the
	// deployment's own network: refused at Subscribe (sns) and at every
	// connection (the push queue's client), whatever a name resolves to.
	var pushClient *http.Client
	var checkEndpoint func(ctx context.Context, endpoint string) error
	if !cfg.SNSAllowPrivateEndpoints {
		pushClient = &http.Client{Transport: netguard.Transport()}
		checkEndpoint = func(ctx context.Context, endpoint string) error { return netguard.CheckURL(ctx, nil, endpoint) }
	}
	a.Push, err = push.New(push.Options{DB: d, Logger: log.With("component", "push"), Client: pushClient,
		Alive: func(ctx context.Context, subscriptionARN string) (bool, error) {
			if a.Topics == nil {
				return true, nil
			}
			return a.Topics.SubscriptionAlive(ctx, subscriptionARN)
		},
		Sign: func(body []byte) ([]byte, error) {
			if a.Topics == nil {
				return nil, errors.New("no SNS service on this node to sign notifications")
			}
			return a.Topics.Sign(body)
		}})
	if err != nil {
		return err
	}
	if cfg.APIAddr != "" {
		a.Topics, err = sns.New(sns.Options{DB: d, Box: box, Region: cfg.Region, PublicURL: a.SNSPublicURL,
			Logger: log.With("component", "sns"), Push: a.Push.AddTx, Mail: mailer.MailTx, CheckEndpoint: checkEndpoint,
			Wake: func() { a.Push.Kick(); a.kickDelivery() }})
		if err != nil {
			return err
		}
	}
	a.ConfigSets, err = configset.New(configset.Options{DB: d, Logger: log.With("component", "configset"), Region: cfg.Region,
		DomainVerified: a.Identities.DomainVerified,
		TopicExists: func(ctx context.Context, accountID, arn string) (bool, error) {
			if a.Topics == nil {
				return false, nil
			}
			return a.Topics.TopicExists(ctx, accountID, arn)
		},
		Validated: func(ctx context.Context, accountID, arn string) error {
			if a.Topics == nil {
				return nil
			}
			_, err := a.Topics.Publish(ctx, accountID, arn, "", "Successfully validated SNS topic for Amazon SES event publishing.")
			return err
		},
		SendingChanged: func(ctx context.Context, accountID, name string, enabled bool) {
			if enabled && a.Reputation != nil {
				if err := a.Reputation.SetResumed(ctx, accountID, name); err != nil {
					log.Warn("reputation: recording a configuration set's resume failed", "account", accountID, "set", name, "err", err)
				}
			}
		},
		Deleted: func(ctx context.Context, accountID, name string) {
			if a.Reputation != nil {
				if err := a.Reputation.Forget(ctx, accountID, name); err != nil {
					log.Warn("reputation: forgetting a deleted configuration set failed", "account", accountID, "set", name, "err", err)
				}
			}
		},
	})
	if err != nil {
		return err
	}
	resolver, err := a.resolver()
	if err != nil && cfg.APIAddr != "" {
		return err
	}
	a.Stats, err = stats.New(stats.Options{DB: d, Logger: log.With("component", "stats"), Resolver: resolver,
		SimulatorDomains: send.DefaultSimulatorDomains(serviceDomain)})
	if err != nil {
		return err
	}
	a.Metrics, err = metrics.New(metrics.Options{Logger: log.With("component", "metrics"),
		MaxDimensionValues: cfg.MetricsMaxDimensionValues, Gauges: a.gauges, Stages: a.stages, WAL: walStats(d)})
	return err
}

// walStats reads d's WAL checkpointer's counters for the metrics; nil on
// PostgreSQL, which has no such checkpointer.
func walStats(d *db.DB) func() (int64, int64, time.Duration, time.Duration) {
	if d.Dialect != db.SQLite {
		return nil
	}
	return func() (int64, int64, time.Duration, time.Duration) {
		s := d.WALStats()
		return s.Checkpoints, s.Busy, s.Longest, s.WriterStall
	}
}

// reputationHooks completes the reputation guard's options with the
// statistics, the configuration sets and the metrics.
func (a *App) reputationHooks(o *reputation.Options) {
	o.Totals = func(ctx context.Context, accountID, set string, since time.Time) (reputation.Totals, error) {
		t, err := a.Stats.Totals(ctx, accountID, set, since)
		return reputation.Totals(t), err
	}
	o.PauseSet = func(ctx context.Context, accountID, set string) error {
		return a.ConfigSets.SetSendingEnabled(ctx, accountID, set, false)
	}
	o.ReputationSets = func(ctx context.Context, accountID string) ([]string, error) {
		sets, err := a.ConfigSets.List(ctx, accountID)
		var names []string
		for _, s := range sets {
			if s.ReputationMetricsEnabled {
				names = append(names, s.Name)
			}
		}
		return names, err
	}
	o.SetExists = func(ctx context.Context, accountID, set string) (bool, error) {
		_, err := a.ConfigSets.Get(ctx, accountID, set)
		if errors.Is(err, configset.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	o.Counted = a.Metrics.Reputation
}

// newPublisher builds the outbox publisher.
func (a *App) newPublisher() (*publish.Publisher, error) {
	o := publish.Options{DB: a.DB, Logger: a.log.With("component", "publish"), Poll: publishPoll,
		Destinations: a.ConfigSets.Destinations,
		Before:       a.Stats.Prepare,
		InTx:         a.Stats.AddTx,
		After:        a.published,
		Failed:       a.Metrics.PublishFailed,
		IsTopicGone:  func(err error) bool { return errors.Is(err, sns.ErrTopicNotFound) },
		Publish: func(context.Context, *db.Tx, string, string, string, string) (string, error) {
			return "", sns.ErrTopicNotFound // admin commands: no SNS service
		},
	}
	if t := a.Topics; t != nil {
		o.Publish = t.PublishTx
		o.IdentityTopics = func(ctx context.Context, q db.Querier, accountID, identity string) (map[string]publish.IdentityTopic, error) {
			ts, err := t.IdentityTopics(ctx, q, accountID, identity)
			out := make(map[string]publish.IdentityTopic, len(ts))
			for k, v := range ts {
				out[k] = publish.IdentityTopic(v)
			}
			return out, err
		}
	}
	return publish.New(o)
}

// reputationEvery is how often an account whose batches hold no bounce or
// complaint is judged again (a PROBATION ends when its rates fall).
const reputationEvery = time.Minute

// judged remembers when each account was last judged by the reputation
// guard after a batch without feedback.
type judged struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// published is the publisher's After hook: the metrics count every
// event, and the reputation guard judges the accounts (and their sets)
// that got bounces or complaints at once, the others at most every
// reputationEvery. The push queue is woken for the new deliveries.
func (a *App) published(ctx context.Context, batch []publish.Published) {
	type scope struct {
		feedback bool
		sets     map[string]bool
	}
	accounts := map[string]*scope{}
	for _, p := range batch {
		e := p.Event
		a.Metrics.Event(e)
		for _, d := range p.CloudWatch {
			a.Metrics.CloudWatch(e.ConfigurationSet, d.CloudWatch, e)
		}
		sc := accounts[e.AccountID]
		if sc == nil {
			sc = &scope{sets: map[string]bool{}}
			accounts[e.AccountID] = sc
		}
		if e.Type == event.Bounce || e.Type == event.Complaint {
			sc.feedback = true
			if e.ConfigurationSet != "" {
				sc.sets[e.ConfigurationSet] = true
			}
		}
	}
	a.Push.Kick()
	now := time.Now()
	for id, sc := range accounts {
		if !sc.feedback {
			a.judged.mu.Lock()
			due := now.Sub(a.judged.last[id]) >= reputationEvery
			if due {
				if a.judged.last == nil || len(a.judged.last) > 100000 {
					a.judged.last = map[string]time.Time{}
				}
				a.judged.last[id] = now
			}
			a.judged.mu.Unlock()
			if !due {
				continue
			}
		}
		sets := make([]string, 0, len(sc.sets))
		for s := range sc.sets {
			sets = append(sets, s)
		}
		if err := a.Reputation.Evaluate(ctx, id, sets); err != nil {
			a.log.Warn("reputation: judging an account failed", "account", id, "err", err)
		}
	}
}

// gauges reads the operator's gauges at each scrape.
func (a *App) gauges(ctx context.Context) (metrics.Gauges, error) {
	var g metrics.Gauges
	var errs []error
	n, oldest, err := a.Queue.Depth(ctx)
	errs = append(errs, err)
	g.QueueDepth = n
	if !oldest.IsZero() {
		g.QueueOldest = time.Since(oldest)
	}
	a.mu.Lock()
	pub := a.publisher
	a.mu.Unlock()
	if pub != nil {
		g.OutboxBacklog, err = pub.Backlog(ctx)
		errs = append(errs, err)
	}
	g.PushPending, g.PushParked, err = a.Push.Stats(ctx)
	errs = append(errs, err)
	g.CheckerStates, err = a.Identities.StateCounts(ctx)
	errs = append(errs, err)
	return g, errors.Join(errs...)
}

// deliveryPolicy is the delivery side of a configuration set's
// DeliveryOptions (deliver.Options.Policy).
func (a *App) deliveryPolicy(ctx context.Context, accountID, set string) (deliver.Policy, error) {
	s, err := a.ConfigSets.Get(ctx, accountID, set)
	if errors.Is(err, configset.ErrNotFound) {
		return deliver.Policy{}, nil
	}
	if err != nil {
		return deliver.Policy{}, err
	}
	return deliver.Policy{RequireTLS: s.TLSPolicy == "REQUIRE", MaxDelivery: time.Duration(s.MaxDeliverySeconds) * time.Second}, nil
}

// publicHandlers are the API listener's unauthenticated paths: the
// address verification link, the SNS links and certificate, /metrics, the
// unsubscribe links and the tracking pixel and links.
func (a *App) publicHandlers() map[string]http.Handler {
	m := map[string]http.Handler{"/verify": VerifyHandler(a.Identities), "/metrics": a.Metrics.Handler(a.cfg.MetricsToken), unsub.Path: a.Unsub.Handler(),
		track.OpenPath: a.Track.Handler(), track.ClickPath: a.Track.Handler()}
	if a.Topics != nil {
		for p, h := range a.Topics.Public() {
			m[p] = h
		}
	}
	return m
}

// snsHandler is the SNS Query API, nil when the service is off.
func (a *App) snsHandler() http.Handler {
	if a.Topics == nil {
		return nil
	}
	return a.Topics.Handler()
}

// topicsV1 is the SNS service for SES v1's identity notification actions.
func (a *App) topicsV1() sesv1.Topics {
	if a.Topics == nil {
		return nil
	}
	return a.Topics
}
