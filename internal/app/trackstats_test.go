package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTrackingStatistics: opens and clicks reach BatchGetMetricData
// through the whole service. Two tracked messages are sent with the SDK
// and delivered; a real HTTP client fetches the first one's pixel three
// times and its links three times, the second one's pixel once; once the
// publisher has counted the events, OPEN is 2 and CLICK 1 (messages, not
// hits), by configuration set, identity and ISP as well; DELIVERY_OPEN is
// an Errors entry; another account's queries see none of it.
func TestTrackingStatistics(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx, api := startSending(t, d, 100)
		ctx := context.Background()
		createTrackedSet(t, r, engagementTopic(t, r, api))
		// The tracking URLs of a sent and delivered message.
		sendTracked := func() (pixel string, links []string) {
			t.Helper()
			out, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("shop@example.test"), ConfigurationSetName: aws.String("tracked"),
				Destination: &types.Destination{ToAddresses: []string{"bob@rcpt.test"}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Spring offers")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Spring offers")}, Html: &types.Content{Data: aws.String(trackedHTML)}}}}})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.ReadMessage(strings.NewReader(string(delivered(t, mx, *out.MessageId).Data)))
			if err != nil {
				t.Fatal(err)
			}
			_, html := parts(t, msg)
			p := pixelRE.FindStringSubmatch(html)
			ls := clickRE.FindAllStringSubmatch(html, -1)
			if p == nil || len(ls) != 2 {
				t.Fatalf("pixel %v, %d links in\n%s", p, len(ls), html)
			}
			return p[1], []string{ls[0][1], ls[1][1]}
		}
		pixel1, links1 := sendTracked()
		pixel2, _ := sendTracked()

		// The custom redirect domain resolves (by its CNAME) to Sesame's
		// public listener.
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, api)
		}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, u := range []string{pixel1, pixel1, links1[0], pixel1, links1[1], links1[0], pixel2} {
			resp, err := client.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusFound {
				t.Fatalf("GET %s: %d", u, resp.StatusCode)
			}
		}

		now := time.Now().UTC()
		start, end := aws.Time(now.Truncate(24*time.Hour).Add(-24*time.Hour)), aws.Time(now.Add(time.Hour))
		q := func(id string, m types.Metric, dims map[string]string) types.BatchGetMetricDataQuery {
			return types.BatchGetMetricDataQuery{Id: aws.String(id), Namespace: types.MetricNamespaceVdm, Metric: m, Dimensions: dims, StartDate: start, EndDate: end}
		}
		queries := []types.BatchGetMetricDataQuery{
			q("open", types.MetricOpen, nil),
			q("click", types.MetricClick, nil),
			q("open-set", types.MetricOpen, map[string]string{"CONFIGURATION_SET": "tracked", "EMAIL_IDENTITY": "example.test"}),
			q("click-isp", types.MetricClick, map[string]string{"ISP": "rcpt.test", "CONFIGURATION_SET": "tracked"}),
			q("open-other-set", types.MetricOpen, map[string]string{"CONFIGURATION_SET": "plain"}),
			q("delivery-open", types.MetricDeliveryOpen, nil),
		}
		sums := func(c *sesv2.Client) (map[string]int64, map[string]string) {
			t.Helper()
			out, err := c.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: queries})
			if err != nil {
				t.Fatal(err)
			}
			got, errs := map[string]int64{}, map[string]string{}
			for _, res := range out.Results {
				for _, v := range res.Values {
					got[*res.Id] += v
				}
			}
			for _, e := range out.Errors {
				errs[*e.Id] = string(e.Code) + ": " + aws.ToString(e.Message)
			}
			return got, errs
		}
		want := map[string]int64{"open": 2, "click": 1, "open-set": 2, "click-isp": 1}
		eventually(t, "OPEN and CLICK in BatchGetMetricData", func() error {
			if got, _ := sums(r.v2); fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("got %v, want %v", got, want)
			}
			return nil
		})
		_, errs := sums(r.v2)
		if len(errs) != 1 || !strings.HasPrefix(errs["delivery-open"], "INTERNAL_FAILURE: ") || !strings.Contains(errs["delivery-open"], "DELIVERY_OPEN") {
			t.Errorf("Errors = %v, want one INTERNAL_FAILURE entry for delivery-open", errs)
		}

		// Another account sees none of it.
		_, other, err := r.app.Accounts.Create(ctx, account.CreateOptions{Name: "other", Email: "other@rcpt.test"})
		if err != nil {
			t.Fatal(err)
		}
		_, ov2 := clients("http://"+api, other.AccessKeyID, other.Secret)
		if got, _ := sums(ov2); len(got) != 0 {
			t.Errorf("another account's metrics: %v", got)
		}
	})
}
