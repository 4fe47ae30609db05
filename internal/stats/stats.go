// Package stats keeps Sesame's sending statistics: counters per account,
// 15-minute bucket, sending identity, configuration set, recipient's
// mailbox provider (ISP) and mailbox-simulator flag, in the table
// send_stats. They answer SES v1 GetSendStatistics, SES v2
// BatchGetMetricData (the Virtual Deliverability Manager's metrics) and
// the reputation guardrails' rolling rates (Totals).
//
// The publisher adds each batch of events it publishes: Prepare first,
// outside any transaction, finds the recipients' ISPs from their domains'
// MX hosts (cached); AddTx then, in the publisher's transaction, adds the
// batch's counts, summed in memory first so that one statement runs per
// distinct row, not per event. Counting follows SES: per recipient (a Send
// to three recipients is three sends; a Bounce counts its
// bouncedRecipients, a Complaint its complainedRecipients, a Delivery its
// recipients) except for opens and clicks, which count messages (VDM's
// "unique" opens and clicks: a message with at least one Open, or Click,
// event on a UTC day counts one on that day, under its first recipient's
// ISP, however often it was opened or clicked; engagement_seen remembers
// which messages counted); a Bounce of bounceType Permanent is a permanent bounce,
// Transient and Undetermined ones are transient bounces; bounces of
// subtype OnAccountSuppressionList and complaints of subtype
// OnAccountSuppressionList are not counted (SES: "not counted in bounce
// rate"; the Send of such a recipient still counts).
//
// Mailbox-simulator recipients are counted in rows of their own (ISP
// "Simulator", simulator flag set). Totals leaves them out (simulator mail
// has no effect on reputation metrics); GetSendStatistics and
// BatchGetMetricData include them, so that a user testing with the
// simulator sees the statistics move (SES's VDM leaves simulator mail out;
// filter on the ISP dimension to tell it apart).
package stats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/event"
)

// BucketSize is the width of a statistics bucket, GetSendStatistics'
// data-point interval.
const BucketSize = 15 * time.Minute

// Options configures a Store.
type Options struct {
	DB     *db.DB           // required
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// Resolver looks up recipient domains' MX hosts for the ISP
	// dimension. Nil: every recipient's ISP is ISPOther (simulator ones
	// excepted).
	Resolver dns.Resolver
	// SimulatorDomains are the mailbox simulator's domains (exact match,
	// case-insensitive); nil means simulator.amazonses.com only. The app
	// passes send.DefaultSimulatorDomains(serviceDomain).
	SimulatorDomains []string
	// ISPs adds to (and overrides) the provider table: MX organisational
	// domain → ISP name; see ISPForMX.
	ISPs map[string]string

	// The ISP resolution's bounds; zero selects the Default* constants.
	CacheTTL      time.Duration // how long a resolved domain's ISP is kept
	FailureTTL    time.Duration // how long a failed lookup's ISPOther is kept
	CacheSize     int           // domains held in the cache at most
	LookupTimeout time.Duration // one MX lookup
	PrepareBudget time.Duration // all lookups of one Prepare
	MaxLookups    int           // domains looked up per Prepare at most
	LookupWorkers int           // lookups run at once
}

// Store reads and writes the statistics.
type Store struct {
	db       *db.DB
	now      func() time.Time
	log      *slog.Logger
	resolver dns.Resolver
	sim      map[string]bool
	extra    map[string]string
	cache    *ispCache

	cacheTTL, failureTTL, lookupTimeout, prepareBudget time.Duration
	maxLookups, workers                                int
}

