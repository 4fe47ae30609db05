package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/queue"
)

// BenchmarkDeepQueue measures the send path with a deep queue: before the
// server starts, SESAME_BENCH_DEPTH messages (default 1,000,000), one
// recipient each, are written straight into the queue (the queue
// package's EnqueueTx, 1,000 per transaction) due a week from now — held
// back, as mail in retry backoff or a paused delivery is — so the server
// finds them queued but not due. Then it runs BenchmarkSendPath's rounds
// (SESAME_BENCH_MESSAGES, default 2,000) and reports its metrics:
// admission latency (p50-ms, p99-ms), claim-ms/msg (the claims' time per
// delivered message, the inverse of the claim rate), RSS-MB and
// peak-RSS-MB, beside the same figures with an empty queue
// (DeepQueue/depth=0). The held messages have 256-byte bodies: the depth,
// not the disk, is what is measured. The child runs with its default
// GOMAXPROCS.
//
//	SESAME_BENCH_DEPTH=1000000 go test -run '^$' -bench DeepQueue -benchtime 1x -timeout 2h ./e2e/
func BenchmarkDeepQueue(b *testing.B) {
	depth := envInt(b, "SESAME_BENCH_DEPTH", 1_000_000)
	n := envInt(b, "SESAME_BENCH_MESSAGES", 2000)
	conc := envInt(b, "SESAME_BENCH_CONCURRENCY", 16)
	bin := binary(b)
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			for _, d := range []int{0, depth} {
				b.Run(fmt.Sprintf("depth=%d", d), func(b *testing.B) { benchDeep(b, bin, newStore(b, name), d, n, conc) })
			}
		})
	}
}

func benchDeep(b *testing.B, bin string, st store, depth, n, conc int) {
	zone := customerZone(b)
	mx := newSink(b)
	setUpAccount(b, bin, st, "-1")
	if depth > 0 {
		start := time.Now()
		fillQueue(b, st, depth)
		b.Logf("%s: %d messages held in the queue in %v", st.name, depth, time.Since(start).Round(time.Millisecond))
	}
	srv := startServer(b, bin, st, serveOptions{apiPort: freePort(b, false), dnsPort: freePort(b, true), resolver: zone.Addr(), smtpPort: mx.port})
	c := v2Client(srv.api, conc)
	verifyDomainBoth(b, bin, st, c, zone)
	measureRounds(b, srv, mx, n, conc, func(ctx context.Context, _, i int) (string, error) { return sendOne(ctx, c, i, benchBody) }, hooks{bothSigned: true})
}

// fillQueue writes depth one-recipient messages of the e2e account into
// st's queue, due in a week.
func fillQueue(tb testing.TB, st store, depth int) {
	tb.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, st.db)
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	var acct string
	if err := d.QueryRow(ctx, `SELECT id FROM accounts WHERE name = ?`, "e2e").Scan(&acct); err != nil {
		tb.Fatalf("the e2e account: %v", err)
	}
	held := time.Now().Add(7 * 24 * time.Hour)
	q, err := queue.New(queue.Options{DB: d, Now: func() time.Time { return held }})
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte(body(256))
	const batch = 1000
	for k := 0; k < depth; k += batch {
		err := d.InTx(ctx, func(tx *db.Tx) error {
			for j := k; j < min(k+batch, depth); j++ {
				id := fmt.Sprintf("held-%08d", j)
				m := &queue.Message{ID: id, AccountID: acct, Source: "sender@" + sendDomain, MailFrom: id + "@" + sendDomain,
					Body: body, Recipients: []string{fmt.Sprintf("held+%d@%s", j, rcptDomain)}}
				m.Mail.MessageID, m.Mail.Source, m.Mail.Destination = id, m.Source, m.Recipients
				if err := q.EnqueueTx(ctx, tx, m, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("fill the queue: %v", err)
		}
	}
}
