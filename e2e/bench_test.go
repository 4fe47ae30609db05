package e2e

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesame-email/sesame/internal/stage"
)

// BenchmarkSendPath measures Sesame's whole sending path with the binary
// as a child process: SES v2 SendEmail over HTTP with SigV4 (the AWS SDK
// for Go v2, several clients at once), admission, DKIM signing with the
// identity's Easy DKIM keys (RSA-2048, and Ed25519 as a second
// signature), the durable queue, and delivery over SMTP to a go-smtp
// server on loopback behind an MX record. Each round sends
// SESAME_BENCH_MESSAGES messages of about 4 KB (default 20,000) from
// SESAME_BENCH_CONCURRENCY clients at once (default 16) and waits until
// all have arrived; every delivered message must carry both signatures.
// It runs once per store and per value of the child's GOMAXPROCS in
// SESAME_BENCH_GOMAXPROCS (a comma-separated list, default "1,2"; 0 leaves
// the child's default), each on a fresh database, named
// SendPath/<store>/GOMAXPROCS=<n>. The account's daily quota is unlimited unless
// SESAME_BENCH_MAX_24H_SEND sets one (admission then counts the last 24
// hours' recipients on every send). With SESAME_BENCH_DESTINATIONS=1 the
// identity's default configuration set has two event destinations, an
// SNS topic with an HTTP subscriber on loopback (Send and Delivery
// events) and a CloudWatch destination (Prometheus counters by
// ses:from-domain): the cost of event publishing; =sns or =cloudwatch
// attaches only that one. It reports:
//
//   - accepted/s: messages accepted by the API per second of sending;
//   - delivered/s: messages arrived at the MX per second, from the first
//     send to the last arrival;
//   - p50-ms, p99-ms: the API's latency seen by the SDK (signing included);
//   - peak-RSS-MB: the server's VmHWM (Linux only);
//   - server-CPU-ms/msg: the server's CPU time (user+system) per message;
//   - client-CPU-ms/msg: this process's (the SDK clients' and the SMTP
//     sink's) CPU time per message, taken from the same cores;
//   - B/msg: the average size of a message as delivered;
//   - <stage>-ms/msg: the server's own count of the time it spent in each
//     stage of the send path (sesame_stage_seconds_total on /metrics:
//     admission, signing, enqueue, claim, delivery, outcome) per message;
//     wall-clock time summed over goroutines, so waiting (an fsync, a
//     lock, the MX's reply) counts too and the stages may add up to more
//     than server-CPU-ms/msg;
//   - notifications/s (with destinations): SNS notifications received by
//     the subscriber per second, from the first send to the last arrival;
//   - disk-write-KB/msg: bytes the server process caused to be written to
//     storage (write_bytes in /proc/<pid>/io, Linux only) per message: on
//     SQLite the database and its WAL, on PostgreSQL next to nothing (the
//     PostgreSQL server writes);
//   - WAL-peak-MB, WAL-end-MB (SQLite): the size of sesame.db-wal, the
//     largest seen while the rounds ran (sampled every 50 ms) and at
//     their end; checkpoints and checkpoint-max-ms: the WAL checkpoints
//     the server ran since it started, and the longest
//     (sesame_wal_checkpoints_total, sesame_wal_checkpoint_longest_seconds);
//     writer-stall-max-ms: the longest a write transaction waited for one
//     (sesame_wal_writer_stall_longest_seconds).
//
// Run it with
//
//	go test -run '^$' -bench SendPath -benchtime 1x ./e2e/
//
// with SESAME_TEST_DATABASE_URL set for the PostgreSQL half.
func BenchmarkSendPath(b *testing.B) {
	n := envInt(b, "SESAME_BENCH_MESSAGES", 20000)
	conc := envInt(b, "SESAME_BENCH_CONCURRENCY", 16)
	quota := "-1"
	if v := os.Getenv("SESAME_BENCH_MAX_24H_SEND"); v != "" {
		quota = strconv.Itoa(envInt(b, "SESAME_BENCH_MAX_24H_SEND", 0))
	}
	dests := os.Getenv("SESAME_BENCH_DESTINATIONS")
	if dests != "" && dests != "1" && dests != "sns" && dests != "cloudwatch" {
		b.Fatalf("SESAME_BENCH_DESTINATIONS=%q: want 1 (both), sns or cloudwatch", dests)
	}
	bin := binary(b)
	eachStoreProcs(b, func(b *testing.B, st store, env []string) { benchSendPath(b, bin, st, env, n, conc, quota, dests) })
}

