package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/sigv4"
	"github.com/sesame-email/sesame/internal/testkit"
)

var listUnsubRE = regexp.MustCompile(`^<(https?://[^>]+)>,\s*<mailto:([^>]+)>$`)

// listUnsubscribe returns the message's one-click URL and mailto address,
// checking the headers RFC 8058 asks for and that every DKIM signature
// covers both.
func listUnsubscribe(t *testing.T, data []byte) (*mail.Message, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(msg.Header["List-Unsubscribe"]); n != 1 {
		t.Fatalf("%d List-Unsubscribe fields:\n%s", n, data)
	}
	m := listUnsubRE.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if m == nil || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("List-Unsubscribe %q, List-Unsubscribe-Post %q", msg.Header.Get("List-Unsubscribe"), msg.Header.Get("List-Unsubscribe-Post"))
	}
	sigs := msg.Header["Dkim-Signature"]
	if len(sigs) == 0 {
		t.Fatal("not signed")
	}
	for _, s := range sigs {
		var h []string
		for tag := range strings.SplitSeq(strings.Join(strings.Fields(s), ""), ";") {
			if v, ok := strings.CutPrefix(tag, "h="); ok {
				h = strings.Split(strings.ToLower(v), ":")
			}
		}
		if !slices.Contains(h, "list-unsubscribe") || !slices.Contains(h, "list-unsubscribe-post") {
			t.Errorf("DKIM h= %v does not cover both List-Unsubscribe fields", h)
		}
	}
	return msg, m[1], m[2]
}

// parts returns the decoded text/plain and text/html of a
// multipart/alternative message.
func parts(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		} else {
			text = string(b)
		}
	}
}