// New returns a Store.
func New(o Options) (*Store, error) {
	if o.DB == nil {
		return nil, errors.New("stats: Options.DB is required")
	}
	s := &Store{db: o.DB, now: o.Now, log: o.Logger, resolver: o.Resolver, sim: map[string]bool{}, extra: o.ISPs,
		cacheTTL: o.CacheTTL, failureTTL: o.FailureTTL, lookupTimeout: o.LookupTimeout, prepareBudget: o.PrepareBudget,
		maxLookups: o.MaxLookups, workers: o.LookupWorkers}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	sims := o.SimulatorDomains
	if sims == nil {
		sims = []string{"simulator.amazonses.com"}
	}
	for _, sd := range sims {
		d, err := addr.Domain(sd)
		if err != nil {
			return nil, fmt.Errorf("stats: simulator domain: %w", err)
		}
		s.sim[d] = true
	}
	size := o.CacheSize
	if size <= 0 {
		size = DefaultCacheSize
	}
	s.cache = newISPCache(size)
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&s.cacheTTL, DefaultCacheTTL)
	def(&s.failureTTL, DefaultFailureTTL)
	def(&s.lookupTimeout, DefaultLookupTimeout)
	def(&s.prepareBudget, DefaultPrepareBudget)
	if s.maxLookups <= 0 {
		s.maxLookups = DefaultMaxLookups
	}
	if s.workers <= 0 {
		s.workers = DefaultLookupWorkers
	}
	return s, nil
}

// column is one counter of a row.
type column int

const (
	colSends column = iota
	colDeliveries
	colPermanentBounces
	colTransientBounces
	colComplaints
	colRejects
	colDeliveryDelays
	colOpens
	colClicks
	numColumns
	colNone column = -1
)

// columnNames are the counters' SQL column names, by column.
var columnNames = [numColumns]string{"sends", "deliveries", "permanent_bounces", "transient_bounces", "complaints", "rejects", "delivery_delays", "opens", "clicks"}

// counted returns the recipients e counts for, the counter they count in,
// and the time that places e in a bucket (the details' timestamp, else
// mail.timestamp). Events that count nothing return col colNone. An Open
// or a Click counts for the message, under its first recipient: tracking
// links are per message, so which recipient fetched one is unknown.
func counted(e *event.Event) (addrs []string, col column, at time.Time) {
	if e == nil {
		return nil, colNone, time.Time{}
	}
	at = e.Mail.Timestamp
	when := func(t time.Time) {
		if !t.IsZero() {
			at = t
		}
	}
	emails := func(rs []event.Recipient) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.EmailAddress
		}
		return out
	}
	switch {
	case e.Type == event.Send && e.Send != nil:
		return e.Mail.Destination, colSends, at
	case e.Type == event.Reject && e.Reject != nil:
		return e.Mail.Destination, colRejects, at
	case e.Type == event.Delivery && e.Delivery != nil:
		when(e.Delivery.Timestamp)
		return e.Delivery.Recipients, colDeliveries, at
	case e.Type == event.Bounce && e.Bounce != nil:
		b := e.Bounce
		when(b.Timestamp)
		switch {
		case b.BounceSubType == "OnAccountSuppressionList":
			return nil, colNone, at
		case b.BounceType == "Permanent":
			return emails(b.BouncedRecipients), colPermanentBounces, at
		}
		return emails(b.BouncedRecipients), colTransientBounces, at
	case e.Type == event.Complaint && e.Complaint != nil:
		c := e.Complaint
		when(c.Timestamp)
		if c.ComplaintSubType != nil && *c.ComplaintSubType == "OnAccountSuppressionList" {
			return nil, colNone, at
		}
		return c.ComplainedRecipients, colComplaints, at
	case e.Type == event.DeliveryDelay && e.DeliveryDelay != nil:
		when(e.DeliveryDelay.Timestamp)
		return emails(e.DeliveryDelay.DelayedRecipients), colDeliveryDelays, at
	case e.Type == event.Open && e.Open != nil && len(e.Mail.Destination) > 0:
		when(e.Open.Timestamp)
		return e.Mail.Destination[:1], colOpens, at
	case e.Type == event.Click && e.Click != nil && len(e.Mail.Destination) > 0:
		when(e.Click.Timestamp)
		return e.Mail.Destination[:1], colClicks, at
	}
	return nil, colNone, at
}

// domainOf returns the lower-cased domain of an address ("" when it has
// none).
func domainOf(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(a[i+1:]), ">"))
}

// identityOf returns the identity of a mail.sourceArn
// (arn:aws:ses:<region>:<account>:identity/<identity>), "" for none.
func identityOf(sourceArn string) string {
	_, id, ok := strings.Cut(sourceArn, ":identity/")
	if !ok {
		return ""
	}
	return id
}

// bucketOf returns the start of t's bucket in Unix milliseconds.
func bucketOf(t time.Time) int64 {
	ms := db.Millis(t)
	step := BucketSize.Milliseconds()
	b := ms - ms%step
	if ms < 0 && ms%step != 0 {
		b -= step
	}
	return b
}

