package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/console"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/netguard"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sns"
)

// pushes records the SNS service's HTTP/S deliveries (the push queue's
// work, which these tests do themselves).
type pushes struct {
	mu sync.Mutex
	ds []push.Delivery
}

func (p *pushes) add(_ context.Context, _ *db.Tx, d push.Delivery) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ds = append(p.ds, d)
	return nil
}

func (p *pushes) all() []push.Delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]push.Delivery(nil), p.ds...)
}

// topicEnv is newEnv with the SNS deliveries recorded.
func topicEnv(t *testing.T, d *db.DB, mods ...func(*env, *console.Options)) (*env, *pushes) {
	e := newEnv(t, d, false, mods...)
	p := &pushes{}
	e.Push = p.add
	return e, p
}

// guarded makes newEnv's console use an SNS service that refuses
// private endpoints, as a deployment without
// --sns-allow-private-endpoints (the same database, key and hooks).
func guarded(t *testing.T) func(*env, *console.Options) {
	return func(e *env, o *console.Options) {
		box, err := seal.New("apitest master secret")
		if err != nil {
			t.Fatal(err)
		}
		o.Topics, err = sns.New(sns.Options{DB: e.DB, Box: box, Region: apitest.Region, PublicURL: e.URL, Now: e.Clock.Now, KeyBits: 1024,
			Push:          func(ctx context.Context, tx *db.Tx, d push.Delivery) error { return e.Push(ctx, tx, d) },
			CheckEndpoint: func(ctx context.Context, endpoint string) error { return netguard.CheckURL(ctx, nil, endpoint) }})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTopicPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, p := topicEnv(t, d)
		ctx := context.Background()
		b := e.browser(t)
		b.signIn(e.Key)

		// Bad input: SNS's sentence next to the field, nothing written.
		res, body := b.post("/console/topics", url.Values{"name": {"bad name"}}, true)
		wantField(t, res, body, "topic-name-error", "Invalid parameter: Topic Name Reason: must be 1 to 256 ASCII letters, digits, hyphens and underscores")
		res, body = b.post("/console/topics", url.Values{"name": {"alerts.fifo"}}, true)
		wantField(t, res, body, "topic-name-error", "Invalid parameter: Topic Name Reason: FIFO topics are not supported by Sesame")
		res, body = b.post("/console/topics", url.Values{"name": {""}}, true)
		wantField(t, res, body, "topic-name-error", "Invalid parameter: Name")
		res, body = b.post("/console/topics", url.Values{"name": {"alerts"}, "display_name": {strings.Repeat("x", 101)}}, true)
		wantField(t, res, body, "topic-display-name-error", "Invalid parameter: DisplayName Reason: must be at most 100 characters")
		if ts, _, _ := e.SNS.ListTopics(ctx, e.Account.ID, ""); len(ts) != 0 {
			t.Fatalf("a refused form wrote topics: %v", ts)
		}

		// Create: the store's topic; markup in the display name is text.
		const display = `<script>alert(1)</script>Ops`
		res, body = b.post("/console/topics", url.Values{"name": {"alerts"}, "display_name": {display}}, true)
		wantRedirect(t, res, body, "/console/topics/alerts?note=topic-created")
		arn := e.SNS.TopicARN(e.Account.ID, "alerts")
		if tp, err := e.SNS.GetTopic(ctx, e.Account.ID, arn); err != nil || tp.DisplayName != display {
			t.Fatalf("created: %+v, %v", tp, err)
		}
		res, body = b.post("/console/topics", url.Values{"name": {"alerts"}, "display_name": {"Other"}}, true)
		wantField(t, res, body, "topic-name-error", "Invalid parameter: Attributes Reason: Topic already exists with different attributes")
		if _, err := e.SNS.CreateTopic(ctx, e.Account.ID, "billing", nil, nil); err != nil {
			t.Fatal(err)
		}
		res, body = b.get("/console/topics/alerts")
		wantStatus(t, res, body, http.StatusOK)
		if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;Ops") {
			t.Errorf("display name not escaped: %s", body)
		}
		res, body = b.get("/console/topics?q=ALE")
		wantStatus(t, res, body, http.StatusOK)
		if !strings.Contains(body, `href="/console/topics/alerts"`) || strings.Contains(body, "billing") {
			t.Errorf("filter: %s", body)
		}
		if rows := readCSV(t, b, "/console/topics.csv"); len(rows) != 3 || strings.Join(rows[0], ",") != "Name,TopicArn,DisplayName" ||
			rows[1][0] != "alerts" || rows[1][1] != arn || rows[1][2] != display || rows[2][0] != "billing" {
			t.Errorf("topics CSV: %v", rows)
		}

		// Subscribe: Subscribe's rules next to the fields, nothing written.
		b.get("/console/topics/alerts")
		res, body = b.post("/console/topics/alerts/subscriptions", url.Values{"protocol": {"sqs"}, "endpoint": {"arn:aws:sqs:us-east-1:123456789012:q"}}, true)
		wantField(t, res, body, "subscription-protocol-error", `Invalid parameter: Protocol Reason: Sesame delivers to the protocols http, https, email, email-json, not "sqs"`)
		res, body = b.post("/console/topics/alerts/subscriptions", url.Values{"protocol": {"https"}, "endpoint": {"http://hooks.example/x"}}, true)
		wantField(t, res, body, "subscription-endpoint-error", "Invalid parameter: Endpoint Reason: an https endpoint must be an absolute https:// URL")
		res, body = b.post("/console/topics/alerts/subscriptions", url.Values{"protocol": {"email"}, "endpoint": {"not an address"}}, true)
		wantField(t, res, body, "subscription-endpoint-error", "Invalid parameter: Email address")
		if subs, _, _ := e.SNS.ListSubscriptionsByTopic(ctx, e.Account.ID, arn, ""); len(subs) != 0 || len(p.all()) != 0 {
			t.Fatalf("a refused form subscribed: %v, %v", subs, p.all())
		}

		// An http endpoint on loopback (this deployment allows private
		// endpoints): PendingConfirmation, its confirmation request sent.
		hook := "http://127.0.0.1:9/hook?a=<b>"
		res, body = b.post("/console/topics/alerts/subscriptions", url.Values{"protocol": {"http"}, "endpoint": {hook}}, true)
		wantRedirect(t, res, body, "/console/topics/alerts?note=subscribed")
		ds := p.all()
		if len(ds) != 1 || ds[0].Endpoint != hook || ds[0].Header.Get("x-amz-sns-message-type") != "SubscriptionConfirmation" {
			t.Fatalf("deliveries: %+v", ds)
		}
		subARN := ds[0].SubscriptionARN
		res, body = b.get("/console/topics/alerts")
		if !strings.Contains(body, "PendingConfirmation") || !strings.Contains(body, "http://127.0.0.1:9/hook?a=&lt;b&gt;") || strings.Contains(body, "a=<b>") {
			t.Errorf("pending subscription: %s", body)
		}
		// The endpoint confirms through the SubscribeURL it was sent.
		var m map[string]string
		if err := json.Unmarshal(ds[0].Body, &m); err != nil {
			t.Fatal(err)
		}
		cres, err := http.Get(m["SubscribeURL"])
		if err != nil {
			t.Fatal(err)
		}
		cbody, _ := io.ReadAll(cres.Body)
		cres.Body.Close()
		if cres.StatusCode != http.StatusOK || !strings.Contains(string(cbody), subARN) {
			t.Fatalf("SubscribeURL: %s %s", cres.Status, cbody)
		}
		res, body = b.get("/console/topics/alerts")
		if !strings.Contains(body, "Confirmed") || strings.Contains(body, `badge wait`) {
			t.Errorf("confirmed subscription: %s", body)
		}
		res, body = b.post("/console/topics/alerts/subscriptions", url.Values{"protocol": {"email"}, "endpoint": {"ops@rcpt.example"}}, true)
		wantRedirect(t, res, body, "/console/topics/alerts?note=subscribed")
		rows := readCSV(t, b, "/console/topics/alerts/subscriptions.csv")
		if len(rows) != 3 || strings.Join(rows[0], ",") != "SubscriptionArn,Protocol,Endpoint,Status,Owner,TopicArn" {
			t.Fatalf("subscriptions CSV: %v", rows)
		}
		byEndpoint := map[string][]string{rows[1][2]: rows[1], rows[2][2]: rows[2]}
		if r := byEndpoint[hook]; r == nil || r[0] != subARN || r[1] != "http" || r[3] != "Confirmed" || r[4] != e.Account.ID || r[5] != arn {
			t.Errorf("http row: %v", rows)
		}
		if r := byEndpoint["ops@rcpt.example"]; r == nil || r[1] != "email" || r[3] != "PendingConfirmation" {
			t.Errorf("email row: %v", rows)
		}

		// Remove: the store's Unsubscribe (a confirmed http endpoint is
		// told, as in SNS).
		b.get("/console/topics/alerts")
		res, body = b.post("/console/topics/alerts/subscriptions/delete", url.Values{"arn": {subARN}}, true)
		wantRedirect(t, res, body, "/console/topics/alerts?note=unsubscribed")
		subs, _, err := e.SNS.ListSubscriptionsByTopic(ctx, e.Account.ID, arn, "")
		if err != nil || len(subs) != 1 || subs[0].Protocol != "email" {
			t.Errorf("after removing: %+v, %v", subs, err)
		}
		if ds := p.all(); ds[len(ds)-1].Header.Get("x-amz-sns-message-type") != "UnsubscribeConfirmation" {
			t.Errorf("no UnsubscribeConfirmation: %+v", ds[len(ds)-1])
		}
		res, body = b.post("/console/topics/alerts/subscriptions/delete", url.Values{"arn": {subARN}}, true)
		wantStatus(t, res, body, http.StatusNotFound)

		res, body = b.post("/console/topics/alerts/delete", nil, true)
		wantRedirect(t, res, body, "/console/topics?note=topic-deleted")
		if _, err := e.SNS.GetTopic(ctx, e.Account.ID, arn); !sns.IsNotFound(err) {
			t.Errorf("deleted topic: %v", err)
		}
		res, body = b.get("/console/topics/alerts")
		wantStatus(t, res, body, http.StatusNotFound)
		res, body = b.post("/console/topics/alerts/delete", nil, true)
		wantStatus(t, res, body, http.StatusNotFound)
	})
}

