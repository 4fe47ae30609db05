package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sesv1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/bounce"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestFeedbackLoop: a message goes out through the API with a custom MAIL
// FROM; bounces and a complaint about it come back, over SMTP, to its
// envelope sender at Sesame's feedback MX (found through the MAIL FROM
// domain's MX record); they become events, suppress the bad and the
// complaining addresses but not the one behind a reputation block, are
// forwarded to the sender's mailbox, and a later send to a suppressed
// address is not delivered.
func TestFeedbackLoop(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) {
			c.OutboundPort = mx.port(t)
			c.SPFIPs, c.FeedbackIPs = ipList("127.0.0.1"), ipList("127.0.0.1")
			c.FeedbackAddr = "127.0.0.1:0"
		})
		ctx := context.Background()
		// Recipients and the sender's own mailbox share one MX.
		r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
		r.customer.Add("example.test. 300 IN MX 10 mx.rcpt.test.")
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
		verifyDomain(t, r, "example.test")
		if _, err := r.v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("example.test"),
			MailFromDomain: aws.String("bounce.example.test"), BehaviorOnMXFailure: sesv1types.BehaviorOnMXFailureRejectMessage}); err != nil {
			t.Fatal(err)
		}
		publishMailFrom(t, r, "example.test", "bounce.example.test")
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}

		send := func(to ...string) string {
			t.Helper()
			out, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("Alice <alice@example.test>"),
				Destination:      &types.Destination{ToAddresses: to},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hello")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello")}}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			return *out.MessageId
		}
		id := send("bob@rcpt.test", "carol@rcpt.test", "dave@rcpt.test")
		var returnPath string
		eventually(t, "message delivered", func() error {
			for _, m := range mx.all() {
				if len(m.To) == 3 {
					returnPath = m.From
					return nil
				}
			}
			return errors.New("nothing received yet")
		})
		if returnPath != id+"@bounce.example.test" {
			t.Fatalf("return path %q", returnPath)
		}
		// The MX has the message before Sesame records its deliveries.
		eventually(t, "deliveries recorded", func() error {
			n := 0
			for _, e := range messageEvents(t, r, id) {
				if e.Type == event.Delivery {
					n++
				}
			}
			if n != 3 {
				return fmt.Errorf("%d Delivery events", n)
			}
			return nil
		})

		// The return path's domain leads to the feedback MX: its MX record
		// in the customer's zone, the host's address in Sesame's.
		customerDNS := &sesdns.Client{Servers: []string{r.customer.Addr()}}
		mxs, err := customerDNS.LookupMX(ctx, "bounce.example.test")
		if err != nil || len(mxs) != 1 {
			t.Fatalf("MX of the MAIL FROM domain: %v %v", mxs, err)
		}
		ips, err := (&sesdns.Client{Servers: []string{r.ready.DNS}}).LookupIP(ctx, mxs[0].Host)
		if err != nil || len(ips) != 1 || ips[0].String() != "127.0.0.1" {
			t.Fatalf("address of %s: %v %v", mxs[0].Host, ips, err)
		}
		_, port, _ := net.SplitHostPort(r.ready.Feedback)
		feedbackMX := net.JoinHostPort(ips[0].String(), port)

		report := func(from, msg string) {
			t.Helper()
			// As a recipient's MTA sends a DSN (from the null sender) and
			// its feedback loop a complaint (from its role address), over
			// opportunistic STARTTLS (the server's certificate is
			// self-signed).
			c, err := smtp.DialStartTLS(feedbackMX, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SendMail(from, []string{returnPath}, strings.NewReader(msg)); err != nil {
				t.Fatalf("sending feedback: %v", err)
			}
			c.Quit()
		}
		report("", testkit.DSN(returnPath, "bob@rcpt.test", "5.1.1", "550 5.1.1 <bob@rcpt.test>: Recipient address rejected: User unknown"))
		report("", testkit.DSN(returnPath, "carol@rcpt.test", "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org"))
		report(testkit.ARFSender("dave@rcpt.test"), testkit.ARF(returnPath, "dave@rcpt.test"))

		// The events.
		evs := messageEvents(t, r, id)
		var kinds []string
		for _, e := range evs {
			switch e.Type {
			case event.Bounce:
				kinds = append(kinds, fmt.Sprintf("Bounce %s/%s %s", e.Bounce.BounceType, e.Bounce.BounceSubType, e.Bounce.BouncedRecipients[0].EmailAddress))
			case event.Complaint:
				kinds = append(kinds, fmt.Sprintf("Complaint %s %s", e.Complaint.ComplaintFeedbackType, e.Complaint.ComplainedRecipients[0]))
			default:
				kinds = append(kinds, string(e.Type))
			}
		}
		want := []string{"Send", "Delivery", "Delivery", "Delivery", "Bounce Permanent/NoEmail bob@rcpt.test",
			"Bounce Permanent/General carol@rcpt.test", "Complaint abuse dave@rcpt.test"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
		}

		// The suppression list, through the API.
		for addr, reason := range map[string]types.SuppressionListReason{"bob@rcpt.test": types.SuppressionListReasonBounce, "dave@rcpt.test": types.SuppressionListReasonComplaint} {
			g, err := r.v2.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String(addr)})
			if err != nil {
				t.Fatalf("%s not suppressed: %v", addr, err)
			}
			if g.SuppressedDestination.Reason != reason || aws.ToString(g.SuppressedDestination.Attributes.MessageId) != id {
				t.Fatalf("%s: %+v", addr, g.SuppressedDestination)
			}
		}
		if _, err := r.v2.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String("carol@rcpt.test")}); err == nil {
			t.Fatal("a reputation block suppressed the recipient")
		}

		// Feedback forwarding: three notices in the sender's mailbox.
		eventually(t, "notices forwarded", func() error {
			var subjects []string
			for _, m := range mx.all() {
				if len(m.To) != 1 || m.To[0] != "alice@example.test" {
					continue
				}
				msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
				if err != nil {
					return err
				}
				verifyServiceDKIM(t, r, m.Data)
				subjects = append(subjects, msg.Header.Get("From")+" "+msg.Header.Get("Subject"))
			}
			slices.Sort(subjects)
			want := []string{"MAILER-DAEMON@" + svc + " Delivery Status Notification (Failure)", "MAILER-DAEMON@" + svc + " Delivery Status Notification (Failure)",
				"complaints@" + svc + " Complaint Notification"}
			if !slices.Equal(subjects, want) {
				return fmt.Errorf("notices %q", subjects)
			}
			return nil
		})

		// Refusals during delivery follow the same rules: a bad mailbox
		// is suppressed, a block-list refusal is not.
		id3 := send("unknown@rcpt.test", "blocked@rcpt.test")
		eventually(t, "delivery bounces", func() error {
			n := 0
			for _, e := range messageEvents(t, r, id3) {
				if e.Type == event.Bounce && e.Bounce.BounceType == "Permanent" {
					n++
				}
			}
			if n != 2 {
				return fmt.Errorf("%d permanent bounces", n)
			}
			return nil
		})
		if _, err := r.v2.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String("unknown@rcpt.test")}); err != nil {
			t.Fatalf("a bad mailbox refused during delivery was not suppressed: %v", err)
		}
		if _, err := r.v2.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String("blocked@rcpt.test")}); err == nil {
			t.Fatal("a block-list refusal during delivery suppressed the recipient")
		}

		// A later send to the suppressed address is accepted but not
		// delivered.
		before := len(mx.all())
		id2 := send("bob@rcpt.test")
		eventually(t, "suppression bounce", func() error {
			for _, e := range messageEvents(t, r, id2) {
				if e.Type == event.Bounce && e.Bounce.BounceSubType == "OnAccountSuppressionList" {
					return nil
				}
			}
			return errors.New("no OnAccountSuppressionList bounce yet")
		})
		for _, m := range mx.all()[before:] {
			if slices.Contains(m.To, "bob@rcpt.test") {
				t.Fatalf("a suppressed address was delivered to: %+v", m)
			}
		}
	})
}

