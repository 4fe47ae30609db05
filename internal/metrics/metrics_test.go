package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/metrics"
	"github.com/sesame-email/sesame/internal/stage"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// mail returns a Mail from sender@domain to rcpts with SES's auto-tags.
func mail(domain string, rcpts ...string) event.Mail {
	m := event.Mail{
		Timestamp: t0, MessageID: fmt.Sprintf("0100-%s-%d", domain, len(rcpts)), Source: "sender@" + domain,
		SendingAccountID: "111122223333", Destination: rcpts,
		Headers: []event.Header{{Name: "From", Value: "sender@" + domain}, {Name: "X-Campaign", Value: "spring"}},
	}
	event.AutoTags(&m, "", domain, "127.0.0.1", "alice")
	return m
}

func ev(typ event.Type, set string, m event.Mail) *event.Event {
	e := &event.Event{Type: typ, AccountID: "111122223333", ConfigurationSet: set, Mail: m}
	rcpts := m.Destination
	recips := make([]event.Recipient, len(rcpts))
	for i, r := range rcpts {
		recips[i] = event.Recipient{EmailAddress: r, Action: "failed", Status: "5.1.1"}
	}
	switch typ {
	case event.Send:
		e.Send = &event.SendDetails{}
	case event.Reject:
		e.Reject = &event.RejectDetails{Reason: event.RejectReason}
	case event.Delivery:
		e.Delivery = &event.DeliveryDetails{Timestamp: m.Timestamp.Add(1500 * time.Millisecond), Recipients: rcpts, SMTPResponse: "250 ok"}
	case event.Bounce:
		e.Bounce = &event.BounceDetails{BounceType: "Permanent", BounceSubType: "General", BouncedRecipients: recips, Timestamp: m.Timestamp.Add(time.Second)}
	case event.Complaint:
		e.Complaint = &event.ComplaintDetails{ComplainedRecipients: rcpts, Timestamp: m.Timestamp.Add(time.Hour)}
	case event.DeliveryDelay:
		e.DeliveryDelay = &event.DelayDetails{DelayType: "MailboxFull", DelayedRecipients: recips, Timestamp: m.Timestamp.Add(time.Minute), ExpirationTime: m.Timestamp.Add(time.Hour)}
	case event.RenderingFailure:
		e.Failure = &event.FailureDetails{ErrorMessage: "no such variable"}
	case event.Open:
		e.Open = &event.OpenDetails{IPAddress: "192.0.2.1", Timestamp: m.Timestamp.Add(time.Hour)}
	case event.Click:
		e.Click = &event.ClickDetails{IPAddress: "192.0.2.1", Timestamp: m.Timestamp.Add(time.Hour), Link: "https://a.example.test/",
			LinkTags: map[string][]string{"campaign": {"spring"}}}
	}
	if err := e.Validate(); err != nil {
		panic(err)
	}
	return e
}

