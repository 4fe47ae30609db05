package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/publish"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func topic(acct, name string) string { return "arn:aws:sns:eu-west-1:" + acct + ":" + name }

// errGone stands for sns.ErrTopicNotFound.
var errGone = errors.New("sns: topic not found")

// env is a database with an outbox and fake hooks that record what the
// publisher does. Publish writes a row into fake_sns in the batch's
// transaction, so a rolled-back batch leaves nothing behind.
type env struct {
	d   *db.DB
	log *testkit.LogBuffer

	mu        sync.Mutex
	dests     map[[2]string][]configset.Destination
	topics    map[[2]string]map[string]publish.IdentityTopic
	gone      map[string]bool
	failAt    map[int]error // Publish call number (1-based) → error
	calls     int
	befores   [][]*event.Event
	inTx      [][]*event.Event
	afters    [][]publish.Published
	failures  map[string]int
	destCalls int
	inTxErr   error
	seq       int
	now       time.Time        // the publisher's clock
	poison    map[string]error // message id → error of every Publish of its events
	down      error            // error of every Publish
	poisoned  int              // Publish calls for poisoned events
}

func newEnv(t testing.TB, d *db.DB) *env {
	t.Helper()
	_, err := d.Exec(context.Background(), `CREATE TABLE fake_sns (seq BIGINT NOT NULL, account_id TEXT NOT NULL, topic_arn TEXT NOT NULL, subject TEXT NOT NULL, message TEXT NOT NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	return &env{d: d, log: &testkit.LogBuffer{}, dests: map[[2]string][]configset.Destination{}, topics: map[[2]string]map[string]publish.IdentityTopic{},
		gone: map[string]bool{}, failAt: map[int]error{}, failures: map[string]int{},
		now: t0.Add(time.Hour), poison: map[string]error{}}
}

func (e *env) options() publish.Options {
	return publish.Options{
		DB: e.d,
		Now: func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.now
		},
		Logger:  slog.New(slog.NewTextHandler(e.log, nil)),
		Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Poll: 5 * time.Millisecond,
		Destinations: func(ctx context.Context, q db.Querier, accountID, set string) ([]configset.Destination, error) {
			if q == nil {
				return nil, errors.New("no querier")
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.destCalls++
			return e.dests[[2]string{accountID, set}], nil
		},
		IdentityTopics: func(ctx context.Context, q db.Querier, accountID, identity string) (map[string]publish.IdentityTopic, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.topics[[2]string{accountID, identity}], nil
		},
		Publish: func(ctx context.Context, tx *db.Tx, accountID, topicARN, subject, message string) (string, error) {
			e.mu.Lock()
			e.calls++
			n := e.calls
			ferr := e.failAt[n]
			gone := e.gone[topicARN]
			for id, err := range e.poison {
				if strings.Contains(message, `"messageId":"`+id+`"`) {
					ferr = err
					e.poisoned++
				}
			}
			if e.down != nil {
				ferr = e.down
			}
			e.seq++
			seq := e.seq
			e.mu.Unlock()
			if gone {
				return "", fmt.Errorf("publish to %s: %w", topicARN, errGone)
			}
			if ferr != nil {
				return "", ferr
			}
			if !strings.Contains(topicARN, ":"+accountID+":") {
				return "", fmt.Errorf("account %s publishes to another account's topic %s", accountID, topicARN)
			}
			_, err := tx.Exec(ctx, `INSERT INTO fake_sns (seq, account_id, topic_arn, subject, message) VALUES (?, ?, ?, ?, ?)`, seq, accountID, topicARN, subject, message)
			return fmt.Sprint(seq), err
		},
		IsTopicGone: func(err error) bool { return errors.Is(err, errGone) },
		Before: func(ctx context.Context, evs []*event.Event) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.befores = append(e.befores, evs)
		},
		InTx: func(ctx context.Context, tx *db.Tx, evs []*event.Event) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.inTxErr != nil {
				return e.inTxErr
			}
			e.inTx = append(e.inTx, evs)
			return nil
		},
		After: func(ctx context.Context, b []publish.Published) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.afters = append(e.afters, b)
		},
		Failed: func(kind string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.failures[kind]++
		},
	}
}

func (e *env) publisher(t testing.TB, change func(o *publish.Options)) *publish.Publisher {
	t.Helper()
	o := e.options()
	if change != nil {
		change(&o)
	}
	p, err := publish.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sent is one row of fake_sns.
type sent struct{ Account, Topic, Subject, Message string }

func (e *env) sent(t testing.TB) []sent {
	t.Helper()
	rs, err := e.d.Query(context.Background(), `SELECT account_id, topic_arn, subject, message FROM fake_sns ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []sent
	for rs.Next() {
		var s sent
		if err := rs.Scan(&s.Account, &s.Topic, &s.Subject, &s.Message); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mkEvent returns a valid event of type ty about message msg of acct,
// sent through set from identity example.test of acct.
func mkEvent(acct, set string, ty event.Type, msg string) *event.Event {
	m := event.Mail{Timestamp: t0, MessageID: msg, Source: "Sender <a@example.test>",
		SourceArn: "arn:aws:ses:eu-west-1:" + acct + ":identity/example.test", SendingAccountID: acct,
		Destination: []string{"r@example.org"}, CommonHeaders: event.CommonHeaders{From: []string{"Sender <a@example.test>"}, Subject: "Hi & <bye>"}}
	event.SetHeaders(&m, []event.Header{{Name: "From", Value: "Sender <a@example.test>"}, {Name: "Subject", Value: "Hi & <bye>"}})
	event.AutoTags(&m, set, "example.test", "192.0.2.1", "app-user")
	e := &event.Event{Type: ty, AccountID: acct, ConfigurationSet: set, Mail: m}
	at := t0.Add(time.Second)
	switch ty {
	case event.Send:
		e.Send = &event.SendDetails{}
	case event.Reject:
		e.Reject = &event.RejectDetails{Reason: event.RejectReason}
	case event.Delivery:
		e.Delivery = &event.DeliveryDetails{Timestamp: at, ProcessingTimeMillis: 1000, Recipients: []string{"r@example.org"}, SMTPResponse: "250 ok", RemoteMTAIP: "203.0.113.1"}
	case event.Bounce:
		e.Bounce = &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General", Timestamp: at, FeedbackID: "f",
			BouncedRecipients: []event.Recipient{{EmailAddress: "r@example.org", Action: "failed", Status: "5.1.1"}}}
	case event.Complaint:
		e.Complaint = &event.ComplaintDetails{ComplainedRecipients: []string{"r@example.org"}, Timestamp: at, FeedbackID: "f", ComplaintFeedbackType: "abuse"}
	case event.DeliveryDelay:
		e.DeliveryDelay = &event.DelayDetails{DelayType: "MailboxFull", ExpirationTime: at.Add(time.Hour), Timestamp: at,
			DelayedRecipients: []event.Recipient{{EmailAddress: "r@example.org", Status: "4.2.2"}}}
	case event.RenderingFailure:
		e.Failure = &event.FailureDetails{ErrorMessage: "bad", TemplateName: "t"}
	}
	return e
}

// appendEvents writes evs to the outbox in one transaction and returns
// their stored payloads.
func appendEvents(t testing.TB, d *db.DB, evs ...*event.Event) []string {
	t.Helper()
	var payloads []string
	err := d.InTx(context.Background(), func(tx *db.Tx) error {
		for _, e := range evs {
			if _, err := event.Append(context.Background(), tx, e, t0); err != nil {
				return err
			}
			b, err := e.MarshalJSON()
			if err != nil {
				return err
			}
			payloads = append(payloads, string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return payloads
}

func backlog(t testing.TB, p *publish.Publisher) int64 {
	t.Helper()
	n, err := p.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func runOnce(t testing.TB, p *publish.Publisher) int {
	t.Helper()
	n, err := p.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func snsDest(name, topicARN string, enabled bool, types ...string) configset.Destination {
	return configset.Destination{Name: name, Enabled: enabled, MatchingEventTypes: types, SNSTopicARN: topicARN}
}

func cwDest(name string, enabled bool, types ...string) configset.Destination {
	return configset.Destination{Name: name, Enabled: enabled, MatchingEventTypes: types,
		CloudWatch: []configset.Dimension{{Name: "ses:from-domain", Source: configset.SourceMessageTag, Default: "none"}}}
}

func TestDestinations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		t1, t2, t3 := topic(acctA, "sends"), topic(acctA, "off"), topic(acctA, "bounces")
		cw := cwDest("metrics", true, "SEND", "BOUNCE")
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{
			snsDest("sends", t1, true, "SEND", "DELIVERY"),
			snsDest("off", t2, false, "SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY"),
			snsDest("bounces", t3, true, "BOUNCE"),
			cw,
			cwDest("metrics-off", false, "SEND", "BOUNCE", "DELIVERY"),
		}
		types := []event.Type{event.Send, event.Delivery, event.Bounce, event.Complaint, event.DeliveryDelay, event.Reject}
		var evs []*event.Event
		for i, ty := range types {
			evs = append(evs, mkEvent(acctA, "cs", ty, fmt.Sprintf("m%d", i)))
		}
		evs = append(evs, mkEvent(acctA, "", event.Send, "no-set")) // no configuration set
		payloads := appendEvents(t, d, evs...)
		p := e.publisher(t, nil)
		if n := backlog(t, p); n != int64(len(evs)) {
			t.Fatalf("Backlog = %d, want %d", n, len(evs))
		}
		if n := runOnce(t, p); n != len(evs) {
			t.Fatalf("RunOnce = %d, want %d", n, len(evs))
		}
		want := []sent{
			{acctA, t1, publish.EventSubject, payloads[0]}, // Send
			{acctA, t1, publish.EventSubject, payloads[1]}, // Delivery
			{acctA, t3, publish.EventSubject, payloads[2]}, // Bounce
		}
		if diff := cmp.Diff(want, e.sent(t)); diff != "" {
			t.Errorf("published (-want +got):\n%s", diff)
		}
		if e.destCalls != 1 {
			t.Errorf("Destinations called %d times for one set in one batch", e.destCalls)
		}
		if len(e.afters) != 1 || len(e.afters[0]) != len(evs) {
			t.Fatalf("After calls = %v", e.afters)
		}
		for i, pub := range e.afters[0] {
			if pub.Event.Mail.MessageID != evs[i].Mail.MessageID || pub.Event.AccountID != acctA {
				t.Errorf("After[%d] = %s of %s, want %s", i, pub.Event.Mail.MessageID, pub.Event.AccountID, evs[i].Mail.MessageID)
			}
			var wantCW []configset.Destination
			if ty := evs[i].Type; evs[i].ConfigurationSet == "cs" && (ty == event.Send || ty == event.Bounce) {
				wantCW = []configset.Destination{cw}
			}
			if diff := cmp.Diff(wantCW, pub.CloudWatch); diff != "" {
				t.Errorf("After[%d] (%s) CloudWatch (-want +got):\n%s", i, evs[i].Type, diff)
			}
		}
		if len(e.befores) != 1 || len(e.befores[0]) != len(evs) || len(e.inTx) != 1 || len(e.inTx[0]) != len(evs) {
			t.Errorf("Before %d batches, InTx %d batches", len(e.befores), len(e.inTx))
		}
		if n := backlog(t, p); n != 0 {
			t.Errorf("Backlog after = %d", n)
		}
		rows, err := event.List(context.Background(), d, 0, 100, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if !r.PublishedAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("event %d published_at = %v", r.ID, r.PublishedAt)
			}
		}
		if n := runOnce(t, p); n != 0 {
			t.Errorf("second RunOnce = %d", n)
		}
		if len(e.sent(t)) != len(want) || len(e.afters) != 1 {
			t.Error("a second run published again")
		}
	})
}

func TestIdentityNotifications(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		bt, dt, ct := topic(acctA, "bounces"), topic(acctA, "deliveries"), topic(acctA, "events")
		e.topics[[2]string{acctA, "example.test"}] = map[string]publish.IdentityTopic{
			"Bounce":   {TopicARN: bt},
			"Delivery": {TopicARN: dt, HeadersEnabled: true},
			// no Complaint topic
		}
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("all", ct, true, "BOUNCE")}
		bounce := mkEvent(acctA, "cs", event.Bounce, "m1")
		suppressed := mkEvent(acctA, "", event.Bounce, "m2")
		suppressed.Bounce.BounceSubType = "OnAccountSuppressionList"
		delivery := mkEvent(acctA, "", event.Delivery, "m3")
		complaint := mkEvent(acctA, "", event.Complaint, "m4")
		send := mkEvent(acctA, "", event.Send, "m5")
		delay := mkEvent(acctA, "", event.DeliveryDelay, "m6")
		payloads := appendEvents(t, d, bounce, suppressed, delivery, complaint, send, delay)
		p := e.publisher(t, nil)
		runOnce(t, p)

		notif := func(ev *event.Event, headers bool) string {
			b, err := ev.NotificationJSON(headers)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		want := []sent{
			{acctA, ct, publish.EventSubject, payloads[0]},
			{acctA, bt, publish.NotificationSubject, notif(bounce, false)},
			{acctA, bt, publish.NotificationSubject, notif(suppressed, false)},
			{acctA, dt, publish.NotificationSubject, notif(delivery, true)},
		}
		got := e.sent(t)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("published (-want +got):\n%s", diff)
		}
		// The old format, read back as a consumer does.
		for i, c := range []struct {
			typ     string
			headers bool
		}{{"Bounce", false}, {"Bounce", false}, {"Delivery", true}} {
			var m struct {
				NotificationType string         `json:"notificationType"`
				EventType        *string        `json:"eventType"`
				Mail             map[string]any `json:"mail"`
			}
			if err := json.Unmarshal([]byte(got[i+1].Message), &m); err != nil {
				t.Fatal(err)
			}
			if m.NotificationType != c.typ || m.EventType != nil {
				t.Errorf("notification %d: notificationType %q, eventType %v", i, m.NotificationType, m.EventType)
			}
			_, hasHeaders := m.Mail["headers"]
			_, hasCommon := m.Mail["commonHeaders"]
			_, hasTags := m.Mail["tags"]
			if hasHeaders != c.headers || hasCommon != c.headers || hasTags {
				t.Errorf("notification %d: headers %v commonHeaders %v tags %v", i, hasHeaders, hasCommon, hasTags)
			}
			if m.Mail["sourceIp"] != "192.0.2.1" || m.Mail["callerIdentity"] != "app-user" {
				t.Errorf("notification %d: sourceIp %v callerIdentity %v", i, m.Mail["sourceIp"], m.Mail["callerIdentity"])
			}
		}
		if !strings.Contains(got[3].Message, `"Hi & <bye>"`) {
			t.Errorf("headers HTML-escaped or missing: %s", got[3].Message)
		}
	})
}

func TestIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		// Both accounts have a set "shared" and the identity example.test.
		for _, acct := range []string{acctA, acctB} {
			e.dests[[2]string{acct, "shared"}] = []configset.Destination{snsDest("d", topic(acct, "t"), true, "SEND", "BOUNCE")}
			e.topics[[2]string{acct, "example.test"}] = map[string]publish.IdentityTopic{"Bounce": {TopicARN: topic(acct, "id")}}
		}
		send, bounce := mkEvent(acctA, "shared", event.Send, "a1"), mkEvent(acctA, "shared", event.Bounce, "a2")
		// An event of A whose sourceArn names an identity of B (which
		// Sesame never writes) tells B's identity nothing.
		foreign := mkEvent(acctA, "", event.Bounce, "a3")
		foreign.Mail.SourceArn = "arn:aws:ses:eu-west-1:" + acctB + ":identity/example.test"
		appendEvents(t, d, send, bounce, foreign)
		runOnce(t, e.publisher(t, nil))
		got := e.sent(t)
		var topics []string
		for _, s := range got {
			if s.Account != acctA || !strings.Contains(s.Topic, ":"+acctA+":") {
				t.Errorf("event of %s published as %s to %s", acctA, s.Account, s.Topic)
			}
			topics = append(topics, s.Topic)
		}
		if want := []string{topic(acctA, "t"), topic(acctA, "t"), topic(acctA, "id")}; !cmp.Equal(topics, want) {
			t.Errorf("topics = %q, want %q", topics, want)
		}
		if !strings.Contains(e.log.String(), "identity of another account") {
			t.Errorf("no warning about the foreign identity:\n%s", e.log)
		}
	})
}

func TestRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND")}
		var evs []*event.Event
		for i := range 10 {
			evs = append(evs, mkEvent(acctA, "cs", event.Send, fmt.Sprintf("m%02d", i)))
		}
		payloads := appendEvents(t, d, evs...)
		small := func(o *publish.Options) { o.Batch = 4 }
		if n := runOnce(t, e.publisher(t, small)); n != 4 {
			t.Fatalf("first RunOnce = %d", n)
		}
		// The process ends; a new publisher takes over where it stopped.
		p := e.publisher(t, small)
		if n := backlog(t, p); n != 6 {
			t.Fatalf("Backlog = %d, want 6", n)
		}
		for runOnce(t, p) > 0 {
		}
		var got []string
		for _, s := range e.sent(t) {
			got = append(got, s.Message)
		}
		if diff := cmp.Diff(payloads, got); diff != "" {
			t.Errorf("published (-want +got):\n%s", diff)
		}
	})
}

// TestTwoPublishers runs two publishers on one database at once: every
// event is published exactly once. On PostgreSQL they claim their batches
// with SKIP LOCKED.
func TestTwoPublishers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND")}
		const total = 600
		var evs []*event.Event
		for i := range total {
			evs = append(evs, mkEvent(acctA, "cs", event.Send, fmt.Sprintf("m%04d", i)))
		}
		appendEvents(t, d, evs...)
		var byPublisher [2]atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range 2 {
			p := e.publisher(t, func(o *publish.Options) {
				o.Batch = 20
				after := o.After
				o.After = func(ctx context.Context, b []publish.Published) {
					byPublisher[i].Add(int64(len(b)))
					after(ctx, b)
				}
			})
			wg.Go(func() {
				if err := p.Run(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		p := e.publisher(t, nil)
		deadline := time.Now().Add(30 * time.Second)
		for backlog(t, p) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		if n := backlog(t, p); n != 0 {
			t.Fatalf("backlog %d after 30 s", n)
		}
		count := map[string]int{}
		for _, s := range e.sent(t) {
			var m struct{ Mail struct{ MessageID string } }
			if err := json.Unmarshal([]byte(s.Message), &m); err != nil {
				t.Fatal(err)
			}
			count[m.Mail.MessageID]++
		}
		if len(count) != total {
			t.Errorf("%d distinct events published, want %d", len(count), total)
		}
		for id, n := range count {
			if n != 1 {
				t.Errorf("%s published %d times", id, n)
			}
		}
		if a, b := byPublisher[0].Load(), byPublisher[1].Load(); a+b != total {
			t.Errorf("After saw %d + %d events, want %d", a, b, total)
		} else {
			t.Logf("publisher 1: %d events, publisher 2: %d", a, b)
		}
	})
}

// TestErrorRollsBack: a failed batch leaves nothing behind and is
// published one event at a time at once; when every event fails, nothing
// is published and the events wait.
func TestErrorRollsBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND")}
		payloads := appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "m1"), mkEvent(acctA, "cs", event.Send, "m2"))
		e.failAt[2] = errors.New("database is on fire")
		p := e.publisher(t, nil)
		if n := runOnce(t, p); n != 2 {
			t.Fatalf("RunOnce = %d, want 2", n)
		}
		var got []string
		for _, s := range e.sent(t) {
			got = append(got, s.Message)
		}
		if !cmp.Equal(got, payloads) || e.calls != 4 {
			t.Errorf("after a failed batch: %d Publish calls, published %q", e.calls, got)
		}
		if len(e.afters) != 2 || len(e.inTx) != 2 || e.failures[publish.FailBatch] != 1 || e.failures[publish.FailEvent] != 0 {
			t.Errorf("After %d, InTx %d, failures %v", len(e.afters), len(e.inTx), e.failures)
		}

		// InTx failing for every event: nothing is published.
		payloads = appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "m3"), mkEvent(acctA, "cs", event.Send, "m4"))
		e.inTxErr = errors.New("stats are broken")
		if _, err := p.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "stats are broken") {
			t.Fatalf("RunOnce = %v", err)
		}
		if n := backlog(t, p); n != 2 || len(e.sent(t)) != 2 || len(e.afters) != 2 {
			t.Errorf("after InTx failure: backlog %d, %d publishes, After %d", n, len(e.sent(t)), len(e.afters))
		}
		if e.failures[publish.FailEvent] != 0 {
			t.Errorf("failures %v: a failure of every event counted against events", e.failures)
		}
		e.inTxErr = nil
		if n := runOnce(t, p); n != 2 {
			t.Fatalf("retry published %d", n)
		}
		got = nil
		for _, s := range e.sent(t)[2:] {
			got = append(got, s.Message)
		}
		if !cmp.Equal(got, payloads) {
			t.Errorf("after the retry: %q", got)
		}
	})
}

