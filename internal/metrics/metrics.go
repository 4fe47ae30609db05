// Package metrics is Sesame's Prometheus exposition: the counters of
// configuration sets' CloudWatch event destinations (the family
// sesame_events_total), Sesame's own always-on counters, gauges and
// histogram, and the /metrics HTTP handler.
//
// # CloudWatch destinations: sesame_events_total
//
// SES publishes the events of a configuration set with a CloudWatch
// destination as CloudWatch metrics named after the event (Send, Reject,
// Bounce, Complaint, Delivery, DeliveryDelay, Rendering Failures, ...),
// with the destination's dimensions. Sesame counts them in one counter
// family instead:
//
//	sesame_events_total{configuration_set="marketing",event_type="Delivery",ses_from_domain="example.com"} 2
//
// event_type is spelled as the eventType of SES's event JSON ("Send",
// "Reject", "Bounce", "Complaint", "Delivery", "DeliveryDelay",
// "Rendering Failure"), so that a query names an event the way the SNS
// notifications do; SES's CloudWatch console says "Rendering Failures" for
// the last one, which is the only name that differs.
//
// Each configured dimension adds one label, named after its DimensionName
// with every character Prometheus does not allow in a label name turned
// into "_" (ses:from-domain → ses_from_domain); a name starting with a
// digit gets a "_" in front, a run of leading "_" is cut to one (Prometheus
// reserves "__"), a name equal to configuration_set or event_type gets the
// suffix "_dim", and a second dimension of one destination that maps to
// the same label as an earlier one gets "_2", "_3", ....
//
// Different sets configure different dimensions, but a family has one set
// of label names: every series of sesame_events_total carries the union of
// the labels of all series, with "" for the dimensions a series does not
// have (Prometheus treats an empty label as an absent one, so
// sum by (ses_from_domain) works across sets).
//
// A dimension's value comes from its DimensionValueSource: MESSAGE_TAG from
// the message's tags (mail.tags, which also hold SES's auto-tags
// ses:from-domain, ses:configuration-set, ses:source-ip,
// ses:caller-identity, ses:operation and ses:outgoing-ip), EMAIL_HEADER
// from the first header field of that name (without case) in
// mail.headers, LINK_TAG from a clicked link's tags (Sesame tracks no
// clicks yet, so always the default); when the source has no value, the
// dimension's DefaultDimensionValue. A value that is not valid UTF-8 has
// its bad bytes replaced by U+FFFD, and one longer than MaxValueLength
// bytes (CloudWatch's 256) is cut there.
//
// Counting follows how SES publishes the events: Send, Reject and
// Rendering Failure are one event per message and count one; Delivery,
// Bounce, Complaint and DeliveryDelay count one per recipient they list,
// because SES attempts (and reports) delivery per recipient and its
// sending quota and reputation rates count recipients ("an email to five
// recipients counts as five"), while Sesame may report several recipients
// delivered in one SMTP transaction in one event. Two CloudWatch
// destinations of one set with the same dimensions count an event twice,
// as two SES destinations publish it twice.
//
// # Cardinality
//
// A dimension whose source is a tag or a header can carry anything, a user
// id for instance. Each label (dimension label, and from_domain of the own
// metrics) keeps at most Options.MaxDimensionValues distinct values
// (default 1000); further values are counted under "other", and the first
// time that happens for a label one warning is logged. The label
// configuration_set folds the same way (set names are the API users'
// to choose), and sesame_events_total carries at most MaxDimensionLabels
// (100) distinct dimension labels: a dimension whose label would be one
// more is left out of the series (its events still count, without that
// label), with one warning. Memory is therefore bounded by the
// configuration of the deployment, not by the mail nor by the API users.
//
// # Sesame's own metrics
//
// Always on, from every published event (Event): sesame_messages_sent_total
// and sesame_recipients_sent_total {account, from_domain};
// sesame_deliveries_total, sesame_complaints_total,
// sesame_delivery_delays_total {account, from_domain} and
// sesame_bounces_total {account, from_domain, bounce_type}, per recipient;
// sesame_rejects_total {account, from_domain} per message;
// sesame_delivery_latency_seconds, a histogram of the time from acceptance
// (mail.timestamp) to delivery, one observation per delivered recipient;
// sesame_publish_failures_total {kind}; sesame_reputation_actions_total
// {scope, action}; and, read through Options.Gauges at each scrape,
// sesame_queue_depth, sesame_queue_oldest_seconds, sesame_outbox_backlog,
// sesame_push_pending, sesame_push_parked and sesame_identity_states
// {kind, state}; sesame_stage_seconds_total {stage}, the wall-clock time
// the send path spent in each stage (see package stage). When Gauges fails, the error is logged and those gauges
// are left out of that scrape; the scrape itself succeeds. The Go runtime
// and process collectors are included.
//
// # The handler
//
// Handler serves the metrics in Prometheus's text format (promhttp, with
// this package's own registry: nothing is registered globally; a scraper
// that asks for protobuf or OpenMetrics through Accept gets what promhttp
// negotiates). It answers whatever path it is mounted at; Sesame mounts it
// at /metrics on the API listener. With a token (--metrics-token) a request
// must carry "Authorization: Bearer <token>" (compared in constant time)
// or gets 401. Without a token only loopback clients are answered (by the
// connection's address, r.RemoteAddr, never a forwarded header); others
// get 403 with a message naming --metrics-token. A reverse proxy on the
// same host makes every client loopback: set a token there.
package metrics

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/stage"
)