func newMetrics(t testing.TB, o metrics.Options) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// get requests /metrics from remote with the Authorization header auth
// ("" for none).
func get(t testing.TB, h http.Handler, remote, auth string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.RemoteAddr = remote
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// scrape returns m's metrics as a loopback client sees them, parsed with
// prometheus/common's text parser.
func scrape(t testing.TB, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	w := get(t, m.Handler(""), "127.0.0.1:40000", "")
	if w.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// labels returns a metric's labels, leaving out empty ones (absent to
// Prometheus).
func labels(mt *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range mt.GetLabel() {
		if p.GetValue() != "" {
			l[p.GetName()] = p.GetValue()
		}
	}
	return l
}

// value returns the value of the series of family name whose non-empty
// labels are exactly want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, mt := range fams[name].GetMetric() {
		l := labels(mt)
		if len(l) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if l[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue(), true
		case mt.Gauge != nil:
			return mt.Gauge.GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, name string, want float64, ls ...string) {
	t.Helper()
	m := map[string]string{}
	for i := 0; i+1 < len(ls); i += 2 {
		m[ls[i]] = ls[i+1]
	}
	got, ok := value(fams, name, m)
	if !ok {
		t.Errorf("%s%v: no such series; family:\n%v", name, m, fams[name])
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, m, got, want)
	}
}

// fromDomain is the seed documents' dimension.
var fromDomain = []configset.Dimension{{Name: event.TagFromDomain, Source: configset.SourceMessageTag, Default: "example.test"}}

// The seed's scenario, from hand-built events: one message each to the
// success, bounce and complaint simulators; the complaint simulator's
// message is delivered first.
func TestSeedScenario(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	set := "seed"
	var evs []*event.Event
	for _, to := range []string{"success@simulator.test", "bounce@simulator.test", "complaint@simulator.test"} {
		ml := mail("example.test", to)
		ml.MessageID = to
		evs = append(evs, ev(event.Send, set, ml))
		switch to {
		case "success@simulator.test":
			evs = append(evs, ev(event.Delivery, set, ml))
		case "bounce@simulator.test":
			evs = append(evs, ev(event.Bounce, set, ml))
		case "complaint@simulator.test":
			evs = append(evs, ev(event.Delivery, set, ml), ev(event.Complaint, set, ml))
		}
	}
	for _, e := range evs {
		m.Event(e)
		m.CloudWatch(set, fromDomain, e)
	}
	fams := scrape(t, m)
	for typ, n := range map[string]float64{"Send": 3, "Delivery": 2, "Bounce": 1, "Complaint": 1} {
		expect(t, fams, "sesame_events_total", n, "configuration_set", set, "event_type", typ, "ses_from_domain", "example.test")
	}
	if n := len(fams["sesame_events_total"].GetMetric()); n != 4 {
		t.Errorf("sesame_events_total has %d series, want 4", n)
	}
	if typ := fams["sesame_events_total"].GetType(); typ != dto.MetricType_COUNTER {
		t.Errorf("sesame_events_total is a %v", typ)
	}

	acct := []string{"account", "111122223333", "from_domain", "example.test"}
	expect(t, fams, "sesame_messages_sent_total", 3, acct...)
	expect(t, fams, "sesame_recipients_sent_total", 3, acct...)
	expect(t, fams, "sesame_deliveries_total", 2, acct...)
	expect(t, fams, "sesame_bounces_total", 1, append(acct, "bounce_type", "Permanent")...)
	expect(t, fams, "sesame_complaints_total", 1, acct...)
	h := fams["sesame_delivery_latency_seconds"].GetMetric()
	if len(h) != 1 || h[0].Histogram.GetSampleCount() != 2 || h[0].Histogram.GetSampleSum() != 3 {
		t.Errorf("sesame_delivery_latency_seconds = %v, want 2 observations of 1.5s", h)
	}
}

// Own metrics count recipients where SES does; Send per message.
func TestPerRecipient(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	ml := mail("example.test", "a@x.test", "b@x.test", "c@x.test")
	for _, typ := range []event.Type{event.Send, event.Delivery, event.Bounce, event.Complaint, event.DeliveryDelay, event.Reject, event.RenderingFailure} {
		e := ev(typ, "s", ml)
		m.Event(e)
		m.CloudWatch("s", fromDomain, e)
	}
	fams := scrape(t, m)
	for typ, n := range map[string]float64{"Send": 1, "Delivery": 3, "Bounce": 3, "Complaint": 3, "DeliveryDelay": 3, "Reject": 1, "Rendering Failure": 1} {
		expect(t, fams, "sesame_events_total", n, "configuration_set", "s", "event_type", typ, "ses_from_domain", "example.test")
	}
	acct := []string{"account", "111122223333", "from_domain", "example.test"}
	expect(t, fams, "sesame_messages_sent_total", 1, acct...)
	expect(t, fams, "sesame_recipients_sent_total", 3, acct...)
	expect(t, fams, "sesame_deliveries_total", 3, acct...)
	expect(t, fams, "sesame_delivery_delays_total", 3, acct...)
	expect(t, fams, "sesame_rejects_total", 1, acct...)
	expect(t, fams, "sesame_delivery_latency_seconds", 3)
}

// Two sets with different dimensions share one family with the union of
// their labels.
func TestTwoSetsOneFamily(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	other := []configset.Dimension{
		{Name: "campaign", Source: configset.SourceMessageTag, Default: "none"},
		{Name: "X-Campaign", Source: configset.SourceEmailHeader, Default: "unset"},
	}
	a := ev(event.Send, "a", mail("a.example.test", "r@x.test"))
	b := mail("b.example.test", "r@x.test")
	event.SetTag(&b, "campaign", "launch")
	m.CloudWatch("a", fromDomain, a)
	m.CloudWatch("b", other, ev(event.Send, "b", b))
	m.CloudWatch("b", other, ev(event.Delivery, "b", b))

	fams := scrape(t, m)
	f := fams["sesame_events_total"]
	if len(f.GetMetric()) != 3 {
		t.Fatalf("%d series, want 3:\n%v", len(f.GetMetric()), f)
	}
	want := []string{"X_Campaign", "campaign", "configuration_set", "event_type", "ses_from_domain"}
	for _, mt := range f.GetMetric() {
		var names []string
		for _, p := range mt.GetLabel() {
			names = append(names, p.GetName())
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("series %v has labels %v, want all of %v", labels(mt), names, want)
		}
	}
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "a", "event_type", "Send", "ses_from_domain", "a.example.test")
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "b", "event_type", "Send", "campaign", "launch", "X_Campaign", "spring")
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "b", "event_type", "Delivery", "campaign", "launch", "X_Campaign", "spring")
}