// key is one row's identity.
type key struct {
	account, identity, set, isp string
	bucket                      int64
	simulator                   bool
}

func compareKeys(a, b key) int {
	return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.bucket, b.bucket), cmp.Compare(a.identity, b.identity),
		cmp.Compare(a.set, b.set), cmp.Compare(a.isp, b.isp), compareBool(a.simulator, b.simulator))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// engagement is an Open or Click of a message on a UTC day: the unit that
// OPEN and CLICK count once.
type engagement struct {
	account   string
	day       int64 // the day's start, Unix milliseconds
	messageID string
	kind      string // "o" (open) or "c" (click)
}

func compareEngagements(a, b engagement) int {
	return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.day, b.day), cmp.Compare(a.messageID, b.messageID), cmp.Compare(a.kind, b.kind))
}

// engagementOf returns the engagement of an Open or Click event that
// counts (ok false for every other event).
func engagementOf(e *event.Event, col column, at time.Time) (engagement, bool) {
	var kind string
	switch col {
	case colOpens:
		kind = "o"
	case colClicks:
		kind = "c"
	default:
		return engagement{}, false
	}
	ms := bucketOf(at)
	day := Day.Milliseconds()
	return engagement{account: e.AccountID, day: ms - ((ms%day)+day)%day, messageID: e.Mail.MessageID, kind: kind}, true
}

// aggregate sums events' counts per row. An Open or Click counts only
// when fresh holds its engagement as true (the first of its message on
// its day), and then once: the entry is cleared.
func (s *Store) aggregate(events []*event.Event, fresh map[engagement]bool) map[key]*[numColumns]int64 {
	rows := map[key]*[numColumns]int64{}
	for _, e := range events {
		addrs, col, at := counted(e)
		if col == colNone || len(addrs) == 0 || e.AccountID == "" {
			continue
		}
		if g, ok := engagementOf(e, col, at); ok {
			if !fresh[g] {
				continue
			}
			fresh[g] = false
		}
		base := key{account: e.AccountID, bucket: bucketOf(at), identity: identityOf(e.Mail.SourceArn), set: e.ConfigurationSet}
		for _, a := range addrs {
			d := domainOf(a)
			k := base
			k.isp, k.simulator = s.ispOf(d), s.sim[d]
			c := rows[k]
			if c == nil {
				c = new([numColumns]int64)
				rows[k] = c
			}
			c[col]++
		}
	}
	return rows
}

// AddTx adds the counts of events to the statistics in tx (the
// publisher's transaction), one upsert per distinct row, in a fixed order
// (so that concurrent publishers on PostgreSQL cannot deadlock on each
// other's rows). Recipients whose domain Prepare did not resolve count
// under ISPOther. Events that count nothing (Rendering Failure, bounces
// and complaints of subtype OnAccountSuppressionList) are skipped. An Open
// or a Click counts only when it is its message's first of its kind on
// its UTC day: each distinct one of the batch is recorded in
// engagement_seen first (one insert each, in the same transaction), and
// only those not there already count.
func (s *Store) AddTx(ctx context.Context, tx *db.Tx, events []*event.Event) error {
	if tx == nil {
		return errors.New("stats: AddTx needs a transaction")
	}
	fresh, err := s.markSeen(ctx, tx, events)
	if err != nil {
		return err
	}
	rows := s.aggregate(events, fresh)
	keys := make([]key, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		c := rows[k]
		_, err := tx.Exec(ctx, `INSERT INTO send_stats (account_id, bucket, identity, configuration_set, isp, simulator,
				sends, deliveries, permanent_bounces, transient_bounces, complaints, rejects, delivery_delays, opens, clicks)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id, bucket, identity, configuration_set, isp, simulator) DO UPDATE SET
				sends = send_stats.sends + excluded.sends,
				deliveries = send_stats.deliveries + excluded.deliveries,
				permanent_bounces = send_stats.permanent_bounces + excluded.permanent_bounces,
				transient_bounces = send_stats.transient_bounces + excluded.transient_bounces,
				complaints = send_stats.complaints + excluded.complaints,
				rejects = send_stats.rejects + excluded.rejects,
				delivery_delays = send_stats.delivery_delays + excluded.delivery_delays,
				opens = send_stats.opens + excluded.opens,
				clicks = send_stats.clicks + excluded.clicks`,
			k.account, k.bucket, k.identity, k.set, k.isp, k.simulator,
			c[colSends], c[colDeliveries], c[colPermanentBounces], c[colTransientBounces], c[colComplaints], c[colRejects], c[colDeliveryDelays],
			c[colOpens], c[colClicks])
		if err != nil {
			return fmt.Errorf("stats: add counts of account %s: %w", k.account, err)
		}
	}
	return nil
}

