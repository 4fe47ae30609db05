package deliver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/stage"
)

// Defaults for the zero values of Options' fields.
const (
	DefaultPort        = 25
	DefaultWorkers     = 16
	DefaultPerDomain   = 4
	DefaultBatch       = 100
	DefaultLease       = 5 * time.Minute
	DefaultRetryWindow = 14 * time.Hour // SES's default MaxDeliverySeconds
	DefaultPoll        = time.Second
	DefaultDialTimeout = 30 * time.Second
)

// minPerConnection is the fewest messages a connection is given when a
// domain's messages in a batch are spread over several connections: below
// it, reusing one connection beats opening another.
const minPerConnection = 5

// inFlightBatches is how many claimed batches Run delivers at once; the
// next batch is claimed while the previous ones are still delivering, so
// one slow domain does not stall the queue.
const inFlightBatches = 2

// Options configures a Worker. Every field's zero value is documented.
type Options struct {
	// Queue is the outbound queue; required.
	Queue *queue.Queue
	// Resolver looks up MX and address records; required unless Relay is
	// set.
	Resolver dns.Resolver
	// Logger; nil: slog.New(slog.DiscardHandler).
	Logger *slog.Logger
	// Now is the clock for events and retry times; nil: time.Now. Network
	// timeouts run on real time.
	Now func() time.Time
	// Dial opens connections to mail servers, addr "ip:port" (or the Relay
	// address as given); nil: a net.Dialer with a 30-second timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Port is the outbound SMTP port of MX hosts; 0: 25.
	Port int
	// Relay, "host:port", sends every message through this smart host
	// instead of the recipients' MX hosts; "": MX delivery.
	Relay string
	// HeloName is the name given in EHLO; required.
	HeloName string
	// TLSConfig is used for STARTTLS, cloned per connection with
	// ServerName set to the MX host when empty; nil: a config that does
	// not verify the certificate (opportunistic TLS authenticates
	// nothing). When STARTTLS fails, the address is retried without TLS;
	// see the package documentation.
	TLSConfig *tls.Config
	// Workers is how many SMTP connections are open at once, in all;
	// 0: 16.
	Workers int
	// PerDomain is how many SMTP connections to one destination domain
	// are open at once; 0: 4.
	PerDomain int
	// Batch is how many recipients a round claims; 0: 100.
	Batch int
	// Lease is how long claimed recipients are held; 0: 5 minutes. A
	// round's network work ends a tenth of it (at most 30 seconds) before.
	Lease time.Duration
	// RetryWindow is how long after a message was queued temporary
	// failures are retried before they become a Bounce; 0: 14 hours (SES's
	// default MaxDeliverySeconds).
	RetryWindow time.Duration
	// Backoff gives the wait before the next attempt after attempt number
	// attempt (1 for the first) failed temporarily; nil: 1 minute,
	// doubling with each attempt, at most 1 hour, each with ±10% jitter.
	Backoff func(attempt int) time.Duration
	// Poll is how often Run looks for due recipients when not kicked;
	// 0: 1 second.
	Poll time.Duration
	// ReportingMTA is the name events give as reportingMTA; "": HeloName.
	ReportingMTA string
	// SimulatorDomains are the mailbox simulator's domains (compared
	// without case): their recipients get the simulated outcome SES
	// documents, without DNS or SMTP (see the package documentation);
	// nil: none, every domain is delivered to. The app passes
	// send.DefaultSimulatorDomains.
	SimulatorDomains []string
	// OnFeedback, when set, runs in the transaction that records a Bounce
	// from delivery (a permanent reply, or the retry window's end) or a
	// mailbox simulator's Bounce or Complaint, with the recipient and the
	// event: the feedback processor's suppression and feedback forwarding.
	// suppress is smtpcode.Judge's verdict that the reply shows the
	// address itself is bad; false for the retry window's end and for the
	// simulator's events (SES forwards them but never suppresses simulator
	// addresses). An error rolls the outcome back; the recipient is
	// retried when its lease expires.
	OnFeedback func(ctx context.Context, tx *db.Tx, c queue.Claimed, ev *event.Event, suppress bool) error
	// Stages, when not nil, counts the time of claiming, delivering and
	// recording outcomes.
	Stages *stage.Timer
	// Policy returns the delivery policy of a configuration set of an
	// account (its DeliveryOptions): asked once per round for each set
	// the round's messages use, never for messages without a set or for
	// Sesame's own mail. A set that no longer exists should get the zero
	// Policy; an error delays the set's recipients (a DeliveryDelay,
	// retried with the backoff). Nil: every message has the zero Policy.
	Policy func(ctx context.Context, accountID, configurationSet string) (Policy, error)
}