// DefaultMaxDimensionValues is the number of distinct values a label keeps
// when Options.MaxDimensionValues is 0.
const DefaultMaxDimensionValues = 1000

// Other is the value that stands for every value of a label beyond its
// MaxDimensionValues.
const Other = "other"

// Options configures Metrics.
type Options struct {
	Logger *slog.Logger // nil: discard
	// MaxDimensionValues is how many distinct values each label keeps
	// before folding the rest into Other; 0: DefaultMaxDimensionValues.
	MaxDimensionValues int
	// Gauges reads the current queue, outbox, push and identity figures;
	// called once per scrape with the request's context. Nil: no gauges.
	Gauges func(ctx context.Context) (Gauges, error)
	// Stages, when not nil, is served as sesame_stage_seconds_total.
	Stages *stage.Timer
	// WAL, when not nil, reads the SQLite WAL checkpointer's counters
	// (checkpoints run, those readers kept from resetting the WAL, the
	// longest, and the longest a write transaction waited for one),
	// served as sesame_wal_checkpoints_total,
	// sesame_wal_checkpoints_busy_total,
	// sesame_wal_checkpoint_longest_seconds and
	// sesame_wal_writer_stall_longest_seconds.
	WAL func() (runs, busy int64, longest, stall time.Duration)
}

// Gauges are the figures read at scrape time.
type Gauges struct {
	QueueDepth    int64         // recipients waiting for delivery
	QueueOldest   time.Duration // age of the oldest of them
	OutboxBacklog int64         // events not yet published
	PushPending   int64         // HTTP notifications waiting
	PushParked    int64         // HTTP notifications that gave up
	// CheckerStates counts identities per check and state, keyed
	// "<kind>:<state>", e.g. "verification:Pending" → n.
	CheckerStates map[string]int64
}

// Metrics holds every metric; its methods are safe for concurrent use.
type Metrics struct {
	log    *slog.Logger
	gauges func(ctx context.Context) (Gauges, error)
	reg    *prometheus.Registry

	events     *eventsFamily
	dimFold    *folder // per dimension label
	domainFold *folder // from_domain of the own metrics

	sent, recipients, deliveries, complaints, delays, rejects, opens, clicks *prometheus.CounterVec
	bounces                                                                  *prometheus.CounterVec
	latency                                                                  prometheus.Histogram
	publishFailures                                                          *prometheus.CounterVec
	reputation                                                               *prometheus.CounterVec
}