// TestRunBacksOff: Run retries a failing batch after a growing wait and
// publishes once the error is gone; kicks do not cut the wait short.
func TestRunBacksOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND")}
		appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "m1"))
		for i := 1; i <= 4; i++ {
			e.failAt[i] = fmt.Errorf("failure %d", i)
		}
		var calls []time.Time
		p := e.publisher(t, func(o *publish.Options) {
			o.Backoff, o.MaxBackoff, o.Poll = 20*time.Millisecond, 40*time.Millisecond, time.Hour
			pub := o.Publish
			o.Publish = func(ctx context.Context, tx *db.Tx, a, tp, s, m string) (string, error) {
				calls = append(calls, time.Now())
				return pub(ctx, tx, a, tp, s, m)
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for backlog(t, p) > 0 && time.Now().Before(deadline) {
			p.Kick()
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		if len(e.sent(t)) != 1 {
			t.Fatalf("published %d", len(e.sent(t)))
		}
		if len(calls) != 5 {
			t.Fatalf("%d attempts, want 5", len(calls))
		}
		// Waits: 20, 40, 40 (capped), 40 ms.
		for i, min := range []time.Duration{20, 40, 40, 40} {
			if gap := calls[i+1].Sub(calls[i]); gap < min*time.Millisecond {
				t.Errorf("attempt %d came %v after the one before, want ≥ %v ms", i+2, gap, min)
			}
		}
		if e.failures[publish.FailBatch] != 4 || !strings.Contains(e.log.String(), "failure 4") {
			t.Errorf("failures %v, log:\n%s", e.failures, e.log)
		}
	})
}

func TestGoneTopic(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		good, gone := topic(acctA, "good"), topic(acctA, "deleted")
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("gone", gone, true, "SEND"), snsDest("good", good, true, "SEND")}
		e.topics[[2]string{acctA, "example.test"}] = map[string]publish.IdentityTopic{"Bounce": {TopicARN: gone}}
		e.gone[gone] = true
		payloads := appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "m1"), mkEvent(acctA, "cs", event.Send, "m2"), mkEvent(acctA, "", event.Bounce, "m3"))
		p := e.publisher(t, nil)
		if n := runOnce(t, p); n != 3 {
			t.Fatalf("RunOnce = %d", n)
		}
		want := []sent{{acctA, good, publish.EventSubject, payloads[0]}, {acctA, good, publish.EventSubject, payloads[1]}}
		if diff := cmp.Diff(want, e.sent(t)); diff != "" {
			t.Errorf("published (-want +got):\n%s", diff)
		}
		if n := backlog(t, p); n != 0 || len(e.afters) != 1 || len(e.afters[0]) != 3 {
			t.Errorf("backlog %d, After %v", n, e.afters)
		}
		if e.failures[publish.FailTopicGone] != 3 || !strings.Contains(e.log.String(), "topic no longer exists") || !strings.Contains(e.log.String(), gone) {
			t.Errorf("failures %v, log:\n%s", e.failures, e.log)
		}

		// Without IsTopicGone the same error is a failure like any other.
		appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "m4"))
		strict := e.publisher(t, func(o *publish.Options) { o.IsTopicGone = nil })
		if _, err := strict.RunOnce(context.Background()); !errors.Is(err, errGone) {
			t.Errorf("RunOnce without IsTopicGone = %v", err)
		}
	})
}

