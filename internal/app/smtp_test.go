package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/sigv4"
	"github.com/sesame-email/sesame/internal/testkit"
)

// verifyDKIM checks that msg carries signatures by domain (RSA and
// Ed25519) that verify through the customer's CNAMEs and Sesame's own DNS.
func verifyDKIM(t *testing.T, r *running, msg []byte, domain string) {
	t.Helper()
	ctx := context.Background()
	sesameDNS := &sesdns.Client{Servers: []string{r.ready.DNS}, Timeout: 2 * time.Second}
	customerDNS := &sesdns.Client{Servers: []string{r.customer.Addr()}, Timeout: 2 * time.Second}
	res := zones{sesame: sesameDNS, customer: customerDNS}
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		target := name
		if cname, err := customerDNS.LookupCNAME(ctx, name); err == nil {
			target = cname
		}
		return res.LookupTXT(ctx, target)
	}})
	if err != nil || len(verifs) != 2 {
		t.Fatalf("DKIM: %v (%d signatures, want RSA and Ed25519)", err, len(verifs))
	}
	for _, v := range verifs {
		if v.Err != nil || v.Domain != domain {
			t.Fatalf("DKIM signature d=%s: %v\n%s", v.Domain, v.Err, msg)
		}
	}
}

var smtpClientTLS = &tls.Config{InsecureSkipVerify: true} // the self-signed certificate