// New returns a Metrics with its own registry.
func New(o Options) (*Metrics, error) {
	if o.MaxDimensionValues < 0 {
		return nil, fmt.Errorf("metrics: MaxDimensionValues is %d, want 0 (the default, %d) or more", o.MaxDimensionValues, DefaultMaxDimensionValues)
	}
	max := o.MaxDimensionValues
	if max == 0 {
		max = DefaultMaxDimensionValues
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{log: log, gauges: o.Gauges, reg: prometheus.NewRegistry()}
	m.dimFold = newFolder(max, func(label string) {
		log.Warn("metrics: a CloudWatch dimension has more distinct values than --metrics-max-dimension-values; further values are counted as \"other\"",
			"label", label, "max", max)
	})
	m.domainFold = newFolder(max, func(string) {
		log.Warn("metrics: more distinct from-domains than --metrics-max-dimension-values; further ones are counted as \"other\"",
			"label", "from_domain", "max", max)
	})
	m.dimFold.warnLabels = func(label string) {
		log.Warn("metrics: CloudWatch destinations name more dimensions than sesame_events_total keeps as labels; further dimension labels are left out",
			"label", label, "max", MaxDimensionLabels)
	}
	m.events = newEventsFamily(m.dimFold)

	own := []string{"account", "from_domain"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m.sent = counter("sesame_messages_sent_total", "Messages accepted for delivery (Send events).", own...)
	m.recipients = counter("sesame_recipients_sent_total", "Recipients of the messages accepted for delivery.", own...)
	m.deliveries = counter("sesame_deliveries_total", "Recipients whose mail server accepted the message.", own...)
	m.bounces = counter("sesame_bounces_total", "Recipients that bounced, by SES bounceType.", "account", "from_domain", "bounce_type")
	m.complaints = counter("sesame_complaints_total", "Recipients that complained.", own...)
	m.rejects = counter("sesame_rejects_total", "Messages rejected before delivery.", own...)
	m.delays = counter("sesame_delivery_delays_total", "Recipients whose delivery attempt failed temporarily.", own...)
	m.opens = counter("sesame_opens_total", "Open events: fetches of a message's tracking pixel.", own...)
	m.clicks = counter("sesame_clicks_total", "Click events: follows of a message's tracked links.", own...)
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sesame_delivery_latency_seconds",
		Help:    "Time from a message's acceptance to its delivery, per delivered recipient.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
	})
	m.publishFailures = counter("sesame_publish_failures_total", "Event publishing failures, by kind.", "kind")
	m.reputation = counter("sesame_reputation_actions_total", "Reputation guard pauses and resumes, by scope and action.", "scope", "action")

	if o.Stages != nil {
		for _, s := range stage.Stages {
			c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sesame_stage_seconds_total",
				Help:        "Wall-clock time spent in each stage of the send path, summed over goroutines.",
				ConstLabels: prometheus.Labels{"stage": s.String()}}, func() float64 { return o.Stages.Seconds(s) })
			if err := m.reg.Register(c); err != nil {
				return nil, fmt.Errorf("metrics: register: %w", err)
			}
		}
	}
	if o.WAL != nil {
		for _, c := range []prometheus.Collector{
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sesame_wal_checkpoints_total",
				Help: "Checkpoints that copied SQLite's write-ahead log into the database, beside the writer."},
				func() float64 { r, _, _, _ := o.WAL(); return float64(r) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sesame_wal_checkpoints_busy_total",
				Help: "WAL checkpoints that readers of older snapshots kept from resetting the log."},
				func() float64 { _, b, _, _ := o.WAL(); return float64(b) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sesame_wal_checkpoint_longest_seconds",
				Help: "The longest WAL checkpoint since the start; the writer goes on beside most of it (see sesame_wal_writer_stall_longest_seconds)."},
				func() float64 { _, _, l, _ := o.WAL(); return l.Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sesame_wal_writer_stall_longest_seconds",
				Help: "The longest a write transaction, and so admissions and delivery outcomes, waited for a WAL checkpoint since the start."},
				func() float64 { _, _, _, s := o.WAL(); return s.Seconds() }),
		} {
			if err := m.reg.Register(c); err != nil {
				return nil, fmt.Errorf("metrics: register: %w", err)
			}
		}
	}
	for _, c := range []prometheus.Collector{
		m.events, m.sent, m.recipients, m.deliveries, m.bounces, m.complaints, m.rejects, m.delays, m.opens, m.clicks,
		m.latency, m.publishFailures, m.reputation,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Event counts e in Sesame's own metrics. It is called once for every
// published event, whatever its configuration set's destinations.
func (m *Metrics) Event(e *event.Event) {
	if e == nil {
		return
	}
	account := labelValue(e.AccountID)
	domain := ""
	if v := e.Mail.Tags[event.TagFromDomain]; len(v) > 0 && v[0] != "" {
		domain = m.domainFold.fold("from_domain", labelValue(v[0]))
	}
	switch e.Type {
	case event.Send:
		m.sent.WithLabelValues(account, domain).Inc()
		m.recipients.WithLabelValues(account, domain).Add(float64(max(len(e.Mail.Destination), 1)))
	case event.Reject:
		m.rejects.WithLabelValues(account, domain).Inc()
	case event.Delivery:
		if d := e.Delivery; d != nil {
			n := eventCount(e)
			m.deliveries.WithLabelValues(account, domain).Add(float64(n))
			if !e.Mail.Timestamp.IsZero() && !d.Timestamp.IsZero() {
				s := max(d.Timestamp.Sub(e.Mail.Timestamp).Seconds(), 0)
				for range n {
					m.latency.Observe(s)
				}
			}
		}
	case event.Bounce:
		if d := e.Bounce; d != nil {
			m.bounces.WithLabelValues(account, domain, labelValue(d.BounceType)).Add(float64(eventCount(e)))
		}
	case event.Complaint:
		if d := e.Complaint; d != nil {
			m.complaints.WithLabelValues(account, domain).Add(float64(eventCount(e)))
		}
	case event.DeliveryDelay:
		if d := e.DeliveryDelay; d != nil {
			m.delays.WithLabelValues(account, domain).Add(float64(eventCount(e)))
		}
	case event.Open:
		m.opens.WithLabelValues(account, domain).Inc()
	case event.Click:
		m.clicks.WithLabelValues(account, domain).Inc()
	}
}

// PublishFailed counts one failure of the publisher, of the given kind
// (for example "sns", "transaction"; the caller keeps the kinds few).
func (m *Metrics) PublishFailed(kind string) {
	m.publishFailures.WithLabelValues(labelValue(kind)).Inc()
}

// Reputation counts one pause or resume by the reputation guard; scope is
// "account" or "configuration_set", action "pause" or "resume" (as the
// guard names them).
func (m *Metrics) Reputation(scope, action string) {
	m.reputation.WithLabelValues(labelValue(scope), labelValue(action)).Inc()
}

// CloudWatch counts e in sesame_events_total for a CloudWatch destination
// of configuration set set with dimensions dims. The caller (the
// publisher) has checked that the destination is enabled and matches the
// event's type. It runs for every such event and allocates only when it
// meets a new series or a new dimension value.
func (m *Metrics) CloudWatch(set string, dims []configset.Dimension, e *event.Event) {
	if e == nil {
		return
	}
	m.events.add(set, dims, e, eventCount(e))
}

// eventCount is how much e adds to its counters: one per message for
// Send, Reject and Rendering Failure, one per listed recipient for the
// others.
func eventCount(e *event.Event) uint64 {
	n := 1
	switch {
	case e.Delivery != nil:
		n = len(e.Delivery.Recipients)
	case e.Bounce != nil:
		n = len(e.Bounce.BouncedRecipients)
	case e.Complaint != nil:
		n = len(e.Complaint.ComplainedRecipients)
	case e.DeliveryDelay != nil:
		n = len(e.DeliveryDelay.DelayedRecipients)
	}
	return uint64(max(n, 1))
}

// Handler returns the /metrics handler; see the package doc for the token
// and loopback rules.
func (m *Metrics) Handler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sesame metrics"`)
				http.Error(w, "metrics: a valid \"Authorization: Bearer <token>\" header (the --metrics-token) is required", http.StatusUnauthorized)
				return
			}
		} else if !loopback(r.RemoteAddr) {
			http.Error(w, "metrics: without --metrics-token, /metrics is served only to loopback clients; set --metrics-token and send it as \"Authorization: Bearer <token>\"", http.StatusForbidden)
			return
		}
		gs := prometheus.Gatherers{m.reg}
		if m.gauges != nil {
			g, err := m.gauges(r.Context())
			if err != nil {
				m.log.Warn("metrics: reading the gauges failed; they are left out of this scrape", "err", err)
			} else {
				reg := prometheus.NewRegistry()
				reg.MustRegister(gaugeCollector(g))
				gs = append(gs, reg)
			}
		}
		promhttp.HandlerFor(gs, promhttp.HandlerOpts{ErrorLog: slogPrinter{m.log}, ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
	})
}