// mailboxProvider POSTs the one-click URL as RFC 8058 says a mailbox
// provider does: the form body, no cookies, no redirects followed.
func mailboxProvider(t *testing.T, u string) (int, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestListUnsubscribe is [8/10] parts 2 and 3 end to end through the SDK:
// a templated SendEmail with ListManagementOptions arrives with
// List-Unsubscribe (signed by DKIM) and the link in its parts; the
// mailbox provider's one-click POST opts the contact out of the topic,
// with a Subscription event through the message's configuration set; the
// next send to them is a Bounce, not a delivery; the mailto: address at
// the feedback MX does the same; the raw header and the bulk extension
// work too, and an unknown list or topic is NotFoundException.
func TestListUnsubscribe(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx, api := startSending(t, d, 100, func(c *cfgT) { c.FeedbackAddr = "127.0.0.1:0" })
		ctx := context.Background()
		if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("marketing")}); err != nil {
			t.Fatal(err)
		}
		// Subscription events go to an SNS topic with an HTTP subscriber.
		snsc := snsClientAt("http://"+api, r.key.AccessKeyID, r.key.Secret)
		topic, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("subscriptions")})
		if err != nil {
			t.Fatal(err)
		}
		sub := newSNSSubscriber(t)
		if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
			ConfigurationSetName: aws.String("marketing"), EventDestinationName: aws.String("sns"),
			EventDestination: &types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: []types.EventType{types.EventTypeSubscription},
				SnsDestination: &types.SnsDestination{TopicArn: topic.TopicArn}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("customers"), Topics: []types.Topic{
			{TopicName: aws.String("news"), DisplayName: aws.String("News"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn},
			{TopicName: aws.String("offers"), DisplayName: aws.String("Offers"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn},
		}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v2.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("newsletter"),
			TemplateContent: &types.EmailTemplateContent{Subject: aws.String("News for {{name}}"),
				Text: aws.String("Hi {{name}}. Unsubscribe: {{amazonSESUnsubscribeUrl}}"),
				Html: aws.String(`<p>Hi {{name}}</p><a href="{{amazonSESUnsubscribeUrl}}">Unsubscribe</a>`)}}); err != nil {
			t.Fatal(err)
		}
		sendNews := func(to, topic string) (string, error) {
			out, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress:      aws.String("news@example.test"),
				Destination:           &types.Destination{ToAddresses: []string{to}},
				ConfigurationSetName:  aws.String("marketing"),
				ListManagementOptions: &types.ListManagementOptions{ContactListName: aws.String("customers"), TopicName: aws.String(topic)},
				Content: &types.EmailContent{Template: &types.Template{TemplateName: aws.String("newsletter"),
					TemplateData: aws.String(`{"name":"Bob"}`)}},
			})
			if err != nil {
				return "", err
			}
			return *out.MessageId, nil
		}

		// 1. The message and its headers.
		id, err := sendNews("bob@rcpt.test", "news")
		if err != nil {
			t.Fatal(err)
		}
		got := delivered(t, mx, id)
		verifyDKIM(t, r, got.Data, "example.test")
		msg, oneClick, mailto := listUnsubscribe(t, got.Data)
		if !strings.HasPrefix(oneClick, "http://"+api+"/unsubscribe?t=") || !strings.HasPrefix(mailto, "unsubscribe+") ||
			!strings.HasSuffix(mailto, "@feedback-smtp.us-east-1."+svc) {
			t.Fatalf("links %s %s", oneClick, mailto)
		}
		text, html := parts(t, msg)
		if !strings.Contains(text, "Unsubscribe: "+oneClick) || !strings.Contains(html, `href="`+oneClick+`"`) {
			t.Errorf("placeholders not replaced:\n%s\n%s", text, html)
		}

		// 2. The mailbox provider's POST.
		if code, body := mailboxProvider(t, oneClick); code != 200 {
			t.Fatalf("one-click: %d %s", code, body)
		}
		c, err := r.v2.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("customers"), EmailAddress: aws.String("bob@rcpt.test")})
		if err != nil {
			t.Fatal(err)
		}
		if c.UnsubscribeAll || len(c.TopicPreferences) != 1 || *c.TopicPreferences[0].TopicName != "news" || c.TopicPreferences[0].SubscriptionStatus != types.SubscriptionStatusOptOut {
			t.Fatalf("contact after one-click: %+v", c)
		}
		var subEvent *event.Event
		for _, e := range messageEvents(t, r, id) {
			if e.Type == event.Subscription {
				subEvent = e
			}
		}
		if subEvent == nil || subEvent.ConfigurationSet != "marketing" || subEvent.Subscription.Source != "UnsubscribeHeader" || subEvent.Subscription.ContactList != "customers" {
			t.Fatalf("Subscription event: %+v", subEvent)
		}

		eventually(t, "Subscription event at the SNS subscriber", func() error {
			for _, n := range sub.notifications() {
				var e struct {
					EventType string `json:"eventType"`
					Mail      struct {
						MessageID string `json:"messageId"`
					}
					Subscription struct {
						ContactList         string `json:"contactList"`
						Source              string `json:"source"`
						NewTopicPreferences struct {
							TopicSubscriptionStatus []struct{ TopicName, SubscriptionStatus string } `json:"topicSubscriptionStatus"`
						} `json:"newTopicPreferences"`
					} `json:"subscription"`
				}
				if json.Unmarshal([]byte(n["Message"]), &e) != nil {
					continue // the destination's "Successfully validated" notice
				}
				if e.EventType == "Subscription" && e.Mail.MessageID == id && e.Subscription.ContactList == "customers" &&
					fmt.Sprint(e.Subscription.NewTopicPreferences.TopicSubscriptionStatus) == "[{news OptOut} {offers OptIn}]" {
					return nil
				}
			}
			return fmt.Errorf("not yet: %v", sub.notifications())
		})

		// 3. The next send of the topic is not delivered: a Bounce.
		id2, err := sendNews("bob@rcpt.test", "news")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "bounce of the opted-out contact", func() error {
			for _, e := range messageEvents(t, r, id2) {
				if e.Type == event.Bounce && e.Bounce.BounceType == "Permanent" && e.Bounce.BounceSubType == "OnAccountSuppressionList" &&
					strings.Contains(e.Bounce.BouncedRecipients[0].DiagnosticCode, "unsubscribed from topic news") {
					return nil
				}
			}
			return errors.New("no Bounce yet")
		})
		// Another topic still goes out.
		id3, err := sendNews("bob@rcpt.test", "offers")
		if err != nil {
			t.Fatal(err)
		}
		delivered(t, mx, id3)
		for _, m := range mx.all() {
			if strings.Contains(string(m.Data), id2) {
				t.Fatal("the opted-out send was delivered")
			}
		}

		// 4. The mailto: address, through the feedback MX, with go-smtp's
		// client, as a mailbox provider's unsubscribe mail arrives.
		idc, err := sendNews("carol@rcpt.test", "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, carolMailto := listUnsubscribe(t, delivered(t, mx, idc).Data)
		cl, err := smtp.Dial(r.ready.Feedback)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.SendMail("carol@rcpt.test", []string{carolMailto}, strings.NewReader("From: carol@rcpt.test\r\nTo: "+carolMailto+"\r\nSubject: unsubscribe\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		cl.Quit()
		c, err = r.v2.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("customers"), EmailAddress: aws.String("carol@rcpt.test")})
		if err != nil || !c.UnsubscribeAll {
			t.Fatalf("carol after mailto: %+v %v", c, err)
		}
		// A forged mailto address is refused like any unknown one.
		cl, err = smtp.Dial(r.ready.Feedback)
		if err != nil {
			t.Fatal(err)
		}
		forged := strings.Replace(carolMailto, "unsubscribe+a", "unsubscribe+b", 1)
		if forged == carolMailto {
			forged = strings.Replace(carolMailto, "unsubscribe+", "unsubscribe+a", 1)
		}
		if err := cl.SendMail("x@rcpt.test", []string{forged}, strings.NewReader("Subject: x\r\n\r\n")); err == nil {
			t.Error("a forged mailto address was accepted")
		}
		cl.Close()

		// 5. Raw content with the SMTP header, a placeholder and a
		// List-Unsubscribe of the caller's own, which Sesame replaces.
		raw := "From: news@example.test\r\nTo: dave@rcpt.test\r\nSubject: raw\r\nX-SES-LIST-MANAGEMENT-OPTIONS: customers; topic=offers\r\n" +
			"List-Unsubscribe: <https://evil.test/u>\r\n\r\nLeave: {{amazonSESUnsubscribeUrl}}\r\n"
		out, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}})
		if err != nil {
			t.Fatal(err)
		}
		rawGot := delivered(t, mx, *out.MessageId)
		verifyDKIM(t, r, rawGot.Data, "example.test")
		_, daveURL, _ := listUnsubscribe(t, rawGot.Data)
		if strings.Contains(string(rawGot.Data), "evil.test") || strings.Contains(string(rawGot.Data), "X-SES-LIST") || !strings.Contains(string(rawGot.Data), "Leave: "+daveURL) {
			t.Errorf("raw message:\n%s", rawGot.Data)
		}

		// 6. The bulk extension: every entry gets its own link.
		bulk, err := r.v2.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@example.test"),
			DefaultContent: &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("newsletter"), TemplateData: aws.String(`{"name":"you"}`)}},
			BulkEmailEntries: []types.BulkEmailEntry{{Destination: &types.Destination{ToAddresses: []string{"erin@rcpt.test"}}},
				{Destination: &types.Destination{ToAddresses: []string{"bob@rcpt.test"}}}},
		}, withBulkListManagement("customers", "news"))
		if err != nil {
			t.Fatal(err)
		}
		erin := delivered(t, mx, *bulk.BulkEmailEntryResults[0].MessageId)
		if _, u, _ := listUnsubscribe(t, erin.Data); u == oneClick {
			t.Error("erin got bob's link")
		}
		eventually(t, "bulk bounce of bob", func() error {
			for _, e := range messageEvents(t, r, *bulk.BulkEmailEntryResults[1].MessageId) {
				if e.Type == event.Bounce {
					return nil
				}
			}
			return errors.New("no Bounce yet")
		})

		// 7. Unknown list or topic.
		for _, lm := range []*types.ListManagementOptions{{ContactListName: aws.String("nope")}, {ContactListName: aws.String("customers"), TopicName: aws.String("nope")}} {
			_, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@example.test"),
				Destination: &types.Destination{ToAddresses: []string{"bob@rcpt.test"}}, ListManagementOptions: lm,
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("x")}, Body: &types.Body{Text: &types.Content{Data: aws.String("x")}}}}})
			var nf *types.NotFoundException
			if !errors.As(err, &nf) {
				t.Errorf("%s/%s: %v, want NotFoundException", *lm.ContactListName, aws.ToString(lm.TopicName), err)
			}
		}
		_, err = r.v2.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@example.test"),
			DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("newsletter"), TemplateData: aws.String(`{"name":"you"}`)}},
			BulkEmailEntries: []types.BulkEmailEntry{{Destination: &types.Destination{ToAddresses: []string{"erin@rcpt.test"}}}},
		}, withBulkListManagement("nope", ""))
		var nf *types.NotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("bulk, unknown list: %v", err)
		}
	})
}

