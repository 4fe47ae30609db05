package sns_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sns"
)

// BenchmarkPublishTx measures the publisher's transaction for one batch:
// 256 PublishTx calls (SES events) to a topic with one confirmed https
// subscription, queued with the real push queue on SQLite, with a
// 2048-bit signing key as a deployment makes. It reports the time the
// transaction (SQLite's single writer lock) is held per batch.
func BenchmarkPublishTx(b *testing.B) {
	ctx := b.Context()
	d := dbtest.SQLite(b)
	// A deployment's 2048-bit key, stored before apitest loads it.
	box, err := seal.New("apitest master secret")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sns.New(sns.Options{DB: d, Box: box, Region: apitest.Region, PublicURL: "https://sesame.example", KeyBits: 2048}); err != nil {
		b.Fatal(err)
	}
	env := apitest.New(b, d)
	q, err := push.New(push.Options{DB: d, Sign: env.SNS.Sign})
	if err != nil {
		b.Fatal(err)
	}
	var confirmations []push.Delivery
	env.Push = func(_ context.Context, _ *db.Tx, dl push.Delivery) error {
		confirmations = append(confirmations, dl)
		return nil
	}
	c := env.SNSClient
	ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events")})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("https"), Endpoint: aws.String("https://h.example/hook")}); err != nil {
		b.Fatal(err)
	}
	if len(confirmations) != 1 {
		b.Fatalf("%d confirmations", len(confirmations))
	}
	if _, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: ct.TopicArn, Token: aws.String(token(b, confirmations[0].Body))}); err != nil {
		b.Fatal(err)
	}
	env.Push = q.AddTx
	const batch = 256
	var held time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		err := d.InTx(ctx, func(tx *db.Tx) error {
			for j := range batch {
				msg := fmt.Sprintf(`{"eventType":"Delivery","mail":{"messageId":"m%08d-%03d"}}`, i, j)
				if _, err := env.SNS.PublishTx(ctx, tx, env.Account.ID, *ct.TopicArn, "", msg); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		held += time.Since(start)
	}
	b.ReportMetric(float64(held.Milliseconds())/float64(b.N), "ms/batch256")
}

func token(b *testing.B, body []byte) string {
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil || m["Token"] == "" {
		b.Fatalf("confirmation %q: %v", body, err)
	}
	return m["Token"]
}