// loopback reports whether a RemoteAddr ("host:port") is a loopback
// address.
func loopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// gaugeCollector exposes Gauges read for one scrape.
type gaugeCollector Gauges

var (
	descQueueDepth  = prometheus.NewDesc("sesame_queue_depth", "Recipients waiting in the delivery queue.", nil, nil)
	descQueueOldest = prometheus.NewDesc("sesame_queue_oldest_seconds", "Age of the oldest recipient waiting in the delivery queue.", nil, nil)
	descOutbox      = prometheus.NewDesc("sesame_outbox_backlog", "Events not yet published.", nil, nil)
	descPushPending = prometheus.NewDesc("sesame_push_pending", "HTTP notifications waiting for delivery.", nil, nil)
	descPushParked  = prometheus.NewDesc("sesame_push_parked", "HTTP notifications parked after failing (sesame events failed).", nil, nil)
	descIdentities  = prometheus.NewDesc("sesame_identity_states", "Identities per check (kind) and state.", []string{"kind", "state"}, nil)
)

func (g gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueOldest, descOutbox, descPushPending, descPushParked, descIdentities} {
		ch <- d
	}
}

func (g gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descQueueDepth, float64(g.QueueDepth))
	gauge(descQueueOldest, g.QueueOldest.Seconds())
	gauge(descOutbox, float64(g.OutboxBacklog))
	gauge(descPushPending, float64(g.PushPending))
	gauge(descPushParked, float64(g.PushParked))
	type ks struct{ kind, state string }
	states := make(map[ks]int64, len(g.CheckerStates))
	for k, n := range g.CheckerStates {
		kind, state, _ := strings.Cut(k, ":")
		states[ks{kind, state}] += n
	}
	for k, n := range states {
		gauge(descIdentities, float64(n), k.kind, k.state)
	}
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
