package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// Defaults for the zero values of Options' fields.
const (
	DefaultWorkers = 64
	DefaultPerHost = 16
	DefaultTimeout = 15 * time.Second // SNS's request timeout
	DefaultLease   = 2 * time.Minute
	DefaultPoll    = time.Second
)

// The states of a row.
const (
	statePending = "pending"
	stateParked  = "parked"
)

// Errors.
var (
	ErrInvalid = errors.New("push: invalid delivery")
)

// Options configures a Queue. Every field's zero value is documented.
type Options struct {
	// DB holds the queue; required.
	DB *db.DB
	// Now is the clock of due times; nil: time.Now. Request timeouts and
	// MaxReceivesPerSecond run on real time.
	Now func() time.Time
	// Logger; nil: discard.
	Logger *slog.Logger
	// Client sends the requests; nil: a client with Go's default
	// transport. It is copied, and the copy follows no redirects (SNS
	// does not); its Timeout is replaced by Timeout.
	Client *http.Client
	// Alive says whether a subscription still exists (sns.Store.
	// SubscriptionAlive); asked before each attempt of a row that names
	// one, and a row of a subscription that is gone is dropped. nil: every
	// subscription is alive.
	Alive func(ctx context.Context, subscriptionARN string) (bool, error)
	// Workers is how many requests are in flight at once, in all; 0: 64.
	Workers int
	// PerHost is how many requests to one host (host:port) are in flight
	// at once; 0: 16. It is at most Workers.
	PerHost int
	// PerAccount is how many requests of one account's notifications are
	// in flight at once, in all, so that an account whose endpoints hang
	// (several hosts, or ports of one) cannot hold every worker; 0: half
	// of Workers, and at least PerHost+1 (room for the account's other
	// hosts beside one that hangs). It is at most Workers.
	PerAccount int
	// Timeout bounds each request, from connecting to reading the status;
	// 0: 15 seconds (SNS's).
	Timeout time.Duration
	// Lease is how long a claimed row is held; 0: 2 minutes. It must be
	// more than Timeout.
	Lease time.Duration
	// Poll is how often Run looks for due rows when not kicked; 0: 1
	// second.
	Poll time.Duration
	// Sign completes the body of a delivery queued with Sign set (the SNS
	// store's Sign: it adds the message's signature), called by a worker
	// before each POST of it; an error is a failed attempt, retried under
	// the row's policy. nil: AddTx refuses such deliveries.
	Sign func(body []byte) ([]byte, error)
	// Jitter turns a policy's delay into the wait before the next attempt;
	// nil: the delay ±10%, at random.
	Jitter func(time.Duration) time.Duration
}

// Queue is the durable queue of HTTP notifications. Its methods are safe
// for concurrent use.
type Queue struct {
	db      *db.DB
	now     func() time.Time
	log     *slog.Logger
	client  *http.Client
	alive   func(ctx context.Context, subscriptionARN string) (bool, error)
	sign    func(body []byte) ([]byte, error)
	workers int
	perHost int
	perAcct int
	timeout time.Duration
	lease   time.Duration
	poll    time.Duration
	jitter  func(time.Duration) time.Duration
	owner   string
	wake    chan struct{}

	mu    sync.Mutex
	hosts map[string]int // requests in flight per host
	accts map[string]int // requests in flight per account
	busy  int            // requests in flight in all
	rate  map[string]time.Time
	// warned is when a failed attempt to each host was last logged
	// (failedLogEvery).
	warned map[string]time.Time
}

