package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
)

// TestSetSuppressionOptions: a configuration set's SuppressionOptions
// replace the account's SuppressedReasons for the mail sent with it, also
// when its bounces are turned into suppression-list entries: a hard
// bounce of a message sent with a set that suppresses nothing (or only
// complaints) does not list the address; one sent without a set does.
func TestSetSuppressionOptions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) { c.OutboundPort = mx.port(t) })
		ctx := context.Background()
		for _, dom := range []string{"rcpt.test", "none.rcpt.test", "complaints.rcpt.test"} {
			r.customer.Add(dom + ". 300 IN MX 10 mx.rcpt.test.")
		}
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
		verifyDomain(t, r, "example.test")
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}
		for name, reasons := range map[string][]types.SuppressionListReason{"none": {}, "complaints": {types.SuppressionListReasonComplaint}} {
			if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(name),
				SuppressionOptions: &types.SuppressionOptions{SuppressedReasons: reasons}}); err != nil {
				t.Fatal(err)
			}
		}
		send := func(to, set string) string {
			t.Helper()
			in := &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("alice@example.test"),
				Destination:      &types.Destination{ToAddresses: []string{to}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hello")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}}},
			}
			if set != "" {
				in.ConfigurationSetName = aws.String(set)
			}
			out, err := r.v2.SendEmail(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return *out.MessageId
		}
		// The sink refuses the mailbox "unknown" with 550 5.1.1.
		ids := []string{send("unknown@rcpt.test", ""), send("unknown@none.rcpt.test", "none"), send("unknown@complaints.rcpt.test", "complaints")}
		eventually(t, "hard bounces", func() error {
			for _, id := range ids {
				bounced := false
				for _, e := range messageEvents(t, r, id) {
					bounced = bounced || e.Type == event.Bounce && e.Bounce.BounceType == "Permanent"
				}
				if !bounced {
					return fmt.Errorf("%s has not bounced yet", id)
				}
			}
			return nil
		})
		for addr, listed := range map[string]bool{"unknown@rcpt.test": true, "unknown@none.rcpt.test": false, "unknown@complaints.rcpt.test": false} {
			_, err := r.v2.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String(addr)})
			if (err == nil) != listed {
				t.Errorf("%s: listed %v (%v), want %v", addr, err == nil, err, listed)
			}
		}
	})
}