// markSeen records in engagement_seen the distinct Open and Click
// engagements of events, in a fixed order, and returns them: true for
// those recorded now (the first of their message, kind and day), false
// for those recorded before.
func (s *Store) markSeen(ctx context.Context, tx *db.Tx, events []*event.Event) (map[engagement]bool, error) {
	var seen map[engagement]bool
	for _, e := range events {
		addrs, col, at := counted(e)
		if len(addrs) == 0 || e.AccountID == "" {
			continue
		}
		if g, ok := engagementOf(e, col, at); ok {
			if seen == nil {
				seen = map[engagement]bool{}
			}
			seen[g] = false
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	gs := make([]engagement, 0, len(seen))
	for g := range seen {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, compareEngagements)
	for _, g := range gs {
		res, err := tx.Exec(ctx, `INSERT INTO engagement_seen (account_id, day, message_id, kind) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, day, message_id, kind) DO NOTHING`, g.account, g.day, g.messageID, g.kind)
		if err != nil {
			return nil, fmt.Errorf("stats: record engagement of message %s: %w", g.messageID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("stats: record engagement of message %s: %w", g.messageID, err)
		}
		seen[g] = n == 1
	}
	return seen, nil
}

// Totals are an account's (or a configuration set's) counts over a time
// range, mailbox-simulator recipients excluded.
type Totals struct {
	Sends, Deliveries, PermanentBounces, TransientBounces, Complaints, Rejects int64
}

// Totals returns the counts of accountID's mail over [since, now], of
// configurationSet only unless it is "" (then of the whole account),
// without mailbox-simulator recipients. The range is rounded in to whole
// buckets: a bucket that starts before since is left out, so events of up
// to 15 minutes after since may be missed, never events before it.
func (s *Store) Totals(ctx context.Context, accountID, configurationSet string, since time.Time) (Totals, error) {
	q := `SELECT COALESCE(SUM(sends), 0), COALESCE(SUM(deliveries), 0), COALESCE(SUM(permanent_bounces), 0),
			COALESCE(SUM(transient_bounces), 0), COALESCE(SUM(complaints), 0), COALESCE(SUM(rejects), 0)
		FROM send_stats WHERE account_id = ? AND bucket >= ? AND bucket <= ? AND simulator = ?`
	// Only buckets that start at or after since: a bucket that began
	// before it may hold events the caller must not count again (the
	// reputation guard asks from just after a pause).
	first := bucketOf(since)
	if first < db.Millis(since) {
		first += BucketSize.Milliseconds()
	}
	args := []any{accountID, first, db.Millis(s.now()), false}
	if configurationSet != "" {
		q += ` AND configuration_set = ?`
		args = append(args, configurationSet)
	}
	var t Totals
	err := s.db.QueryRow(ctx, q, args...).Scan(&t.Sends, &t.Deliveries, &t.PermanentBounces, &t.TransientBounces, &t.Complaints, &t.Rejects)
	if err != nil {
		return Totals{}, fmt.Errorf("stats: totals of account %s: %w", accountID, err)
	}
	return t, nil
}

// SendDataPoint is one 15-minute bucket of GetSendStatistics.
type SendDataPoint struct {
	Timestamp time.Time // the bucket's start
	// DeliveryAttempts are the sends; Bounces the permanent and transient
	// bounces.
	DeliveryAttempts, Bounces, Complaints, Rejects int64
}

// SendStatisticsPeriod is how far back GetSendStatistics looks.
const SendStatisticsPeriod = 14 * 24 * time.Hour

// SendStatistics returns accountID's GetSendStatistics: one point per
// 15-minute bucket of the last two weeks in which one of its four numbers
// is not zero, oldest first, over every identity, configuration set and
// ISP (mailbox-simulator mail included, as SES counts it in the console's
// sending statistics).
func (s *Store) SendStatistics(ctx context.Context, accountID string) ([]SendDataPoint, error) {
	now := s.now()
	rows, err := s.db.Query(ctx, `SELECT bucket, SUM(sends), SUM(permanent_bounces) + SUM(transient_bounces), SUM(complaints), SUM(rejects)
		FROM send_stats WHERE account_id = ? AND bucket >= ? AND bucket <= ?
		GROUP BY bucket
		HAVING SUM(sends) + SUM(permanent_bounces) + SUM(transient_bounces) + SUM(complaints) + SUM(rejects) > 0
		ORDER BY bucket`, accountID, bucketOf(now.Add(-SendStatisticsPeriod)), db.Millis(now))
	if err != nil {
		return nil, fmt.Errorf("stats: send statistics of account %s: %w", accountID, err)
	}
	defer rows.Close()
	var out []SendDataPoint
	for rows.Next() {
		var p SendDataPoint
		var b int64
		if err := rows.Scan(&b, &p.DeliveryAttempts, &p.Bounces, &p.Complaints, &p.Rejects); err != nil {
			return nil, fmt.Errorf("stats: send statistics of account %s: %w", accountID, err)
		}
		p.Timestamp = db.Time(b)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats: send statistics of account %s: %w", accountID, err)
	}
	return out, nil
}

// Metric is a BatchGetMetricData metric, spelled as on the wire.
type Metric string

// The metrics Sesame keeps.
const (
	MetricSend            Metric = "SEND"
	MetricDelivery        Metric = "DELIVERY"
	MetricPermanentBounce Metric = "PERMANENT_BOUNCE"
	MetricTransientBounce Metric = "TRANSIENT_BOUNCE"
	MetricComplaint       Metric = "COMPLAINT"
	// MetricOpen and MetricClick are VDM's "unique open (click) events":
	// the messages with at least one Open (Click) event on the day, each
	// counted once however often its pixel (links) were fetched.
	MetricOpen  Metric = "OPEN"
	MetricClick Metric = "CLICK"
)

// Metrics lists the metrics MetricData answers, in the model's order.
var Metrics = []Metric{MetricSend, MetricComplaint, MetricPermanentBounce, MetricTransientBounce, MetricOpen, MetricClick, MetricDelivery}

var metricColumns = map[Metric]column{
	MetricSend: colSends, MetricDelivery: colDeliveries, MetricPermanentBounce: colPermanentBounces,
	MetricTransientBounce: colTransientBounces, MetricComplaint: colComplaints, MetricOpen: colOpens, MetricClick: colClicks,
}

// Dimension is a BatchGetMetricData dimension, spelled as on the wire.
type Dimension string

// The dimensions Sesame keeps.
const (
	DimensionEmailIdentity    Dimension = "EMAIL_IDENTITY"
	DimensionConfigurationSet Dimension = "CONFIGURATION_SET"
	DimensionISP              Dimension = "ISP"
)

// Dimensions lists the dimensions MetricData filters on.
var Dimensions = []Dimension{DimensionEmailIdentity, DimensionConfigurationSet, DimensionISP}

var dimensionColumns = map[Dimension]string{
	DimensionEmailIdentity: "identity", DimensionConfigurationSet: "configuration_set", DimensionISP: "isp",
}

// MetricQuery is one BatchGetMetricData query.
type MetricQuery struct {
	Metric Metric
	// Dimensions filter the rows: each one given must equal the row's
	// value (EMAIL_IDENTITY the identity of mail.sourceArn, as created:
	// "example.com" or "sender@example.com"). None: the whole account.
	Dimensions map[Dimension]string
	Start, End time.Time
}

// MetricData is a query's answer: one value per UTC day, oldest first.
type MetricData struct {
	Timestamps []time.Time // each day's start, 00:00 UTC
	Values     []int64
}

// ErrInvalid is wrapped by MetricData's errors about the query.
var ErrInvalid = errors.New("stats: invalid query")

// Day is the resolution of MetricData: VDM's metrics are daily.
const Day = 24 * time.Hour

// MetricData answers one BatchGetMetricData query over accountID's
// statistics. The data is daily, as VDM's is: the answer has one point per
// UTC day from the day of q.Start to the day of q.End, both whole, that
// has a non-zero value (days without any are left out, as CloudWatch
// leaves out empty periods). An unknown metric or dimension, or an End
// before Start, is an error wrapping ErrInvalid.
func (s *Store) MetricData(ctx context.Context, accountID string, q MetricQuery) (MetricData, error) {
	col, ok := metricColumns[q.Metric]
	if !ok {
		return MetricData{}, fmt.Errorf("%w: metric %q is not one of %v", ErrInvalid, q.Metric, Metrics)
	}
	if q.Start.IsZero() || q.End.IsZero() {
		return MetricData{}, fmt.Errorf("%w: StartDate and EndDate are required", ErrInvalid)
	}
	if q.End.Before(q.Start) {
		return MetricData{}, fmt.Errorf("%w: EndDate %s is before StartDate %s", ErrInvalid, q.End.UTC().Format(time.RFC3339), q.Start.UTC().Format(time.RFC3339))
	}
	day := Day.Milliseconds()
	from := db.Millis(q.Start.UTC().Truncate(Day))
	to := db.Millis(q.End.UTC().Truncate(Day)) + day
	where := `account_id = ? AND bucket >= ? AND bucket < ?`
	args := []any{accountID, from, to}
	dims := make([]Dimension, 0, len(q.Dimensions))
	for d := range q.Dimensions {
		dims = append(dims, d)
	}
	slices.Sort(dims)
	for _, d := range dims {
		c, ok := dimensionColumns[d]
		if !ok {
			return MetricData{}, fmt.Errorf("%w: dimension %q is not one of %v", ErrInvalid, d, Dimensions)
		}
		where += ` AND ` + c + ` = ?`
		args = append(args, q.Dimensions[d])
	}
	c := columnNames[col]
	rows, err := s.db.Query(ctx, `SELECT bucket / `+fmt.Sprint(day)+`, SUM(`+c+`) FROM send_stats WHERE `+where+`
		GROUP BY bucket / `+fmt.Sprint(day)+` HAVING SUM(`+c+`) > 0 ORDER BY 1`, args...)
	if err != nil {
		return MetricData{}, fmt.Errorf("stats: metric data of account %s: %w", accountID, err)
	}
	defer rows.Close()
	out := MetricData{Timestamps: []time.Time{}, Values: []int64{}}
	for rows.Next() {
		var d, v int64
		if err := rows.Scan(&d, &v); err != nil {
			return MetricData{}, fmt.Errorf("stats: metric data of account %s: %w", accountID, err)
		}
		out.Timestamps = append(out.Timestamps, db.Time(d*day))
		out.Values = append(out.Values, v)
	}
	if err := rows.Err(); err != nil {
		return MetricData{}, fmt.Errorf("stats: metric data of account %s: %w", accountID, err)
	}
	return out, nil
}

// Prune deletes the buckets that start before before, in batches, and
// returns how many rows it deleted. GetSendStatistics needs two weeks;
// BatchGetMetricData answers for as far back as rows are kept. The
// engagement_seen rows of the days that ended before before go too (not
// counted in the result): a late Open of such a day could count again,
// but its bucket is gone as well.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	const batch = 1000
	day := Day.Milliseconds()
	for {
		res, err := s.db.Exec(ctx, `DELETE FROM engagement_seen WHERE (account_id, day, message_id, kind) IN
			(SELECT account_id, day, message_id, kind FROM engagement_seen WHERE day <= ? LIMIT ?)`, db.Millis(before)-day, batch)
		if err != nil {
			return 0, fmt.Errorf("stats: prune: %w", err)
		}
		if k, _ := res.RowsAffected(); k < batch {
			break
		}
	}
	var n int64
	for {
		res, err := s.db.Exec(ctx, `DELETE FROM send_stats WHERE (account_id, bucket, identity, configuration_set, isp, simulator) IN
			(SELECT account_id, bucket, identity, configuration_set, isp, simulator FROM send_stats WHERE bucket < ? LIMIT ?)`, db.Millis(before), batch)
		if err != nil {
			return n, fmt.Errorf("stats: prune: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
		if k < batch {
			return n, nil
		}
	}
}
