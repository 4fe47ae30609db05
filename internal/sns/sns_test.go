package sns_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/sns"
)

// received is one request a subscriber got.
type received struct {
	Header http.Header
	Body   []byte
}

// subscriber is an HTTP endpoint that records what it is sent.
type subscriber struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

func newSubscriber(t *testing.T) *subscriber {
	s := &subscriber{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, received{r.Header.Clone(), b})
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// take returns and forgets what the subscriber got.
func (s *subscriber) take() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.got
	s.got = nil
	return g
}

// pusher is the fake push queue: it keeps the deliveries of a
// transaction and POSTs them, synchronously, when the test flushes,
// signing those queued with Sign first (as push.Queue's workers do with
// Options.Sign).
type pusher struct {
	sign    func(body []byte) ([]byte, error)
	mu      sync.Mutex
	pending []push.Delivery
}

func (p *pusher) add(_ context.Context, _ *db.Tx, d push.Delivery) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, d)
	return nil
}

// drop forgets the deliveries queued so far and returns them.
func (p *pusher) drop() []push.Delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.pending
	p.pending = nil
	return ds
}

// flush POSTs the deliveries queued so far and returns them.
func (p *pusher) flush(t *testing.T) []push.Delivery {
	t.Helper()
	p.mu.Lock()
	ds := p.pending
	p.pending = nil
	p.mu.Unlock()
	for i, d := range ds {
		if d.Sign {
			b, err := p.sign(d.Body)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			ds[i].Body, d.Body = b, b
		}
		req, err := http.NewRequest(http.MethodPost, d.Endpoint, bytes.NewReader(d.Body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = d.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s", d.Endpoint, resp.Status)
		}
	}
	return ds
}

// verifySignature checks a message the way AWS documents: fetch the
// certificate from SigningCertURL (it must be Sesame's and end in .pem),
// build the string to sign for the message's type, and check the
// signature with SHA1withRSA (SignatureVersion 1) or SHA256withRSA (2).
func verifySignature(t *testing.T, env *apitest.Env, m map[string]string) {
	t.Helper()
	u, err := url.Parse(m["SigningCertURL"])
	if err != nil || !strings.HasPrefix(m["SigningCertURL"], env.URL+"/") || !strings.HasSuffix(u.Path, ".pem") {
		t.Fatalf("SigningCertURL %q is not a .pem under %s", m["SigningCertURL"], env.URL)
	}
	resp, err := http.Get(m["SigningCertURL"])
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	block, _ := pem.Decode(pemBytes)
	if resp.StatusCode != 200 || block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("certificate: %s %q", resp.Status, pemBytes)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	switch m["Type"] {
	case "Notification":
		keys = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	default:
		t.Fatalf("unknown Type %q", m["Type"])
	}
	var sts strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			sts.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		t.Fatal(err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	switch m["SignatureVersion"] {
	case "1":
		sum := sha1.Sum([]byte(sts.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(sts.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		t.Fatalf("SignatureVersion %q", m["SignatureVersion"])
	}
	if err != nil {
		t.Errorf("signature of %s does not verify: %v", m["Type"], err)
	}
}

// message decodes a JSON message body.
func message(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

// one takes the one request the subscriber got.
func one(t *testing.T, s *subscriber) received {
	t.Helper()
	g := s.take()
	if len(g) != 1 {
		t.Fatalf("subscriber got %d requests; want 1", len(g))
	}
	return g[0]
}

func wantHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q; want %q", k, got, v)
		}
	}
}

func wantCode(t *testing.T, err error, code string, msg ...string) {
	t.Helper()
	if got := apitest.Code(err); got != code {
		t.Errorf("error %v: code %s; want %s", err, got, code)
		return
	}
	for _, m := range msg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not say %q", err, m)
		}
	}
}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func topicAttrs(t *testing.T, c *awssns.Client, arn string) map[string]string {
	t.Helper()
	out, err := c.GetTopicAttributes(t.Context(), &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetTopicAttributes: %v", err)
	}
	return out.Attributes
}

func TestHTTPSubscription(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		p := &pusher{sign: env.SNS.Sign}
		env.Push = p.add
		c := env.SNSClient
		sub := newSubscriber(t)

		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events"), Attributes: map[string]string{"DisplayName": "Events"},
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("mail")}}})
		if err != nil {
			t.Fatal(err)
		}
		topic := *ct.TopicArn
		if want := "arn:aws:sns:us-east-1:" + env.Account.ID + ":events"; topic != want {
			t.Errorf("TopicArn = %s; want %s", topic, want)
		}
		// Idempotent by name, unless the attributes or tags differ.
		again, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events")})
		if err != nil || *again.TopicArn != topic {
			t.Errorf("CreateTopic again: %v, %v", again, err)
		}
		_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events"), Attributes: map[string]string{"DisplayName": "Other"}})
		wantCode(t, err, "InvalidParameter", "Topic already exists with different attributes")
		_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}}})
		wantCode(t, err, "InvalidParameter", "Topic already exists with different tags")

		// Subscribe: a confirmation goes out first.
		endpoint := sub.srv.URL + "/hook?x=1"
		sr, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(endpoint)})
		if err != nil || *sr.SubscriptionArn != "pending confirmation" {
			t.Fatalf("Subscribe: %v, %v", sr, err)
		}
		if a := topicAttrs(t, c, topic); a["SubscriptionsPending"] != "1" || a["SubscriptionsConfirmed"] != "0" || a["DisplayName"] != "Events" || a["Owner"] != env.Account.ID || a["SignatureVersion"] != "1" {
			t.Errorf("attributes after Subscribe: %v", a)
		}
		ds := p.flush(t)
		if len(ds) != 1 || ds[0].Endpoint != endpoint || ds[0].TopicARN != topic || ds[0].AccountID != env.Account.ID || ds[0].Policy != push.DefaultPolicy {
			t.Fatalf("deliveries: %+v", ds)
		}
		subARN := ds[0].SubscriptionARN
		conf := one(t, sub)
		m := message(t, conf.Body)
		wantHeaders(t, conf.Header, map[string]string{
			"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
			"x-amz-sns-message-type": "SubscriptionConfirmation", "x-amz-sns-message-id": m["MessageId"], "x-amz-sns-topic-arn": topic,
			"x-amz-sns-subscription-arn": "",
		})
		wantMsg := "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."
		if m["Type"] != "SubscriptionConfirmation" || m["TopicArn"] != topic || m["Message"] != wantMsg || m["Token"] == "" ||
			!strings.HasPrefix(m["SubscribeURL"], env.URL+"/sns/confirm?") || m["SignatureVersion"] != "1" || len(m) != 10 {
			t.Errorf("confirmation: %v", m)
		}
		verifySignature(t, env, m)

		// A wrong token confirms nothing.
		resp, body := get(t, strings.Replace(m["SubscribeURL"], "Token=", "Token=00", 1))
		if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidParameter</Code>") || !strings.Contains(body, `xmlns="http://sns.amazonaws.com/doc/2010-03-31/"`) {
			t.Errorf("wrong token: %d %s", resp.StatusCode, body)
		}
		// The SubscribeURL confirms, answering as ConfirmSubscription.
		resp, body = get(t, m["SubscribeURL"])
		if resp.StatusCode != 200 || !strings.Contains(body, "<ConfirmSubscriptionResponse") || !strings.Contains(body, "<SubscriptionArn>"+subARN+"</SubscriptionArn>") {
			t.Fatalf("SubscribeURL: %d %s", resp.StatusCode, body)
		}
		// ...and, being idempotent, again; so does the API with the token.
		if resp, _ := get(t, m["SubscribeURL"]); resp.StatusCode != 200 {
			t.Errorf("second visit: %d", resp.StatusCode)
		}
		cs, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(m["Token"])})
		if err != nil || *cs.SubscriptionArn != subARN {
			t.Errorf("ConfirmSubscription: %v, %v", cs, err)
		}
		if a := topicAttrs(t, c, topic); a["SubscriptionsPending"] != "0" || a["SubscriptionsConfirmed"] != "1" {
			t.Errorf("attributes after confirming: %v", a)
		}
		ls, err := c.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
		if err != nil || len(ls.Subscriptions) != 1 || *ls.Subscriptions[0].SubscriptionArn != subARN || *ls.Subscriptions[0].Endpoint != endpoint ||
			*ls.Subscriptions[0].Protocol != "http" || *ls.Subscriptions[0].Owner != env.Account.ID {
			t.Errorf("ListSubscriptionsByTopic: %+v, %v", ls, err)
		}
		// Subscribing the same endpoint again gives the same subscription.
		sr, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(endpoint)})
		if err != nil || *sr.SubscriptionArn != subARN || len(p.flush(t)) != 0 {
			t.Errorf("Subscribe again: %v, %v", sr, err)
		}

		// Publish: a signed Notification (SignatureVersion 1).
		pub, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String("Hello"), Message: aws.String("world <&> \"quoted\"\nline two")})
		if err != nil {
			t.Fatal(err)
		}
		p.flush(t)
		n := one(t, sub)
		m = message(t, n.Body)
		wantHeaders(t, n.Header, map[string]string{
			"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": *pub.MessageId,
			"x-amz-sns-topic-arn": topic, "x-amz-sns-subscription-arn": subARN, "x-amz-sns-rawdelivery": "",
		})
		if m["Type"] != "Notification" || m["MessageId"] != *pub.MessageId || m["Subject"] != "Hello" || m["Message"] != "world <&> \"quoted\"\nline two" ||
			!strings.HasPrefix(m["UnsubscribeURL"], env.URL+"/sns/unsubscribe?") || len(m) != 10 {
			t.Errorf("notification: %v", m)
		}
		if !bytes.Contains(n.Body, []byte(`"Type" : "Notification"`)) || !bytes.Contains(n.Body, []byte(`<&>`)) {
			t.Errorf("body not in SNS's layout: %s", n.Body)
		}
		verifySignature(t, env, m)
		unsubscribeURL := m["UnsubscribeURL"]

		// SignatureVersion 2, no Subject.
		if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("v2")}); err != nil {
			t.Fatal(err)
		}
		p.flush(t)
		m = message(t, one(t, sub).Body)
		if _, ok := m["Subject"]; ok || m["SignatureVersion"] != "2" || m["Message"] != "v2" {
			t.Errorf("v2 notification: %v", m)
		}
		verifySignature(t, env, m)
		// A signature made with version 1's digest does not pass as 2.
		m1 := maps(m)
		m1["SignatureVersion"] = "1"
		if err := tryVerify(env, m1); err == nil {
			t.Error("a v2 signature verified as v1")
		}
		_, err = c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("3")})
		wantCode(t, err, "InvalidParameter", "SignatureVersion")

		// MessageStructure json: the http member for this protocol.
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), MessageStructure: aws.String("json"), Message: aws.String(`{"default":"d","http":"for http","email":"e"}`)}); err != nil {
			t.Fatal(err)
		}
		p.flush(t)
		if m := message(t, one(t, sub).Body); m["Message"] != "for http" {
			t.Errorf("structured: %v", m)
		}

		// RawMessageDelivery: the bare message.
		if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN), AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
			t.Fatal(err)
		}
		sa, err := c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
		if err != nil || sa.Attributes["RawMessageDelivery"] != "true" || sa.Attributes["PendingConfirmation"] != "false" || sa.Attributes["TopicArn"] != topic {
			t.Errorf("GetSubscriptionAttributes: %v, %v", sa, err)
		}
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(`{"raw":true}`), Subject: aws.String("ignored")}); err != nil {
			t.Fatal(err)
		}
		p.flush(t)
		raw := one(t, sub)
		if string(raw.Body) != `{"raw":true}` {
			t.Errorf("raw body %q", raw.Body)
		}
		wantHeaders(t, raw.Header, map[string]string{"x-amz-sns-rawdelivery": "true", "x-amz-sns-message-type": "Notification", "x-amz-sns-subscription-arn": subARN})

		// A DeliveryPolicy reaches the push queue.
		if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN), AttributeName: aws.String("DeliveryPolicy"),
			AttributeValue: aws.String(`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":60,"numRetries":10,"backoffFunction":"exponential"}}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("policy")}); err != nil {
			t.Fatal(err)
		}
		if ds := p.flush(t); len(ds) != 1 || ds[0].Policy.NumRetries != 10 || ds[0].Policy.Backoff != "exponential" || ds[0].Policy.MaxDelay.Seconds() != 60 {
			t.Errorf("policy: %+v", ds)
		}
		sub.take()
		_, err = c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN), AttributeName: aws.String("DeliveryPolicy"),
			AttributeValue: aws.String(`{"healthyRetryPolicy":{"numRetries":1000}}`)})
		wantCode(t, err, "InvalidParameter", "numRetries")

		// The UnsubscribeURL: only with its own token.
		u, _ := url.Parse(unsubscribeURL)
		q := u.Query()
		bad := *u
		q2 := url.Values{"SubscriptionArn": {subARN}, "Token": {strings.Repeat("0", 64)}}
		bad.RawQuery = q2.Encode()
		if resp, body := get(t, bad.String()); resp.StatusCode != 403 || !strings.Contains(body, "AuthorizationError") {
			t.Errorf("forged token: %d %s", resp.StatusCode, body)
		}
		q3 := url.Values{"SubscriptionArn": {topic + ":00000000-0000-4000-8000-000000000000"}, "Token": {q.Get("Token")}}
		bad.RawQuery = q3.Encode()
		if resp, body := get(t, bad.String()); resp.StatusCode != 403 || !strings.Contains(body, "AuthorizationError") {
			t.Errorf("token of another subscription: %d %s", resp.StatusCode, body)
		}
		if resp, body := get(t, unsubscribeURL); resp.StatusCode != 200 || !strings.Contains(body, "<UnsubscribeResponse") {
			t.Fatalf("UnsubscribeURL: %d %s", resp.StatusCode, body)
		}
		p.flush(t)
		uc := one(t, sub)
		m = message(t, uc.Body)
		if m["Type"] != "UnsubscribeConfirmation" || !strings.Contains(m["Message"], "You have chosen to deactivate subscription "+subARN) {
			t.Errorf("unsubscribe confirmation: %v", m)
		}
		verifySignature(t, env, m)
		if a := topicAttrs(t, c, topic); a["SubscriptionsDeleted"] != "1" || a["SubscriptionsConfirmed"] != "0" {
			t.Errorf("attributes after unsubscribing: %v", a)
		}
		if alive, err := env.SNS.SubscriptionAlive(ctx, subARN); alive || err != nil {
			t.Errorf("SubscriptionAlive after unsubscribing: %v, %v", alive, err)
		}
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("nobody")}); err != nil {
			t.Fatal(err)
		}
		if ds := p.flush(t); len(ds) != 0 {
			t.Errorf("published to an unsubscribed endpoint: %+v", ds)
		}
		if resp, _ := get(t, unsubscribeURL); resp.StatusCode != 404 {
			t.Errorf("second unsubscribe: %d", resp.StatusCode)
		}
		// The UnsubscribeConfirmation's SubscribeURL restores it.
		if resp, body := get(t, m["SubscribeURL"]); resp.StatusCode != 200 || !strings.Contains(body, subARN) {
			t.Errorf("restore: %d %s", resp.StatusCode, body)
		}
		if alive, _ := env.SNS.SubscriptionAlive(ctx, subARN); !alive {
			t.Error("not restored")
		}
		// Unsubscribe through the API.
		if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
			t.Fatal(err)
		}
		p.flush(t)
		sub.take()
		_, err = c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
		wantCode(t, err, "NotFound", "Subscription does not exist")

		// DeleteTopic: gone, and idempotent.
		for range 2 {
			if _, err := c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(topic)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
		wantCode(t, err, "NotFound", "Topic does not exist")
		if _, err := env.SNS.Publish(ctx, env.Account.ID, topic, "", "x"); err == nil || !errors.Is(err, sns.ErrTopicNotFound) {
			t.Errorf("Publish to a deleted topic: %v", err)
		}
	})
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// tryVerify is verifySignature returning the error, for negative checks.
func tryVerify(env *apitest.Env, m map[string]string) error {
	cert := env.SNS.Certificate()
	var sts strings.Builder
	for _, k := range []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"} {
		if v, ok := m[k]; ok {
			sts.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, _ := base64.StdEncoding.DecodeString(m["Signature"])
	if m["SignatureVersion"] == "1" {
		sum := sha1.Sum([]byte(sts.String()))
		return rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA1, sum[:], sig)
	}
	sum := sha256.Sum256([]byte(sts.String()))
	return rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig)
}

// systemMails returns the decoded text of the system mails queued to an
// address, with their subjects.
func systemMails(t *testing.T, env *apitest.Env, to string) (subjects, texts []string) {
	t.Helper()
	rows, err := env.DB.Query(t.Context(), `SELECT b.body FROM messages m LEFT JOIN message_bodies b ON b.message_id = m.id WHERE m.system = ? ORDER BY m.created_at, m.id`, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg.Header.Get("To"), to) {
			continue
		}
		subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		subjects = append(subjects, subj)
		texts = append(texts, decodeText(t, msg.Header, msg.Body))
	}
	return subjects, texts
}

func decodeText(t *testing.T, h interface{ Get(string) string }, r io.Reader) string {
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		return decodeText(t, part.Header, part)
	}
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	} else if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, _ := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestEmailSubscriptions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		c := env.SNSClient
		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("mails"), Attributes: map[string]string{"DisplayName": "Mail events"}})
		if err != nil {
			t.Fatal(err)
		}
		topic := *ct.TopicArn
		for _, proto := range []string{"email", "email-json"} {
			to := proto + "@subscriber.example"
			sr, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String(proto), Endpoint: aws.String(to), ReturnSubscriptionArn: true})
			if err != nil {
				t.Fatal(err)
			}
			subjects, texts := systemMails(t, env, to)
			if len(texts) != 1 {
				t.Fatalf("%s: %d confirmation mails", proto, len(texts))
			}
			var subscribeURL string
			if proto == "email" {
				if subjects[0] != "Mail events - Subscription Confirmation" || !strings.Contains(texts[0], "You have chosen to subscribe to the topic:\n"+topic) {
					t.Errorf("confirmation mail %q: %q", subjects[0], texts[0])
				}
				i := strings.Index(texts[0], env.URL+"/sns/confirm?")
				if i < 0 {
					t.Fatalf("no SubscribeURL in %q", texts[0])
				}
				subscribeURL = strings.Fields(texts[0][i:])[0]
			} else {
				m := message(t, []byte(texts[0]))
				verifySignature(t, env, m)
				subscribeURL = m["SubscribeURL"]
			}
			if resp, body := get(t, subscribeURL); resp.StatusCode != 200 || !strings.Contains(body, *sr.SubscriptionArn) {
				t.Fatalf("confirm %s: %d %s", proto, resp.StatusCode, body)
			}
			_, err = c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: sr.SubscriptionArn, AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")})
			wantCode(t, err, "InvalidParameter", "does not support RawMessageDelivery")
		}
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String("Bounce"), Message: aws.String("the event")}); err != nil {
			t.Fatal(err)
		}
		// (The clock stands still: the mails' order is not known.)
		subjects, texts := systemMails(t, env, "email@subscriber.example")
		i := slices.Index(subjects, "Bounce")
		if len(texts) != 2 || i < 0 || !strings.HasPrefix(texts[i], "the event\n") || !strings.Contains(texts[i], env.URL+"/sns/unsubscribe?") {
			t.Errorf("email notification %q: %q", subjects, texts)
		}
		_, texts = systemMails(t, env, "email-json@subscriber.example")
		if len(texts) != 2 {
			t.Fatalf("email-json: %d mails", len(texts))
		}
		i = slices.IndexFunc(texts, func(s string) bool { return strings.Contains(s, `"Type" : "Notification"`) })
		if i < 0 {
			t.Fatalf("no notification in %q", texts)
		}
		m := message(t, []byte(texts[i]))
		if m["Type"] != "Notification" || m["Message"] != "the event" || m["Subject"] != "Bounce" {
			t.Errorf("email-json notification: %v", m)
		}
		verifySignature(t, env, m)
	})
}

func TestIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		p := &pusher{sign: env.SNS.Sign}
		env.Push = p.add
		c := env.SNSClient
		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("mine"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		if err != nil {
			t.Fatal(err)
		}
		topic := *ct.TopicArn
		sr, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("https"), Endpoint: aws.String("https://hooks.example/x"), ReturnSubscriptionArn: true})
		if err != nil {
			t.Fatal(err)
		}
		if ds := p.drop(); len(ds) != 1 { // to an address nobody answers
			t.Fatalf("%d confirmations", len(ds))
		}
		_, key := env.OtherKey(t, "other")
		o := env.SNSClientFor(key.AccessKeyID, key.Secret)

		lt, err := o.ListTopics(ctx, &awssns.ListTopicsInput{})
		if err != nil || len(lt.Topics) != 0 {
			t.Errorf("other ListTopics: %v, %v", lt, err)
		}
		ls, err := o.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
		if err != nil || len(ls.Subscriptions) != 0 {
			t.Errorf("other ListSubscriptions: %v, %v", ls, err)
		}
		_, err = o.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
		wantCode(t, err, "AuthorizationError", "is not authorized to perform: SNS:GetTopicAttributes")
		_, err = o.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("x")})
		wantCode(t, err, "AuthorizationError")
		_, err = o.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String("http://evil.example/")})
		wantCode(t, err, "AuthorizationError")
		_, err = o.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: sr.SubscriptionArn})
		wantCode(t, err, "AuthorizationError")
		_, err = o.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: sr.SubscriptionArn})
		wantCode(t, err, "AuthorizationError")
		_, err = o.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(topic)})
		wantCode(t, err, "AuthorizationError")
		_, err = o.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(topic)})
		wantCode(t, err, "AuthorizationError")
		_, err = o.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
		wantCode(t, err, "AuthorizationError")
		// The same name in the other account is another topic.
		oc, err := o.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("mine")})
		if err != nil || *oc.TopicArn == topic {
			t.Errorf("other CreateTopic: %v, %v", oc, err)
		}
		if ok, err := env.SNS.TopicExists(ctx, env.Account.ID, *oc.TopicArn); ok || err != nil {
			t.Errorf("TopicExists of the other's topic: %v, %v", ok, err)
		}
		if ok, err := env.SNS.TopicExists(ctx, env.Account.ID, topic); !ok || err != nil {
			t.Errorf("TopicExists of its own topic: %v, %v", ok, err)
		}
		// Nor through the store's hooks.
		if _, err := env.SNS.Publish(ctx, key.AccountID, topic, "", "x"); !errors.Is(err, sns.ErrTopicNotFound) {
			t.Errorf("Publish as the other account: %v", err)
		}
		if ds := p.drop(); len(ds) != 0 {
			t.Errorf("the other account's publish delivered %d", len(ds))
		}
		// Nothing changed.
		if a := topicAttrs(t, c, topic); a["SubscriptionsPending"] != "1" {
			t.Errorf("attributes: %v", a)
		}
		tags, err := c.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(topic)})
		if err != nil || len(tags.Tags) != 1 {
			t.Errorf("tags: %v, %v", tags, err)
		}
	})
}

func TestBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		p := &pusher{sign: env.SNS.Sign}
		env.Push = p.add
		c := env.SNSClient
		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("t")})
		if err != nil {
			t.Fatal(err)
		}
		topic := *ct.TopicArn
		missing := "arn:aws:sns:us-east-1:" + env.Account.ID + ":missing"

		sub := func(proto, endpoint string, attrs map[string]string) error {
			_, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String(proto), Endpoint: aws.String(endpoint), Attributes: attrs})
			return err
		}
		wantCode(t, sub("sqs", "arn:aws:sqs:us-east-1:123456789012:q", nil), "InvalidParameter", "http, https, email, email-json")
		wantCode(t, sub("lambda", "x", nil), "InvalidParameter", "http, https, email, email-json")
		wantCode(t, sub("http", "https://wrong.example/", nil), "InvalidParameter", "Endpoint")
		wantCode(t, sub("http", "not a url", nil), "InvalidParameter", "Endpoint")
		wantCode(t, sub("email", "Name <a@b.example>", nil), "InvalidParameter", "Email address")
		// Addresses Sesame's system mail cannot go to are refused here, not
		// with an InternalError when the confirmation is composed.
		for _, e := range []string{"http://:8080/x", "http://user@/x"} {
			wantCode(t, sub("http", e, nil), "InvalidParameter", "Endpoint")
		}
		for _, a := range []string{"a@localhost", "a@[127.0.0.1]", "ü@b.example", "a@b_c.example"} {
			wantCode(t, sub("email", a, nil), "InvalidParameter", "Email address")
			wantCode(t, sub("email-json", a, nil), "InvalidParameter", "Email address")
		}
		wantCode(t, sub("http", "http://h.example/", map[string]string{"FilterPolicy": `{"a":["b"]}`}), "InvalidParameter", "FilterPolicy", "not supported by Sesame")
		wantCode(t, sub("http", "http://h.example/", map[string]string{"RawMessageDelivery": "yes"}), "InvalidParameter", "RawMessageDelivery")
		wantCode(t, sub("email", "a@b.example", map[string]string{"RawMessageDelivery": "true"}), "InvalidParameter", "RawMessageDelivery")
		wantCode(t, sub("http", "http://h.example/", map[string]string{"Nonsense": "1"}), "InvalidParameter", "Nonsense")
		_, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(missing), Protocol: aws.String("http"), Endpoint: aws.String("http://h.example/")})
		wantCode(t, err, "NotFound", "Topic does not exist")
		_, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String("arn:nope"), Protocol: aws.String("http"), Endpoint: aws.String("http://h.example/")})
		wantCode(t, err, "InvalidParameter", "TopicArn")
		if ds := p.flush(t); len(ds) != 0 {
			t.Errorf("refused subscriptions sent %d confirmations", len(ds))
		}
		if a := topicAttrs(t, c, topic); a["SubscriptionsPending"] != "0" {
			t.Errorf("refused subscriptions were stored: %v", a)
		}

		pubErr := func(in *awssns.PublishInput) error {
			if in.TopicArn == nil {
				in.TopicArn = aws.String(topic)
			}
			_, err := c.Publish(ctx, in)
			return err
		}
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String("")}), "InvalidParameter", "Empty message")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String(strings.Repeat("x", 262145))}), "InvalidParameter", "Message too long")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String("m"), Subject: aws.String("two\nlines")}), "InvalidParameter", "Subject")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String("m"), Subject: aws.String(strings.Repeat("s", 101))}), "InvalidParameter", "Subject")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String(`{"http":"x"}`), MessageStructure: aws.String("json")}), "InvalidParameter", "No default entry")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String(`not json`), MessageStructure: aws.String("json")}), "InvalidParameter", "failed to parse")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("String"), StringValue: aws.String("v")}}}),
			"InvalidParameter", "MessageAttributes")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String("m"), MessageGroupId: aws.String("g")}), "InvalidParameter", "MessageGroupId")
		wantCode(t, pubErr(&awssns.PublishInput{Message: aws.String("m"), TopicArn: aws.String(missing)}), "NotFound", "Topic does not exist")
		_, err = c.Publish(ctx, &awssns.PublishInput{Message: aws.String("m"), PhoneNumber: aws.String("+15555550100")})
		wantCode(t, err, "InvalidParameter", "SMS")

		for _, name := range []string{"has space", "x.fifo", strings.Repeat("n", 257)} {
			_, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
			wantCode(t, err, "InvalidParameter", "Topic Name")
		}
		for k, v := range map[string]string{"FifoTopic": "true", "KmsMasterKeyId": "alias/aws/sns", "DeliveryPolicy": "{", "Unknown": "1"} {
			_, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("attr"), Attributes: map[string]string{k: v}})
			wantCode(t, err, "InvalidParameter", k)
		}
		lt, _ := c.ListTopics(ctx, &awssns.ListTopicsInput{})
		if len(lt.Topics) != 1 {
			t.Errorf("refused topics were created: %d", len(lt.Topics))
		}

		// Tags.
		var many []types.Tag
		for i := range 51 {
			many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
		}
		_, err = c.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: aws.String(topic), Tags: many})
		wantCode(t, err, "TagLimitExceeded")
		if _, err := c.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: aws.String(topic), Tags: many[:2]}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &awssns.UntagResourceInput{ResourceArn: aws.String(topic), TagKeys: []string{"k0"}}); err != nil {
			t.Fatal(err)
		}
		tags, err := c.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: aws.String(topic)})
		if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Key != "k1" {
			t.Errorf("tags: %+v, %v", tags, err)
		}
		_, err = c.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: aws.String(missing), Tags: many[:1]})
		wantCode(t, err, "ResourceNotFound")
		_, err = c.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: aws.String(topic), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
		wantCode(t, err, "InvalidParameter", "aws:")

		// The wire: SNS's error envelope, also for authentication failures.
		resp, body := signedSNS(t, env, env.Key.Secret, url.Values{"Action": {"GetTopicAttributes"}, "Version": {"2010-03-31"}, "TopicArn": {missing}})
		if resp.StatusCode != 404 || !strings.Contains(body, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">`) ||
			!strings.Contains(body, "<Type>Sender</Type>") || !strings.Contains(body, "<Code>NotFound</Code>") || !strings.Contains(body, "<Message>Topic does not exist</Message>") {
			t.Errorf("NotFound on the wire: %d %s", resp.StatusCode, body)
		}
		resp, body = signedSNS(t, env, "wrong secret", url.Values{"Action": {"ListTopics"}, "Version": {"2010-03-31"}})
		if resp.StatusCode != 403 || !strings.Contains(body, `xmlns="http://sns.amazonaws.com/doc/2010-03-31/"`) || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
			t.Errorf("bad signature on the wire: %d %s", resp.StatusCode, body)
		}
		resp, body = signedSNS(t, env, env.Key.Secret, url.Values{"Action": {"CreatePlatformApplication"}})
		if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
			t.Errorf("unknown action: %d %s", resp.StatusCode, body)
		}
		resp, body = signedSNS(t, env, env.Key.Secret, url.Values{"Action": {"ListTopics"}})
		if resp.StatusCode != 200 || !strings.Contains(body, `<ListTopicsResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">`) || !strings.Contains(body, "<TopicArn>"+topic+"</TopicArn>") {
			t.Errorf("ListTopics on the wire: %d %s", resp.StatusCode, body)
		}
	})
}

