package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sesv1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// trackedHTML has a tracked link, an untracked one, one with tags and a
// mailto: link. The tracked ones are http: under HttpsPolicy OPTIONAL
// their tracking links are too, which the test's plain listener serves.
const trackedHTML = `<html><body><p>Hello</p>` +
	`<a href="http://shop.example.test/spring?x=1&amp;y=2">Shop</a> ` +
	`<a ses:no-track href="https://shop.example.test/private">Private</a> ` +
	`<a href="http://shop.example.test/tagged" ses:tags="campaign:spring;pos:top">Tagged</a> ` +
	`<a href="mailto:help@example.test">Help</a></body></html>`

var (
	pixelRE = regexp.MustCompile(`<img alt="" src="(http://track\.example\.test/t/o\?t=[A-Za-z0-9_-]+)"`)
	clickRE = regexp.MustCompile(`href="(http://track\.example\.test/t/c\?t=[A-Za-z0-9_-]+)"`)
)

// TestTracking is [8/10] part 4 end to end through the SDK: a set with an
// SNS destination for OPEN and CLICK and TrackingOptions (a custom
// redirect domain under the verified example.test); an HTML message
// arrives signed (DKIM verifies over the rewritten body) with the pixel
// and its http(s) links rewritten, ses:no-track and mailto: left alone;
// the pixel and the links fetched by a real HTTP client at the custom
// domain (dialled to Sesame's public listener, as its CNAME would) give
// Open and Click events in SES's JSON at the SNS subscriber, the redirect
// goes to the original URL; forged, swapped and made-up tokens are
// refused without a redirect. A message through a set without OPEN/CLICK
// destinations, and one without a set, are not touched.
func TestTracking(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx, api := startSending(t, d, 100)
		ctx := context.Background()
		snsc := snsClientAt("http://"+api, r.key.AccessKeyID, r.key.Secret)
		topicArn := engagementTopic(t, r, api)
		sub := newSNSSubscriber(t)
		if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		createTrackedSet(t, r, topicArn)
		// The untracked set: a SEND destination only (v1 API, to cover it).
		if _, err := r.v1.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &sesv1types.ConfigurationSet{Name: aws.String("plain")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("plain"),
			EventDestination: &sesv1types.EventDestination{Name: aws.String("sns"), Enabled: true, MatchingEventTypes: []sesv1types.EventType{sesv1types.EventTypeSend},
				SNSDestination: &sesv1types.SNSDestination{TopicARN: topicArn}}}); err != nil {
			t.Fatal(err)
		}
		send := func(set string) string {
			t.Helper()
			in := &sesv2.SendEmailInput{FromEmailAddress: aws.String("shop@example.test"), Destination: &types.Destination{ToAddresses: []string{"bob@rcpt.test"}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Spring offers")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("See https://shop.example.test/spring")}, Html: &types.Content{Data: aws.String(trackedHTML)}}}}}
			if set != "" {
				in.ConfigurationSetName = aws.String(set)
			}
			out, err := r.v2.SendEmail(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return *out.MessageId
		}

		// 1. The delivered message.
		id := send("tracked")
		got := delivered(t, mx, id)
		verifyDKIM(t, r, got.Data, "example.test")
		msg, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
		if err != nil {
			t.Fatal(err)
		}
		text, html := parts(t, msg)
		if text != "See https://shop.example.test/spring" {
			t.Errorf("text part changed: %q", text)
		}
		pixel := pixelRE.FindStringSubmatch(html)
		links := clickRE.FindAllStringSubmatch(html, -1)
		if pixel == nil || !strings.Contains(html, pixel[0]+` width="1" height="1" style="display:block;width:1px;height:1px;border:0"></body>`) || len(links) != 2 {
			t.Fatalf("pixel %v, %d tracked links in\n%s", pixel, len(links), html)
		}
		if !strings.Contains(html, `<a href="https://shop.example.test/private">Private</a>`) || !strings.Contains(html, `<a href="mailto:help@example.test">Help</a>`) ||
			strings.Contains(html, "ses:") {
			t.Errorf("untracked links or ses: attributes wrong:\n%s", html)
		}

		// 2. A real HTTP client at the custom domain, which resolves (by
		// its CNAME) to Sesame's public listener.
		client := &http.Client{
			Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, api)
			}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		fetch := func(u string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("User-Agent", "TestMail/1.0")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		if resp := fetch(pixel[1]); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" {
			t.Fatalf("pixel: %d %v", resp.StatusCode, resp.Header)
		}
		wantLinks := []string{"http://shop.example.test/spring?x=1&y=2", "http://shop.example.test/tagged"}
		for i, l := range links {
			resp := fetch(l[1])
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLinks[i] {
				t.Errorf("link %d: %d → %q, want %q", i, resp.StatusCode, resp.Header.Get("Location"), wantLinks[i])
			}
		}

		// 3. Refused, never redirected: a forged token, the second link's
		// token with the first's MAC (a swapped URL), a URL not in the
		// message.
		tok := func(u string) string { p, _ := url.Parse(u); return p.Query().Get("t") }
		t1, t2 := tok(links[0][1]), tok(links[1][1])
		for name, bad := range map[string]string{
			"forged":             "http://track.example.test/t/c?t=" + strings.Repeat("A", len(t1)),
			"swapped URL":        "http://track.example.test/t/c?t=" + t2[:len(t2)-22] + t1[len(t1)-22:],
			"not in the message": "http://track.example.test/t/c?t=" + url.QueryEscape("https://evil.example.test/"),
		} {
			if resp := fetch(bad); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%s: %d, Location %q", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}

		// 4. Open and Click events at the subscriber, in SES's shape.
		type engagement struct {
			EventType string `json:"eventType"`
			Mail      struct {
				MessageID string              `json:"messageId"`
				Tags      map[string][]string `json:"tags"`
			} `json:"mail"`
			Open *struct {
				IPAddress, Timestamp, UserAgent string
			} `json:"open"`
			Click *struct {
				IPAddress, Timestamp, UserAgent, Link string
				LinkTags                              map[string][]string `json:"linkTags"`
			} `json:"click"`
		}
		eventually(t, "Open and Click events at the SNS subscriber", func() error {
			var opens, clicks []engagement
			for _, n := range sub.notifications() {
				var e engagement
				if json.Unmarshal([]byte(n["Message"]), &e) != nil || e.Mail.MessageID != id {
					continue
				}
				switch e.EventType {
				case "Open":
					opens = append(opens, e)
				case "Click":
					clicks = append(clicks, e)
				}
			}
			if len(opens) != 1 || len(clicks) != 2 {
				return fmt.Errorf("%d opens, %d clicks", len(opens), len(clicks))
			}
			if o := opens[0].Open; o == nil || o.IPAddress != "127.0.0.1" || o.UserAgent != "TestMail/1.0" || o.Timestamp == "" {
				t.Fatalf("open = %+v", o)
			}
			for _, c := range clicks {
				if c.Click == nil || c.Click.IPAddress != "127.0.0.1" || c.Click.UserAgent != "TestMail/1.0" || c.Mail.Tags["ses:configuration-set"][0] != "tracked" {
					t.Fatalf("click = %+v", c)
				}
				switch c.Click.Link {
				case wantLinks[0]:
					if len(c.Click.LinkTags) != 0 {
						t.Errorf("untagged link has linkTags %v", c.Click.LinkTags)
					}
				case wantLinks[1]:
					if fmt.Sprint(c.Click.LinkTags) != "map[campaign:[spring] pos:[top]]" {
						t.Errorf("linkTags = %v", c.Click.LinkTags)
					}
				default:
					t.Errorf("click of %q", c.Click.Link)
				}
			}
			return nil
		})

		// 5. No OPEN/CLICK destination, or no set: the HTML as given.
		for _, set := range []string{"plain", ""} {
			id := send(set)
			got := delivered(t, mx, id)
			msg, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
			if err != nil {
				t.Fatal(err)
			}
			if _, html := parts(t, msg); html != trackedHTML {
				t.Errorf("set %q: HTML changed:\n%s", set, html)
			}
		}
	})
}

