package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/readiness"
)

// TestReadinessCountsUnsubscribe: messages sent through the API with and
// without ListManagementOptions (and a raw one with a List-Unsubscribe of
// its own, without one-click) are counted from what Sesame stored.
func TestReadinessCountsUnsubscribe(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx, _ := startSending(t, d, 100)
		ctx := context.Background()
		r.customer.Add(`_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"`)
		if _, err := r.v2.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("customers"), Topics: []types.Topic{
			{TopicName: aws.String("news"), DisplayName: aws.String("News"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn},
		}}); err != nil {
			t.Fatal(err)
		}
		send := func(to string, list bool) string {
			t.Helper()
			in := &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("news@example.test"),
				Destination:      &types.Destination{ToAddresses: []string{to}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("News")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}}},
			}
			if list {
				in.ListManagementOptions = &types.ListManagementOptions{ContactListName: aws.String("customers"), TopicName: aws.String("news")}
			}
			out, err := r.v2.SendEmail(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return *out.MessageId
		}
		ev, err := r.app.Readiness()
		if err != nil {
			t.Fatal(err)
		}
		report := func() *readiness.Report {
			t.Helper()
			rep, err := ev.Evaluate(ctx, r.acct.ID, "example.test")
			if err != nil {
				t.Fatal(err)
			}
			return rep
		}
		if c := report().Check(readiness.CheckUnsubscribe); c.Status != readiness.Unknown {
			t.Fatalf("no mail yet: %+v", c)
		}

		var last string
		for i := range 3 {
			last = send(fmt.Sprintf("list%d@rcpt.test", i), true)
		}
		for i := range 2 {
			send(fmt.Sprintf("plain%d@rcpt.test", i), false)
		}
		// The delivered message carries what the stored one says.
		listUnsubscribe(t, delivered(t, mx, last).Data)

		rep := report()
		u := rep.Unsubscribe
		if u.Messages != 5 || u.OneClick != 3 || u.ListUnsubscribeOnly != 0 || u.NotHTTPS != 3 || u.Bulk {
			t.Fatalf("counts %+v", u)
		}
		c := rep.Check(readiness.CheckUnsubscribe)
		// The test's public URL is http: one-click, but RFC 8058 wants https.
		if c.Status != readiness.Warn || !strings.Contains(c.Summary, "3 of 5") || !strings.Contains(strings.Join(c.Advice, " "), "https") {
			t.Fatalf("check %+v", c)
		}
		if rep.Result.Result != "pass" || rep.DKIM.Domain != "example.test" {
			t.Fatalf("result %+v, DKIM %+v", rep.Result, rep.DKIM)
		}

		// A raw message with its own List-Unsubscribe but no one-click.
		raw := "From: news@example.test\r\nTo: raw@rcpt.test\r\nSubject: raw\r\nList-Unsubscribe: <mailto:leave@example.test>\r\n\r\nHello\r\n"
		if _, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}}); err != nil {
			t.Fatal(err)
		}
		rep = report()
		if rep.Unsubscribe.Messages != 6 || rep.Unsubscribe.ListUnsubscribeOnly != 1 {
			t.Fatalf("counts %+v", rep.Unsubscribe)
		}
		if c := rep.Check(readiness.CheckUnsubscribe); c.Status != readiness.Fail || !strings.Contains(c.Summary, "without one-click") {
			t.Fatalf("check %+v", c)
		}

		// An account without the domain does not see it.
		if _, err := ev.Evaluate(ctx, "no-such-account", "example.test"); err == nil {
			t.Fatal("another account sees example.test")
		}
	})
}
