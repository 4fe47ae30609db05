package smtpsubmit_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sigv4"
	"github.com/sesame-email/sesame/internal/smtpsubmit"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	keyID  = "AKIAEXAMPLE0000001"
	secret = "secret/for+the+smtp+tests0000000"
	region = "us-east-1"
)

var password = sigv4.SMTPPassword(secret, region)

// submitter is the admission door's stand-in: it records what it is
// given and answers with err, or a MessageId.
type submitter struct {
	mu   sync.Mutex
	reqs []send.Request
	err  error
}

func (s *submitter) Submit(_ context.Context, r send.Request) (send.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return send.Result{}, s.err
	}
	s.reqs = append(s.reqs, r)
	return send.Result{MessageID: fmt.Sprintf("0100000000000000-test-%06d", len(s.reqs))}, nil
}

func (s *submitter) set(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *submitter) all() []send.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]send.Request(nil), s.reqs...)
}

// keys is the access keys' store: id → secret (account 111122223333).
type keys struct {
	mu sync.Mutex
	m  map[string]string
	// fail makes every lookup fail (the database is down).
	fail bool
}

func (k *keys) secret(_ context.Context, id string) (string, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail {
		return "", "", errors.New("database is down")
	}
	s, ok := k.m[id]
	if !ok {
		return "", "", fmt.Errorf("%w: %s", account.ErrUnknownKey, id)
	}
	return s, "111122223333", nil
}

func (k *keys) remove(id string) { k.mu.Lock(); delete(k.m, id); k.mu.Unlock() }

type fixture struct {
	srv             *smtpsubmit.Server
	sub             *submitter
	keys            *keys
	starttls, smtps string
	log             *testkit.LogBuffer
}

// serve starts a submission server on two loopback listeners (STARTTLS
// and implicit TLS) after letting configure change its options.
func serve(t *testing.T, configure func(*smtpsubmit.Options)) *fixture {
	t.Helper()
	tlsConfig, err := feedback.SelfSignedTLS("smtp.sesame.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sub: &submitter{}, keys: &keys{m: map[string]string{keyID: secret}}, log: &testkit.LogBuffer{}}
	opts := smtpsubmit.Options{Sender: f.sub, Secret: f.keys.secret, Region: region, Hostname: "smtp.sesame.test", TLSConfig: tlsConfig,
		AuthDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if configure != nil {
		configure(&opts)
	}
	s, err := smtpsubmit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = s
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, implicit := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			f.smtps = ln.Addr().String()
		} else {
			f.starttls = ln.Addr().String()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(ctx, ln, implicit); err != nil {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return f
}

var clientTLS = &tls.Config{InsecureSkipVerify: true, ServerName: "smtp.sesame.test"}

// dial connects over STARTTLS.
func (f *fixture) dial(t *testing.T) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(f.starttls, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login connects over STARTTLS and authenticates with PLAIN.
func (f *fixture) login(t *testing.T) *smtp.Client {
	t.Helper()
	c := f.dial(t)
	if err := c.Auth(sasl.NewPlainClient("", keyID, password)); err != nil {
		t.Fatal(err)
	}
	return c
}

const message = "From: Alice <alice@example.test>\r\nTo: bob@rcpt.test\r\nSubject: hi\r\n\r\nHello Bob\r\n"

// greeting is the first reply a new connection to addr gets.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 200)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	return string(buf[:n])
}

// refusedQuietly asserts that a new connection to addr (from the local
// address from, "" for any) is closed without a byte: an implicit-TLS
// client must not get a plaintext line where it expects a ServerHello.
// It also checks what a TLS client sees: the connection closed.
func refusedQuietly(t *testing.T, addr, from string) {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if len(got) != 0 || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("refused implicit-TLS connection: got %q, %v; want a close without a byte", got, err)
	}
	conn2, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn2, clientTLS)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err == nil || strings.Contains(err.Error(), "does not look like a TLS handshake") || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("TLS handshake with a refused connection: %v; want the connection closed", err)
	}
}

