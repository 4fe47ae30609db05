package app_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sesv1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/testkit"
)

// snsSubscriber is an HTTP endpoint of an SNS subscription: it confirms
// the subscription through SubscribeURL, checks every message's signature
// the way AWS documents it (the certificate fetched from SigningCertURL,
// the string to sign built here, not by Sesame), and keeps the
// notifications. While down, it answers 500.
type snsSubscriber struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	down bool
	got  []map[string]string // notifications, in arrival order
	sigs map[string]int      // SignatureVersion → messages checked
	bad  []string            // what failed a check
}

func newSNSSubscriber(t *testing.T) *snsSubscriber {
	s := &snsSubscriber{t: t, sigs: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *snsSubscriber) fail(format string, args ...any) {
	s.mu.Lock()
	s.bad = append(s.bad, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *snsSubscriber) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		s.fail("body is not SNS JSON: %v: %s", err, body)
		return
	}
	if r.Header.Get("x-amz-sns-message-type") != m["Type"] || r.Header.Get("x-amz-sns-message-id") != m["MessageId"] || r.Header.Get("x-amz-sns-topic-arn") != m["TopicArn"] {
		s.fail("x-amz-sns headers %v do not match the message %v", r.Header, m)
	}
	if err := verifySNS(m); err != nil {
		s.fail("signature of %s %s: %v", m["Type"], m["MessageId"], err)
		return
	}
	s.mu.Lock()
	s.sigs[m["SignatureVersion"]]++
	s.mu.Unlock()
	switch m["Type"] {
	case "SubscriptionConfirmation":
		resp, err := http.Get(m["SubscribeURL"])
		if err != nil || resp.StatusCode != http.StatusOK {
			s.fail("SubscribeURL: %v %v", err, resp)
			return
		}
		resp.Body.Close()
	case "Notification":
		s.mu.Lock()
		s.got = append(s.got, m)
		s.mu.Unlock()
	}
}

func (s *snsSubscriber) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *snsSubscriber) notifications() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) > 0 {
		s.t.Fatalf("subscriber: %s", strings.Join(s.bad, "\n"))
	}
	return slices.Clone(s.got)
}