// smtpLogin connects over STARTTLS (or implicit TLS) and authenticates.
func smtpLogin(t *testing.T, addr string, implicit bool, auth sasl.Client) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	if implicit {
		c, err = smtp.DialTLS(addr, smtpClientTLS)
	} else {
		c, err = smtp.DialStartTLS(addr, smtpClientTLS)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// startSMTP starts Sesame with both submission listeners, a recipients'
// MX and a verified, DKIM-signing example.test.
func startSMTP(t *testing.T, d *db.DB, configure func(*cfgT)) (*running, *sink) {
	t.Helper()
	mx := newSink(t)
	r := startWith(t, d, func(c *cfgT) {
		c.OutboundPort, c.SMTPAddr, c.SMTPSAddr = mx.port(t), "127.0.0.1:0", "127.0.0.1:0"
		if configure != nil {
			configure(c)
		}
	})
	r.customer.Add("rcpt.test. 300 IN MX 10 mx.rcpt.test.")
	r.customer.Add("mx.rcpt.test. 300 IN A 127.0.0.1")
	verifyDomain(t, r, "example.test")
	if err := r.app.Accounts.SetProduction(context.Background(), r.acct.ID, 50000, 100); err != nil {
		t.Fatal(err)
	}
	return r, mx
}

// delivered waits for the message with that MessageId at the MX.
func delivered(t *testing.T, mx *sink, id string) received {
	t.Helper()
	var got received
	eventually(t, "message "+id+" delivered", func() error {
		for _, m := range mx.all() {
			if bytes.Contains(m.Data, []byte("<"+id+"@")) {
				got = m
				return nil
			}
		}
		return errors.New("not yet")
	})
	return got
}

// masked is a delivered message without what differs between two sends
// of one message: its ids, dates and signatures.
func masked(msg []byte) string {
	var out []string
	skip := false
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if !skip {
				out = append(out, l)
			}
			continue
		}
		name, _, _ := strings.Cut(l, ":")
		skip = slices.Contains([]string{"message-id", "date", "dkim-signature"}, strings.ToLower(name))
		if !skip {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n" + string(body)
}

// TestSMTPSubmission: SMTP clients with SES-derived credentials send
// through the same door as the API; a message sent by SMTP and by the
// API arrives the same but for ids, dates and signatures, DKIM-signed;
// the control headers work and the events say SendSmtpEmail; SES's
// replies to every refusal.
func TestSMTPSubmission(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx := startSMTP(t, d, func(c *cfgT) { c.SMTPMaxMessageBytes = 64 << 10 })
		ctx := context.Background()
		if _, err := r.v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("launch")}); err != nil {
			t.Fatal(err)
		}
		user, pass := r.key.AccessKeyID, sigv4.SMTPPassword(r.key.Secret, "us-east-1")
		const msg = "From: Alice <alice@example.test>\r\nTo: Bob <bob@rcpt.test>\r\nSubject: Launch\r\n" +
			"X-SES-CONFIGURATION-SET: launch\r\nX-SES-MESSAGE-TAGS: campaign=spring, tier=gold\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe launch on Monday.\r\n"

		// The same message by SMTP (STARTTLS, PLAIN) and by the API.
		c := smtpLogin(t, r.ready.SMTP, false, sasl.NewPlainClient("", user, pass))
		smtpID, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, msg)
		if err != nil {
			t.Fatal(err)
		}
		api, err := r.v2.SendEmail(ctx, &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(msg)}},
			FromEmailAddress: aws.String("alice@example.test"), Destination: &types.Destination{ToAddresses: []string{"bob@rcpt.test"}}})
		if err != nil {
			t.Fatal(err)
		}
		bySMTP, byAPI := delivered(t, mx, smtpID), delivered(t, mx, *api.MessageId)
		if a, b := masked(bySMTP.Data), masked(byAPI.Data); a != b {
			t.Errorf("SMTP and API deliveries differ:\n%s\n---\n%s", a, b)
		}
		if bytes.Contains(bySMTP.Data, []byte("X-SES-")) {
			t.Errorf("control headers delivered:\n%s", bySMTP.Data)
		}
		verifyDKIM(t, r, bySMTP.Data, "example.test")
		verifyDKIM(t, r, byAPI.Data, "example.test")
		evs := testkit.Events(t, r.app.DB, smtpID)
		if len(evs) == 0 {
			t.Fatal("no events")
		}
		tags := evs[0].Mail.Tags
		for name, want := range map[string]string{"ses:operation": "SendSmtpEmail", "campaign": "spring", "tier": "gold",
			"ses:configuration-set": "launch", "ses:caller-identity": user, "ses:source-ip": "127.0.0.1"} {
			if got := tags[name]; len(got) != 1 || got[0] != want {
				t.Errorf("event tag %s = %v; want %s (all: %v)", name, got, want, tags)
			}
		}
		if evs[0].ConfigurationSet != "launch" {
			t.Errorf("event's configuration set %q", evs[0].ConfigurationSet)
		}

		// Implicit TLS with LOGIN.
		tc := smtpLogin(t, r.ready.SMTPS, true, sasl.NewLoginClient(user, pass))
		id, err := testkit.SMTPSend(tc, "alice@example.test", []string{"carol@rcpt.test"}, strings.Replace(msg, "Bob <bob@rcpt.test>", "carol@rcpt.test", 1))
		if err != nil {
			t.Fatal(err)
		}
		delivered(t, mx, id)

		// SES's refusals.
		if _, err := testkit.SMTPSend(c, "mallory@unverified.test", []string{"bob@rcpt.test"}, msg); testkit.SMTPReply(err) !=
			"554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: mallory@unverified.test" {
			t.Errorf("unverified MAIL FROM: %s", testkit.SMTPReply(err))
		}
		var many []string
		for i := range 51 {
			many = append(many, fmt.Sprintf("r%02d@rcpt.test", i))
		}
		if _, err := testkit.SMTPSend(c, "alice@example.test", many, msg); testkit.SMTPReply(err) != "554 Transaction failed: Recipient count exceeds 50." {
			t.Errorf("51 recipients: %s", testkit.SMTPReply(err))
		}
		if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, msg+strings.Repeat("0123456789\r\n", 6000)); !strings.HasPrefix(testkit.SMTPReply(err), "552 5.3.4 ") {
			t.Errorf("over-size: %s", testkit.SMTPReply(err))
		}
		plain, err := smtp.Dial(r.ready.SMTP)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		if err := plain.Auth(sasl.NewPlainClient("", user, pass)); testkit.SMTPReply(err) != "530 5.7.0 Must issue a STARTTLS command first" {
			t.Errorf("AUTH before STARTTLS: %s", testkit.SMTPReply(err))
		}
		if err := smtpLogin(t, r.ready.SMTP, false, nil).Auth(sasl.NewPlainClient("", user, pass+"x")); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
			t.Errorf("wrong password: %s", testkit.SMTPReply(err))
		}
		if _, err := testkit.SMTPSend(smtpLogin(t, r.ready.SMTPS, true, nil), "alice@example.test", []string{"bob@rcpt.test"}, msg); testkit.SMTPReply(err) != "530 5.7.0 Authentication required" {
			t.Errorf("no AUTH: %s", testkit.SMTPReply(err))
		}
		// A paused configuration set.
		if _, err := r.v2.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: aws.String("launch"), SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, msg); testkit.SMTPReply(err) != "554 Transaction failed: Sending is paused for this configuration set." {
			t.Errorf("paused configuration set: %s", testkit.SMTPReply(err))
		}
		msg2 := strings.Replace(msg, "X-SES-CONFIGURATION-SET: launch\r\n", "", 1)

		// A key removed while its session is open stops working at once.
		k2, err := r.app.Accounts.AddKey(ctx, r.acct.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		c2 := smtpLogin(t, r.ready.SMTP, false, sasl.NewPlainClient("", k2.AccessKeyID, sigv4.SMTPPassword(k2.Secret, "us-east-1")))
		if _, err := testkit.SMTPSend(c2, "alice@example.test", []string{"bob@rcpt.test"}, msg2); err != nil {
			t.Fatalf("second key: %v", err)
		}
		if err := r.app.Accounts.RemoveKey(ctx, r.acct.ID, k2.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := testkit.SMTPSend(c2, "alice@example.test", []string{"bob@rcpt.test"}, msg2); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
			t.Errorf("removed key: %s", testkit.SMTPReply(err))
		}
		// A key deactivated while its session is open stops working at
		// once, for SMTP and the API; activated again, it works again.
		k3, err := r.app.Accounts.AddKey(ctx, r.acct.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		k3Login := sasl.NewPlainClient("", k3.AccessKeyID, sigv4.SMTPPassword(k3.Secret, "us-east-1"))
		c3 := smtpLogin(t, r.ready.SMTP, false, k3Login)
		_, v2k3 := clients("http://"+r.ready.API, k3.AccessKeyID, k3.Secret)
		if _, err := v2k3.GetAccount(ctx, &sesv2.GetAccountInput{}); err != nil {
			t.Fatalf("third key: %v", err)
		}
		if err := r.app.Accounts.SetKeyActive(ctx, r.acct.ID, k3.AccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := testkit.SMTPSend(c3, "alice@example.test", []string{"bob@rcpt.test"}, msg2); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
			t.Errorf("deactivated key, open session: %s", testkit.SMTPReply(err))
		}
		if err := smtpLogin(t, r.ready.SMTP, false, nil).Auth(k3Login); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
			t.Errorf("deactivated key, new AUTH: %s", testkit.SMTPReply(err))
		}
		if _, err := v2k3.GetAccount(ctx, &sesv2.GetAccountInput{}); apitest.Code(err) != "UnrecognizedClientException" {
			t.Errorf("deactivated key, API: %v", err)
		}
		if err := r.app.Accounts.SetKeyActive(ctx, r.acct.ID, k3.AccessKeyID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := testkit.SMTPSend(smtpLogin(t, r.ready.SMTP, false, k3Login), "alice@example.test", []string{"bob@rcpt.test"}, msg2); err != nil {
			t.Errorf("activated key: %v", err)
		}
		// Throttling: the daily quota, then the rate.
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 3, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, msg2); testkit.SMTPReply(err) != "454 Throttling failure: Daily message quota exceeded." {
			t.Errorf("daily quota: %s", testkit.SMTPReply(err))
		}
		if err := r.app.Accounts.SetProduction(ctx, r.acct.ID, 50000, 1); err != nil {
			t.Fatal(err)
		}
		var rateErr error
		for range 3 { // the bucket holds one message; the next within the second is refused
			if _, rateErr = testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, msg2); rateErr != nil {
				break
			}
		}
		if testkit.SMTPReply(rateErr) != "454 Throttling failure: Maximum sending rate exceeded." {
			t.Errorf("sending rate: %s", testkit.SMTPReply(rateErr))
		}

	})
}

