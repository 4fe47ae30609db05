package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
)

// BenchmarkSendPath measures Sesame's whole sending path with the binary
// as a child process: SES v2 SendEmail over HTTP with SigV4 (the AWS SDK
// for Go v2, several clients at once), admission, DKIM signing with the
// identity's Easy DKIM keys (RSA-2048, and Ed25519 as a second
// signature), the durable queue, and delivery over SMTP to a go-smtp
// server on loopback behind an MX record. Each round sends
// SESAME_BENCH_MESSAGES messages of about 4 KB (default 20,000) from
// SESAME_BENCH_CONCURRENCY clients at once (default 16) and waits until
// all have arrived. The account's daily quota is unlimited unless
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
//   - notifications/s (with destinations): SNS notifications received by
//     the subscriber per second, from the first send to the last arrival.
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
	eachStore(b, func(b *testing.B, st store) { benchSendPath(b, bin, st, n, conc, quota, dests) })
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

func benchSendPath(b *testing.B, bin string, st store, n, conc int, quota string, dests string) {
	zone := customerZone(b)
	mx := newSink(b)
	setUpAccount(b, bin, st, quota)
	o := serveOptions{apiPort: freePort(b, false), dnsPort: freePort(b, true), resolver: zone.Addr(), smtpPort: mx.port}
	if dests != "" {
		o.extra = []string{"--sns-allow-private-endpoints"} // the subscriber is on loopback
	}
	srv := startServer(b, bin, st, o)
	c := v2Client(srv.api, conc)
	verifyDomain(b, c, zone)
	var sub *notificationSink
	if dests != "" {
		sub = attachDestinations(b, srv, c, dests)
	}

	var notified0 int
	measureRounds(b, srv, mx, n, conc, func(ctx context.Context, _, i int) (string, error) { return sendOne(ctx, c, i, benchBody) },
		func() {
			if sub != nil {
				// The warm-up's, before the CPU counters are read: delivering
				// them is no part of the measured rounds.
				notified0 = sub.wait(b, 2*min(200, n))
			}
		},
		func(start time.Time, rounds int) {
			if sub != nil {
				sub.wait(b, notified0+2*rounds*n) // a Send and a Delivery per message
				sub.mu.Lock()
				b.ReportMetric(float64(2*rounds*n)/sub.last.Sub(start).Seconds(), "notifications/s")
				sub.mu.Unlock()
			}
		})
}

// measureRounds warms srv up with a round of at most 200 messages, then
// runs b's rounds of n messages sent by send from conc clients at once
// (sendRoundWith) and reports the metrics BenchmarkSendPath documents.
// warm, when not nil, runs after the warm-up, before the CPU counters are
// read; done, when not nil, after the rounds, before they are read again,
// with the rounds' start and number.
func measureRounds(b *testing.B, srv *server, mx *sink, n, conc int, send func(ctx context.Context, w, i int) (string, error), warm func(), done func(start time.Time, rounds int)) {
	// Warm up: connections, caches, the database's first pages.
	if _, err := sendRoundWith(mx, 0, min(200, n), conc, send); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	mx.mu.Lock()
	warmTotal, warmBytes := mx.total, mx.bytes
	mx.mu.Unlock()
	if warm != nil {
		warm()
	}

	var (
		rounds     int
		sendTime   time.Duration
		deliverDur time.Duration
		latencies  []time.Duration
	)
	pid := srv.cmd.Process.Pid
	cpu0, self0 := procCPU(pid), procCPU(os.Getpid())
	start := time.Now()
	first := 1_000_000
	for b.Loop() {
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
	if done != nil {
		done(start, rounds)
	}
	cpu, self := procCPU(pid)-cpu0, procCPU(os.Getpid())-self0
	hwm := procStatus(pid, "VmHWM")

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
	}
	if cpu0 >= 0 {
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/msgs, "server-CPU-ms/msg")
	}
	if self0 >= 0 {
		b.ReportMetric(float64(self)/float64(time.Millisecond)/msgs, "client-CPU-ms/msg")
	}
	mx.mu.Lock()
	b.ReportMetric(float64(mx.bytes-warmBytes)/float64(mx.total-warmTotal), "B/msg")
	mx.mu.Unlock()
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
