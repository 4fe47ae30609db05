package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/testkit"
)

var updateDev = flag.Bool("update-dev", false, "rewrite the golden files of sesame dev")

// runDev starts `sesame dev` in-process and returns its settings and
// output; it stops at the end of the test (and is checked to stop cleanly).
func runDev(t *testing.T, o app.DevOptions) (app.DevSettings, *testkit.LogBuffer, func()) {
	t.Helper()
	out := &testkit.LogBuffer{}
	if o.Port == 0 {
		o.Port = testkit.FreePorts(t, app.DevPorts)
	}
	o.Out = out
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	ready := make(chan app.DevSettings, 1)
	o.Ready = func(s app.DevSettings) { ready <- s }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Dev(ctx, o) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Dev: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case s := <-ready:
		return s, out, stop
	case err := <-done:
		done <- nil // for stop, which waits for it
		t.Fatalf("Dev: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Dev did not start")
	}
	return app.DevSettings{}, nil, nil
}

// devClient is the sesv2 client an application would make from the
// printed settings.
func devClient(s app.DevSettings) *sesv2.Client {
	_, v2 := clients(s.Endpoint, s.AccessKeyID, s.Secret)
	return v2
}

// TestDev walks the new user's minute: with the printed settings, the
// SDK creates a domain identity with a custom MAIL FROM, which verifies
// through the development DNS; mail sent through the API and over SMTP is
// captured and passes DKIM, SPF and DMARC; an unverified sender is
// refused as SES does; the bounce simulator still bounces.
func TestDev(t *testing.T) {
	s, out, _ := runDev(t, app.DevOptions{Memory: true})
	ctx := context.Background()
	v2 := devClient(s)

	// Nothing is published for a domain without an identity.
	c := &dns.Client{}
	m := new(dns.Msg)
	m.SetQuestion("_dmarc.dev.example.", dns.TypeTXT)
	if r, _, err := c.Exchange(m, s.DNS); err != nil || len(r.Answer) != 0 {
		t.Fatalf("before the identity, _dmarc.dev.example TXT: %v %v", r, err)
	}

	if _, err := v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("dev.example")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status := func(want bool) error {
		o, err := v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("dev.example")})
		if err != nil {
			return err
		}
		if !o.VerifiedForSendingStatus || o.DkimAttributes.Status != types.DkimStatusSuccess || want && o.MailFromAttributes.MailFromDomainStatus != types.MailFromDomainStatusSuccess {
			return fmt.Errorf("verified %v, DKIM %s, MAIL FROM %s", o.VerifiedForSendingStatus, o.DkimAttributes.Status, o.MailFromAttributes.MailFromDomainStatus)
		}
		return nil
	}
	eventually(t, "dev.example verified, DKIM SUCCESS", func() error { return status(false) })
	// SES takes a custom MAIL FROM for a verified identity only.
	if _, err := v2.PutEmailIdentityMailFromAttributes(ctx, &sesv2.PutEmailIdentityMailFromAttributesInput{
		EmailIdentity: aws.String("dev.example"), MailFromDomain: aws.String("mail.dev.example"), BehaviorOnMxFailure: types.BehaviorOnMxFailureRejectMessage,
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "MAIL FROM SUCCESS", func() error { return status(true) })
	t.Logf("verified in %v", time.Since(start))

	// Through the API.
	sent, err := v2.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("Dev App <app@dev.example>"),
		Destination:      &types.Destination{ToAddresses: []string{"someone@rcpt.example"}},
		Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Hello from the SDK")},
			Body: &types.Body{Text: &types.Content{Data: aws.String("It works.")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	api := waitCaptured(t, s, *sent.MessageId)
	if api.MailFrom != *sent.MessageId+"@mail.dev.example" || api.Subject != "Hello from the SDK" || strings.Join(api.Recipients, ",") != "someone@rcpt.example" {
		t.Errorf("captured %+v", api)
	}
	if api.Verdicts.String() != "dkim=pass spf=pass dmarc=pass" || !api.Verdicts.DKIMAligned || !api.Verdicts.SPFAligned {
		t.Errorf("API message verdicts %s (%+v)", api.Verdicts, api.Verdicts)
	}
	full, err := s.Captured.Get(ctx, s.AccountID, api.ID)
	if err != nil || !bytes.Contains(full.Raw, []byte("It works.")) || !bytes.Contains(full.Raw, []byte("DKIM-Signature:")) {
		t.Errorf("Get: %v; raw %q", err, full.Raw)
	}

	// Over SMTP, with the printed user and password.
	sc, err := smtp.DialStartTLS(net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort)), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Auth(sasl.NewPlainClient("", s.SMTPUser, s.SMTPPassword)); err != nil {
		t.Fatal(err)
	}
	id, err := testkit.SMTPSend(sc, "app@dev.example", []string{"other@rcpt.example"},
		"From: app@dev.example\r\nTo: other@rcpt.example\r\nSubject: Hello over SMTP\r\n\r\nHi.\r\n")
	if err != nil {
		t.Fatal(err)
	}
	viaSMTP := waitCaptured(t, s, id)
	if viaSMTP.Verdicts.String() != "dkim=pass spf=pass dmarc=pass" || viaSMTP.Subject != "Hello over SMTP" {
		t.Errorf("SMTP message: %s %+v", viaSMTP.Subject, viaSMTP.Verdicts)
	}

	// An unverified sender: SES's MessageRejected, nothing captured.
	_, err = v2.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("app@unverified.example"),
		Destination:      &types.Destination{ToAddresses: []string{"someone@rcpt.example"}},
		Content:          &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("no")}, Body: &types.Body{Text: &types.Content{Data: aws.String("no")}}}},
	})
	if code := apitest.Code(err); code != "MessageRejected" {
		t.Errorf("unverified sender: %v (code %q), want MessageRejected", err, code)
	}

	// The bounce simulator keeps its behaviour: a Bounce event.
	bounced, err := v2.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("app@dev.example"),
		Destination:      &types.Destination{ToAddresses: []string{"bounce@simulator.amazonses.com"}},
		Content:          &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("bounce")}, Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Bounce event of the simulator", func() error {
		for _, e := range testkit.Events(t, s.App.DB, *bounced.MessageId, event.Send) {
			if e.Type == event.Bounce {
				return nil
			}
		}
		return errors.New("no Bounce yet")
	})

	// An address identity verifies through its link, from the captured
	// verification mail. Its mail is not DKIM-signed (Sesame signs for
	// domain identities) and leaves with the default MAIL FROM: SPF passes
	// for us-east-1.sesame.localhost, which does not align with
	// addr.example, whose published p=none DMARC record then fails (the
	// seed's first scenario).
	if _, err := v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("person@addr.example")}); err != nil {
		t.Fatal(err)
	}
	var link string
	eventually(t, "verification mail captured", func() error {
		list, _, err := s.Captured.List(ctx, s.AccountID, capture.Filter{Recipient: "person@addr.example"})
		if err != nil || len(list) == 0 {
			return fmt.Errorf("not yet (%v)", err)
		}
		m, err := s.Captured.Get(ctx, s.AccountID, list[0].ID)
		if err != nil {
			return err
		}
		link = s.Endpoint + "/verify?token=" + testkit.VerificationSecretIn(t, m.Raw)
		return nil
	})
	if resp, err := http.Get(link); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", link, resp, err)
	} else {
		resp.Body.Close()
	}
	fromAddr, err := v2.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("person@addr.example"),
		Destination:      &types.Destination{ToAddresses: []string{"friend@rcpt.example"}},
		Content:          &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("from an address")}, Body: &types.Body{Text: &types.Content{Data: aws.String("hi")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	addrMsg := waitCaptured(t, s, *fromAddr.MessageId)
	if v := addrMsg.Verdicts; v.String() != "dkim=none spf=pass dmarc=fail" || v.DKIMAligned || v.SPFAligned || v.SPFDomain != "us-east-1.sesame.localhost" {
		t.Errorf("address identity's message: %+v", v)
	}

	// One line per captured message.
	eventually(t, "printed lines", func() error {
		text := out.String()
		for _, want := range []string{
			`from "Dev App" <app@dev.example>  to someone@rcpt.example  subject "Hello from the SDK"  dkim=pass spf=pass dmarc=pass`,
			`from app@dev.example  to other@rcpt.example  subject "Hello over SMTP"  dkim=pass spf=pass dmarc=pass`,
		} {
			if !strings.Contains(text, want) {
				return fmt.Errorf("output lacks %q:\n%s", want, text)
			}
		}
		return nil
	})
	// The rejected message and the simulator's never reach the capture
	// MX (the bounce forwarded to the sender does, as SES forwards it).
	if text := out.String(); strings.Contains(text, "unverified.example") || strings.Contains(text, "to bounce@simulator") {
		t.Errorf("captured a message that should not be:\n%s", text)
	}
}

// waitCaptured waits for the message Sesame sent as id to reach the
// capture MX.
func waitCaptured(t *testing.T, s app.DevSettings, id string) *capture.Message {
	t.Helper()
	var got *capture.Message
	eventually(t, "message "+id+" captured", func() error {
		list, _, err := s.Captured.List(context.Background(), s.AccountID, capture.Filter{MessageID: id})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return errors.New("not yet")
		}
		got = list[0]
		return nil
	})
	return got
}