// messageEvents returns the stored events about message id.
func messageEvents(t *testing.T, r *running, id string) []*event.Event {
	t.Helper()
	return testkit.Events(t, r.app.DB, id)
}

// TestFeedbackReports: `sesame feedback list/show` print the reports the
// feedback MX took, and --account filters strictly: one account never
// sees another's; --since counts back from the clock the caller gives.
// Text from a report (a HELO name with a terminal escape and a
// right-to-left override) is printed escaped.
func TestFeedbackReports(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a, err := app.OpenDB(config.Config{DataDir: t.TempDir(), MasterKey: "k", Region: "us-east-1", ServiceDomain: svc},
			slog.New(slog.NewTextHandler(t.Output(), nil)), d)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		zone := dnstest.NewServer(t)
		zone.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
		zone.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
		checker := &origin.Checker{Resolver: zone.Resolver()}

		ids := map[string]string{} // account name → its message
		for _, name := range []string{"alpha", "beta"} {
			acct, _, err := a.Accounts.Create(ctx, account.CreateOptions{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			id := "msg-" + name
			mail := event.Mail{Timestamp: time.Now(), MessageID: id, Source: "s@example.test", SendingAccountID: acct.ID, Destination: []string{"a@rcpt.test", "b@victim.test"}}
			if err := a.Queue.Enqueue(ctx, &queue.Message{ID: id, AccountID: acct.ID, Source: mail.Source, MailFrom: id + "@us-east-1." + svc, Mail: mail,
				Body: []byte("From: s@example.test\r\n\r\nhi\r\n"), Recipients: mail.Destination, Counted: 2}, nil); err != nil {
				t.Fatal(err)
			}
			ids[name] = id
			sent, err := a.Queue.Lookup(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			// From rcpt.test's MX host: genuine for a@rcpt.test, not for
			// b@victim.test.
			raw := testkit.DSN(sent.MailFrom, "a@rcpt.test", "5.1.1", "550 5.1.1 unknown")
			raw = strings.Replace(raw, "Final-Recipient: rfc822; a@rcpt.test", "Final-Recipient: rfc822; b@victim.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; a@rcpt.test", 1)
			rep, err := bounce.Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			in := &feedback.Received{Raw: []byte(raw), Size: int64(len(raw)), Report: rep, Check: checker.Check,
				Evidence: origin.Evidence{RemoteIP: netip.MustParseAddr("127.0.0.1"), HELO: "mx.rcpt.test\x1b[2J\u202e"}}
			if _, err := a.Feedback.Apply(ctx, in, sent); err != nil {
				t.Fatal(err)
			}
			// A complaint from the same place about b@victim.test only.
			rep = &bounce.Report{Kind: bounce.KindComplaint, Format: bounce.FormatARF, Recipients: []bounce.Recipient{{Address: "b@victim.test"}}}
			in = &feedback.Received{Raw: []byte("From: " + testkit.ARFSender("b@rcpt.test") + "\r\n\r\n"), Report: rep, Check: checker.Check, Evidence: in.Evidence}
			if _, err := a.Feedback.Apply(ctx, in, sent); err != nil {
				t.Fatal(err)
			}
		}

		now := time.Now().Add(time.Second) // the caller's clock: a second after the reports
		run := func(ref string, since time.Duration, unverified bool) string {
			t.Helper()
			var b bytes.Buffer
			if err := a.ListFeedback(ctx, &b, now, ref, since, unverified); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		out := run("alpha", 0, false)
		if strings.Count(out, "\n") != 3 || strings.Contains(out, ids["beta"]) || strings.Contains(out, "\x1b") ||
			!strings.Contains(out, "b@victim.test unverified, a@rcpt.test verified") || !strings.Contains(out, "complaint/arf") {
			t.Fatalf("list --account alpha:\n%s", out)
		}
		out = run("beta", 0, true)
		if strings.Count(out, "\n") != 3 || strings.Contains(out, ids["alpha"]) {
			t.Fatalf("list --account beta --unverified:\n%s", out) // both of beta's name b@victim.test
		}
		if out := run("", time.Hour, false); strings.Count(out, "\n") != 5 {
			t.Fatalf("list --since 1h:\n%s", out)
		}
		if out := run("", time.Nanosecond, false); strings.Count(out, "\n") != 1 {
			t.Fatalf("list --since 1ns:\n%s", out)
		}
		now = now.Add(48 * time.Hour) // the caller's clock, two days on
		if out := run("", time.Hour, false); strings.Count(out, "\n") != 1 {
			t.Fatalf("list --since 1h, two days later:\n%s", out)
		}
		if err := a.ListFeedback(ctx, io.Discard, now, "nobody", 0, false); err == nil {
			t.Fatal("an unknown account was accepted")
		}

		all, err := feedback.ListReports(ctx, a.DB, feedback.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var betaDSN int64
		for _, r := range all {
			if r.MessageID == ids["beta"] && r.Kind == bounce.KindBounce {
				betaDSN = r.ID
			}
		}
		if err := a.ShowFeedback(ctx, io.Discard, betaDSN, "alpha"); !errors.Is(err, feedback.ErrNoSuchReport) {
			t.Fatalf("show beta's report --account alpha: %v; want ErrNoSuchReport", err)
		}
		var show bytes.Buffer
		if err := a.ShowFeedback(ctx, &show, betaDSN, "beta"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{ids["beta"], "127.0.0.1 (mx.rcpt.test\\x1b[2J\\u202e) <>", "a@rcpt.test: verified: client 127.0.0.1 is an MX host of rcpt.test",
			"b@victim.test: not verified: ", "Final-Recipient: rfc822; b@victim.test", "outcome     applied"} {
			if !strings.Contains(show.String(), s) {
				t.Errorf("show lacks %q:\n%s", s, show.String())
			}
		}
		if strings.ContainsAny(show.String(), "\x1b\u202e") {
			t.Errorf("show prints a terminal escape or a bidi override:\n%q", show.String())
		}
	})
}
