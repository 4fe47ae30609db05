package publish_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/publish"
)

// BenchmarkPublish measures events per second through the publisher: Send
// events of one configuration set with one SNS destination, whose Publish
// hook inserts one row per event (as sns.Store.PublishTx does for a topic
// with one subscription), in batches of the default size.
func BenchmarkPublish(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Exec(ctx, `CREATE TABLE fake_sns (account_id TEXT NOT NULL, topic_arn TEXT NOT NULL, subject TEXT NOT NULL, message TEXT NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		dest := []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND", "DELIVERY")}
		p, err := publish.New(publish.Options{
			DB: d,
			Destinations: func(ctx context.Context, q db.Querier, accountID, set string) ([]configset.Destination, error) {
				return dest, nil
			},
			Publish: func(ctx context.Context, tx *db.Tx, accountID, topicARN, subject, message string) (string, error) {
				_, err := tx.Exec(ctx, `INSERT INTO fake_sns (account_id, topic_arn, subject, message) VALUES (?, ?, ?, ?)`, accountID, topicARN, subject, message)
				return "", err
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		const chunk = 1000
		for i := 0; i < b.N; i += chunk {
			evs := make([]*event.Event, 0, chunk)
			for j := i; j < min(i+chunk, b.N); j++ {
				evs = append(evs, mkEvent(acctA, "cs", event.Send, fmt.Sprintf("m%08d", j)))
			}
			appendEvents(b, d, evs...)
		}
		b.StartTimer()
		start := time.Now()
		done := 0
		for done < b.N {
			n, err := p.RunOnce(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatalf("published %d of %d", done, b.N)
			}
			done += n
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}