// TestSubmit: over STARTTLS with PLAIN and over implicit TLS with LOGIN,
// a message reaches the admission door with the envelope, and the reply
// is SES's "250 Ok <MessageId>".
func TestSubmit(t *testing.T) {
	f := serve(t, nil)
	c := f.login(t)
	got, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test", "carol@rcpt.test"}, message)
	if err != nil || got != "0100000000000000-test-000001" {
		t.Fatalf("DATA reply %q, %v; want Ok <MessageId>", got, err)
	}
	// A second message on the same connection.
	if got, err := testkit.SMTPSend(c, "alice@example.test", []string{"dave@rcpt.test"}, message); err != nil || got != "0100000000000000-test-000002" {
		t.Fatalf("second DATA reply %q, %v", got, err)
	}

	tc, err := smtp.DialTLS(f.smtps, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if ok, mechs := tc.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Fatalf("implicit TLS: AUTH extension %v %q; want PLAIN LOGIN", ok, mechs)
	}
	if err := tc.Auth(sasl.NewLoginClient(keyID, password)); err != nil {
		t.Fatal(err)
	}
	if got, err := testkit.SMTPSend(tc, "dave@example.test", []string{"erin@rcpt.test"}, message); err != nil || got != "0100000000000000-test-000003" {
		t.Fatalf("implicit TLS DATA reply %q, %v", got, err)
	}

	reqs := f.sub.all()
	if len(reqs) != 3 {
		t.Fatalf("%d messages submitted; want 3", len(reqs))
	}
	r := reqs[0]
	if r.AccountID != "111122223333" || r.From != "alice@example.test" || strings.Join(r.Destinations, ",") != "bob@rcpt.test,carol@rcpt.test" ||
		r.Operation != "SendSmtpEmail" || r.MaxSize != send.MaxSizeV2 || r.SourceIP != "127.0.0.1" || r.CallerIdentity != keyID ||
		string(r.Raw) != message {
		t.Errorf("request %+v", r)
	}
	if reqs[2].From != "dave@example.test" || strings.Join(reqs[2].Destinations, ",") != "erin@rcpt.test" {
		t.Errorf("implicit TLS: request %+v", reqs[2])
	}
}

// TestAuthRules: no AUTH before TLS (and none offered), no MAIL before
// AUTH, SES's replies to wrong credentials, unknown mechanisms and a
// failing key store.
func TestAuthRules(t *testing.T) {
	f := serve(t, nil)

	plain, err := smtp.Dial(f.starttls)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if ok, _ := plain.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	if err := plain.Auth(sasl.NewPlainClient("", keyID, password)); testkit.SMTPReply(err) != "530 5.7.0 Must issue a STARTTLS command first" {
		t.Errorf("AUTH before STARTTLS: %s", testkit.SMTPReply(err))
	}
	if err := plain.Mail("alice@example.test", nil); testkit.SMTPReply(err) != "530 5.7.0 Authentication required" {
		t.Errorf("MAIL before STARTTLS: %s", testkit.SMTPReply(err))
	}

	c := f.dial(t)
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("after STARTTLS: AUTH %v %q", ok, mechs)
	}
	if err := c.Mail("alice@example.test", nil); testkit.SMTPReply(err) != "530 5.7.0 Authentication required" {
		t.Errorf("MAIL without AUTH: %s", testkit.SMTPReply(err))
	}
	for _, a := range []sasl.Client{
		sasl.NewPlainClient("", keyID, password+"x"),
		sasl.NewPlainClient("", "AKIAUNKNOWN0000000", password),
		sasl.NewLoginClient(keyID, "wrong"),
		sasl.NewPlainClient("someone-else", keyID, password),
		sasl.NewPlainClient("", "not a key", password),
	} {
		// One connection each: go-smtp's client answers a failure with
		// "*", which the server counts as a bad command.
		if err := f.dial(t).Auth(a); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
			t.Errorf("wrong credentials: %s", testkit.SMTPReply(err))
		}
	}
	if err := c.Auth(sasl.NewAnonymousClient("x")); testkit.SMTPReply(err) != "504 5.5.4 Unrecognized authentication type; use PLAIN or LOGIN" {
		t.Errorf("ANONYMOUS: %s", testkit.SMTPReply(err))
	}
	f.keys.mu.Lock()
	f.keys.fail = true
	f.keys.mu.Unlock()
	if err := c.Auth(sasl.NewPlainClient("", keyID, password)); testkit.SMTPReply(err) != "454 4.7.0 Temporary authentication failure; try again later" {
		t.Errorf("key store down: %s", testkit.SMTPReply(err))
	}
	if len(f.sub.all()) != 0 {
		t.Error("a message was submitted")
	}
}