// verifySNS checks an SNS message's signature as AWS documents it: the
// certificate from SigningCertURL, the string to sign of the message's
// type, SHA1withRSA for SignatureVersion 1 and SHA256withRSA for 2.
func verifySNS(m map[string]string) error {
	resp, err := http.Get(m["SigningCertURL"])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	pemBytes, _ := io.ReadAll(resp.Body)
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || !strings.HasSuffix(m["SigningCertURL"], ".pem") {
		return fmt.Errorf("SigningCertURL %s does not serve a PEM certificate", m["SigningCertURL"])
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok && !(k == "Subject" && v == "") {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the certificate's key is not RSA")
	}
	switch m["SignatureVersion"] {
	case "1":
		h := sha1.Sum([]byte(b.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], sig)
	case "2":
		h := sha256.Sum256([]byte(b.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
	}
	return fmt.Errorf("SignatureVersion %q", m["SignatureVersion"])
}

// freeAddr returns a loopback address with a free TCP port, so that the
// API's public URL (in SNS links) can be known before Sesame starts.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func snsClientAt(url, id, secret string) *awssns.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1}
	return awssns.NewFromConfig(cfg, func(o *awssns.Options) { o.BaseEndpoint = aws.String(url) })
}

// scrape reads /metrics with Prometheus's own text parser.
func scrape(t *testing.T, api string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// counter returns the value of the series of fam whose labels include
// want (0 when there is none).
func counter(fams map[string]*dto.MetricFamily, fam string, want map[string]string) float64 {
	f := fams[fam]
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, m := range f.Metric {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok && m.Counter != nil {
			sum += m.Counter.GetValue()
		}
	}
	return sum
}

// TestEventPublishing is the seed documents' scenario end to end: a
// configuration set with a CloudWatch destination whose dimension is
// ses:from-domain, made the identity's default; one message each to the
// mailbox simulator's success, bounce and complaint addresses; /metrics
// and BatchGetMetricData agree (Send 3, Delivery 2, Bounce 1,
// Complaint 1). The same set publishes to an SNS topic whose HTTP
// subscriber verifies every signature and gets each event once, also
// after it was down for a while; an email subscription gets its
// confirmation and the notifications at a test MX; the identity's v1
// notification topic gets SES's older format. Another account sees none
// of it.
func TestEventPublishing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx, api := startSending(t, d, 100)
		ctx := context.Background()
		sns := snsClientAt("http://"+api, r.key.AccessKeyID, r.key.Secret)

		// An SNS topic with an HTTP subscriber (confirmed through
		// SubscribeURL) and an email subscriber (confirmed by mail).
		topic, err := sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("ses-events")})
		if err != nil {
			t.Fatal(err)
		}
		sub := newSNSSubscriber(t)
		if _, err := sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("email"), Endpoint: aws.String("ops@rcpt.test")}); err != nil {
			t.Fatal(err)
		}
		confirmURL := regexp.MustCompile(`https?://\S+/sns/confirm\?\S+`)
		eventually(t, "email confirmation", func() error {
			for _, m := range mx.all() {
				if slices.Contains(m.To, "ops@rcpt.test") {
					msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
					if err != nil {
						return err
					}
					text, _ := io.ReadAll(msg.Body)
					text = bytes.ReplaceAll(text, []byte("=\r\n"), nil)
					u := confirmURL.Find(bytes.ReplaceAll(text, []byte("=3D"), []byte("=")))
					if u == nil {
						return fmt.Errorf("no confirmation link in %s", text)
					}
					resp, err := http.Get(string(u))
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("confirmation link: %s", resp.Status)
					}
					return nil
				}
			}
			return errors.New("no confirmation mail yet")
		})
		eventually(t, "both subscriptions confirmed", func() error {
			out, err := sns.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: topic.TopicArn})
			if err != nil {
				return err
			}
			for _, s := range out.Subscriptions {
				if !strings.HasPrefix(aws.ToString(s.SubscriptionArn), aws.ToString(topic.TopicArn)+":") {
					return fmt.Errorf("%s: %s", aws.ToString(s.Protocol), aws.ToString(s.SubscriptionArn))
				}
			}
			if len(out.Subscriptions) != 2 {
				return fmt.Errorf("%d subscriptions", len(out.Subscriptions))
			}
			return nil
		})

		// The configuration set: CloudWatch by from-domain, and SNS.
		if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("dash")}); err != nil {
			t.Fatal(err)
		}
		all := []types.EventType{types.EventTypeSend, types.EventTypeDelivery, types.EventTypeBounce, types.EventTypeComplaint, types.EventTypeReject, types.EventTypeDeliveryDelay}
		if _, err := r.v2.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
			ConfigurationSetName: aws.String("dash"), EventDestinationName: aws.String("cw"),
			EventDestination: &types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: all,
				CloudWatchDestination: &types.CloudWatchDestination{DimensionConfigurations: []types.CloudWatchDimensionConfiguration{{
					DimensionName: aws.String("ses:from-domain"), DimensionValueSource: types.DimensionValueSourceMessageTag, DefaultDimensionValue: aws.String("example.test")}}}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
			ConfigurationSetName: aws.String("dash"), EventDestinationName: aws.String("sns"),
			EventDestination: &types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: all,
				SnsDestination: &types.SnsDestination{TopicArn: topic.TopicArn}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{
			EmailIdentity: aws.String("example.test"), ConfigurationSetName: aws.String("dash")}); err != nil {
			t.Fatal(err)
		}
		// The identity's own (v1) bounce topic, with headers.
		legacyTopic, err := sns.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bounces")})
		if err != nil {
			t.Fatal(err)
		}
		legacy := newSNSSubscriber(t)
		if _, err := sns.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: legacyTopic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(legacy.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "identity topic's subscription confirmed", func() error {
			a, err := sns.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: legacyTopic.TopicArn})
			if err != nil {
				return err
			}
			if a.Attributes["SubscriptionsConfirmed"] != "1" {
				return fmt.Errorf("attributes %v", a.Attributes)
			}
			return nil
		})
		if _, err := r.v1.SetIdentityNotificationTopic(ctx, &ses.SetIdentityNotificationTopicInput{Identity: aws.String("example.test"),
			NotificationType: "Bounce", SnsTopic: legacyTopic.TopicArn}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v1.SetIdentityHeadersInNotificationsEnabled(ctx, &ses.SetIdentityHeadersInNotificationsEnabledInput{Identity: aws.String("example.test"),
			NotificationType: "Bounce", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		// The validation message SES publishes when the SNS destination is
		// made reached the subscriber first.
		eventually(t, "validation message", func() error {
			for _, n := range sub.notifications() {
				if n["Message"] == "Successfully validated SNS topic for Amazon SES event publishing." {
					return nil
				}
			}
			return errors.New("not yet")
		})

		send := func(to string) string {
			t.Helper()
			out, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("Alice <alice@example.test>"),
				Destination:      &types.Destination{ToAddresses: []string{to}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hello")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			return *out.MessageId
		}
		ids := []string{send("success@simulator.amazonses.com"), send("bounce@simulator.amazonses.com"), send("complaint@simulator.amazonses.com")}

		// /metrics: the CloudWatch destination's counts under the
		// dimension's value.
		dim := map[string]string{"configuration_set": "dash", "ses_from_domain": "example.test"}
		want := map[string]float64{"Send": 3, "Delivery": 2, "Bounce": 1, "Complaint": 1}
		eventually(t, "metrics", func() error {
			fams := scrape(t, api)
			for typ, n := range want {
				l := map[string]string{"event_type": typ}
				for k, v := range dim {
					l[k] = v
				}
				if got := counter(fams, "sesame_events_total", l); got != n {
					return fmt.Errorf("sesame_events_total %v = %v, want %v", l, got, n)
				}
			}
			return nil
		})

		// BatchGetMetricData for the identity agrees.
		now := time.Now()
		var queries []types.BatchGetMetricDataQuery
		metricWant := map[types.Metric]float64{types.MetricSend: 3, types.MetricDelivery: 2, types.MetricPermanentBounce: 1, types.MetricComplaint: 1, types.MetricTransientBounce: 0}
		for m := range metricWant {
			queries = append(queries, types.BatchGetMetricDataQuery{Id: aws.String(strings.ToLower(string(m))), Namespace: types.MetricNamespaceVdm, Metric: m,
				Dimensions: map[string]string{string(types.MetricDimensionNameEmailIdentity): "example.test"},
				StartDate:  aws.Time(now.Add(-24 * time.Hour)), EndDate: aws.Time(now.Add(time.Hour))})
		}
		md, err := r.v2.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: queries})
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Errors) > 0 || len(md.Results) != len(metricWant) {
			t.Fatalf("BatchGetMetricData: %d results, errors %+v", len(md.Results), md.Errors)
		}
		for _, res := range md.Results {
			total := 0.0
			for _, v := range res.Values {
				total += float64(v)
			}
			if w := metricWant[types.Metric(strings.ToUpper(aws.ToString(res.Id)))]; total != w {
				t.Errorf("BatchGetMetricData %s = %v, want %v", aws.ToString(res.Id), total, w)
			}
		}

		// The HTTP subscriber got each event once, in SES's event JSON.
		kinds := func() (map[string]int, error) {
			out := map[string]int{}
			seen := map[string]bool{}
			for _, n := range sub.notifications() {
				if seen[n["MessageId"]] {
					return nil, fmt.Errorf("notification %s delivered twice", n["MessageId"])
				}
				seen[n["MessageId"]] = true
				var ev struct {
					EventType string `json:"eventType"`
					Mail      struct {
						MessageID string              `json:"messageId"`
						Tags      map[string][]string `json:"tags"`
					} `json:"mail"`
				}
				if json.Unmarshal([]byte(n["Message"]), &ev) != nil || ev.EventType == "" {
					continue // the validation message
				}
				if n["Subject"] != "Amazon SES Email Event Notification" || !slices.Contains(ids, ev.Mail.MessageID) {
					return nil, fmt.Errorf("notification %v", n)
				}
				if !slices.Equal(ev.Mail.Tags["ses:configuration-set"], []string{"dash"}) || !slices.Equal(ev.Mail.Tags["ses:from-domain"], []string{"example.test"}) {
					return nil, fmt.Errorf("auto-tags %v", ev.Mail.Tags)
				}
				out[ev.EventType]++
			}
			return out, nil
		}
		eventually(t, "SNS notifications", func() error {
			got, err := kinds()
			if err != nil {
				return err
			}
			for typ, n := range want {
				if got[typ] != int(n) {
					return fmt.Errorf("%v", got)
				}
			}
			return nil
		})
		if sub.sigs["1"] == 0 {
			t.Fatalf("signatures checked: %v", sub.sigs)
		}

		// The identity's bounce topic: SES's older format, with headers.
		eventually(t, "identity notification", func() error {
			ns := legacy.notifications()
			if len(ns) != 1 {
				return fmt.Errorf("%d notifications", len(ns))
			}
			var n struct {
				NotificationType string `json:"notificationType"`
				EventType        string `json:"eventType"`
				Mail             struct {
					MessageID string            `json:"messageId"`
					Headers   []json.RawMessage `json:"headers"`
					Tags      json.RawMessage   `json:"tags"`
				} `json:"mail"`
			}
			if err := json.Unmarshal([]byte(ns[0]["Message"]), &n); err != nil {
				return err
			}
			if n.NotificationType != "Bounce" || n.EventType != "" || n.Mail.MessageID != ids[1] || len(n.Mail.Headers) == 0 || n.Mail.Tags != nil {
				return fmt.Errorf("identity notification %s", ns[0]["Message"])
			}
			return nil
		})

		// Signature version 2, and a subscriber down for a while loses
		// nothing.
		if _, err := sns.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: topic.TopicArn,
			AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
			t.Fatal(err)
		}
		sub.setDown(true)
		ids = append(ids, send("success+later@simulator.amazonses.com"))
		eventually(t, "attempts while down", func() error {
			g := scrape(t, api)
			if f := g["sesame_push_pending"]; f == nil || f.Metric[0].GetGauge().GetValue() == 0 {
				return errors.New("nothing pending")
			}
			return nil
		})
		sub.setDown(false)
		eventually(t, "notifications after the subscriber came back", func() error {
			got, err := kinds()
			if err != nil {
				return err
			}
			if got["Send"] != 4 || got["Delivery"] != 3 {
				pending, parked, _ := r.app.Push.Stats(ctx)
				return fmt.Errorf("%v (push: %d pending, %d parked)", got, pending, parked)
			}
			return nil
		})
		if sub.sigs["2"] == 0 {
			t.Fatalf("no SignatureVersion 2 message: %v", sub.sigs)
		}

		// The email subscriber got the notifications as mail.
		eventually(t, "email notifications", func() error {
			n := 0
			for _, m := range mx.all() {
				if slices.Contains(m.To, "ops@rcpt.test") && bytes.Contains(m.Data, []byte("eventType")) {
					n++
				}
			}
			if n < 8 {
				return fmt.Errorf("%d notification mails", n)
			}
			return nil
		})

		// Another account sees none of it.
		_, other, err := r.app.Accounts.Create(ctx, account.CreateOptions{Name: "other", Email: "other@rcpt.test"})
		if err != nil {
			t.Fatal(err)
		}
		osns := snsClientAt("http://"+api, other.AccessKeyID, other.Secret)
		if lt, err := osns.ListTopics(ctx, &awssns.ListTopicsInput{}); err != nil || len(lt.Topics) != 0 {
			t.Fatalf("another account lists topics: %v %v", lt, err)
		}
		if _, err := osns.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: topic.TopicArn}); err == nil {
			t.Fatal("another account reads the topic")
		}
		if _, err := osns.Publish(ctx, &awssns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String("forged")}); err == nil {
			t.Fatal("another account publishes to the topic")
		}
		_, ov2 := clients("http://"+api, other.AccessKeyID, other.Secret)
		if _, err := ov2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("dash")}); err == nil || !strings.Contains(err.Error(), "NotFoundException") {
			t.Fatalf("another account reads the set: %v", err)
		}
		if sts, err := ov2.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: queries[:1]}); err != nil || len(sts.Results) != 1 || len(sts.Results[0].Values) != 0 {
			t.Fatalf("another account's metric data: %+v %v", sts, err)
		}
	})
}

