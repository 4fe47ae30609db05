package push_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/seal"
)

// BenchmarkPush measures notifications delivered per second to a local
// subscriber (SQLite, synchronous=FULL): b.N rows queued, then Run until
// none is pending.
func BenchmarkPush(b *testing.B) {
	ctx := context.Background()
	d := dbtest.SQLite(b)
	box, _ := seal.New("k")
	a, _, err := account.New(d, box, nil).Create(ctx, account.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	q, err := push.New(push.Options{DB: d, Poll: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"Type":"Notification","Message":"` + string(make([]byte, 0)) + `{\"eventType\":\"Delivery\"}"}`)
	for i := 0; i < b.N; i += 500 {
		err := d.InTx(ctx, func(tx *db.Tx) error {
			for j := i; j < min(i+500, b.N); j++ {
				h := http.Header{"X-Amz-Sns-Message-Id": {fmt.Sprint(j)}}
				if err := q.AddTx(ctx, tx, push.Delivery{AccountID: a.ID, Endpoint: srv.URL, Header: h, Body: body}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { q.Run(rctx); close(done) }()
	for {
		p, _, err := q.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if p == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/el.Seconds(), "notifications/s")
}