// signedSNS POSTs a Query request signed for sns with the account's key
// id and the given secret.
func signedSNS(t *testing.T, env *apitest.Env, secret string, form url.Values) (*http.Response, string) {
	t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, env.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: env.Key.AccessKeyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, fmt.Sprintf("%x", sum), "sns", apitest.Region, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestListPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		c := env.SNSClient
		want := map[string]bool{}
		for i := range 105 {
			ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(fmt.Sprintf("t%03d", i))})
			if err != nil {
				t.Fatal(err)
			}
			want[*ct.TopicArn] = true
		}
		got := map[string]bool{}
		pages := 0
		for pg := awssns.NewListTopicsPaginator(c, &awssns.ListTopicsInput{}); pg.HasMorePages(); {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if pages == 1 && len(out.Topics) != 100 {
				t.Errorf("first page: %d topics", len(out.Topics))
			}
			for _, tp := range out.Topics {
				got[*tp.TopicArn] = true
			}
		}
		if pages != 2 || len(got) != 105 {
			t.Errorf("%d pages, %d topics", pages, len(got))
		}
		_, err := c.ListTopics(ctx, &awssns.ListTopicsInput{NextToken: aws.String("!!")})
		wantCode(t, err, "InvalidParameter", "NextToken")
	})
}

// TestConfirmationExpiry: a SubscribeURL works for three days, and a HEAD
// (a link preview) confirms nothing.
func TestConfirmationExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		p := &pusher{sign: env.SNS.Sign}
		env.Push = p.add
		c := env.SNSClient
		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("exp")})
		if err != nil {
			t.Fatal(err)
		}
		sr, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("https"), Endpoint: aws.String("https://h.example/"), ReturnSubscriptionArn: true})
		if err != nil {
			t.Fatal(err)
		}
		ds := p.drop()
		if len(ds) != 1 {
			t.Fatalf("%d confirmations", len(ds))
		}
		m := message(t, ds[0].Body)
		resp, err := http.Head(m["SubscribeURL"])
		if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("HEAD: %v, %v", resp, err)
		}
		env.Clock.Advance(72*time.Hour + time.Millisecond)
		if resp, body := get(t, m["SubscribeURL"]); resp.StatusCode != 400 || !strings.Contains(body, "Invalid token") {
			t.Errorf("expired token: %d %s", resp.StatusCode, body)
		}
		var state string
		if err := d.QueryRow(ctx, `SELECT state FROM sns_subscriptions WHERE arn = ?`, *sr.SubscriptionArn).Scan(&state); err != nil || state != "pending" {
			t.Errorf("state %q, %v", state, err)
		}
	})
}