// TestConfigurationSetAutoPause: complaints arriving through the feedback
// MX trip a configuration set's complaint threshold; its sends then fail
// with SES's paused error until the customer resumes it, and the owner is
// mailed.
func TestConfigurationSetAutoPause(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) {
			c.OutboundPort = mx.port(t)
			c.SPFIPs, c.FeedbackIPs = ipList("127.0.0.1"), ipList("127.0.0.1")
			c.FeedbackAddr = "127.0.0.1:0"
			c.SetPauseComplaintRate, c.SetPauseMinVolume = 0.2, 5
			c.ReputationMinVolume = 1000 // the account is not judged here
		})
		ctx := context.Background()
		r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
		verifyDomain(t, r, "example.test")
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("promo"),
			ReputationOptions: &types.ReputationOptions{ReputationMetricsEnabled: true}}); err != nil {
			t.Fatal(err)
		}
		send := func(to string) (string, error) {
			out, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("alice@example.test"), ConfigurationSetName: aws.String("promo"),
				Destination: &types.Destination{ToAddresses: []string{to}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Offer")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Buy")}}}},
			})
			if err != nil {
				return "", err
			}
			return *out.MessageId, nil
		}
		paths := map[string]string{} // recipient → return path
		for i := range 5 {
			to := "user" + strconv.Itoa(i) + "@rcpt.test"
			if _, err := send(to); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "delivered", func() error {
			for _, m := range mx.all() {
				for _, to := range m.To {
					paths[to] = m.From
				}
			}
			for i := range 5 {
				if paths["user"+strconv.Itoa(i)+"@rcpt.test"] == "" {
					return fmt.Errorf("delivered: %v", paths)
				}
			}
			return nil
		})
		_, port, _ := net.SplitHostPort(r.ready.Feedback)
		for _, to := range []string{"user0@rcpt.test", "user1@rcpt.test"} {
			c, err := smtp.DialStartTLS(net.JoinHostPort("127.0.0.1", port), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SendMail(testkit.ARFSender(to), []string{paths[to]}, strings.NewReader(testkit.ARF(paths[to], to))); err != nil {
				t.Fatal(err)
			}
			c.Quit()
		}
		eventually(t, "set paused", func() error {
			g, err := r.v2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("promo")})
			if err != nil {
				return err
			}
			if g.SendingOptions == nil || g.SendingOptions.SendingEnabled {
				return errors.New("still sending")
			}
			return nil
		})
		if _, err := send("user9@rcpt.test"); err == nil || !strings.Contains(err.Error(), "SendingPausedException") {
			t.Fatalf("send through the paused set: %v", err)
		}
		if _, err := r.v1.SendEmail(ctx, &ses.SendEmailInput{Source: aws.String("alice@example.test"), ConfigurationSetName: aws.String("promo"),
			Destination: &sesv1types.Destination{ToAddresses: []string{"user9@rcpt.test"}},
			Message:     &sesv1types.Message{Subject: &sesv1types.Content{Data: aws.String("x")}, Body: &sesv1types.Body{Text: &sesv1types.Content{Data: aws.String("x")}}}}); err == nil ||
			!strings.Contains(err.Error(), "ConfigurationSetSendingPausedException") {
			t.Fatalf("v1 send through the paused set: %v", err)
		}
		eventually(t, "owner told", func() error {
			for _, m := range mx.all() {
				if slices.Contains(m.To, "owner@rcpt.test") && bytes.Contains(m.Data, []byte("promo")) {
					return nil
				}
			}
			return errors.New("no notice to the owner")
		})
		fams := scrape(t, r.ready.API)
		if counter(fams, "sesame_reputation_actions_total", map[string]string{"scope": "configuration_set"}) == 0 {
			t.Errorf("the pause is not counted: %v", fams["sesame_reputation_actions_total"])
		}
		if _, err := r.v2.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: aws.String("promo"), SendingEnabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := send("user9@rcpt.test"); err != nil {
			t.Fatalf("send after the resume: %v", err)
		}
	})
}