// New returns a Queue.
func New(o Options) (*Queue, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("push: DB is required")
	case o.Workers < 0 || o.PerHost < 0 || o.PerAccount < 0 || o.Timeout < 0 || o.Lease < 0 || o.Poll < 0:
		return nil, errors.New("push: Workers, PerHost, PerAccount, Timeout, Lease and Poll must not be negative")
	}
	q := &Queue{db: o.DB, now: o.Now, log: o.Logger, alive: o.Alive, sign: o.Sign, workers: o.Workers, perHost: o.PerHost,
		perAcct: o.PerAccount, timeout: o.Timeout, lease: o.Lease, poll: o.Poll, jitter: o.Jitter,
		wake: make(chan struct{}, 1), hosts: map[string]int{}, accts: map[string]int{}, rate: map[string]time.Time{},
		warned: map[string]time.Time{}}
	if q.now == nil {
		q.now = time.Now
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.workers == 0 {
		q.workers = DefaultWorkers
	}
	if q.perHost == 0 {
		q.perHost = DefaultPerHost
	}
	q.perHost = min(q.perHost, q.workers)
	if q.perAcct == 0 {
		// Room beyond one hung host of its own for the account's others.
		q.perAcct = max(q.workers/2, q.perHost+1)
	}
	q.perAcct = min(q.perAcct, q.workers)
	if q.timeout == 0 {
		q.timeout = DefaultTimeout
	}
	if q.lease == 0 {
		q.lease = max(DefaultLease, 2*q.timeout)
	}
	if q.lease <= q.timeout {
		return nil, fmt.Errorf("push: Lease (%s) must be more than Timeout (%s)", q.lease, q.timeout)
	}
	if q.poll == 0 {
		q.poll = DefaultPoll
	}
	if q.jitter == nil {
		q.jitter = func(d time.Duration) time.Duration {
			j := int64(d / 10)
			if j <= 0 {
				return d
			}
			return d + time.Duration(mrand.Int64N(2*j+1)-j)
		}
	}
	c := http.Client{}
	if o.Client != nil {
		c = *o.Client
	}
	c.Timeout = q.timeout
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	q.client = &c
	var id [6]byte
	rand.Read(id[:])
	host, _ := os.Hostname()
	q.owner = "push/" + host + "/" + hex.EncodeToString(id[:])
	return q, nil
}

// storedPolicy is a Policy as the policy_json column holds it.
type storedPolicy struct {
	MinMS   int64  `json:"min_ms"`
	MaxMS   int64  `json:"max_ms"`
	N       int    `json:"retries"`
	NoDelay int    `json:"no_delay"`
	MinN    int    `json:"min_delay"`
	MaxN    int    `json:"max_delay"`
	Backoff string `json:"backoff"`
	Rate    int    `json:"rate,omitempty"`
}

func encodePolicy(p Policy) string {
	b, _ := json.Marshal(storedPolicy{MinMS: p.MinDelay.Milliseconds(), MaxMS: p.MaxDelay.Milliseconds(), N: p.NumRetries,
		NoDelay: p.NumNoDelayRetries, MinN: p.NumMinDelayRetries, MaxN: p.NumMaxDelayRetries, Backoff: p.Backoff, Rate: p.MaxReceivesPerSecond})
	return string(b)
}

func decodePolicy(s string) (Policy, error) {
	var sp storedPolicy
	if err := json.Unmarshal([]byte(s), &sp); err != nil {
		return Policy{}, err
	}
	return Policy{MinDelay: time.Duration(sp.MinMS) * time.Millisecond, MaxDelay: time.Duration(sp.MaxMS) * time.Millisecond, NumRetries: sp.N,
		NumNoDelayRetries: sp.NoDelay, NumMinDelayRetries: sp.MinN, NumMaxDelayRetries: sp.MaxN, Backoff: sp.Backoff, MaxReceivesPerSecond: sp.Rate}, nil
}

// signMark is the member of a row's header_json that marks a delivery
// queued with Sign (a colon is no part of an HTTP header name, so no
// header is mistaken for it); it is removed when the row is claimed.
const signMark = ":sign"

// hostKey is the endpoint's lower-cased host:port, the port made
// explicit.
func hostKey(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("%w: Endpoint is not a URL", ErrInvalid)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%w: Endpoint must be an http:// or https:// URL", ErrInvalid)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%w: Endpoint has no host", ErrInvalid)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port)), nil
}