// eachStoreProcs runs fn as a sub-benchmark per store and per value of
// SESAME_BENCH_GOMAXPROCS, each on a fresh database, with env the child's
// GOMAXPROCS setting.
func eachStoreProcs(b *testing.B, fn func(b *testing.B, st store, env []string)) {
	procs := strings.Split(cmp.Or(os.Getenv("SESAME_BENCH_GOMAXPROCS"), "1,2"), ",")
	for _, p := range procs {
		if n, err := strconv.Atoi(strings.TrimSpace(p)); err != nil || n < 0 {
			b.Fatalf("SESAME_BENCH_GOMAXPROCS=%q: want a comma-separated list of integers (0: the child's default)", os.Getenv("SESAME_BENCH_GOMAXPROCS"))
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			for _, p := range procs {
				p = strings.TrimSpace(p)
				var env []string
				if p != "0" {
					env = []string{"GOMAXPROCS=" + p}
				}
				b.Run("GOMAXPROCS="+p, func(b *testing.B) { fn(b, newStore(b, name), env) })
			}
		})
	}
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// benchBody is the text body that makes a delivered message about 4 KB
// (headers and two DKIM signatures make up the rest).

var benchBody = body(2750)

func benchSendPath(b *testing.B, bin string, st store, env []string, n, conc int, quota string, dests string) {
	zone := customerZone(b)
	mx := newSink(b)
	setUpAccount(b, bin, st, quota)
	o := serveOptions{apiPort: freePort(b, false), dnsPort: freePort(b, true), resolver: zone.Addr(), smtpPort: mx.port, env: env}
	if dests != "" {
		o.extra = []string{"--sns-allow-private-endpoints"} // the subscriber is on loopback
	}
	srv := startServer(b, bin, st, o)
	c := v2Client(srv.api, conc)
	verifyDomainBoth(b, bin, st, c, zone)
	var sub *notificationSink
	if dests != "" {
		sub = attachDestinations(b, srv, c, dests)
	}

	var notified0 int
	measureRounds(b, srv, mx, n, conc, func(ctx context.Context, _, i int) (string, error) { return sendOne(ctx, c, i, benchBody) }, hooks{
		bothSigned: true,
		dataDir:    st.db.DataDir,
		warm: func() {
			if sub != nil {
				// The warm-up's, before the CPU counters are read: delivering
				// them is no part of the measured rounds.
				notified0 = sub.wait(b, 2*min(200, n))
			}
		},
		done: func(start time.Time, rounds int) {
			if sub != nil {
				sub.wait(b, notified0+2*rounds*n) // a Send and a Delivery per message
				sub.mu.Lock()
				b.ReportMetric(float64(2*rounds*n)/sub.last.Sub(start).Seconds(), "notifications/s")
				sub.mu.Unlock()
			}
		},
	})
}

// hooks are measureRounds's optional steps.
type hooks struct {
	// prepare, before the warm-up and before each round (outside its
	// clocks, its CPU time taken out of client-CPU-ms/msg), readies
	// messages first+1 to first+n.
	prepare func(first, n int)
	// warm runs after the warm-up, before the CPU counters are read.
	warm func()
	// done runs after the rounds, before the counters are read again,
	// with the rounds' start and number.
	done func(start time.Time, rounds int)
	// bothSigned: every message delivered must carry an RSA and an
	// Ed25519 DKIM-Signature.
	bothSigned bool
	// dataDir is the SQLite store's data directory, whose WAL's size is
	// reported; empty: not reported.
	dataDir string
}

