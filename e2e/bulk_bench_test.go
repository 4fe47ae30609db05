package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// bulkEntries is how many entries each SendBulkEmail call has: SES's
// limit.
const bulkEntries = 50

// BenchmarkSendBulkEmail measures templated bulk sending with the binary
// as a child process: SES v2 SendBulkEmail calls of 50 entries each (the
// AWS SDK for Go v2, SESAME_BENCH_CONCURRENCY calls at once, default 4),
// an inline template of about 4 KB rendered per entry with its
// ReplacementTemplateData, each entry admitted on its own, DKIM-signed
// (RSA-2048 Easy DKIM) and queued, then delivered over SMTP to a go-smtp
// server on loopback. Each round sends SESAME_BENCH_MESSAGES messages
// (default 10,000, rounded up to whole calls) and waits until all have
// arrived. It reports:
//
//   - accepted/s: messages accepted per second of sending;
//   - delivered/s: messages arrived at the MX per second, from the first
//     call to the last arrival;
//   - call-p50-ms, call-p99-ms: a 50-entry call's latency seen by the SDK;
//   - server-CPU-ms/msg: the server's CPU time per message;
//   - peak-RSS-MB: the server's VmHWM (Linux only).
//
// Run it with
//
//	go test -run '^$' -bench SendBulkEmail -benchtime 1x ./e2e/
//
// with SESAME_TEST_DATABASE_URL set for the PostgreSQL half.
func BenchmarkSendBulkEmail(b *testing.B) {
	n := envInt(b, "SESAME_BENCH_MESSAGES", 10000)
	conc := envInt(b, "SESAME_BENCH_CONCURRENCY", 4)
	calls := (n + bulkEntries - 1) / bulkEntries
	bin := binary(b)
	eachStore(b, func(b *testing.B, st store) { benchSendBulk(b, bin, st, calls, conc) })
}

// bulkTemplate is the inline template of the benchmark: a subject and a
// text part of about 4 KB with four variables.
var bulkTemplate = &types.EmailTemplateContent{
	Subject: aws.String("Your {{plan}} plan, {{name}}"),
	Text:    aws.String("Hello {{name}},\r\n\r\nyour account {{account}} is on the {{plan}} plan.\r\n\r\n" + body(2600) + "\r\nRegards,\r\n{{team}}\r\n"),
}

func benchSendBulk(b *testing.B, bin string, st store, calls, conc int) {
	zone := customerZone(b)
	mx := newSink(b)
	setUpAccount(b, bin, st, "-1")
	srv := startServer(b, bin, st, serveOptions{apiPort: freePort(b, false), dnsPort: freePort(b, true), resolver: zone.Addr(), smtpPort: mx.port})
	c := v2Client(srv.api, conc)
	verifyDomain(b, c, zone)

	if _, err := bulkRound(c, mx, 0, min(4, calls), conc); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	var (
		msgs       int
		sendTime   time.Duration
		deliverDur time.Duration
		latencies  []time.Duration
	)
	pid := srv.cmd.Process.Pid
	cpu0 := procCPU(pid)
	first := 1_000_000
	for b.Loop() {
		r, err := bulkRound(c, mx, first, calls, conc)
		if err != nil {
			b.Fatal(err)
		}
		first += calls * bulkEntries
		msgs += calls * bulkEntries
		sendTime += r.sent
		deliverDur += r.delivered
		latencies = append(latencies, r.latencies...)
	}
	cpu := procCPU(pid) - cpu0
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(msgs)/sendTime.Seconds(), "accepted/s")
	b.ReportMetric(float64(msgs)/deliverDur.Seconds(), "delivered/s")
	b.ReportMetric(pct(0.50), "call-p50-ms")
	b.ReportMetric(pct(0.99), "call-p99-ms")
	if cpu0 >= 0 {
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(msgs), "server-CPU-ms/msg")
	}
	if hwm := procStatus(pid, "VmHWM"); hwm > 0 {
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
	}
}

// bulkRound makes calls SendBulkEmail calls of 50 entries, conc at once,
// the entries numbered from first, and waits until every message has
// arrived at mx. Every entry must succeed.
func bulkRound(c *sesv2.Client, mx *sink, first, calls, conc int) (round, error) {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		ids    []string
		r      round
		errs   []error
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for !failed.Load() {
				k := int(next.Add(1)) - 1
				if k >= calls {
					return
				}
				t0 := time.Now()
				got, err := bulkCall(c, first+k*bulkEntries)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("call %d: %w", k, err))
					failed.Store(true)
				}
				ids = append(ids, got...)
				r.latencies = append(r.latencies, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.sent = time.Since(start)
	if len(errs) > 0 {
		return r, fmt.Errorf("%d calls failed, first: %w", len(errs), errs[0])
	}
	var err error
	r.delivered, err = mx.await(ids, start)
	return r, err
}

// bulkCall sends one SendBulkEmail call to rcpt+<first..first+49> and
// returns the MessageIds.
func bulkCall(c *sesv2.Client, first int) ([]string, error) {
	entries := make([]types.BulkEmailEntry, bulkEntries)
	for i := range entries {
		n := first + i
		entries[i] = types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{fmt.Sprintf("rcpt+%d@%s", n, rcptDomain)}},
			ReplacementEmailContent: &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{
				ReplacementTemplateData: aws.String(fmt.Sprintf(`{"name":"Customer %d","account":"A-%08d"}`, n, n))}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("Sender <sender@" + sendDomain + ">"),
		DefaultContent: &types.BulkEmailContent{Template: &types.Template{TemplateContent: bulkTemplate,
			TemplateData: aws.String(`{"plan":"gold","team":"The Example team"}`)}},
		BulkEmailEntries: entries})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.BulkEmailEntryResults))
	for i, res := range out.BulkEmailEntryResults {
		if res.Status != types.BulkEmailStatusSuccess || res.MessageId == nil {
			return ids, fmt.Errorf("entry %d: %s %s", i, res.Status, aws.ToString(res.Error))
		}
		ids = append(ids, *res.MessageId)
	}
	return ids, nil
}
