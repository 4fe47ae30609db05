package stats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/sesv1"
	sesameV2 "github.com/sesame-email/sesame/internal/sesv2"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/testkit"
)

const region = "us-east-1"

// apiEnv is the SES API with the statistics hooks, and two accounts'
// SDK clients.
type apiEnv struct {
	stats       *stats.Store
	clock       *testkit.Clock
	acct, other string
	v1, otherV1 *ses.Client
	v2, otherV2 *sesv2.Client
}

func newAPIEnv(t *testing.T, d *db.DB) *apiEnv {
	t.Helper()
	box, err := seal.New("stats api test secret")
	if err != nil {
		t.Fatal(err)
	}
	// SigV4 signatures carry the real time: the clock starts there.
	clock := testkit.NewClock(time.Now())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	accts := account.New(d, box, clock.Now)
	st := newStore(t, d, clock, zone(t), nil)
	srv := sesapi.New(sesapi.Options{
		Accounts: accts, Region: region, Logger: log, Now: clock.Now,
		V1: sesv1.New(sesv1.Options{Accounts: accts, Now: clock.Now, Logger: log, SendStatistics: st.SendStatistics}),
		V2: sesameV2.New(sesameV2.Options{Accounts: accts, Now: clock.Now, Logger: log, MetricData: st.MetricData}),
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &apiEnv{stats: st, clock: clock}
	mk := func(name string) (string, *ses.Client, *sesv2.Client) {
		a, k, err := accts.Create(context.Background(), account.CreateOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.Secret, ""), RetryMaxAttempts: 1}
		return a.ID, ses.NewFromConfig(cfg, func(o *ses.Options) { o.BaseEndpoint = aws.String(hs.URL) }),
			sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	}
	e.acct, e.v1, e.v2 = mk("stats")
	e.other, e.otherV1, e.otherV2 = mk("other")
	return e
}

func errorCode(err error) string {
	if err == nil {
		return "<nil>"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

// The seed's scenario, in the statistics: one message each to the
// success, bounce and complaint simulator addresses, plus mail to real
// providers.
func TestAPIs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		ctx := context.Background()
		now := e.clock.Now()
		at := now.Add(-30 * time.Minute)
		add(t, d, e.stats,
			ev(t, event.Send, e.acct, "cs1", "example.com", at, "success@simulator.amazonses.com"),
			ev(t, event.Send, e.acct, "cs1", "example.com", at, "bounce@simulator.amazonses.com"),
			ev(t, event.Send, e.acct, "cs1", "example.com", at, "complaint@simulator.amazonses.com"),
			ev(t, event.Delivery, e.acct, "cs1", "example.com", at, "success@simulator.amazonses.com"),
			ev(t, event.Delivery, e.acct, "cs1", "example.com", at, "complaint@simulator.amazonses.com"),
			bounce(t, e.acct, "cs1", "example.com", at, "Permanent", "General", "bounce@simulator.amazonses.com"),
			ev(t, event.Complaint, e.acct, "cs1", "example.com", at.Add(time.Minute), "complaint@simulator.amazonses.com"),
			ev(t, event.Send, e.acct, "", "news.example.com", at, "a@gmail-hosted.test", "b@m365.test"),
			bounce(t, e.acct, "", "news.example.com", at, "Transient", "MailboxFull", "b@m365.test"),
			ev(t, event.Reject, e.acct, "", "news.example.com", at.Add(-20*time.Minute), "r@corp.test"),
		)

		// v1 GetSendStatistics.
		st, err := e.v1.GetSendStatistics(ctx, &ses.GetSendStatisticsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var attempts, bounces, complaints, rejects int64
		for _, p := range st.SendDataPoints {
			if p.Timestamp == nil || p.Timestamp.Minute()%15 != 0 || p.Timestamp.Second() != 0 {
				t.Errorf("data point timestamp %v is not the start of a 15-minute interval", p.Timestamp)
			}
			attempts += p.DeliveryAttempts
			bounces += p.Bounces
			complaints += p.Complaints
			rejects += p.Rejects
		}
		if attempts != 5 || bounces != 2 || complaints != 1 || rejects != 1 || len(st.SendDataPoints) < 2 {
			t.Errorf("GetSendStatistics: %d points, attempts %d bounces %d complaints %d rejects %d; want ≥2 points, 5, 2, 1, 1",
				len(st.SendDataPoints), attempts, bounces, complaints, rejects)
		}
		other, err := e.otherV1.GetSendStatistics(ctx, &ses.GetSendStatisticsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(other.SendDataPoints) != 0 {
			t.Errorf("the other account sees %d data points", len(other.SendDataPoints))
		}

		// v2 BatchGetMetricData.
		start, end := aws.Time(now.Add(-time.Hour)), aws.Time(now)
		q := func(id string, m types.Metric, dims map[string]string) types.BatchGetMetricDataQuery {
			return types.BatchGetMetricDataQuery{Id: aws.String(id), Namespace: types.MetricNamespaceVdm, Metric: m, Dimensions: dims, StartDate: start, EndDate: end}
		}
		ident := map[string]string{"EMAIL_IDENTITY": "example.com"}
		out, err := e.v2.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: []types.BatchGetMetricDataQuery{
			q("send", types.MetricSend, ident),
			q("delivery", types.MetricDelivery, ident),
			q("bounce", types.MetricPermanentBounce, ident),
			q("complaint", types.MetricComplaint, ident),
			q("transient", types.MetricTransientBounce, map[string]string{"ISP": "Hotmail", "EMAIL_IDENTITY": "news.example.com"}),
			q("gmail", types.MetricSend, map[string]string{"ISP": "Gmail"}),
			q("set", types.MetricSend, map[string]string{"CONFIGURATION_SET": "cs1", "ISP": "Simulator"}),
			q("all", types.MetricSend, nil),
			q("open", types.MetricDeliveryOpen, nil),
			q("tenant", types.MetricSend, map[string]string{"TENANT_NAME": "t1"}),
		}})
		if err != nil {
			t.Fatal(err)
		}
		day := now.UTC().Truncate(stats.Day)
		// Just after midnight UTC the values are split over two days.
		sameDay := at.Add(-20 * time.Minute).UTC().Truncate(stats.Day).Equal(day)
		got := map[string]int64{}
		for _, r := range out.Results {
			var sum int64
			for i, v := range r.Values {
				sum += v
				if ts := r.Timestamps[i].UTC(); !ts.Equal(ts.Truncate(stats.Day)) {
					t.Errorf("%s: timestamp %v is not the start of a day", *r.Id, ts)
				}
			}
			if len(r.Timestamps) != len(r.Values) {
				t.Errorf("%s: %d timestamps, %d values", *r.Id, len(r.Timestamps), len(r.Values))
			}
			if sameDay && len(r.Values) != 1 {
				t.Errorf("%s: %d values, want one (today)", *r.Id, len(r.Values))
			}
			got[*r.Id] = sum
		}
		for id, n := range map[string]int64{"send": 3, "delivery": 2, "bounce": 1, "complaint": 1, "transient": 1, "gmail": 1, "set": 3, "all": 5} {
			if got[id] != n {
				t.Errorf("query %s: %d, want %d", id, got[id], n)
			}
		}
		errs := map[string]string{}
		for _, x := range out.Errors {
			errs[*x.Id] = string(x.Code) + ": " + aws.ToString(x.Message)
		}
		if len(errs) != 2 || !strings.Contains(errs["open"], "DELIVERY_OPEN") || !strings.Contains(errs["tenant"], "TENANT_NAME") {
			t.Errorf("Errors: %v, want entries for open and tenant", errs)
		}
		for _, id := range []string{"open", "tenant"} {
			if !strings.HasPrefix(errs[id], "INTERNAL_FAILURE: ") {
				t.Errorf("Errors[%s] = %q, want code INTERNAL_FAILURE", id, errs[id])
			}
		}

		// Isolation: the other account's queries see nothing of this one.
		oout, err := e.otherV2.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: []types.BatchGetMetricDataQuery{
			q("send", types.MetricSend, ident), q("all", types.MetricSend, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range oout.Results {
			if len(r.Values) != 0 {
				t.Errorf("the other account's %s: %v", *r.Id, r.Values)
			}
		}
	})
}

func TestBatchGetMetricDataBadInput(t *testing.T) {
	e := newAPIEnv(t, dbtest.SQLite(t))
	ctx := context.Background()
	now := e.clock.Now()
	ok := types.BatchGetMetricDataQuery{Id: aws.String("q"), Namespace: types.MetricNamespaceVdm, Metric: types.MetricSend, StartDate: aws.Time(now.Add(-time.Hour)), EndDate: aws.Time(now)}
	with := func(f func(q *types.BatchGetMetricDataQuery)) []types.BatchGetMetricDataQuery {
		q := ok
		f(&q)
		return []types.BatchGetMetricDataQuery{q}
	}
	eleven := make([]types.BatchGetMetricDataQuery, 11)
	for i := range eleven {
		eleven[i] = ok
		eleven[i].Id = aws.String(string(rune('a' + i)))
	}
	for name, tc := range map[string]struct {
		queries []types.BatchGetMetricDataQuery
		msg     string
	}{
		"unknown metric":    {with(func(q *types.BatchGetMetricDataQuery) { q.Metric = "BOUNCE" }), `Metric "BOUNCE" is not valid`},
		"unknown dimension": {with(func(q *types.BatchGetMetricDataQuery) { q.Dimensions = map[string]string{"FROM_DOMAIN": "x"} }), `dimension "FROM_DOMAIN" is not valid`},
		"empty dimension":   {with(func(q *types.BatchGetMetricDataQuery) { q.Dimensions = map[string]string{"ISP": ""} }), `dimension ISP is empty`},
		"four dimensions": {with(func(q *types.BatchGetMetricDataQuery) {
			q.Dimensions = map[string]string{"ISP": "a", "EMAIL_IDENTITY": "b", "CONFIGURATION_SET": "c", "TENANT_NAME": "d"}
		}), "at most 3"},
		"namespace":    {with(func(q *types.BatchGetMetricDataQuery) { q.Namespace = "CloudWatch" }), `Namespace "CloudWatch" is not valid`},
		"end before":   {with(func(q *types.BatchGetMetricDataQuery) { q.EndDate = aws.Time(now.Add(-2 * time.Hour)) }), "EndDate"},
		"too many":     {eleven, "at most 10"},
		"duplicate id": {append(with(func(*types.BatchGetMetricDataQuery) {}), ok), `Id "q" is used by another query`},
		"long id":      {with(func(q *types.BatchGetMetricDataQuery) { q.Id = aws.String(strings.Repeat("i", 256)) }), "at most 255"},
		"empty id":     {with(func(q *types.BatchGetMetricDataQuery) { q.Id = aws.String("") }), "Id is required"},
		"no queries":   {[]types.BatchGetMetricDataQuery{}, "Queries is required"},
	} {
		_, err := e.v2.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: tc.queries})
		if errorCode(err) != "BadRequestException" || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want BadRequestException mentioning %q", name, err, tc.msg)
		}
	}
}