// measureRounds warms srv up with a round of at most 200 messages, then
// runs b's rounds of n messages sent by send from conc clients at once
// (sendRoundWith) and reports the metrics BenchmarkSendPath documents,
// with h's steps.
func measureRounds(b *testing.B, srv *server, mx *sink, n, conc int, send func(ctx context.Context, w, i int) (string, error), h hooks) {
	// Warm up: connections, caches, the database's first pages.
	if h.prepare != nil {
		h.prepare(0, min(200, n))
	}
	if _, err := sendRoundWith(mx, 0, min(200, n), conc, send); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	mx.mu.Lock()
	warmTotal, warmBytes, warmSigned := mx.total, mx.bytes, mx.signed
	mx.mu.Unlock()
	if h.warm != nil {
		h.warm()
	}
	stages0 := stagesOf(b, scrapeMetrics(b, srv))

	var (
		rounds     int
		sendTime   time.Duration
		deliverDur time.Duration
		latencies  []time.Duration
	)
	pid := srv.cmd.Process.Pid
	var walPeak atomic.Int64
	if h.dataDir != "" {
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				if fi, err := os.Stat(filepath.Join(h.dataDir, "sesame.db-wal")); err == nil && fi.Size() > walPeak.Load() {
					walPeak.Store(fi.Size())
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		defer func() { close(stop); <-sampled }()
	}
	written0 := procIO(pid, "write_bytes")
	cpu0, self0 := procCPU(pid), procCPU(os.Getpid())
	var prepCPU time.Duration
	start := time.Now()
	first := 1_000_000
	for b.Loop() {
		if h.prepare != nil {
			b.StopTimer()
			p0 := procCPU(os.Getpid())
			h.prepare(first, n)
			prepCPU += procCPU(os.Getpid()) - p0
			b.StartTimer()
		}
		r, err := sendRoundWith(mx, first, n, conc, send)
		if err != nil {
			b.Fatal(err)
		}
		first += n
		rounds++
		sendTime += r.sent
		deliverDur += r.delivered
		latencies = append(latencies, r.latencies...)
	}
	if h.done != nil {
		h.done(start, rounds)
	}
	cpu, self := procCPU(pid)-cpu0, procCPU(os.Getpid())-self0-prepCPU
	written := procIO(pid, "write_bytes") - written0
	hwm, rss := procStatus(pid, "VmHWM"), procStatus(pid, "VmRSS")
	metrics := scrapeMetrics(b, srv)
	stages := stagesOf(b, metrics)

	msgs := float64(rounds * n)
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(msgs/sendTime.Seconds(), "accepted/s")
	b.ReportMetric(msgs/deliverDur.Seconds(), "delivered/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if hwm > 0 {
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(rss)/1024, "RSS-MB")
	}
	for _, s := range stage.Stages {
		b.ReportMetric((stages[s.String()]-stages0[s.String()])*1000/msgs, s.String()+"-ms/msg")
	}
	if cpu0 >= 0 {
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/msgs, "server-CPU-ms/msg")
	}
	if self0 >= 0 {
		b.ReportMetric(float64(self)/float64(time.Millisecond)/msgs, "client-CPU-ms/msg")
	}
	if written0 >= 0 {
		b.ReportMetric(float64(written)/1024/msgs, "disk-write-KB/msg")
	}
	if h.dataDir != "" {
		if fi, err := os.Stat(filepath.Join(h.dataDir, "sesame.db-wal")); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "WAL-end-MB")
		}
		b.ReportMetric(float64(walPeak.Load())/(1<<20), "WAL-peak-MB")
		if v, ok := metrics["sesame_wal_checkpoints_total"]; ok {
			b.ReportMetric(v, "checkpoints")
		}
		if v, ok := metrics["sesame_wal_checkpoint_longest_seconds"]; ok {
			b.ReportMetric(v*1000, "checkpoint-max-ms")
		}
		if v, ok := metrics["sesame_wal_writer_stall_longest_seconds"]; ok {
			b.ReportMetric(v*1000, "writer-stall-max-ms")
		}
	}
	mx.mu.Lock()
	b.ReportMetric(float64(mx.bytes-warmBytes)/float64(mx.total-warmTotal), "B/msg")
	total, signed := mx.total, mx.signed
	mx.mu.Unlock()
	if h.bothSigned && (signed != total || warmSigned != warmTotal) {
		b.Fatalf("%d of %d delivered messages carry both DKIM signatures (RSA and Ed25519), want all", signed, total)
	}
}

// scrapeMetrics reads srv's /metrics (served to loopback clients without
// a token): each sample's value by its name and labels as written, e.g.
// sesame_stage_seconds_total{stage="queue"}.
func scrapeMetrics(tb testing.TB, srv *server) map[string]float64 {
	tb.Helper()
	resp, err := http.Get(srv.api + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64); err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	return out
}

// stagesOf picks sesame_stage_seconds_total out of scrapeMetrics's
// answer: seconds by stage.
func stagesOf(tb testing.TB, metrics map[string]float64) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	for k, v := range metrics {
		rest, ok := strings.CutPrefix(k, `sesame_stage_seconds_total{stage="`)
		if name, ok2 := strings.CutSuffix(rest, `"}`); ok && ok2 {
			out[name] = v
		}
	}
	if len(out) != len(stage.Stages) {
		tb.Fatalf("GET /metrics: sesame_stage_seconds_total has %d stages, want %d", len(out), len(stage.Stages))
	}
	return out
}

// round is what one round of sends measured.
type round struct {
	sent      time.Duration // from the first send to the last response
	delivered time.Duration // from the first send to the last arrival
	latencies []time.Duration
}