func TestUndecodable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND")}
		ctx := context.Background()
		bad := []string{`not json`, `{"eventType":"Open","mail":{}}`, `{"eventType":"Send","mail":{"messageId":"x"},"send":{}}`}
		for _, payload := range bad {
			if _, err := d.Exec(ctx, `INSERT INTO events (account_id, message_id, configuration_set, event_type, payload, created_at, published_at) VALUES (?, 'x', 'cs', 'Send', ?, 1, 0)`, acctA, payload); err != nil {
				t.Fatal(err)
			}
		}
		payloads := appendEvents(t, d, mkEvent(acctA, "cs", event.Send, "m1"))
		p := e.publisher(t, nil)
		if n := runOnce(t, p); n != 4 {
			t.Fatalf("RunOnce = %d", n)
		}
		if diff := cmp.Diff([]sent{{acctA, topic(acctA, "t"), publish.EventSubject, payloads[0]}}, e.sent(t)); diff != "" {
			t.Errorf("published (-want +got):\n%s", diff)
		}
		if n := backlog(t, p); n != 0 {
			t.Errorf("backlog %d: undecodable rows wedge the outbox", n)
		}
		if len(e.afters) != 1 || len(e.afters[0]) != 1 || len(e.befores[0]) != 1 || len(e.inTx[0]) != 1 {
			t.Errorf("hooks saw undecodable events: After %d, Before %d, InTx %d", len(e.afters[0]), len(e.befores[0]), len(e.inTx[0]))
		}
		if e.failures[publish.FailUndecodable] != 3 || strings.Count(e.log.String(), "cannot be decoded") != 3 {
			t.Errorf("failures %v, log:\n%s", e.failures, e.log)
		}
	})
}