// Policy is how a configuration set's messages are delivered (SES's
// DeliveryOptions); the zero Policy is the deployment's behaviour.
type Policy struct {
	// RequireTLS (TlsPolicy REQUIRE): the message is never sent over a
	// connection without TLS. A recipient whose mail hosts offer no
	// STARTTLS, or whose STARTTLS fails, gets a temporary failure (a
	// DeliveryDelay of type TLSFailure, 454 4.7.10) and is retried until
	// its retry window ends, then bounces; see the package documentation.
	RequireTLS bool
	// MaxDelivery (MaxDeliverySeconds) replaces Options.RetryWindow for
	// the message; 0: RetryWindow.
	MaxDelivery time.Duration
}

// Worker delivers queued mail. Its methods are safe for concurrent use.
type Worker struct {
	q          *queue.Queue
	resolver   dns.Resolver
	log        *slog.Logger
	now        func() time.Time
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	port       string
	relay      string
	relayHost  string
	helo       string
	tls        *tls.Config
	perDomain  int
	batch      int
	lease      time.Duration
	window     time.Duration
	backoff    func(attempt int) time.Duration
	poll       time.Duration
	mta        string
	owner      string
	sim        map[string]bool // simulator domains, lower case, no trailing dot
	onFeedback func(ctx context.Context, tx *db.Tx, c queue.Claimed, ev *event.Event, suppress bool) error
	policy     func(ctx context.Context, accountID, configurationSet string) (Policy, error)
	stages     *stage.Timer

	slots  chan struct{} // one per open connection, in all
	limits limiter       // per destination domain
	wake   chan struct{}
}

// New returns a Worker.
func New(opts Options) (*Worker, error) {
	switch {
	case opts.Queue == nil:
		return nil, errors.New("deliver: Queue is required")
	case opts.Resolver == nil && opts.Relay == "":
		return nil, errors.New("deliver: Resolver is required (or a Relay)")
	case opts.HeloName == "":
		return nil, errors.New("deliver: HeloName is required")
	case opts.Port < 0 || opts.Port > 65535:
		return nil, fmt.Errorf("deliver: Port %d is out of range", opts.Port)
	case opts.Workers < 0 || opts.PerDomain < 0 || opts.Batch < 0:
		return nil, errors.New("deliver: Workers, PerDomain and Batch must not be negative")
	case opts.Lease < 0 || opts.RetryWindow < 0 || opts.Poll < 0:
		return nil, errors.New("deliver: Lease, RetryWindow and Poll must not be negative")
	}
	w := &Worker{
		q:          opts.Queue,
		resolver:   opts.Resolver,
		log:        opts.Logger,
		now:        opts.Now,
		dial:       opts.Dial,
		port:       strconv.Itoa(opts.Port),
		relay:      opts.Relay,
		helo:       opts.HeloName,
		tls:        opts.TLSConfig,
		perDomain:  opts.PerDomain,
		batch:      opts.Batch,
		lease:      opts.Lease,
		window:     opts.RetryWindow,
		backoff:    opts.Backoff,
		poll:       opts.Poll,
		mta:        opts.ReportingMTA,
		onFeedback: opts.OnFeedback,
		policy:     opts.Policy,
		stages:     opts.Stages,
		wake:       make(chan struct{}, 1),
	}
	if opts.Relay != "" {
		host, port, err := net.SplitHostPort(opts.Relay)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("deliver: Relay %q is not host:port", opts.Relay)
		}
		w.relayHost = host
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.dial == nil {
		d := &net.Dialer{Timeout: DefaultDialTimeout}
		w.dial = d.DialContext
	}
	if opts.Port == 0 {
		w.port = strconv.Itoa(DefaultPort)
	}
	if w.tls == nil {
		w.tls = &tls.Config{InsecureSkipVerify: true}
	}
	workers := opts.Workers
	if workers == 0 {
		workers = DefaultWorkers
	}
	if w.perDomain == 0 {
		w.perDomain = DefaultPerDomain
	}
	if w.batch == 0 {
		w.batch = DefaultBatch
	}
	if w.lease == 0 {
		w.lease = DefaultLease
	}
	if w.window == 0 {
		w.window = DefaultRetryWindow
	}
	if w.backoff == nil {
		w.backoff = DefaultBackoff
	}
	if w.poll == 0 {
		w.poll = DefaultPoll
	}
	if w.mta == "" {
		w.mta = w.helo
	}
	for _, sd := range opts.SimulatorDomains {
		d, err := addr.Domain(sd)
		if err != nil {
			return nil, fmt.Errorf("deliver: simulator domain: %w", err)
		}
		if w.sim == nil {
			w.sim = map[string]bool{}
		}
		w.sim[d] = true
	}
	w.slots = make(chan struct{}, workers)
	w.limits = limiter{max: w.perDomain, m: map[string]*domainSlots{}}
	var id [6]byte
	rand.Read(id[:])
	host, _ := os.Hostname()
	w.owner = "deliver/" + host + "/" + hex.EncodeToString(id[:])
	return w, nil
}