// sendRoundWith sends n messages numbered from first with conc clients at
// once — send sends message i as client w (0 to conc-1, one goroutine
// each) and returns its MessageId — then waits until all have arrived at
// mx.
func sendRoundWith(mx *sink, first, n, conc int, send func(ctx context.Context, w, i int) (string, error)) (round, error) {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		ids    = make([]string, 0, n)
		lat    = make([]time.Duration, 0, n)
		errs   []error
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			var myIDs []string
			var myLat []time.Duration
			for !failed.Load() {
				i := int(next.Add(1))
				if i > n {
					break
				}
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				id, err := send(ctx, w, first+i)
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("message %d: %w", first+i, err))
					mu.Unlock()
					failed.Store(true)
					break
				}
				myLat = append(myLat, time.Since(t0))
				myIDs = append(myIDs, id)
			}
			mu.Lock()
			ids = append(ids, myIDs...)
			lat = append(lat, myLat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := round{sent: time.Since(start), latencies: lat}
	if len(errs) > 0 {
		return r, fmt.Errorf("%d sends failed, first: %w", len(errs), errs[0])
	}
	var err error
	r.delivered, err = mx.await(ids, start)
	return r, err
}

// await waits until every message of ids has arrived and returns the time
// from start to the last arrival. It gives up at a floor of 20 messages
// per second.
func (s *sink) await(ids []string, start time.Time) (time.Duration, error) {
	deadline := time.Now().Add(time.Minute + time.Duration(len(ids))*50*time.Millisecond)
	for {
		missing, last := s.missing(ids)
		if len(missing) == 0 {
			return last.Sub(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d accepted messages have not arrived after %v", len(missing), len(ids), time.Since(start).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// notificationSink is an SNS HTTP subscriber that confirms its
// subscription and counts the notifications.
type notificationSink struct {
	mu   sync.Mutex
	n    int
	last time.Time
}

func (s *notificationSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct{ Type, SubscribeURL string }
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if resp, err := http.Get(m.SubscribeURL); err == nil {
			resp.Body.Close()
		}
	case "Notification":
		s.mu.Lock()
		s.n++
		s.last = time.Now()
		s.mu.Unlock()
	}
}

// wait waits until at least n notifications have arrived and returns how
// many have.
func (s *notificationSink) wait(tb testing.TB, n int) int {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		s.mu.Lock()
		got := s.n
		s.mu.Unlock()
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d notifications arrived", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// attachDestinations makes the sending identity's default configuration
// set publish Send and Delivery events to an SNS topic with an HTTP
// subscriber on loopback, and to Prometheus (a CloudWatch destination by
// ses:from-domain). It returns the subscriber once its subscription is
// confirmed and the validation message has arrived.
func attachDestinations(tb testing.TB, srv *server, c *sesv2.Client, kinds string) *notificationSink {
	tb.Helper()
	ctx := context.Background()
	sub := &notificationSink{}
	hs := httptest.NewServer(sub)
	tb.Cleanup(hs.Close)
	sc := awssns.NewFromConfig(aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), RetryMaxAttempts: 1},
		func(o *awssns.Options) { o.BaseEndpoint = aws.String(srv.api) })
	topic, err := sc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bench-events")})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := sc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(hs.URL)}); err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		a, err := sc.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: topic.TopicArn})
		if err == nil && a.Attributes["SubscriptionsConfirmed"] == "1" {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the subscription is not confirmed: %v %v", a, err)
		}
	}
	if _, err := c.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("bench")}); err != nil {
		tb.Fatal(err)
	}
	types := []sesv2types.EventType{sesv2types.EventTypeSend, sesv2types.EventTypeDelivery}
	defs := map[string]*sesv2types.EventDestinationDefinition{
		"sns": {Enabled: true, MatchingEventTypes: types, SnsDestination: &sesv2types.SnsDestination{TopicArn: topic.TopicArn}},
		"cw": {Enabled: true, MatchingEventTypes: types, CloudWatchDestination: &sesv2types.CloudWatchDestination{DimensionConfigurations: []sesv2types.CloudWatchDimensionConfiguration{{
			DimensionName: aws.String("ses:from-domain"), DimensionValueSource: sesv2types.DimensionValueSourceMessageTag, DefaultDimensionValue: aws.String(sendDomain)}}}},
	}
	switch kinds {
	case "sns":
		delete(defs, "cw")
	case "cloudwatch":
		delete(defs, "sns")
	}
	for name, d := range defs {
		if _, err := c.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
			ConfigurationSetName: aws.String("bench"), EventDestinationName: aws.String(name), EventDestination: d}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := c.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{
		EmailIdentity: aws.String(sendDomain), ConfigurationSetName: aws.String("bench")}); err != nil {
		tb.Fatal(err)
	}
	if kinds == "cloudwatch" {
		return nil
	}
	sub.wait(tb, 1) // "Successfully validated SNS topic for Amazon SES event publishing."
	sub.mu.Lock()
	sub.n = 0
	sub.mu.Unlock()
	return sub
}