// TestDevPortAndState: --port moves every listener together; the state
// in --data-dir is kept (the same account next time), and --memory's is
// gone at exit.
func TestDevPortAndState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	n := testkit.FreePorts(t, app.DevPorts)
	s, _, stop := runDev(t, app.DevOptions{Port: n, DataDir: dir})
	at := func(k int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n+k)) }
	if s.Endpoint != "http://"+at(0) || s.SMTPPort != n+1 || s.SMTPSPort != n+2 || s.DNS != at(3) || s.Capture != at(5) {
		t.Errorf("settings %+v for --port %d", s, n)
	}
	for k := range app.DevPorts {
		c, err := net.Dial("tcp", at(k))
		if err != nil {
			t.Errorf("port N+%d: %v", k, err)
			continue
		}
		c.Close()
	}
	first := s.AccountID
	stop()
	s2, _, stop2 := runDev(t, app.DevOptions{Port: n, DataDir: dir})
	if s2.AccountID != first || s2.DataDir != dir {
		t.Errorf("second start: account %s in %q, want %s in %q", s2.AccountID, s2.DataDir, first, dir)
	}
	stop2()

	m, _, stopM := runDev(t, app.DevOptions{Memory: true})
	if m.DataDir == "" || !m.Memory {
		t.Fatalf("--memory settings %+v", m)
	}
	if _, err := os.Stat(m.DataDir); err != nil {
		t.Fatalf("--memory directory while running: %v", err)
	}
	stopM()
	if _, err := os.Stat(m.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--memory directory %s after exit: %v, want gone", m.DataDir, err)
	}
}