// A header dimension takes the first field of that name, without case;
// without one, the default.
func TestHeaderDimension(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	dims := []configset.Dimension{{Name: "x-campaign", Source: configset.SourceEmailHeader, Default: "none"}}
	with := mail("example.test", "r@x.test")
	with.Headers = append(with.Headers, event.Header{Name: "X-CAMPAIGN", Value: "second"})
	without := mail("example.test", "r@x.test")
	without.Headers = without.Headers[:1]
	blank := mail("example.test", "r@x.test")
	blank.Headers[1].Value = "  "
	m.CloudWatch("s", dims, ev(event.Send, "s", with))
	m.CloudWatch("s", dims, ev(event.Send, "s", without))
	m.CloudWatch("s", dims, ev(event.Send, "s", blank))
	fams := scrape(t, m)
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "s", "event_type", "Send", "x_campaign", "spring")
	expect(t, fams, "sesame_events_total", 2, "configuration_set", "s", "event_type", "Send", "x_campaign", "none")
}

// Raw bytes and long values from a header or tag cannot break a scrape or
// panic the publisher.
func TestBadValues(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	ml := mail("example.test", "r@x.test")
	ml.Headers = append(ml.Headers, event.Header{Name: "X-Raw", Value: "caf\xe9"}, event.Header{Name: "X-Long", Value: strings.Repeat("é", 300)})
	event.SetTag(&ml, event.TagFromDomain, "bad\xffdomain")
	dims := []configset.Dimension{
		{Name: "X-Raw", Source: configset.SourceEmailHeader, Default: "none"},
		{Name: "X-Long", Source: configset.SourceEmailHeader, Default: "none"},
	}
	e := ev(event.Bounce, "s", ml)
	m.Event(e)
	m.CloudWatch("s", dims, e)
	fams := scrape(t, m)
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "s", "event_type", "Bounce",
		"X_Raw", "caf\uFFFD", "X_Long", strings.Repeat("é", metrics.MaxValueLength/2))
	expect(t, fams, "sesame_bounces_total", 1, "account", "111122223333", "from_domain", "bad\uFFFDdomain", "bounce_type", "Permanent")
}