// AddTx stores d in the caller's transaction, due at once. A zero
// d.Policy means DefaultPolicy. Call Kick after the commit so that Run
// sees it at once rather than at its next poll.
func (q *Queue) AddTx(ctx context.Context, tx *db.Tx, d Delivery) error {
	if d.AccountID == "" {
		return fmt.Errorf("%w: AccountID is required", ErrInvalid)
	}
	host, err := hostKey(d.Endpoint)
	if err != nil {
		return err
	}
	p := d.Policy
	if p == (Policy{}) {
		p = DefaultPolicy
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if d.Sign && q.sign == nil {
		return fmt.Errorf("%w: Sign is set but the queue has no Options.Sign", ErrInvalid)
	}
	h := d.Header
	if h == nil {
		h = http.Header{}
	}
	if d.Sign {
		h = h.Clone()
		h[signMark] = []string{"1"}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("push: encode headers: %w", err)
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	now := db.Millis(q.now())
	_, err = tx.Exec(ctx, `INSERT INTO push_deliveries (account_id, topic_arn, subscription_arn, endpoint, host, header_json, body, policy_json, state, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.AccountID, d.TopicARN, d.SubscriptionARN, d.Endpoint, host, string(hj), body, encodePolicy(p), statePending, now, now, now)
	if err != nil {
		return fmt.Errorf("push: store delivery: %w", err)
	}
	return nil
}

// Add is AddTx in a transaction of its own, followed by Kick.
func (q *Queue) Add(ctx context.Context, d Delivery) error {
	if err := q.db.InTx(ctx, func(tx *db.Tx) error { return q.AddTx(ctx, tx, d) }); err != nil {
		return err
	}
	q.Kick()
	return nil
}

// Kick wakes Run to look for due rows now. It never blocks.
func (q *Queue) Kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Parked is a notification whose delivery failed for good.
type Parked struct {
	ID              int64
	AccountID       string
	TopicARN        string
	SubscriptionARN string
	Endpoint        string // with any password in it redacted
	Attempts        int
	LastStatus      int    // the last HTTP status; 0: none (a connection error or a timeout)
	LastError       string // what the last attempt met
	CreatedAt       time.Time
	ParkedAt        time.Time
}

// Failed lists parked notifications, of accountID ("": of every account),
// oldest first, at most limit (0: 100).
func (q *Queue) Failed(ctx context.Context, accountID string, limit int) ([]Parked, error) {
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT id, account_id, topic_arn, subscription_arn, endpoint, attempts, last_status, last_error, created_at, updated_at FROM push_deliveries WHERE state = ?`
	args := []any{stateParked}
	if accountID != "" {
		query += ` AND account_id = ?`
		args = append(args, accountID)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("push: list parked: %w", err)
	}
	defer rows.Close()
	var out []Parked
	for rows.Next() {
		var p Parked
		var created, updated int64
		if err := rows.Scan(&p.ID, &p.AccountID, &p.TopicARN, &p.SubscriptionARN, &p.Endpoint, &p.Attempts, &p.LastStatus, &p.LastError, &created, &updated); err != nil {
			return nil, fmt.Errorf("push: list parked: %w", err)
		}
		p.Endpoint = redact(p.Endpoint)
		p.CreatedAt, p.ParkedAt = db.Time(created), db.Time(updated)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Retry makes parked notifications due now with their attempts reset, so
// each gets its whole policy again: those with the given ids (ids of rows
// that are not parked are ignored), or every parked one when ids is nil.
// It returns how many it made due.
func (q *Queue) Retry(ctx context.Context, ids []int64) (int, error) {
	if ids != nil && len(ids) == 0 {
		return 0, nil
	}
	now := db.Millis(q.now())
	query := `UPDATE push_deliveries SET state = ?, attempts = 0, next_attempt_at = ?, lease_owner = '', lease_until = 0, updated_at = ? WHERE state = ?`
	args := []any{statePending, now, now, stateParked}
	if ids != nil {
		query += ` AND id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	res, err := q.db.Exec(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("push: retry parked: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		q.Kick()
	}
	return int(n), nil
}

// Stats counts the notifications waiting for delivery (pending, including
// those in flight) and parked.
func (q *Queue) Stats(ctx context.Context) (pending, parked int64, err error) {
	rows, err := q.db.Query(ctx, `SELECT state, COUNT(*) FROM push_deliveries GROUP BY state`)
	if err != nil {
		return 0, 0, fmt.Errorf("push: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return 0, 0, fmt.Errorf("push: stats: %w", err)
		}
		switch s {
		case statePending:
			pending = n
		case stateParked:
			parked = n
		}
	}
	return pending, parked, rows.Err()
}

// redact hides a password in a URL (SNS endpoints may carry basic-auth
// credentials).
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
