package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sesv1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	sesdns "github.com/sesame-email/sesame/internal/dns"
)

// received is one message a recipient's MX accepted.
type received struct {
	From string
	To   []string
	Data []byte
}

// sink is a recipient's MX: a real go-smtp server on loopback that keeps
// what it receives.
type sink struct {
	mu   sync.Mutex
	msgs []received
	addr string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "mx.rcpt.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) port(t *testing.T) int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

type sinkSession struct {
	s   *sink
	cur received
}

func (ss *sinkSession) Reset()        { ss.cur = received{} }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur.From = from
	return nil
}

// Rcpt refuses, as real servers do, the local parts "unknown" (a bad
// mailbox) and "blocked" (a block-list refusal of the sending host).
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "unknown@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
	case strings.HasPrefix(to, "blocked@"):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = b
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	return nil
}

// zones answers SPF's lookups like the Internet would: names under the
// service domain from Sesame's own DNS server, the rest from the
// customers' zones.
type zones struct {
	sesame, customer *sesdns.Client
}

func (z zones) pick(name string) *sesdns.Client {
	if strings.HasSuffix(strings.TrimSuffix(strings.ToLower(name), "."), svc) {
		return z.sesame
	}
	return z.customer
}

func notFound(name string, err error) error {
	if sesdns.IsNotFound(err) {
		return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return err
}

func (z zones) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := z.pick(name).LookupTXT(ctx, name)
	return txt, notFound(name, err)
}

func (z zones) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mxs, err := z.pick(name).LookupMX(ctx, name)
	var out []*net.MX
	for _, m := range mxs {
		out = append(out, &net.MX{Host: m.Host, Pref: m.Pref})
	}
	return out, notFound(name, err)
}

func (z zones) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := z.pick(host).LookupIP(ctx, host)
	var out []net.IPAddr
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: ip.AsSlice()})
	}
	return out, notFound(host, err)
}

func (z zones) LookupAddr(context.Context, string) ([]string, error) {
	return nil, errors.New("no PTR lookups here")
}

// verifyDomain creates the domain identity, publishes its DKIM CNAMEs
// (the three RSA tokens and the Ed25519 one: mail is signed with both
// keys) in the customer's zone and waits until it is verified.
func verifyDomain(t *testing.T, r *running, domain string) {
	t.Helper()
	ctx := context.Background()
	out, err := r.v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)})
	if err != nil {
		t.Fatal(err)
	}
	i, err := r.app.Identities.Get(ctx, r.acct.ID, domain)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range append(out.DkimAttributes.Tokens, i.DKIM.Ed25519Token) {
		r.customer.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", tok, domain, tok, svc))
	}
	eventually(t, "domain verified", func() error {
		g, err := r.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(domain)})
		if err == nil && g.VerificationStatus != types.VerificationStatusSuccess {
			err = fmt.Errorf("status %s", g.VerificationStatus)
		}
		return err
	})
}

// publishMailFrom publishes the MX and SPF records of the identity's
// custom MAIL FROM domain and waits for its status to be Success.
func publishMailFrom(t *testing.T, r *running, identity, mailFrom string) {
	t.Helper()
	r.customer.Add(mailFrom + ". 300 IN MX 10 feedback-smtp.us-east-1." + svc + ".")
	r.customer.Add(mailFrom + `. 300 IN TXT "v=spf1 include:` + svc + ` ~all"`)
	eventually(t, "MAIL FROM success", func() error {
		g, err := r.v2.GetEmailIdentity(context.Background(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(identity)})
		if err == nil && g.MailFromAttributes.MailFromDomainStatus != types.MailFromDomainStatusSuccess {
			err = fmt.Errorf("MAIL FROM %s", g.MailFromAttributes.MailFromDomainStatus)
		}
		return err
	})
}

// verifyServiceDKIM checks that msg, Sesame's own mail, carries a DKIM
// signature by the service domain that verifies through Sesame's DNS.
func verifyServiceDKIM(t *testing.T, r *running, msg []byte) {
	t.Helper()
	dnsc := &sesdns.Client{Servers: []string{r.ready.DNS}, Timeout: 2 * time.Second}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return dnsc.LookupTXT(context.Background(), name)
	}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != svc {
		t.Fatalf("service DKIM: %v, %+v\n%s", err, vs, msg)
	}
}