// A topic's and a subscription's DeliveryPolicy, each valid alone, may
// merge into retry phases longer than the merged numRetries: publishing
// must still queue a policy the push queue accepts (a refusal fails the
// publisher's whole batch, for every account, again and again).
func TestMergedDeliveryPolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		p := &pusher{sign: env.SNS.Sign}
		env.Push = func(ctx context.Context, tx *db.Tx, dl push.Delivery) error {
			if err := dl.Policy.Validate(); err != nil { // as push.Queue.AddTx
				return err
			}
			return p.add(ctx, tx, dl)
		}
		c := env.SNSClient
		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("merged")})
		if err != nil {
			t.Fatal(err)
		}
		sr, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("https"), Endpoint: aws.String("https://h.example/"), ReturnSubscriptionArn: true})
		if err != nil {
			t.Fatal(err)
		}
		m := message(t, p.drop()[0].Body)
		if _, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: ct.TopicArn, Token: aws.String(m["Token"])}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ topic, sub string }{
			// The subscription's phases fit its default 3 retries, the
			// topic's numRetries is 2.
			{`{"http":{"defaultHealthyRetryPolicy":{"numRetries":2}}}`, `{"healthyRetryPolicy":{"numNoDelayRetries":3}}`},
			// The topic's phases fit its 10 retries, the subscription's
			// numRetries is 3.
			{`{"http":{"defaultHealthyRetryPolicy":{"numRetries":10,"numNoDelayRetries":4,"numMinDelayRetries":4}}}`, `{"healthyRetryPolicy":{"numRetries":3}}`},
		} {
			if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: ct.TopicArn, AttributeName: aws.String("DeliveryPolicy"), AttributeValue: aws.String(tc.topic)}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: sr.SubscriptionArn, AttributeName: aws.String("DeliveryPolicy"), AttributeValue: aws.String(tc.sub)}); err != nil {
				t.Fatal(err)
			}
			if _, err := env.SNS.Publish(ctx, env.Account.ID, *ct.TopicArn, "", "merged"); err != nil {
				t.Errorf("topic %s, subscription %s: publish: %v", tc.topic, tc.sub, err)
				continue
			}
			ds := p.drop()
			if len(ds) != 1 {
				t.Fatalf("%d deliveries", len(ds))
			}
			pol := ds[0].Policy
			if pol.NumRetries != 3 && pol.NumRetries != 2 || pol.NumNoDelayRetries+pol.NumMinDelayRetries+pol.NumMaxDelayRetries > pol.NumRetries {
				t.Errorf("topic %s, subscription %s: policy %+v", tc.topic, tc.sub, pol)
			}
		}
	})
}