// TestDevPrinted pins what `sesame dev` prints.
func TestDevPrinted(t *testing.T) {
	var b bytes.Buffer
	n := app.DevDefaultPort
	s := app.DevSettings{Endpoint: "http://127.0.0.1:7700", AccessKeyID: app.DevAccessKeyID, Secret: app.DevSecretAccessKey, Region: app.DevRegion,
		SMTPHost: "127.0.0.1", SMTPPort: n + 1, SMTPSPort: n + 2, SMTPUser: app.DevAccessKeyID, SMTPPassword: "PASSWORD",
		DNS: "127.0.0.1:7703", Capture: "127.0.0.1:7705", DataDir: "./sesame-dev"}
	app.WriteDevSettings(&b, s)
	s.Memory, s.DataDir = true, "/tmp/sesame-dev-123"
	b.WriteString("--- with --memory ---\n")
	app.WriteDevSettings(&b, s)
	b.WriteString("--- captured ---\n")
	b.WriteString(app.CapturedLine(&capture.Message{ReceivedAt: time.Date(2026, 12, 7, 9, 30, 5, 0, time.Local), From: "Dev App <app@dev.example>",
		MailFrom: "0100-abc@mail.dev.example", Recipients: []string{"a@rcpt.example", "b@rcpt.example"}, Subject: `Hi "there"`,
		Verdicts: capture.Verdicts{DKIM: "pass", SPF: "softfail", DMARC: "pass"}}) + "\n")
	b.WriteString(app.CapturedLine(&capture.Message{ReceivedAt: time.Date(2026, 12, 7, 9, 30, 6, 0, time.Local),
		MailFrom: "x@y.example", Recipients: []string{"c@rcpt.example"}, Verdicts: capture.Verdicts{DKIM: "none", SPF: "none", DMARC: "permerror"}}) + "\n")
	golden := filepath.Join("testdata", "golden", "dev-printed.txt")
	if *updateDev {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-dev)", err)
	}
	if b.String() != string(want) {
		t.Errorf("printed:\n%s\nwant:\n%s", b.String(), want)
	}

}