// Default values: a missing tag, a link tag (no clicks yet); the
// configuration-set auto-tag comes from the event when the Mail lacks it.
func TestDefaults(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	dims := []configset.Dimension{
		{Name: "campaign", Source: configset.SourceMessageTag, Default: "no-campaign"},
		{Name: "link", Source: configset.SourceLinkTag, Default: "no-link"},
		{Name: event.TagConfigurationSet, Source: configset.SourceMessageTag, Default: "no-set"},
		{Name: event.TagFromDomain, Source: configset.SourceMessageTag, Default: "no-domain"},
	}
	ml := mail("", "r@x.test") // no ses:from-domain tag
	m.CloudWatch("s", dims, ev(event.Send, "s", ml))
	fams := scrape(t, m)
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "s", "event_type", "Send",
		"campaign", "no-campaign", "link", "no-link", "ses_configuration_set", "s", "ses_from_domain", "no-domain")
}

// Label names: sanitised, and clashes resolved; the order of a
// destination's dimensions does not make another series.
func TestLabelClashesAndOrder(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	ml := mail("example.test", "r@x.test")
	event.SetTag(&ml, "a-b", "dash")
	event.SetTag(&ml, "a_b", "under")
	event.SetTag(&ml, "configuration_set", "tagged")
	dims := []configset.Dimension{
		{Name: "a-b", Source: configset.SourceMessageTag, Default: "d"},
		{Name: "a_b", Source: configset.SourceMessageTag, Default: "d"},
		{Name: "configuration_set", Source: configset.SourceMessageTag, Default: "d"},
	}
	m.CloudWatch("s", dims, ev(event.Send, "s", ml))
	m.CloudWatch("s", []configset.Dimension{dims[2], dims[0], dims[1]}, ev(event.Send, "s", ml))
	fams := scrape(t, m)
	expect(t, fams, "sesame_events_total", 2, "configuration_set", "s", "event_type", "Send",
		"a_b", "dash", "a_b_2", "under", "configuration_set_dim", "tagged")
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"ses:from-domain":   "ses_from_domain",
		"campaign":          "campaign",
		"X-Campaign":        "X_Campaign",
		"1st":               "_1st",
		"__x":               "_x",
		"::x":               "_x",
		"":                  "_",
		"configuration_set": "configuration_set_dim",
		"event_type":        "event_type_dim",
		"ünïcode":           "_n__code", // bytes, not runes; "__" cut
	} {
		if got := metrics.LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
		if got := metrics.LabelName(in); !model.LegacyValidation.IsValidLabelName(got) || strings.HasPrefix(got, "__") {
			t.Errorf("LabelName(%q) = %q, not a usable label name", in, got)
		}
	}
}

func FuzzLabelName(f *testing.F) {
	for _, s := range []string{"ses:from-domain", "1", "__", "", "event_type", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := metrics.LabelName(name)
		if !model.LegacyValidation.IsValidLabelName(got) || strings.HasPrefix(got, "__") || got == "configuration_set" || got == "event_type" {
			t.Fatalf("LabelName(%q) = %q", name, got)
		}
	})
}