// TestSendEndToEnd is the core promise: with a custom MAIL FROM in
// Success, a message sent through the SES API arrives at the recipient's
// MX with a DKIM signature that verifies through DNS (d= the From domain)
// and an envelope sender under the MAIL FROM domain for which SPF passes
// from 127.0.0.1 — so both align with the From domain under DMARC.
func TestSendEndToEnd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) { c.OutboundPort = mx.port(t); c.SPFIPs = ipList("127.0.0.1") })
		ctx := context.Background()
		r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")

		verifyDomain(t, r, "example.test")
		if _, err := r.v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("example.test"),
			MailFromDomain: aws.String("bounce.example.test"), BehaviorOnMXFailure: sesv1types.BehaviorOnMXFailureRejectMessage}); err != nil {
			t.Fatal(err)
		}
		sendOne := func() (*sesv2.SendEmailOutput, error) {
			return r.v2.SendEmail(ctx, &sesv2.SendEmailInput{
				FromEmailAddress: aws.String("Alice <alice@example.test>"),
				Destination:      &types.Destination{ToAddresses: []string{"bob@rcpt.test"}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hello")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("Hello Bob")}}}},
			})
		}
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 100); err != nil {
			t.Fatal(err)
		}
		// MAIL FROM still Pending with RejectMessage: refused, nothing sent.
		if _, err := sendOne(); err == nil || !strings.Contains(err.Error(), "MailFromDomainNotVerifiedException") {
			t.Fatalf("send before the MX is published: %v", err)
		}
		publishMailFrom(t, r, "example.test", "bounce.example.test")
		sent, err := sendOne()
		if err != nil {
			t.Fatal(err)
		}
		var got received
		eventually(t, "message delivered", func() error {
			for _, m := range mx.all() {
				if len(m.To) == 1 && m.To[0] == "bob@rcpt.test" {
					got = m
					return nil
				}
			}
			return errors.New("nothing received yet")
		})
		if want := *sent.MessageId + "@bounce.example.test"; got.From != want {
			t.Fatalf("envelope: MAIL FROM %q RCPT %v; want MAIL FROM %q", got.From, got.To, want)
		}

		// DKIM: verified through the customer's CNAME and Sesame's own DNS.
		verifyDKIM(t, r, got.Data, "example.test")
		// The events, as `sesame events tail` prints them.
		eventually(t, "Send and Delivery events", func() error {
			var buf bytes.Buffer
			if err := r.app.TailEvents(ctx, &buf, "acme", 10, false); err != nil {
				return err
			}
			for _, want := range []string{`"eventType":"Send"`, `"eventType":"Delivery"`, `"messageId":"` + *sent.MessageId + `"`} {
				if !strings.Contains(buf.String(), want) {
					return fmt.Errorf("events lack %s:\n%s", want, buf.String())
				}
			}
			return nil
		})
		// SPF for the envelope sender's domain, from the address Sesame sent from.
		res := zones{sesame: &sesdns.Client{Servers: []string{r.ready.DNS}, Timeout: 2 * time.Second}, customer: &sesdns.Client{Servers: []string{r.customer.Addr()}, Timeout: 2 * time.Second}}
		result, err := spf.CheckHostWithSender(net.ParseIP("127.0.0.1"), "us-east-1."+svc, got.From, spf.WithResolver(res))
		if result != spf.Pass {
			t.Fatalf("SPF for %s: %s (%v)", got.From, result, err)
		}
	})
}

// TestSystemMail: the address-verification message and the owner's
// notifications are really sent; the verification message counts against
// the account's daily quota (the account chose where it goes), the
// owner's notifications do not.
func TestSystemMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		mx := newSink(t)
		r := startWith(t, d, func(c *cfgT) { c.OutboundPort = mx.port(t) })
		ctx := context.Background()
		r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
		r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")

		// 1. The verification message reaches the address, and its link works.
		if _, err := r.v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("jane@rcpt.test")}); err != nil {
			t.Fatal(err)
		}
		var verification received
		eventually(t, "verification mail delivered", func() error {
			for _, m := range mx.all() {
				if len(m.To) == 1 && m.To[0] == "jane@rcpt.test" {
					verification = m
					return nil
				}
			}
			return errors.New("not yet")
		})
		msg, err := mail.ReadMessage(bytes.NewReader(verification.Data))
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		verifyServiceDKIM(t, r, verification.Data)
		body := string(text)
		if msg.Header.Get("From") != "no-reply@"+svc || !strings.Contains(msg.Header.Get("Subject"), "Email Address Verification Request in region US-EAST-1") {
			t.Fatalf("verification mail:\n%s", verification.Data)
		}
		start := strings.Index(body, "/verify?token=")
		if start < 0 {
			t.Fatalf("no link in:\n%s", body)
		}
		token := strings.Fields(body[start+len("/verify?token="):])[0]
		resp, err := http.Get("http://" + r.ready.API + "/verify?token=" + token)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("verification link: %v %v", resp, err)
		}
		resp.Body.Close()

		// 2. A domain becoming verified is announced to the account's address.
		out, err := r.v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range out.DkimAttributes.Tokens {
			r.customer.Add(fmt.Sprintf("%s._domainkey.example.test. 300 IN CNAME %s.dkim.%s.", tok, tok, svc))
		}
		eventually(t, "verification notice delivered", func() error {
			for _, m := range mx.all() {
				if len(m.To) != 1 || m.To[0] != "owner@rcpt.test" {
					continue
				}
				if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil && msg.Header.Get("Subject") == "Sesame Domain Verification SUCCESS for example.test in region US-EAST-1" {
					return nil
				}
			}
			return errors.New("not yet")
		})
		// The notices are not the account's sending; the verification mail is.
		q, err := r.v1.GetSendQuota(ctx, &ses.GetSendQuotaInput{})
		if err != nil || q.SentLast24Hours != 1 {
			t.Fatalf("SentLast24Hours = %v, %v; want 1 (the verification mail)", q.SentLast24Hours, err)
		}
	})
}