// DefaultBackoff is the Backoff used when Options.Backoff is nil: 1
// minute after the first attempt, doubling after each, at most 1 hour,
// each with ±10% jitter so that retries of a batch spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Hour
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 7 {
		d = min(time.Minute<<(attempt-1), time.Hour)
	}
	jitter := int64(d / 10)
	return d + time.Duration(mrand.Int64N(2*jitter+1)-jitter)
}

// Kick wakes Run to claim due recipients now (new mail was queued); it
// is queue.Options.Notify. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends, then waits for the deliveries in
// flight to stop and returns nil. It claims a batch when kicked, every
// Poll, and at once after a full batch; errors are logged, never fatal.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	inflight := make(chan struct{}, inFlightBatches)
	timer := time.NewTimer(w.poll)
	defer timer.Stop()
	wait := func() bool {
		timer.Reset(w.poll)
		select {
		case <-ctx.Done():
			return false
		case <-w.wake:
		case <-timer.C:
		}
		return true
	}
	for {
		select {
		case inflight <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		start := time.Now()
		cs, err := w.q.Claim(ctx, w.owner, w.batch, w.lease)
		w.stages.Since(stage.Claim, start)
		if err != nil {
			<-inflight
			if ctx.Err() != nil {
				return nil
			}
			w.log.Error("claiming due recipients failed", "err", err)
			if !wait() {
				return nil
			}
			continue
		}
		if len(cs) > 0 {
			wg.Go(func() {
				defer func() { <-inflight }()
				w.deliver(ctx, start, cs)
			})
		} else {
			<-inflight
		}
		if len(cs) < w.batch && !wait() {
			return nil
		}
	}
}

// RunOnce claims one batch of due recipients, delivers it, and returns
// how many recipients it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	start := time.Now()
	cs, err := w.q.Claim(ctx, w.owner, w.batch, w.lease)
	if err != nil {
		return 0, fmt.Errorf("deliver: %w", err)
	}
	if len(cs) > 0 {
		w.deliver(ctx, start, cs)
	}
	return len(cs), nil
}

// message is one SMTP transaction to do: a message's recipients at one
// domain.
type message struct {
	id       string
	mailFrom string
	rows     []queue.Claimed
	policy   Policy
	// noPolicy is the outcome of every recipient when the policy could
	// not be read.
	noPolicy *result
}

// window is how long after queueing m's temporary failures are retried.
func (m *message) window(w *Worker) time.Duration {
	if m.policy.MaxDelivery > 0 {
		return m.policy.MaxDelivery
	}
	return w.window
}