// TestAccountEnforcement: the account's EnforcementStatus moves HEALTHY →
// PROBATION at a 5% bounce rate and to SHUTDOWN, with sending paused, at
// 10%; the customer cannot resume it, the operator's reinstate does.
func TestAccountEnforcement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) {
			c.OutboundPort = mx.port(t)
			c.ReputationMinVolume = 20
		})
		ctx := context.Background()
		for _, dom := range []string{"rcpt.test", "rcpt2.test", "rcpt3.test"} {
			r.customer.Add(dom + ". 300 IN MX 10 mx.rcpt.test.")
		}
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
		verifyDomain(t, r, "example.test")
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}
		send := func(to ...string) error {
			_, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("alice@example.test"), Destination: &types.Destination{ToAddresses: to},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("News")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("News")}}}},
			})
			return err
		}
		status := func(want string) {
			t.Helper()
			eventually(t, "enforcement status "+want, func() error {
				g, err := r.v2.GetAccount(ctx, &sesv2.GetAccountInput{})
				if err != nil {
					return err
				}
				if aws.ToString(g.EnforcementStatus) != want {
					return fmt.Errorf("status %s", aws.ToString(g.EnforcementStatus))
				}
				return nil
			})
		}
		var many []string
		for i := range 19 {
			many = append(many, "reader"+strconv.Itoa(i)+"@rcpt.test")
		}
		if err := send(many...); err != nil {
			t.Fatal(err)
		}
		status("HEALTHY")
		if err := send("unknown@rcpt.test"); err != nil { // 20 sends, 1 bounce: 5%
			t.Fatal(err)
		}
		status("PROBATION")
		if err := send("unknown@rcpt2.test"); err != nil { // 21 sends, 2 bounces: 9.5%
			t.Fatal(err)
		}
		if err := send("unknown@rcpt3.test"); err != nil { // 22 sends, 3 bounces: 13.6%
			t.Fatal(err)
		}
		status("SHUTDOWN")
		if err := send("reader0@rcpt.test"); err == nil || !strings.Contains(err.Error(), "SendingPausedException") {
			t.Fatalf("send while SHUTDOWN: %v", err)
		}
		var out strings.Builder
		if err := r.app.Reinstate(ctx, &out, r.acct.ID); err != nil {
			t.Fatal(err)
		}
		status("HEALTHY")
		if err := send("reader0@rcpt.test"); err != nil {
			t.Fatalf("send after reinstate: %v", err)
		}
	})
}