// TestSMTPSwaks: the Debian swaks tool submits over STARTTLS and over
// implicit TLS with SES-derived credentials, as users would test an SES
// SMTP endpoint.
func TestSMTPSwaks(t *testing.T) {
	bin, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("SESAME_REQUIRE_SHARED") == "1" {
			t.Fatal("swaks is not installed (CI installs it: apt-get install swaks)")
		}
		t.Skip("swaks is not installed")
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r, mx := startSMTP(t, d, nil)
		user, pass := r.key.AccessKeyID, sigv4.SMTPPassword(r.key.Secret, "us-east-1")
		okRe := regexp.MustCompile(`(?m)^<~ +250 Ok (\S+)\r?$`)
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"STARTTLS", []string{"--server", r.ready.SMTP, "--tls", "--auth", "LOGIN"}},
			{"implicit TLS", []string{"--server", r.ready.SMTPS, "--tls-on-connect", "--auth", "PLAIN"}},
		} {
			args := append(tc.args, "--auth-user", user, "--auth-password", pass, "--from", "alice@example.test", "--to", "bob@rcpt.test",
				"--header", "Subject: swaks "+tc.name, "--header", "From: alice@example.test", "--body", "Sent with swaks.", "--timeout", "20")
			out, err := exec.Command(bin, args...).CombinedOutput()
			m := okRe.FindSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("swaks %s: %v\n%s", tc.name, err, out)
			}
			got := delivered(t, mx, string(m[1]))
			if !bytes.Contains(got.Data, []byte("Subject: swaks "+tc.name)) {
				t.Errorf("swaks %s: delivered\n%s", tc.name, got.Data)
			}
			verifyDKIM(t, r, got.Data, "example.test")
		}
		// A wrong password, as swaks reports it.
		out, err := exec.Command(bin, "--server", r.ready.SMTP, "--tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", "wrong",
			"--from", "alice@example.test", "--to", "bob@rcpt.test", "--timeout", "20").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "535 5.7.8 Authentication Credentials Invalid") {
			t.Errorf("swaks with a wrong password: %v\n%s", err, out)
		}
	})
}