// TestTopicPrivateEndpoint: without the allow-private option, an http
// endpoint on a private address is refused with Subscribe's sentence.
func TestTopicPrivateEndpoint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, p := topicEnv(t, d, guarded(t))
		ctx := context.Background()
		arn, err := e.SNS.CreateTopic(ctx, e.Account.ID, "alerts", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		b.signIn(e.Key)
		b.get("/console/topics/alerts")
		for _, ep := range []string{"http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data/"} {
			res, body := b.post("/console/topics/alerts/subscriptions", url.Values{"protocol": {ep[:strings.Index(ep, ":")]}, "endpoint": {ep}}, true)
			wantStatus(t, res, body, http.StatusBadRequest)
			if !strings.Contains(body, `id="subscription-endpoint-error">Invalid parameter: Endpoint Reason: this deployment does not deliver to loopback, private or link-local addresses: `) {
				t.Errorf("%s: %s", ep, body)
			}
		}
		if subs, _, _ := e.SNS.ListSubscriptionsByTopic(ctx, e.Account.ID, arn, ""); len(subs) != 0 || len(p.all()) != 0 {
			t.Fatalf("a refused endpoint was subscribed: %v, %v", subs, p.all())
		}
	})
}

// TestTopicIsolationAndCSRF: another account's topic and subscription
// cannot be read or changed by editing a URL or a form, and no form
// changes anything without its CSRF token.
func TestTopicIsolationAndCSRF(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, _ := topicEnv(t, d)
		ctx := context.Background()
		other, _ := e.OtherKey(t, "other")
		theirs, err := e.SNS.CreateTopic(ctx, other.ID, "theirtopic", map[string]string{"DisplayName": "their secret"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		theirSub, err := e.SNS.Subscribe(ctx, other.ID, sns.SubscribeInput{TopicARN: theirs, Protocol: "email", Endpoint: "their@rcpt.example", ReturnARN: true})
		if err != nil {
			t.Fatal(err)
		}
		mine, err := e.SNS.CreateTopic(ctx, e.Account.ID, "mine", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		mySub, err := e.SNS.Subscribe(ctx, e.Account.ID, sns.SubscribeInput{TopicARN: mine, Protocol: "email", Endpoint: "kept@rcpt.example", ReturnARN: true})
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser(t)
		b.signIn(e.Key)
		for _, p := range []string{"/console/topics/theirtopic", "/console/topics/theirtopic/subscriptions.csv", "/console/topics/bad%20name"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusNotFound)
		}
		for _, p := range []string{"/console/topics", "/console/topics.csv", "/console/topics/mine", "/console/topics/mine/subscriptions.csv"} {
			res, body := b.get(p)
			wantStatus(t, res, body, http.StatusOK)
			if strings.Contains(body, "theirtopic") || strings.Contains(body, "their secret") || strings.Contains(body, "their@") {
				t.Errorf("%s shows the other account's topic", p)
			}
		}
		for _, p := range []struct {
			path string
			form url.Values
		}{
			{"/console/topics/theirtopic/subscriptions", url.Values{"protocol": {"email"}, "endpoint": {"me@rcpt.example"}}},
			{"/console/topics/theirtopic/subscriptions/delete", url.Values{"arn": {theirSub}}},
			{"/console/topics/mine/subscriptions/delete", url.Values{"arn": {theirSub}}},
			{"/console/topics/theirtopic/delete", nil},
		} {
			res, body := b.post(p.path, p.form, true)
			wantStatus(t, res, body, http.StatusNotFound)
		}
		check := func(t *testing.T, what string) {
			t.Helper()
			subs, _, err := e.SNS.ListSubscriptionsByTopic(ctx, other.ID, theirs, "")
			if err != nil || len(subs) != 1 || subs[0].ARN != theirSub {
				t.Errorf("%s: the other account's topic changed: %+v, %v", what, subs, err)
			}
			subs, _, err = e.SNS.ListSubscriptionsByTopic(ctx, e.Account.ID, mine, "")
			if err != nil || len(subs) != 1 || subs[0].ARN != mySub {
				t.Errorf("%s: the account's topic changed: %+v, %v", what, subs, err)
			}
			if ts, _, _ := e.SNS.ListTopics(ctx, e.Account.ID, ""); len(ts) != 1 {
				t.Errorf("%s: topics %v", what, ts)
			}
		}
		check(t, "URL editing")

		for _, p := range []struct {
			path string
			form url.Values
		}{
			{"/console/topics", url.Values{"name": {"new"}}},
			{"/console/topics/mine/subscriptions", url.Values{"protocol": {"email"}, "endpoint": {"new@rcpt.example"}}},
			{"/console/topics/mine/subscriptions/delete", url.Values{"arn": {mySub}}},
			{"/console/topics/mine/delete", nil},
		} {
			res, body := b.post(p.path, p.form, false)
			wantStatus(t, res, body, http.StatusForbidden)
		}
		check(t, "CSRF-less posts")
	})
}