// createTrackedSet creates the set "tracked": TrackingOptions with the
// custom redirect domain track.example.test (HttpsPolicy OPTIONAL) and an
// SNS destination to topicArn for OPEN and CLICK.
func createTrackedSet(t *testing.T, r *running, topicArn *string) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("tracked"),
		TrackingOptions: &types.TrackingOptions{CustomRedirectDomain: aws.String("track.example.test"), HttpsPolicy: types.HttpsPolicyOptional}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.v2.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
		ConfigurationSetName: aws.String("tracked"), EventDestinationName: aws.String("sns"),
		EventDestination: &types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: []types.EventType{types.EventTypeOpen, types.EventTypeClick},
			SnsDestination: &types.SnsDestination{TopicArn: topicArn}},
	}); err != nil {
		t.Fatal(err)
	}
}

// engagementTopic creates the account's SNS topic "engagement" through
// the API at api and returns its ARN.
func engagementTopic(t *testing.T, r *running, api string) *string {
	t.Helper()
	topic, err := snsClientAt("http://"+api, r.key.AccessKeyID, r.key.Secret).CreateTopic(context.Background(), &awssns.CreateTopicInput{Name: aws.String("engagement")})
	if err != nil {
		t.Fatal(err)
	}
	return topic.TopicArn
}
