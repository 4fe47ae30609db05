package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

func snsClient(r *running) *awssns.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(r.key.AccessKeyID, r.key.Secret, ""), RetryMaxAttempts: 1}
	return awssns.NewFromConfig(cfg, func(o *awssns.Options) { o.BaseEndpoint = aws.String("http://" + r.ready.API) })
}

// subscriber is an HTTP/S subscriber keeping the messages it gets.
type subscriber struct {
	mu   sync.Mutex
	msgs []map[string]string
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	var m map[string]string
	json.Unmarshal(b, &m)
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func (s *subscriber) got(typ string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m["Type"] == typ {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no %s among %d messages", typ, len(s.msgs))
}

// TestSNSPrivateEndpoints: by default a customer cannot make Sesame POST
// into its own network: an http/https subscription to a loopback, private
// or link-local address (the metadata address) is refused at Subscribe,
// and a subscription that reaches such an address anyway (taken while the
// operator allowed them; a name that resolves there by now) is refused at
// connection time, its subscriber never reached.
// --sns-allow-private-endpoints allows them (Sesame's own tests use it for
// their loopback subscribers).
func TestSNSPrivateEndpoints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sub := &subscriber{}
		srv := httptest.NewServer(sub)
		defer srv.Close()
		ctx := context.Background()

		// Allowed: the loopback subscriber is asked to confirm, and does.
		allowed := startWith(t, d, func(c *config.Config) { c.SNSAllowPrivateEndpoints = true })
		sc := snsClient(allowed)
		topic, err := sc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(srv.URL + "/hook")}); err != nil {
			t.Fatalf("Subscribe to a loopback endpoint with --sns-allow-private-endpoints: %v", err)
		}
		var confirm map[string]string
		eventually(t, "the SubscriptionConfirmation at the loopback subscriber", func() (err error) {
			confirm, err = sub.got("SubscriptionConfirmation")
			return err
		})
		if _, err := sc.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: topic.TopicArn, Token: aws.String(confirm["Token"])}); err != nil {
			t.Fatal(err)
		}
		allowed.stop()

		// The default: refused at Subscribe ...
		guarded := startWith(t, d, nil)
		sc = snsClient(guarded)
		for _, endpoint := range []string{srv.URL + "/other", "http://169.254.169.254/latest/meta-data/", "https://10.0.0.1/", "http://[::1]:8080/", "http://localhost/"} {
			proto := endpoint[:strings.Index(endpoint, ":")]
			_, err := sc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String(proto), Endpoint: aws.String(endpoint)})
			if err == nil || !strings.Contains(err.Error(), "InvalidParameter") || !strings.Contains(err.Error(), "does not deliver to loopback, private or link-local addresses") {
				t.Errorf("Subscribe %s: %v; want InvalidParameter", endpoint, err)
			}
		}
		// ... and at connection time.
		if _, err := sc.Publish(ctx, &awssns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String("to the loopback subscriber")}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the delivery refused", func() error {
			var last string
			if err := d.QueryRow(ctx, `SELECT last_error FROM push_deliveries`).Scan(&last); err != nil {
				return err
			}
			if !strings.Contains(last, "loopback") {
				return fmt.Errorf("last_error %q", last)
			}
			return nil
		})
		if _, err := sub.got("Notification"); err == nil {
			t.Error("the loopback subscriber got the notification")
		}
	})
}
