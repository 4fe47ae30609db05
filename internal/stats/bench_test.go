package stats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/stats"
)

// BenchmarkCountHits: what counting costs the publisher, per event, in
// batches of 50 as it publishes them: tracking hits (Click events of 10
// messages, 5 hits each, so that most are repeats) against the same
// number of Send events (the counting that was there before).
func BenchmarkCountHits(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		box, err := seal.New("stats bench secret")
		if err != nil {
			b.Fatal(err)
		}
		a, _, err := account.New(d, box, time.Now).Create(context.Background(), account.CreateOptions{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		s, err := stats.New(stats.Options{DB: d})
		if err != nil {
			b.Fatal(err)
		}
		at := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
		batch := func(typ event.Type, n int) []*event.Event {
			evs := make([]*event.Event, 0, 50)
			for m := range 10 {
				for h := range 5 {
					e := &event.Event{Type: typ, AccountID: a.ID, ConfigurationSet: "news", Mail: event.Mail{Timestamp: at,
						MessageID: fmt.Sprintf("msg-%d-%d", n, m), SourceArn: "arn:aws:ses:us-east-1:" + a.ID + ":identity/example.test",
						Destination: []string{"bob@rcpt.test"}}}
					switch typ {
					case event.Click:
						e.Click = &event.ClickDetails{IPAddress: "192.0.2.1", Timestamp: at.Add(time.Duration(h) * time.Second), Link: "https://shop.example.test/"}
					case event.Send:
						e.Send = &event.SendDetails{}
					}
					evs = append(evs, e)
				}
			}
			return evs
		}
		for _, typ := range []event.Type{event.Click, event.Send} {
			b.Run(string(typ), func(b *testing.B) {
				ctx := context.Background()
				n := 0
				for b.Loop() {
					evs := batch(typ, n)
					n++
					if err := d.InTx(ctx, func(tx *db.Tx) error { return s.AddTx(ctx, tx, evs) }); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/event")
			})
		}
	})
}