// A tag carrying a user id: 10 000 distinct values keep at most
// MaxDimensionValues (+ "other") series, with one warning.
func TestFolding(t *testing.T) {
	var logged bytes.Buffer
	m := newMetrics(t, metrics.Options{MaxDimensionValues: 50, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	dims := []configset.Dimension{
		{Name: "user-id", Source: configset.SourceMessageTag, Default: "anonymous"},
		{Name: event.TagFromDomain, Source: configset.SourceMessageTag, Default: "none"},
	}
	for i := range 10000 {
		ml := mail(fmt.Sprintf("d%d.example.test", i%3), "r@x.test")
		event.SetTag(&ml, "user-id", fmt.Sprintf("user-%d", i))
		e := ev(event.Send, "s", ml)
		m.CloudWatch("s", dims, e)
		m.Event(e)
	}
	fams := scrape(t, m)
	series := fams["sesame_events_total"].GetMetric()
	if len(series) != 50+3 {
		t.Errorf("sesame_events_total has %d series, want 50 kept user ids (each with its domain) + other × 3 domains", len(series))
	}
	var other, kept float64
	for _, mt := range series {
		if labels(mt)["user_id"] == metrics.Other {
			other += mt.Counter.GetValue()
		} else {
			kept += mt.Counter.GetValue()
		}
	}
	if other != 9950 || kept != 50 {
		t.Errorf("other = %v, kept = %v; want 9950 and 50", other, kept)
	}
	if n := strings.Count(logged.String(), "label=user_id"); n != 1 {
		t.Errorf("%d warnings for user_id, want 1:\n%s", n, logged.String())
	}
	if strings.Contains(logged.String(), "label=ses_from_domain") {
		t.Errorf("ses_from_domain warned with 3 values:\n%s", logged.String())
	}
}

// from_domain of the own metrics folds the same way.
func TestFoldingFromDomain(t *testing.T) {
	var logged bytes.Buffer
	m := newMetrics(t, metrics.Options{MaxDimensionValues: 5, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for i := range 100 {
		m.Event(ev(event.Send, "", mail(fmt.Sprintf("d%d.example.test", i), "r@x.test")))
	}
	fams := scrape(t, m)
	if n := len(fams["sesame_messages_sent_total"].GetMetric()); n != 6 {
		t.Errorf("sesame_messages_sent_total has %d series, want 6", n)
	}
	expect(t, fams, "sesame_messages_sent_total", 95, "account", "111122223333", "from_domain", metrics.Other)
	if n := strings.Count(logged.String(), "from_domain"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logged.String())
	}
}

func TestCountersAndGauges(t *testing.T) {
	var logged bytes.Buffer
	fail := false
	type key struct{}
	m := newMetrics(t, metrics.Options{
		Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Gauges: func(ctx context.Context) (metrics.Gauges, error) {
			if ctx.Value(key{}) != "scrape" {
				t.Error("Gauges did not get the request's context")
			}
			if fail {
				return metrics.Gauges{}, errors.New("database is locked")
			}
			return metrics.Gauges{QueueDepth: 7, QueueOldest: 90 * time.Second, OutboxBacklog: 3, PushPending: 2, PushParked: 1,
				CheckerStates: map[string]int64{"verification:Pending": 4, "verification:Success": 9, "dkim:Failed": 1}}, nil
		},
	})
	m.PublishFailed("sns")
	m.PublishFailed("sns")
	m.Reputation("configuration_set", "pause")

	read := func() map[string]*dto.MetricFamily {
		r := httptest.NewRequest("GET", "/metrics", nil).WithContext(context.WithValue(context.Background(), key{}, "scrape"))
		r.RemoteAddr = "[::1]:5000"
		w := httptest.NewRecorder()
		m.Handler("").ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
	fams := read()
	expect(t, fams, "sesame_publish_failures_total", 2, "kind", "sns")
	expect(t, fams, "sesame_reputation_actions_total", 1, "scope", "configuration_set", "action", "pause")
	expect(t, fams, "sesame_queue_depth", 7)
	expect(t, fams, "sesame_queue_oldest_seconds", 90)
	expect(t, fams, "sesame_outbox_backlog", 3)
	expect(t, fams, "sesame_push_pending", 2)
	expect(t, fams, "sesame_push_parked", 1)
	expect(t, fams, "sesame_identity_states", 4, "kind", "verification", "state", "Pending")
	expect(t, fams, "sesame_identity_states", 9, "kind", "verification", "state", "Success")
	expect(t, fams, "sesame_identity_states", 1, "kind", "dkim", "state", "Failed")
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}

	fail = true
	fams = read()
	if fams["sesame_queue_depth"] != nil || fams["sesame_identity_states"] != nil {
		t.Error("gauges present although Gauges failed")
	}
	expect(t, fams, "sesame_publish_failures_total", 2, "kind", "sns")
	if !strings.Contains(logged.String(), "database is locked") {
		t.Errorf("Gauges' error not logged:\n%s", logged.String())
	}
}

func TestHandlerAccess(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	m.PublishFailed("x")

	open := m.Handler("")
	for _, remote := range []string{"127.0.0.1:1234", "[::1]:1234", "127.9.9.9:1"} {
		if w := get(t, open, remote, ""); w.Code != 200 || !strings.Contains(w.Body.String(), "sesame_publish_failures_total") {
			t.Errorf("no token, from %s: %d %s", remote, w.Code, w.Body)
		}
	}
	for _, remote := range []string{"192.0.2.1:1234", "[2001:db8::1]:1", "garbage"} {
		w := get(t, open, remote, "")
		if w.Code != 403 || !strings.Contains(w.Body.String(), "--metrics-token") || strings.Contains(w.Body.String(), "sesame_") {
			t.Errorf("no token, from %s: %d %s", remote, w.Code, w.Body)
		}
	}

	closed := m.Handler("s3cret-token")
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret-toke", "Basic s3cret-token", "bearer", "s3cret-token"} {
		for _, remote := range []string{"127.0.0.1:1", "192.0.2.1:1"} {
			w := get(t, closed, remote, auth)
			if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" || strings.Contains(w.Body.String(), "sesame_publish") {
				t.Errorf("token, Authorization %q from %s: %d %s", auth, remote, w.Code, w.Body)
			}
		}
	}
	if w := get(t, closed, "192.0.2.1:1", "Bearer s3cret-token"); w.Code != 200 || !strings.Contains(w.Body.String(), "sesame_publish_failures_total") {
		t.Errorf("token from a remote client: %d %s", w.Code, w.Body)
	}

	// Over a real loopback connection.
	srv := httptest.NewServer(open)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("sesame_publish_failures_total")) {
		t.Errorf("loopback client: %d %s", resp.StatusCode, b)
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := metrics.New(metrics.Options{MaxDimensionValues: -1}); err == nil || !strings.Contains(err.Error(), "MaxDimensionValues") {
		t.Errorf("New(MaxDimensionValues -1) = %v", err)
	}
}

// Counting and scraping at once (run with -race).
func TestConcurrent(t *testing.T) {
	m := newMetrics(t, metrics.Options{MaxDimensionValues: 20})
	dims := []configset.Dimension{{Name: "user", Source: configset.SourceMessageTag, Default: "none"}}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				ml := mail("example.test", "r@x.test")
				event.SetTag(&ml, "user", fmt.Sprintf("u%d", (g*500+i)%40))
				e := ev(event.Delivery, "s", ml)
				m.CloudWatch("s", dims, e)
				m.Event(e)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			scrape(t, m)
		}
	})
	wg.Wait()
	var total float64
	for _, mt := range scrape(t, m)["sesame_events_total"].GetMetric() {
		total += mt.Counter.GetValue()
	}
	if total != 2000 {
		t.Errorf("total %v, want 2000", total)
	}
}