// withBulkListManagement adds Sesame's ListManagementOptions extension to
// a SendBulkEmail request's JSON body (the SDK has no field for it).
func withBulkListManagement(list, topic string) func(*sesv2.Options) {
	return func(o *sesv2.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("listManagement", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				req := in.Request.(*smithyhttp.Request)
				b, err := io.ReadAll(req.GetStream())
				if err != nil {
					return middleware.BuildOutput{}, middleware.Metadata{}, err
				}
				var body map[string]any
				if err := json.Unmarshal(b, &body); err != nil {
					return middleware.BuildOutput{}, middleware.Metadata{}, err
				}
				lm := map[string]string{"ContactListName": list}
				if topic != "" {
					lm["TopicName"] = topic
				}
				body["ListManagementOptions"] = lm
				b, _ = json.Marshal(body)
				r, err := req.SetStream(bytes.NewReader(b))
				if err != nil {
					return middleware.BuildOutput{}, middleware.Metadata{}, err
				}
				r.ContentLength = int64(len(b))
				in.Request = r
				return next.HandleBuild(ctx, in)
			}), middleware.Before)
		})
	}
}

// TestSMTPListManagement: SMTP submission with X-SES-LIST-MANAGEMENT-OPTIONS
// gets the same List-Unsubscribe as the API (the header removed, the
// fields DKIM-signed); an unknown list is SES's 554.
func TestSMTPListManagement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx := startSMTP(t, d, nil)
		ctx := context.Background()
		if _, err := r.v2.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("customers")}); err != nil {
			t.Fatal(err)
		}
		user, pass := r.key.AccessKeyID, sigv4.SMTPPassword(r.key.Secret, "us-east-1")
		c := smtpLogin(t, r.ready.SMTP, false, sasl.NewPlainClient("", user, pass))
		const msg = "From: alice@example.test\r\nTo: bob@rcpt.test\r\nSubject: News\r\nX-SES-LIST-MANAGEMENT-OPTIONS: customers\r\n\r\nLeave: {{amazonSESUnsubscribeUrl}}\r\n"
		id, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, msg)
		if err != nil {
			t.Fatal(err)
		}
		got := delivered(t, mx, id)
		verifyDKIM(t, r, got.Data, "example.test")
		_, u, _ := listUnsubscribe(t, got.Data)
		if bytes.Contains(got.Data, []byte("X-SES-")) || !bytes.Contains(got.Data, []byte("Leave: "+u+"\r\n")) {
			t.Errorf("delivered:\n%s", got.Data)
		}
		_, err = testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, strings.Replace(msg, "customers", "nope", 1))
		if got := testkit.SMTPReply(err); got != "554 Transaction failed: Contact list nope does not exist." {
			t.Errorf("unknown list: %q", got)
		}
	})
}