// OPEN and CLICK through the SDK across a UTC midnight: one message opened
// just before and just after it counts once on each day, opened twice more
// after it still once; its clicks the same; the other account's queries
// see none of it.
func TestBatchGetMetricDataOpensAcrossMidnight(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newAPIEnv(t, d)
		ctx := context.Background()
		now := e.clock.Now().UTC()
		midnight := now.Truncate(stats.Day)
		sent := midnight.Add(-time.Hour)
		hit := func(typ event.Type, at time.Time) *event.Event {
			return engaged(t, typ, e.acct, "news", "example.com", "msg-1", sent, at, "a@gmail-hosted.test")
		}
		add(t, d, e.stats, hit(event.Open, midnight.Add(-time.Millisecond)), hit(event.Click, midnight.Add(-time.Second)))
		add(t, d, e.stats, hit(event.Open, midnight), hit(event.Open, midnight.Add(time.Millisecond)), hit(event.Click, midnight.Add(time.Millisecond)))
		add(t, d, e.stats, hit(event.Open, midnight.Add(time.Millisecond)), hit(event.Click, midnight.Add(time.Millisecond)))

		q := func(id string, m types.Metric, dims map[string]string) types.BatchGetMetricDataQuery {
			return types.BatchGetMetricDataQuery{Id: aws.String(id), Namespace: types.MetricNamespaceVdm, Metric: m, Dimensions: dims,
				StartDate: aws.Time(midnight.Add(-time.Minute)), EndDate: aws.Time(now)}
		}
		queries := []types.BatchGetMetricDataQuery{
			q("open", types.MetricOpen, nil),
			q("click", types.MetricClick, map[string]string{"EMAIL_IDENTITY": "example.com", "CONFIGURATION_SET": "news", "ISP": "Gmail"}),
		}
		want := fmt.Sprintf("[%s %s] [1 1]", midnight.Add(-stats.Day).Format(time.RFC3339), midnight.Format(time.RFC3339))
		for _, c := range []struct {
			client *sesv2.Client
			want   string
		}{{e.v2, want}, {e.otherV2, "[] []"}} {
			out, err := c.client.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: queries})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Results) != 2 || len(out.Errors) != 0 {
				t.Fatalf("%d results, errors %v", len(out.Results), out.Errors)
			}
			for _, r := range out.Results {
				var ts []string
				for _, x := range r.Timestamps {
					ts = append(ts, x.UTC().Format(time.RFC3339))
				}
				if got := fmt.Sprintf("%v %v", ts, r.Values); got != c.want && !(c.want == "[] []" && len(r.Values) == 0) {
					t.Errorf("%s: %s, want %s", *r.Id, got, c.want)
				}
			}
		}
	})
}