// keyOrder returns the member names of a JSON object, in order.
func keyOrder(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body %q: %v %v", b, tok, err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestSignedByWorker: PublishTx (and Subscribe) queue HTTP/S messages
// with every signed field fixed but no Signature, so no RSA work is done
// in the publishing transaction; the push queue's worker signs each
// attempt with Store.Sign just before the POST, in SNS's layout, and a
// retry sends the same message (MessageId, Timestamp, Signature). Raw
// deliveries are posted as stored.
func TestSignedByWorker(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		env := apitest.New(t, d)
		q, err := push.New(push.Options{DB: d, Now: env.Clock.Now, Sign: env.SNS.Sign, Jitter: func(time.Duration) time.Duration { return 0 }})
		if err != nil {
			t.Fatal(err)
		}
		env.Push = q.AddTx
		var mu sync.Mutex
		var got []received
		fail := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, received{r.Header.Clone(), b})
			if fail > 0 {
				fail--
				w.WriteHeader(http.StatusInternalServerError)
			}
		}))
		t.Cleanup(srv.Close)
		take := func() []received {
			mu.Lock()
			defer mu.Unlock()
			g := got
			got = nil
			return g
		}
		stored := func() (body []byte, header string) {
			t.Helper()
			if err := d.QueryRow(ctx, `SELECT body, header_json FROM push_deliveries`).Scan(&body, &header); err != nil {
				t.Fatal(err)
			}
			return body, header
		}
		run := func() {
			t.Helper()
			if n, err := q.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce: %d, %v", n, err)
			}
		}
		c := env.SNSClient
		ct, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("later")})
		if err != nil {
			t.Fatal(err)
		}
		topic := *ct.TopicArn
		sr, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(srv.URL + "/hook"), ReturnSubscriptionArn: true})
		if err != nil {
			t.Fatal(err)
		}
		subARN := *sr.SubscriptionArn

		// The confirmation is stored unsigned, marked for signing.
		body, header := stored()
		if m := message(t, body); m["Signature"] != "" || m["SignatureVersion"] != "1" || m["SigningCertURL"] != env.SNS.SigningCertURL() || m["Token"] == "" {
			t.Errorf("stored confirmation: %s", body)
		}
		if !strings.Contains(header, `":sign"`) {
			t.Errorf("stored headers %s: not marked for signing", header)
		}
		run()
		g := take()
		if len(g) != 1 {
			t.Fatalf("%d requests", len(g))
		}
		m := message(t, g[0].Body)
		verifySignature(t, env, m)
		if want := []string{"Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"}; !slices.Equal(keyOrder(t, g[0].Body), want) {
			t.Errorf("confirmation keys %v; want %v", keyOrder(t, g[0].Body), want)
		}
		for k := range g[0].Header {
			if strings.Contains(k, "sign") || strings.Contains(k, ":") {
				t.Errorf("header %q sent", k)
			}
		}
		if _, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(m["Token"])}); err != nil {
			t.Fatal(err)
		}

		for _, version := range []string{"1", "2"} {
			if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String(version)}); err != nil {
				t.Fatal(err)
			}
			// A notification: stored unsigned...
			err = d.InTx(ctx, func(tx *db.Tx) error {
				_, err := env.SNS.PublishTx(ctx, tx, env.Account.ID, topic, "Subj", "line \"one\"\nSignatureVersion : <&>")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := stored()
			if bytes.Contains(body, []byte(`"Signature"`)) || !bytes.Contains(body, []byte(`"SignatureVersion" : "`+version+`"`)) {
				t.Errorf("v%s: stored notification is signed or has no SignatureVersion: %s", version, body)
			}
			// ...signed by the worker, the same on a retry.
			mu.Lock()
			fail = 1
			mu.Unlock()
			run()
			env.Clock.Advance(time.Second)
			run()
			g := take()
			if len(g) != 2 {
				t.Fatalf("v%s: %d requests", version, len(g))
			}
			if !bytes.Equal(g[0].Body, g[1].Body) {
				t.Errorf("v%s: the retry differs:\n%s\n%s", version, g[0].Body, g[1].Body)
			}
			m := message(t, g[1].Body)
			if m["SignatureVersion"] != version || m["Subject"] != "Subj" || m["Message"] != "line \"one\"\nSignatureVersion : <&>" || g[1].Header.Get("x-amz-sns-message-id") != m["MessageId"] {
				t.Errorf("v%s: notification %v", version, m)
			}
			verifySignature(t, env, m)
			if want := []string{"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"}; !slices.Equal(keyOrder(t, g[1].Body), want) {
				t.Errorf("v%s: notification keys %v; want %v", version, keyOrder(t, g[1].Body), want)
			}
			// Signing again changes nothing.
			if again, err := env.SNS.Sign(g[1].Body); err != nil || !bytes.Equal(again, g[1].Body) {
				t.Errorf("v%s: Sign of a signed body: %v", version, err)
			}
		}

		// A raw delivery is posted as stored, not signed.
		if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN), AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
			t.Fatal(err)
		}
		raw := "{\n  \"SignatureVersion\" : \"1\",\n  \"x\" : \"y\"\n}"
		if _, err := env.SNS.Publish(ctx, env.Account.ID, topic, "", raw); err != nil {
			t.Fatal(err)
		}
		if _, header := stored(); strings.Contains(header, `":sign"`) {
			t.Errorf("raw delivery marked for signing: %s", header)
		}
		run()
		if g := take(); len(g) != 1 || string(g[0].Body) != raw {
			t.Errorf("raw delivery: %+v", g)
		}

		// Not SNS's layout: Sign refuses rather than guess.
		for _, b := range []string{`{"Type":"Notification","SignatureVersion":"1"}`, `not json`, `{"Type":"Notification"}`} {
			if _, err := env.SNS.Sign([]byte(b)); err == nil {
				t.Errorf("Sign(%s): no error", b)
			}
		}
	})
}