// TestRemovedKey: a key removed while a session is open stops working at
// the next MAIL.
func TestRemovedKey(t *testing.T) {
	f := serve(t, nil)
	c := f.login(t)
	if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, message); err != nil {
		t.Fatal(err)
	}
	f.keys.remove(keyID)
	if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, message); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
		t.Fatalf("MAIL after the key was removed: %s", testkit.SMTPReply(err))
	}
	if err := c.Mail("alice@example.test", nil); testkit.SMTPReply(err) != "530 5.7.0 Authentication required" {
		t.Fatalf("MAIL again: %s", testkit.SMTPReply(err))
	}
	if n := len(f.sub.all()); n != 1 {
		t.Fatalf("%d messages submitted; want 1", n)
	}
}

// TestReplies: each rejection by the admission door gets SES's SMTP
// reply.
func TestReplies(t *testing.T) {
	f := serve(t, nil)
	c := f.login(t)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&send.Error{Kind: send.KindMessageRejected, Msg: "Email address is not verified. The following identities failed the check in region US-EAST-1: alice@example.test"},
			"554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: alice@example.test"},
		{&send.Error{Kind: send.KindRateExceeded, Msg: send.MsgRateExceeded}, "454 Throttling failure: Maximum sending rate exceeded."},
		{&send.Error{Kind: send.KindDailyQuotaExceeded, Msg: send.MsgDailyQuotaExceeded}, "454 Throttling failure: Daily message quota exceeded."},
		{&send.Error{Kind: send.KindInvalid, Msg: "Recipient count exceeds 50."}, "554 Transaction failed: Recipient count exceeds 50."},
		{&send.Error{Kind: send.KindInvalid, Msg: "Message length is more than 41943040 bytes long: '41943041'."},
			"552 5.3.4 Transaction failed: Message length is more than 41943040 bytes long: '41943041'."},
		{&send.Error{Kind: send.KindInvalid, Msg: "Missing final '@domain'"}, "554 Transaction failed: Missing final '@domain'"},
		{&send.Error{Kind: send.KindSendingPaused, Msg: "Sending is paused for this account."}, "554 Transaction failed: Sending is paused for this account."},
		{&send.Error{Kind: send.KindConfigurationSetDoesNotExist, Msg: "Configuration set x does not exist."}, "554 Transaction failed: Configuration set x does not exist."},
		{&send.Error{Kind: send.KindInvalid, Msg: "two\r\nlines"}, "554 Transaction failed: two lines"},
		{errors.New("database is down"), "451 4.3.0 Temporary local problem; try again later"},
	} {
		f.sub.set(tc.err)
		if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, message); testkit.SMTPReply(err) != tc.want {
			t.Errorf("%v: reply %s; want %s", tc.err, testkit.SMTPReply(err), tc.want)
		}
	}
}