// deliver delivers the batch cs, claimed at start (real time), and
// returns when every recipient's outcome is recorded or handed back.
func (w *Worker) deliver(ctx context.Context, start time.Time, cs []queue.Claimed) {
	margin := min(w.lease/10, 30*time.Second)
	dctx, cancel := context.WithDeadline(ctx, start.Add(w.lease-margin))
	defer cancel()

	var domains []string
	byDomain := map[string][]*message{}
	index := map[[2]string]*message{}
	var simulated []*message // the mailbox simulator's recipients, by message
	simIndex := map[string]*message{}
	policies := policyCache{w: w, m: map[[2]string]policyEntry{}}
	for _, c := range cs {
		if w.sim[c.Domain] { // the queue stores domains lower-cased
			m := simIndex[c.MessageID]
			if m == nil {
				m = &message{id: c.MessageID, mailFrom: c.MailFrom}
				simIndex[c.MessageID] = m
				simulated = append(simulated, m)
			}
			m.rows = append(m.rows, c)
			continue
		}
		k := [2]string{c.Domain, c.MessageID}
		m := index[k]
		if m == nil {
			m = &message{id: c.MessageID, mailFrom: c.MailFrom}
			m.policy, m.noPolicy = policies.get(dctx, c)
			index[k] = m
			if _, ok := byDomain[c.Domain]; !ok {
				domains = append(domains, c.Domain)
			}
			byDomain[c.Domain] = append(byDomain[c.Domain], m)
		}
		m.rows = append(m.rows, c)
	}
	var wg sync.WaitGroup
	if len(simulated) > 0 {
		// No connection, so no slot: the simulator runs beside the SMTP
		// tasks.
		wg.Go(func() { w.simulate(ctx, dctx, simulated) })
	}
	for _, d := range domains {
		for _, chunk := range split(byDomain[d], w.perDomain) {
			wg.Go(func() { w.runTask(ctx, dctx, d, chunk) })
		}
	}
	wg.Wait()
}

// policyCache asks Options.Policy once per (account, set) for a round.
type policyCache struct {
	w *Worker
	m map[[2]string]policyEntry
}

type policyEntry struct {
	p   Policy
	err *result
}

// get returns the policy of c's message, or the outcome of its recipients
// when the policy could not be read.
func (pc *policyCache) get(ctx context.Context, c queue.Claimed) (Policy, *result) {
	if pc.w.policy == nil || c.ConfigurationSet == "" || c.System {
		return Policy{}, nil
	}
	k := [2]string{c.AccountID, c.ConfigurationSet}
	e, ok := pc.m[k]
	if !ok {
		p, err := pc.w.policy(ctx, c.AccountID, c.ConfigurationSet)
		if err != nil {
			pc.w.log.Error("reading a configuration set's delivery options failed; its mail is delayed", "account", c.AccountID, "configuration_set", c.ConfigurationSet, "err", err)
			e.err = &result{st: deferred, local: true, reply: smtpcode.New(smtpcode.LocalError, smtpcode.StatusTempOther,
				"the configuration set's delivery options could not be read")}
		}
		e.p = p
		pc.m[k] = e
	}
	return e.p, e.err
}

// split spreads msgs over at most n connections of at least
// minPerConnection messages each, keeping their order.
func split(msgs []*message, n int) [][]*message {
	k := min(n, len(msgs)/minPerConnection)
	if k <= 1 {
		return [][]*message{msgs}
	}
	out := make([][]*message, 0, k)
	for i := range k {
		out = append(out, msgs[i*len(msgs)/k:(i+1)*len(msgs)/k])
	}
	return out
}

// runTask delivers msgs, all for domain, over one connection at a time,
// once it has a slot for the domain and one in all. A panic is logged and
// the rows are left to their lease.
func (w *Worker) runTask(ctx, dctx context.Context, domain string, msgs []*message) {
	defer func() {
		if v := recover(); v != nil {
			w.log.Error("panic while delivering", "domain", domain, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	t := &task{w: w, domain: domain, noTLS: map[string]bool{}}
	release, err := w.limits.acquire(dctx, domain)
	if err != nil {
		t.handBack(ctx, msgs)
		return
	}
	defer release()
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	case <-dctx.Done():
		t.handBack(ctx, msgs)
		return
	}
	t.run(ctx, dctx, msgs)
}

// limiter bounds the connections open to each domain.
type limiter struct {
	max int
	mu  sync.Mutex
	m   map[string]*domainSlots
}

type domainSlots struct {
	ch   chan struct{}
	refs int
}

// acquire waits for a slot for domain; release gives it back.
func (l *limiter) acquire(ctx context.Context, domain string) (release func(), err error) {
	l.mu.Lock()
	s := l.m[domain]
	if s == nil {
		s = &domainSlots{ch: make(chan struct{}, l.max)}
		l.m[domain] = s
	}
	s.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		if s.refs--; s.refs == 0 {
			delete(l.m, domain)
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}