// BenchmarkCloudWatch is the cost CloudWatch adds to each published event
// (the seed's shape: one from-domain dimension, and a three-dimension
// destination with a header).
func BenchmarkCloudWatch(b *testing.B) {
	m := newMetrics(b, metrics.Options{})
	e := ev(event.Delivery, "seed", mail("example.test", "r@x.test"))
	b.Run("from-domain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.CloudWatch("seed", fromDomain, e)
		}
	})
	three := []configset.Dimension{
		fromDomain[0],
		{Name: "X-Campaign", Source: configset.SourceEmailHeader, Default: "none"},
		{Name: event.TagCallerIdentity, Source: configset.SourceMessageTag, Default: "none"},
	}
	b.Run("three-dimensions", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.CloudWatch("seed", three, e)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.CloudWatch("seed", three, e)
			}
		})
	})
}

// Set names and dimension names are the API user's to choose: neither
// may grow the family without bound. Sets fold like dimension values;
// dimension labels beyond MaxDimensionLabels are left out, with one
// warning.
func TestFoldingSetsAndLabels(t *testing.T) {
	var logged bytes.Buffer
	m := newMetrics(t, metrics.Options{MaxDimensionValues: 20, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for i := range 1000 {
		set := fmt.Sprintf("set-%d", i)
		dims := []configset.Dimension{
			{Name: fmt.Sprintf("dim-%d", i), Source: configset.SourceMessageTag, Default: "x"},
			{Name: event.TagFromDomain, Source: configset.SourceMessageTag, Default: "none"},
		}
		e := ev(event.Send, set, mail("d.example.test", "r@x.test"))
		m.CloudWatch(set, dims, e)
	}
	fams := scrape(t, m)
	fam := fams["sesame_events_total"]
	if n := len(fam.GetMetric()[0].GetLabel()); n > 2+metrics.MaxDimensionLabels {
		t.Errorf("sesame_events_total has %d labels, want at most 2 + %d", n, metrics.MaxDimensionLabels)
	}
	sets := map[string]bool{}
	var total float64
	for _, mt := range fam.GetMetric() {
		sets[labels(mt)["configuration_set"]] = true
		total += mt.Counter.GetValue()
		if labels(mt)["ses_from_domain"] != "d.example.test" {
			t.Errorf("series %v lost the from-domain dimension", labels(mt))
		}
	}
	if len(sets) > 21 || !sets[metrics.Other] {
		t.Errorf("%d configuration_set values, want 20 and %q", len(sets), metrics.Other)
	}
	if total != 1000 {
		t.Errorf("counted %v events, want 1000", total)
	}
	for _, w := range []string{"label=configuration_set", "dimension labels"} {
		if n := strings.Count(logged.String(), w); n != 1 {
			t.Errorf("%d warnings with %q, want 1:\n%s", n, w, logged.String())
		}
	}
}

func TestStageSeconds(t *testing.T) {
	var st stage.Timer
	st.Since(stage.Signing, time.Now().Add(-2*time.Second))
	fams := scrape(t, newMetrics(t, metrics.Options{Stages: &st}))
	for _, s := range stage.Stages {
		got, ok := value(fams, "sesame_stage_seconds_total", map[string]string{"stage": s.String()})
		if !ok {
			t.Fatalf("no sesame_stage_seconds_total{stage=%q}", s)
		}
		if s == stage.Signing && (got < 2 || got > 60) || s != stage.Signing && got != 0 {
			t.Errorf("stage %s: %v s", s, got)
		}
	}
	if _, ok := scrape(t, newMetrics(t, metrics.Options{}))["sesame_stage_seconds_total"]; ok {
		t.Error("sesame_stage_seconds_total served without Options.Stages")
	}
}

// Open and Click count once per event, in their own counters and in the
// CloudWatch family, whose LINK_TAG dimensions read click.linkTags.
func TestOpenClick(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	dims := []configset.Dimension{{Name: "campaign", Source: configset.SourceLinkTag, Default: "none"}}
	ml := mail("example.test", "a@x.test", "b@x.test")
	for _, typ := range []event.Type{event.Open, event.Click, event.Click} {
		e := ev(typ, "s", ml)
		m.Event(e)
		m.CloudWatch("s", dims, e)
	}
	fams := scrape(t, m)
	acct := []string{"account", "111122223333", "from_domain", "example.test"}
	expect(t, fams, "sesame_opens_total", 1, acct...)
	expect(t, fams, "sesame_clicks_total", 2, acct...)
	expect(t, fams, "sesame_events_total", 2, "configuration_set", "s", "event_type", "Click", "campaign", "spring")
	expect(t, fams, "sesame_events_total", 1, "configuration_set", "s", "event_type", "Open", "campaign", "none")
}