// TestLimits: recipients beyond the hard cap, a message over the size
// limit, connections over the caps.
func TestLimits(t *testing.T) {
	f := serve(t, func(o *smtpsubmit.Options) { o.MaxRecipients, o.MaxMessageBytes, o.MaxConnsPerIP = 3, 1000, 3 })
	c := f.login(t)
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Rcpt(fmt.Sprintf("r%d@rcpt.test", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Rcpt("r4@rcpt.test", nil); testkit.SMTPReply(err) != "452 4.5.3 Maximum limit of 3 recipients reached" {
		t.Errorf("RCPT beyond the cap: %s", testkit.SMTPReply(err))
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, message+strings.Repeat("x", 1000)+"\r\n"); !strings.HasPrefix(testkit.SMTPReply(err), "552 5.3.4 ") {
		t.Errorf("over-size message: %s", testkit.SMTPReply(err))
	}
	if n := len(f.sub.all()); n != 0 {
		t.Errorf("%d messages submitted", n)
	}

	// Two more connections reach the per-address cap; the next is refused.
	f.dial(t)
	f.dial(t)
	if got := greeting(t, f.starttls); !strings.HasPrefix(got, "421 4.7.0 Too many connections") {
		t.Errorf("connection over the cap: %q", got)
	}
	// Over implicit TLS, the refusal is a close.
	for range 3 {
		tc, err := smtp.DialTLS(f.smtps, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
	}
	refusedQuietly(t, f.smtps, "")
}

// TestAuthHammering: a client that keeps failing AUTH is refused, in its
// session (454) and at new connections (421), while other addresses are
// not; the block is logged.
func TestAuthHammering(t *testing.T) {
	f := serve(t, func(o *smtpsubmit.Options) {
		o.AuthDelayAfter, o.AuthBlockAfter, o.AuthDelay, o.AuthBlock = 2, 4, time.Millisecond, time.Hour
	})
	c := f.dial(t) // opened before the block
	for range 4 {
		if err := f.dial(t).Auth(sasl.NewPlainClient("", keyID, "wrong")); testkit.SMTPReply(err) != "535 5.7.8 Authentication Credentials Invalid" {
			t.Fatalf("failing AUTH: %s", testkit.SMTPReply(err))
		}
	}
	if err := c.Auth(sasl.NewPlainClient("", keyID, password)); !strings.HasPrefix(testkit.SMTPReply(err), "454 4.7.0 Too many failed authentication attempts from your address; try again in ") {
		t.Fatalf("AUTH once blocked: %s", testkit.SMTPReply(err))
	}
	if got := greeting(t, f.starttls); !strings.HasPrefix(got, "421 4.7.0 Too many failed authentication attempts from your address; try again in ") {
		t.Errorf("new connection once blocked: %q", got)
	}
	refusedQuietly(t, f.smtps, "") // implicit TLS: closed without a plaintext line
	if !strings.Contains(f.log.String(), "too many failures; address refused") {
		t.Errorf("block not logged:\n%s", f.log.String())
	}
	// Another address is served.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	raw, err := d.Dial("tcp", f.starttls)
	if err != nil {
		t.Fatal(err)
	}
	other, err := smtp.NewClientStartTLS(raw, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Auth(sasl.NewPlainClient("", keyID, password)); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestHeldBytes: messages are held within the server's budget. While one
// stalled DATA holds most of it, another whose buffer cannot grow within
// the wait is refused "452 4.3.1" (temporary) and logged, nothing of it
// kept; once the first has finished, the retry is accepted, and nothing
// stays held.
func TestHeldBytes(t *testing.T) {
	f := serve(t, func(o *smtpsubmit.Options) {
		// 150 KiB hold a 256 KiB buffer: 192 KiB from the budget (the
		// first 64 KiB are the connection's own).
		o.MaxHeldBytes, o.MaxHeldPerIP, o.MaxMessageBytes, o.HeldWait = 256<<10, 256<<10, 256<<10, 100*time.Millisecond
	})
	big := message + strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 150)

	first := f.login(t)
	if err := first.Mail("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := first.Rcpt("bob@rcpt.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := first.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(big)); err != nil { // not ended: the DATA stalls
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); f.srv.Held() != 192<<10; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("held %d; want 192 KiB for the stalled DATA", f.srv.Held())
		}
	}

	second := f.login(t)
	if _, err := testkit.SMTPSend(second, "alice@example.test", []string{"carol@rcpt.test"}, big); testkit.SMTPReply(err) != "452 4.3.1 Insufficient system resources; try again later" {
		t.Fatalf("DATA while the budget is held: %s", testkit.SMTPReply(err))
	}
	if !strings.Contains(f.log.String(), "too many message bytes held") {
		t.Errorf("refusal not logged:\n%s", f.log.String())
	}
	if h := f.srv.Held(); h != 192<<10 {
		t.Errorf("held %d after the refusal; want the first's 192 KiB only", h)
	}

	if resp, err := w.CloseWithResponse(); err != nil || resp.StatusText != "Ok 0100000000000000-test-000001" {
		t.Fatalf("stalled DATA ended: %+v, %v", resp, err)
	}
	if h := f.srv.Held(); h != 0 {
		t.Errorf("held %d once the first was submitted", h)
	}
	if id, err := testkit.SMTPSend(second, "alice@example.test", []string{"carol@rcpt.test"}, big); err != nil || id != "0100000000000000-test-000002" {
		t.Fatalf("retry: %q, %v", id, err)
	}
	if h := f.srv.Held(); h != 0 {
		t.Errorf("held %d after the retry", h)
	}
	reqs := f.sub.all()
	if len(reqs) != 2 || string(reqs[0].Raw) != big || string(reqs[1].Raw) != big || reqs[1].Destinations[0] != "carol@rcpt.test" {
		t.Fatalf("%d messages submitted; want both, whole", len(reqs))
	}
}

// TestMalformedAuth: AUTH exchanges that go wrong before any credentials
// can be checked count against the address as wrong credentials do: a
// PLAIN response without its NULs, an empty one, a response that is not
// base64, a cancel. Driven by a raw client over implicit TLS; the fourth
// blocks the address.
func TestMalformedAuth(t *testing.T) {
	f := serve(t, func(o *smtpsubmit.Options) {
		o.AuthDelayAfter, o.AuthBlockAfter, o.AuthDelay, o.AuthBlock = 2, 4, time.Millisecond, time.Hour
	})
	conn, err := tls.Dial("tcp", f.smtps, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	step := func(line string, wantCode int) string {
		t.Helper()
		if err := tp.PrintfLine("%s", line); err != nil {
			t.Fatal(err)
		}
		code, msg, err := tp.ReadResponse(0)
		if code != wantCode {
			t.Fatalf("%q: %d %s (%v); want %d", line, code, msg, err, wantCode)
		}
		return msg
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	step("EHLO client.test", 250)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	step("AUTH PLAIN "+b64(keyID+" "+password), 535) // no NULs: failure 1
	step("AUTH PLAIN =", 535)                        // empty: failure 2
	step("AUTH LOGIN", 334)
	step("not base64!", 454) // go-smtp's "Invalid base64 data"; counted at the next command: failure 3
	step("AUTH PLAIN", 334)
	step("*", 501) // cancelled: failure 4, counted at the next AUTH, which is refused
	if msg := step("AUTH PLAIN "+b64("\x00"+keyID+"\x00"+password), 454); !strings.HasPrefix(msg, "4.7.0 Too many failed authentication attempts from your address") {
		t.Fatalf("AUTH once blocked: %s", msg)
	}
	if got := greeting(t, f.starttls); !strings.HasPrefix(got, "421 4.7.0 Too many failed authentication attempts") {
		t.Errorf("new connection once blocked: %q", got)
	}
	for _, want := range []string{"malformed AUTH response", "AUTH exchange abandoned", "failures=4", "too many failures; address refused"} {
		if !strings.Contains(f.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, f.log.String())
		}
	}
}

// TestBadMailFrom: a null or malformed reverse path gets SES's "501
// Invalid MAIL FROM address provided", and the session goes on.
func TestBadMailFrom(t *testing.T) {
	f := serve(t, nil)
	c := f.login(t)
	for _, from := range []string{"", "a@@example.test", "a@-bad-.test", "a..b@example.test"} { // go-smtp refuses an address without @ itself (501 5.5.2)
		if err := c.Mail(from, nil); testkit.SMTPReply(err) != "501 5.1.7 Invalid MAIL FROM address provided" {
			t.Errorf("MAIL FROM:<%s>: %s", from, testkit.SMTPReply(err))
		}
	}
	if _, err := testkit.SMTPSend(c, "alice@example.test", []string{"bob@rcpt.test"}, message); err != nil {
		t.Fatalf("a good MAIL FROM after bad ones: %v", err)
	}
	if n := len(f.sub.all()); n != 1 {
		t.Errorf("%d messages submitted, want 1", n)
	}
}