// TestServeRefusesDevKey: the development account's access key is public
// (printed by every `sesame dev`), so `sesame serve` on a database that
// holds it active — `sesame dev`'s data directory served for real —
// refuses to start instead of accepting it on every interface; once the
// key is deactivated (or removed) it starts.
func TestServeRefusesDevKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		cfg := config.Config{
			APIAddr: "127.0.0.1:0", DNSAddr: "off", Region: "us-east-1", ServiceDomain: svc,
			MailFromWindow: 72 * time.Hour, CheckInterval: time.Hour, CheckConcurrency: 1,
			MasterKey: "e2e master key", DataDir: t.TempDir(), RetryWindow: time.Hour, DeliveryWorkers: 1,
		}
		a, err := app.OpenDB(cfg, slog.New(slog.DiscardHandler), d)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		acct, _, err := a.Accounts.Create(ctx, account.CreateOptions{Name: app.DevAccountName, AccessKeyID: app.DevAccessKeyID, SecretAccessKey: app.DevSecretAccessKey})
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		err = a.Serve(sctx, func(app.Ready) { t.Error("Serve started with the public development key active"); cancel() })
		cancel()
		if err == nil || !strings.Contains(err.Error(), app.DevAccessKeyID) || !strings.Contains(err.Error(), "--deactivate") {
			t.Fatalf("Serve with the development key: %v", err)
		}
		if err := a.Accounts.SetKeyActive(ctx, acct.ID, app.DevAccessKeyID, false); err != nil {
			t.Fatal(err)
		}
		sctx, cancel = context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.Serve(sctx, func(app.Ready) { cancel() }) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve with the development key inactive: %v", err)
			}
		case <-time.After(20 * time.Second):
			cancel()
			t.Fatal("Serve with the development key inactive did not start")
		}
	})
}

// TestDevReactivatesItsKey: `sesame dev` on a data directory whose
// development key was deactivated (as serve asks, TestServeRefusesDevKey)
// activates it again instead of failing to start.
func TestDevReactivatesItsKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, _, stop := runDev(t, app.DevOptions{DataDir: dir})
	if err := s.App.Accounts.SetKeyActive(context.Background(), s.AccountID, app.DevAccessKeyID, false); err != nil {
		t.Fatal(err)
	}
	stop()
	s2, _, stop2 := runDev(t, app.DevOptions{DataDir: dir})
	defer stop2()
	if _, owner, err := s2.App.Accounts.Secret(context.Background(), app.DevAccessKeyID); err != nil || owner != s.AccountID {
		t.Fatalf("the development key after a restart: owner %q, %v", owner, err)
	}
}