// TestKick: with an hour's poll, a kick makes Run publish at once.
func TestKick(t *testing.T) {
	d := dbtest.SQLite(t)
	e := newEnv(t, d)
	e.dests[[2]string{acctA, "cs"}] = []configset.Destination{snsDest("d", topic(acctA, "t"), true, "SEND")}
	p := e.publisher(t, func(o *publish.Options) { o.Poll = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		appendEvents(t, d, mkEvent(acctA, "cs", event.Send, fmt.Sprintf("m%d", i)))
		p.Kick()
		deadline := time.Now().Add(5 * time.Second)
		for len(e.sent(t)) != i+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := len(e.sent(t)); n != i+1 {
			t.Fatalf("after kick %d: %d published", i, n)
		}
	}
}

func TestNew(t *testing.T) {
	d := dbtest.SQLite(t)
	if _, err := publish.New(publish.Options{DB: d}); err == nil {
		t.Error("New without Publish")
	}
	if _, err := publish.New(publish.Options{Publish: func(context.Context, *db.Tx, string, string, string, string) (string, error) { return "", nil }}); err == nil {
		t.Error("New without DB")
	}
}

func TestSourceIdentity(t *testing.T) {
	for _, c := range []struct {
		arn, account, identity string
		ok                     bool
	}{
		{"arn:aws:ses:eu-west-1:123456789012:identity/example.test", "123456789012", "example.test", true},
		{"arn:aws:ses:eu-west-1:123456789012:identity/a@example.test", "123456789012", "a@example.test", true},
		{"arn:aws:ses:eu-west-1:123456789012:configuration-set/x", "", "", false},
		{"arn:aws:sns:eu-west-1:123456789012:identity/x", "", "", false},
		{"arn:aws:ses:eu-west-1::identity/x", "", "", false},
		{"arn:aws:ses:eu-west-1:123456789012:identity/", "", "", false},
		{"", "", "", false},
	} {
		a, i, ok := publish.SourceIdentity(c.arn)
		if a != c.account || i != c.identity || ok != c.ok {
			t.Errorf("SourceIdentity(%q) = %q, %q, %v", c.arn, a, i, ok)
		}
	}
}
