package send_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/testkit"
)

const (
	region        = "us-east-1"
	serviceDomain = "sesame.example.test"
	defaultMF     = region + "." + serviceDomain
	notVerified   = "Email address is not verified. The following identities failed the check in region US-EAST-1: "
)

var ctx = context.Background()

// env is a Sender over real stores on one database, with a production
// account (unlimited quota, high rate) whose domain example.test is
// verified with Easy DKIM.
type env struct {
	t      testing.TB
	d      *db.DB
	clock  *testkit.Clock
	accts  *account.Store
	ids    *identity.Store
	q      *queue.Queue
	s      *send.Sender
	acct   string // production account
	logger *slog.Logger
}

func newEnv(t testing.TB, d *db.DB) *env {
	t.Helper()
	box, err := seal.New("send test master secret")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, d: d, clock: testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	e.logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.accts = account.New(d, box, e.clock.Now)
	e.ids, err = identity.New(identity.Options{DB: d, Seal: box, Region: region, ServiceDomain: serviceDomain, Now: e.clock.Now, GenerateKey: testkit.FastKeys, VerifyURL: "http://sesame.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	e.q, err = queue.New(queue.Options{DB: d, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.s = e.sender(nil)
	e.acct = e.account("prod")
	e.setProduction(e.acct, -1, 1000)
	e.domain(e.acct, "example.test", identity.OriginEasy)
	return e
}

func (e *env) sender(configSet func(ctx context.Context, accountID, name string) (*configset.Set, error)) *send.Sender {
	e.t.Helper()
	s, err := send.New(send.Options{Identities: e.ids, Accounts: e.accts, Queue: e.q, Region: region, ServiceDomain: serviceDomain,
		Now: e.clock.Now, Logger: e.logger, ConfigurationSet: configSet})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// account creates an account (in the sandbox: 200 a day, 1 a second).
func (e *env) account(name string) string {
	e.t.Helper()
	a, _, err := e.accts.Create(ctx, account.CreateOptions{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

func (e *env) setProduction(acct string, max24h, rate float64) {
	e.t.Helper()
	if err := e.accts.SetProduction(ctx, acct, max24h, rate); err != nil {
		e.t.Fatal(err)
	}
}

// record applies a check result to the identity, as the DNS checker would.
func (e *env) record(acct, name string, fill func(r *identity.CheckResult)) {
	e.t.Helper()
	// A domain's verification on PostgreSQL is discarded as stale while
	// another transaction — in tests, another package's on the same
	// database — holds the database-wide ownership lock; the checker
	// checks again, and so does this.
	for attempt := 0; ; attempt++ {
		i, err := e.ids.Get(ctx, acct, name)
		if err != nil {
			e.t.Fatal(err)
		}
		r := identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: e.clock.Now(), Window: 72 * time.Hour, Interval: time.Minute}
		fill(&r)
		_, err = e.ids.Record(ctx, r)
		if errors.Is(err, identity.ErrStale) && attempt < 100 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			e.t.Fatalf("record check of %s: %v", name, err)
		}
		return
	}
}

// domain creates a verified domain identity; with Easy DKIM its key is
// verified too.
func (e *env) domain(acct, name string, origin identity.Origin) {
	e.t.Helper()
	if _, err := e.ids.Create(ctx, acct, name, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: origin, KeyLength: identity.RSA1024}}); err != nil {
		e.t.Fatal(err)
	}
	e.record(acct, name, func(r *identity.CheckResult) {
		r.Verification, r.VerificationDetail = identity.Present, "verified by the test"
		if origin != identity.OriginNone {
			r.DKIM, r.DKIMDetail = identity.Present, "DKIM found by the test"
			r.Ed25519 = identity.Present // the optional Ed25519 CNAME too
		}
	})
}

// email creates an address identity, verified or not.
func (e *env) email(acct, name string, verified bool) {
	e.t.Helper()
	if _, err := e.ids.Create(ctx, acct, name, identity.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	if verified {
		e.record(acct, name, func(r *identity.CheckResult) { r.Verification = identity.Present })
	}
}

// mailFrom sets a custom MAIL FROM domain and brings it to the state.
func (e *env) mailFrom(acct, name, domain string, behavior identity.Behavior, state identity.Status) {
	e.t.Helper()
	if err := e.ids.SetMailFrom(ctx, acct, name, domain, behavior); err != nil {
		e.t.Fatal(err)
	}
	obs := func(o identity.Observation, at time.Time) {
		e.record(acct, name, func(r *identity.CheckResult) {
			r.MailFromDomain, r.MailFrom, r.MailFromDetail, r.At = domain, o, "observed by the test", at
		})
	}
	switch state {
	case identity.Pending:
	case identity.Success:
		obs(identity.Present, e.clock.Now())
	case identity.TemporaryFailure:
		obs(identity.Present, e.clock.Now())
		obs(identity.Absent, e.clock.Now())
	case identity.Failed:
		obs(identity.Absent, e.clock.Now().Add(73*time.Hour))
	}
	i, err := e.ids.Get(ctx, acct, name)
	if err != nil {
		e.t.Fatal(err)
	}
	if i.MailFrom.Status != state {
		e.t.Fatalf("MAIL FROM of %s is %s, want %s", name, i.MailFrom.Status, state)
	}
}

func (e *env) submit(r send.Request) (send.Result, error) {
	e.t.Helper()
	if r.AccountID == "" {
		r.AccountID = e.acct
	}
	if r.MaxSize == 0 {
		r.MaxSize = send.MaxSizeV2
	}
	return e.s.Submit(ctx, r)
}

func (e *env) mustSubmit(r send.Request) string {
	e.t.Helper()
	res, err := e.submit(r)
	if err != nil {
		e.t.Fatalf("submit: %v", err)
	}
	return res.MessageID
}

// rows counts the stored messages, recipients and events.
func (e *env) rows() [3]int {
	e.t.Helper()
	var n [3]int
	for i, tbl := range []string{"messages", "recipients", "events"} {
		if err := e.d.QueryRow(ctx, `SELECT COUNT(*) FROM `+tbl).Scan(&n[i]); err != nil {
			e.t.Fatal(err)
		}
	}
	return n
}

// rejected submits r and checks that it is refused with kind and msg ("":
// any message) and that nothing was stored.
func (e *env) rejected(r send.Request, kind send.Kind, msg string) *send.Error {
	e.t.Helper()
	before := e.rows()
	res, err := e.submit(r)
	var se *send.Error
	if !errors.As(err, &se) {
		e.t.Fatalf("submit: got %v (%+v), want a *send.Error", err, res)
	}
	if se.Kind != kind || (msg != "" && se.Msg != msg) {
		e.t.Errorf("rejection:\n got %s %q\nwant %s %q", se.Kind, se.Msg, kind, msg)
	}
	if after := e.rows(); after != before {
		e.t.Errorf("a rejected message left rows behind: messages/recipients/events %v → %v", before, after)
	}
	return se
}

func (e *env) envelopeSender(id string) string {
	e.t.Helper()
	var mf string
	if err := e.d.QueryRow(ctx, `SELECT mail_from FROM messages WHERE id = ?`, id).Scan(&mf); err != nil {
		e.t.Fatal(err)
	}
	return mf
}

func (e *env) body(id string) []byte {
	e.t.Helper()
	b, err := e.q.Body(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// verifyDKIM verifies the message's signatures against the keys Sesame
// publishes in its zone (Easy DKIM: <token>._domainkey.<domain> is a CNAME
// to <token>.dkim.<service domain>, whose TXT is DKIMRecords(token)) and
// returns the signing domains, one per signature.
func (e *env) verifyDKIM(msg []byte) []string {
	e.t.Helper()
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		sel, _, ok := strings.Cut(name, "._domainkey.")
		if !ok {
			return nil, fmt.Errorf("unexpected lookup of %s", name)
		}
		return e.ids.DKIMRecords(ctx, sel)
	}})
	if err != nil {
		e.t.Fatalf("verify DKIM: %v", err)
	}
	var out []string
	for _, v := range vs {
		if v.Err != nil {
			e.t.Errorf("DKIM signature by %s does not verify: %v", v.Domain, v.Err)
		}
		out = append(out, v.Domain)
	}
	return out
}

func (e *env) sendEvent(id string) *event.Event {
	e.t.Helper()
	st, err := event.List(ctx, e.d, 0, 10, "", id)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(st) != 1 || st[0].Type != event.Send {
		e.t.Fatalf("events of %s: %+v, want one Send", id, st)
	}
	ev, err := st[0].Event()
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

var idRE = regexp.MustCompile(`^0100([0-9a-f]{12})-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-000000$`)

func simple(from string, to ...string) *compose.Simple {
	return &compose.Simple{From: from, To: to, Subject: "Hello", Text: "Hello there.\n"}
}

func TestSimpleSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mailFrom(e.acct, "example.test", "bounce.example.test", identity.UseDefaultValue, identity.Success)
		sm := simple("Alice <alice@example.test>", "bob@example.org")
		sm.Bcc = []string{"carol@example.net"}
		sm.Subject = "Quarterly report"
		id := e.mustSubmit(send.Request{Simple: sm, Tags: []compose.Tag{{Name: "campaign", Value: "q1"}},
			SourceIP: "192.0.2.10", CallerIdentity: "app-user", Operation: "SendEmail"})

		mm := idRE.FindStringSubmatch(id)
		if mm == nil {
			t.Fatalf("MessageId %q is not in SES's format", id)
		}
		if want := fmt.Sprintf("%012x", e.clock.Now().UnixMilli()); mm[1] != want {
			t.Errorf("MessageId time part %s, want %s", mm[1], want)
		}
		if got, want := e.envelopeSender(id), id+"@bounce.example.test"; got != want {
			t.Errorf("envelope sender %s, want %s", got, want)
		}
		body := e.body(id)
		if got := e.verifyDKIM(body); !slices.Equal(got, []string{"example.test", "example.test"}) {
			t.Errorf("DKIM signatures by %v, want RSA and Ed25519 by example.test", got)
		}
		if !bytes.HasPrefix(body, []byte("DKIM-Signature: a=rsa-sha256;")) || !bytes.Contains(body, []byte("\r\nDKIM-Signature: a=ed25519-sha256;")) {
			t.Errorf("signatures are not RSA then Ed25519:\n%.400s", body)
		}
		for _, want := range []string{"\r\nMessage-ID: <" + id + "@us-east-1.sesame.example.test>\r\n", "\r\nSubject: Quarterly report\r\n"} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("body lacks %q", want)
			}
		}
		if bytes.Contains(body, []byte("carol@")) {
			t.Errorf("Bcc recipient written into the message")
		}
		counts, err := e.q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[queue.Queued] != 2 {
			t.Errorf("queued recipients %v, want 2", counts)
		}

		ev := e.sendEvent(id)
		m := ev.Mail
		if m.MessageID != id || m.Source != "Alice <alice@example.test>" || m.SendingAccountID != e.acct ||
			m.SourceArn != "arn:aws:ses:us-east-1:"+e.acct+":identity/example.test" || !m.Timestamp.Equal(e.clock.Now()) {
			t.Errorf("mail object: %+v", m)
		}
		if !slices.Equal(m.Destination, []string{"bob@example.org", "carol@example.net"}) {
			t.Errorf("destination %v", m.Destination)
		}
		wantTags := map[string][]string{"campaign": {"q1"}, "ses:from-domain": {"example.test"}, "ses:source-ip": {"192.0.2.10"},
			"ses:caller-identity": {"app-user"}, "ses:operation": {"SendEmail"}}
		if fmt.Sprint(m.Tags) != fmt.Sprint(wantTags) {
			t.Errorf("tags %v, want %v", m.Tags, wantTags)
		}
		ch := m.CommonHeaders
		if !slices.Equal(ch.From, []string{`"Alice" <alice@example.test>`}) && !slices.Equal(ch.From, []string{"Alice <alice@example.test>"}) {
			t.Errorf("commonHeaders.from %v", ch.From)
		}
		if !slices.Equal(ch.To, []string{"bob@example.org"}) || ch.Subject != "Quarterly report" || ch.MessageID != "<"+id+"@us-east-1.sesame.example.test>" || ch.Date == "" {
			t.Errorf("commonHeaders %+v", ch)
		}
		if len(m.Headers) == 0 || m.Headers[0].Name != "From" {
			t.Errorf("headers %+v", m.Headers)
		}
	})
}

func TestRawSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		// MAIL FROM set up but not found yet, UseDefaultValue: the default domain.
		e.mailFrom(e.acct, "example.test", "bounce.example.test", identity.UseDefaultValue, identity.Pending)
		raw := "From: Alice <alice@example.test>\nTo: bob@example.org\nCc: carol@example.org\nSubject: Raw hello\n" +
			"Message-ID: <own-1@example.test>\nDate: Fri, 2 Jan 2026 04:04:05 +0100\nX-SES-MESSAGE-TAGS: campaign=spring, kind=raw\n\nHi Bob.\n"
		id := e.mustSubmit(send.Request{Raw: []byte(raw), Operation: "SendRawEmail"})
		if got, want := e.envelopeSender(id), id+"@"+defaultMF; got != want {
			t.Errorf("envelope sender %s, want %s", got, want)
		}
		body := e.body(id)
		if got := e.verifyDKIM(body); len(got) != 2 || got[0] != "example.test" {
			t.Errorf("DKIM signatures by %v", got)
		}
		if bytes.Contains(body, []byte("own-1@")) || bytes.Contains(body, []byte("X-SES-")) || bytes.Contains(body, []byte("\n\n")) {
			t.Errorf("body not normalised:\n%s", body)
		}
		m := e.sendEvent(id).Mail
		if !slices.Equal(m.Destination, []string{"bob@example.org", "carol@example.org"}) {
			t.Errorf("destination %v", m.Destination)
		}
		if m.CommonHeaders.MessageID != "<own-1@example.test>" || m.CommonHeaders.Date != "Fri, 2 Jan 2026 04:04:05 +0100" {
			t.Errorf("commonHeaders keep the sender's Message-ID and Date: %+v", m.CommonHeaders)
		}
		if fmt.Sprint(m.Tags["campaign"], m.Tags["kind"], m.Tags["ses:operation"]) != "[spring] [raw] [SendRawEmail]" {
			t.Errorf("tags %v", m.Tags)
		}

		// Destinations replace the header recipients; API tags replace the
		// header's (no merging); the source parameter is the mail's source.
		id = e.mustSubmit(send.Request{Raw: []byte(raw), From: "alice@example.test", Destinations: []string{"Dave <dave@example.net>"},
			Tags: []compose.Tag{{Name: "api", Value: "yes"}}, FeedbackForwardingAddress: "feedback@example.test"})
		m = e.sendEvent(id).Mail
		if !slices.Equal(m.Destination, []string{"dave@example.net"}) || m.Source != "alice@example.test" || m.Tags["campaign"] != nil ||
			m.Tags["api"] == nil || m.CommonHeaders.ReturnPath != "feedback@example.test" {
			t.Errorf("mail object %+v", m)
		}
	})
}

func TestMailFromStates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, state := range []identity.Status{identity.Pending, identity.Success, identity.TemporaryFailure, identity.Failed} {
			for _, beh := range []identity.Behavior{identity.UseDefaultValue, identity.RejectMessage} {
				dom := strings.ToLower(fmt.Sprintf("%s-%s.test", state, beh))
				e.domain(e.acct, dom, identity.OriginNone)
				e.mailFrom(e.acct, dom, "mail."+dom, beh, state)
				r := send.Request{Simple: simple("news@"+dom, "bob@example.org")}
				switch {
				case state == identity.Success:
					if got := e.envelopeSender(e.mustSubmit(r)); !strings.HasSuffix(got, "@mail."+dom) {
						t.Errorf("%s/%s: envelope sender %s", state, beh, got)
					}
				case beh == identity.UseDefaultValue:
					if got := e.envelopeSender(e.mustSubmit(r)); !strings.HasSuffix(got, "@"+defaultMF) {
						t.Errorf("%s/%s: envelope sender %s", state, beh, got)
					}
				default:
					se := e.rejected(r, send.KindMailFromNotVerified, fmt.Sprintf("Mail FROM domain is not verified: the custom MAIL FROM domain mail.%s of identity %s is %s, and its behavior on MX failure is RejectMessage.", dom, dom, state))
					if !errors.Is(se, send.ErrMailFromNotVerified) {
						t.Errorf("errors.Is(ErrMailFromNotVerified) is false")
					}
				}
			}
		}
		// No MAIL FROM anywhere: the default domain.
		if got := e.envelopeSender(e.mustSubmit(send.Request{Simple: simple("a@example.test", "bob@example.org")})); !strings.HasSuffix(got, "@"+defaultMF) {
			t.Errorf("envelope sender without a MAIL FROM: %s", got)
		}
	})
}

func TestUnverifiedSender(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		se := e.rejected(send.Request{Simple: simple("Mallory <mallory@evil.test>", "bob@example.org")}, send.KindMessageRejected, notVerified+"Mallory <mallory@evil.test>")
		if !errors.Is(se, send.ErrMessageRejected) || errors.Is(se, send.ErrMailFromNotVerified) {
			t.Errorf("sentinels wrong for %v", se)
		}
		// An address identity that is not verified does not cover itself.
		e.email(e.acct, "x@pending.test", false)
		e.rejected(send.Request{From: "x@pending.test", Simple: simple("", "bob@example.org")}, send.KindMessageRejected, notVerified+"x@pending.test")
		// A pending domain identity does not cover its addresses.
		if _, err := e.ids.Create(ctx, e.acct, "pending.example", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.rejected(send.Request{Simple: simple("a@pending.example", "bob@example.org")}, send.KindMessageRejected, notVerified+"a@pending.example")
		// Another account's verified domain does not cover this account.
		other := e.account("other")
		e.rejected(send.Request{AccountID: other, Simple: simple("a@example.test", "b@example.test")}, send.KindMessageRejected, notVerified+"a@example.test, b@example.test")

		// Raw: the source parameter, the From, Sender and Return-Path
		// headers and the feedback address are all checked.
		raw := "From: alice@example.test\r\nSender: sec@evil.test\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nHi\r\n"
		e.rejected(send.Request{Raw: []byte(raw)}, send.KindMessageRejected, notVerified+"sec@evil.test")
		raw = "From: alice@example.test\r\nTo: bob@example.org\r\nReturn-Path: <bounces@evil.test>\r\n\r\nHi\r\n"
		e.rejected(send.Request{Raw: []byte(raw)}, send.KindMessageRejected, notVerified+"bounces@evil.test")
		raw = "From: mallory@evil.test\r\nTo: bob@example.org\r\n\r\nHi\r\n"
		e.rejected(send.Request{Raw: []byte(raw), From: "alice@example.test"}, send.KindMessageRejected, notVerified+"mallory@evil.test")
		e.rejected(send.Request{Raw: []byte(raw), From: "eve@evil.test"}, send.KindMessageRejected, notVerified+"eve@evil.test, mallory@evil.test")
		e.rejected(send.Request{Simple: simple("alice@example.test", "bob@example.org"), FeedbackForwardingAddress: "fb@evil.test"}, send.KindMessageRejected, notVerified+"fb@evil.test")
	})
}

func TestMostSpecificIdentity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.mailFrom(e.acct, "example.test", "bounce.example.test", identity.RejectMessage, identity.Success)
		arn := func(id string) string { return e.sendEvent(id).Mail.SourceArn }
		prefix := "arn:aws:ses:us-east-1:" + e.acct + ":identity/"

		// A subdomain is covered by its verified parent, which signs.
		id := e.mustSubmit(send.Request{Simple: simple("a@news.example.test", "bob@example.org")})
		if arn(id) != prefix+"example.test" || len(e.verifyDKIM(e.body(id))) != 2 || !strings.HasSuffix(e.envelopeSender(id), "@bounce.example.test") {
			t.Errorf("subdomain send: arn %s, envelope %s", arn(id), e.envelopeSender(id))
		}

		// A pending address identity does not block its verified domain.
		e.email(e.acct, "pending@example.test", false)
		id = e.mustSubmit(send.Request{Simple: simple("pending@example.test", "bob@example.org")})
		if arn(id) != prefix+"example.test" {
			t.Errorf("pending address: arn %s", arn(id))
		}

		// A verified address identity is the sending identity; without its
		// own MAIL FROM it takes its domain's; its DKIM switch off → unsigned.
		e.email(e.acct, "noreply@example.test", true)
		id = e.mustSubmit(send.Request{Simple: simple("noreply@example.test", "bob@example.org")})
		if arn(id) != prefix+"noreply@example.test" || len(e.verifyDKIM(e.body(id))) != 2 || !strings.HasSuffix(e.envelopeSender(id), "@bounce.example.test") {
			t.Errorf("verified address: arn %s, envelope %s", arn(id), e.envelopeSender(id))
		}
		if err := e.ids.SetDKIMEnabled(ctx, e.acct, "noreply@example.test", false); err != nil {
			t.Fatal(err)
		}
		id = e.mustSubmit(send.Request{Simple: simple("noreply@example.test", "bob@example.org")})
		if bytes.Contains(e.body(id), []byte("DKIM-Signature")) {
			t.Errorf("signed although the address's DKIM is off")
		}

		// An address identity with its own MAIL FROM, no domain identity:
		// its MAIL FROM; no DKIM key anywhere → unsigned.
		e.email(e.acct, "solo@solo.test", true)
		e.mailFrom(e.acct, "solo@solo.test", "mf.solo.test", identity.UseDefaultValue, identity.Success)
		id = e.mustSubmit(send.Request{Simple: simple("solo@solo.test", "bob@example.org")})
		if arn(id) != prefix+"solo@solo.test" || e.envelopeSender(id) != id+"@mf.solo.test" || bytes.Contains(e.body(id), []byte("DKIM-Signature")) {
			t.Errorf("address identity: arn %s, envelope %s", arn(id), e.envelopeSender(id))
		}

		// A verified subdomain identity without DKIM: its parent's key signs;
		// with its own RejectMessage MAIL FROM pending, the send is refused
		// even though the parent's MAIL FROM is in Success.
		e.domain(e.acct, "sub.example.test", identity.OriginNone)
		id = e.mustSubmit(send.Request{Simple: simple("a@sub.example.test", "bob@example.org")})
		if arn(id) != prefix+"sub.example.test" || len(e.verifyDKIM(e.body(id))) != 2 || !strings.HasSuffix(e.envelopeSender(id), "@bounce.example.test") {
			t.Errorf("subdomain identity: arn %s, envelope %s", arn(id), e.envelopeSender(id))
		}
		e.mailFrom(e.acct, "sub.example.test", "mf.sub.example.test", identity.RejectMessage, identity.Pending)
		e.rejected(send.Request{Simple: simple("a@sub.example.test", "bob@example.org")}, send.KindMailFromNotVerified,
			"Mail FROM domain is not verified: the custom MAIL FROM domain mf.sub.example.test of identity sub.example.test is Pending, and its behavior on MX failure is RejectMessage.")

		// The domain's DKIM switch off → unsigned.
		if err := e.ids.SetDKIMEnabled(ctx, e.acct, "example.test", false); err != nil {
			t.Fatal(err)
		}
		id = e.mustSubmit(send.Request{Simple: simple("a@example.test", "bob@example.org")})
		if bytes.Contains(e.body(id), []byte("DKIM-Signature")) {
			t.Errorf("signed although the domain's DKIM is off")
		}
	})
}

func TestSandbox(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		sb := e.account("sandboxed")
		e.domain(sb, "example.test", identity.OriginEasy)
		e.email(sb, "friend@verified.test", true)
		e.domain(sb, "verified.org", identity.OriginNone)
		e.email(sb, "pending@verified.net", false)
		r := func(to ...string) send.Request {
			e.clock.Advance(time.Minute) // the sandbox allows one recipient a second
			return send.Request{AccountID: sb, Simple: simple("a@example.test", to...)}
		}
		e.rejected(r("stranger@example.org"), send.KindMessageRejected, notVerified+"stranger@example.org")
		e.rejected(r("friend@verified.test", "pending@verified.net", "Carl <carl@example.org>"), send.KindMessageRejected,
			notVerified+"pending@verified.net, Carl <carl@example.org>")
		e.rejected(send.Request{AccountID: sb, Raw: []byte("From: x@evil.test\r\nTo: y@example.org\r\n\r\nHi\r\n")}, send.KindMessageRejected,
			notVerified+"x@evil.test, y@example.org")

		id := e.mustSubmit(r("friend@verified.test", "anyone@verified.org", "x@sub.verified.org",
			"success@simulator.amazonses.com", "bounce+abc@simulator.sesame.example.test"))
		if got := e.sendEvent(id).Mail.Destination; len(got) != 5 {
			t.Errorf("destination %v", got)
		}
		// The same recipients from a production account need no verification.
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "stranger@example.org")})
	})
}

func TestSendingPaused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		if err := e.accts.SetSendingEnabled(ctx, e.acct, false); err != nil {
			t.Fatal(err)
		}
		se := e.rejected(send.Request{Simple: simple("a@example.test", "bob@example.org")}, send.KindSendingPaused, "Sending is paused for this account.")
		if !errors.Is(se, send.ErrSendingPaused) {
			t.Errorf("errors.Is(ErrSendingPaused) is false")
		}
		if err := e.accts.SetSendingEnabled(ctx, e.acct, true); err != nil {
			t.Fatal(err)
		}
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "bob@example.org")})
	})
}

func TestInvalid(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		many := func(n int) []string {
			var out []string
			for i := range n {
				out = append(out, fmt.Sprintf("r%d@example.org", i))
			}
			return out
		}
		manyTags := func(n int) []compose.Tag {
			var out []compose.Tag
			for i := range n {
				out = append(out, compose.Tag{Name: fmt.Sprintf("t%d", i), Value: "v"})
			}
			return out
		}
		subjectCRLF := simple("a@example.test", "bob@example.org")
		subjectCRLF.Subject = "Hi\r\nBcc: victim@example.org"
		raw := []byte("From: a@example.test\r\nTo: bob@example.org\r\nSubject: x\r\n\r\n" + strings.Repeat("0123456789\r\n", 30))
		for _, c := range []struct {
			name  string
			r     send.Request
			msg   string
			field string
		}{
			{"subject injection", send.Request{Simple: subjectCRLF}, "Subject must not contain CR or LF.", "Subject"},
			{"no @", send.Request{Raw: raw, Destinations: []string{"bob"}}, "Missing final '@domain'", "Destinations[0]"},
			{"no local", send.Request{Raw: raw, Destinations: []string{"bob@example.org", "@example.org"}}, "Missing local name", "Destinations[1]"},
			{"no domain", send.Request{Raw: raw, Destinations: []string{"bob@"}}, "Missing domain", "Destinations[0]"},
			{"space in domain", send.Request{Raw: raw, Destinations: []string{"bob@exa mple.org"}}, "Domain contains control or whitespace", "Destinations[0]"},
			{"CRLF in To", send.Request{Simple: simple("a@example.test", "bob@example.org\r\nBcc: victim@example.org")}, "Local address contains control or whitespace", "To[0]"},
			{"illegal local", send.Request{Raw: raw, Destinations: []string{"bo(b@example.org"}}, "Local address contains illegal character", "Destinations[0]"},
			{"one-label domain", send.Request{Simple: simple("a@example.test", "bob@localhost")}, "Illegal address", "To[0]"},
			{"bad source", send.Request{Raw: raw, From: "alice"}, "Missing final '@domain'", "From"},
			{"bad simple from", send.Request{Simple: simple("Alice <alice@>", "bob@example.org")}, "Missing domain", "From"},
			{"no from", send.Request{Simple: simple("", "bob@example.org")}, "The From address must be specified.", "From"},
			{"raw without From", send.Request{Raw: []byte("To: bob@example.org\r\n\r\nHi\r\n")}, "Missing required header 'From'.", "From"},
			{"raw without recipients", send.Request{Raw: []byte("From: a@example.test\r\nSubject: x\r\n\r\nHi\r\n")}, "Missing required header 'To'.", "Destinations"},
			{"simple without recipients", send.Request{Simple: simple("a@example.test")}, "The message must have at least one recipient (To, Cc or Bcc).", "Destination"},
			{"51 recipients", send.Request{Simple: simple("a@example.test", many(51)...)}, "Recipient count exceeds 50.", "Destinations"},
			{"51 destinations", send.Request{Raw: raw, Destinations: many(51)}, "Recipient count exceeds 50.", "Destinations"},
			{"bad tag", send.Request{Simple: simple("a@example.test", "bob@example.org"), Tags: []compose.Tag{{Name: "bad tag", Value: "v"}}},
				"Invalid tag name bad tag: only alphanumeric ASCII characters, '_',  '-' are allowed.", "Tags[0].Name"},
			{"51 tags", send.Request{Simple: simple("a@example.test", "bob@example.org"), Tags: manyTags(51)},
				"Tags has 51 tags; a message may have at most 50.", "Tags"},
			{"repeated tag name (v2)", send.Request{Simple: simple("a@example.test", "bob@example.org"), TagsParam: "EmailTags",
				Tags: []compose.Tag{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "a", Value: "3"}}},
				"EmailTags gives the tag name a more than once (EmailTags[0] and EmailTags[2]); each name may be given once.", "EmailTags[2].Name"},
			{"raw too long", send.Request{Raw: raw, MaxSize: 300}, fmt.Sprintf("Message length is more than 300 bytes long: '%d'.", len(raw)), "RawMessage"},
			{"empty raw", send.Request{Raw: []byte{}}, "The raw message must not be empty.", "RawMessage"},
		} {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				se := e.rejected(c.r, send.KindInvalid, c.msg)
				if se.Field != c.field {
					t.Errorf("field %q, want %q", se.Field, c.field)
				}
				if !errors.Is(se, send.ErrInvalid) {
					t.Errorf("errors.Is(ErrInvalid) is false")
				}
			})
		}
		e.t = t
		// A compose error stays reachable.
		if _, err := e.submit(send.Request{Simple: subjectCRLF}); !errors.Is(err, compose.ErrInvalid) {
			t.Errorf("compose.ErrInvalid not reachable from %v", err)
		}
		// The composed message's size (Simple) counts too.
		big := simple("a@example.test", "bob@example.org")
		big.Text = strings.Repeat("x", 2000)
		se := e.rejected(send.Request{Simple: big, MaxSize: 1000}, send.KindInvalid, "")
		if !strings.HasPrefix(se.Msg, "Message length is more than 1000 bytes long: '") {
			t.Errorf("oversize Simple: %q", se.Msg)
		}
		// 50 distinct recipients (one given twice) pass.
		e.mustSubmit(send.Request{Simple: simple("a@example.test", append(many(50), "r0@example.org")...)})
		// Exactly one of Simple and Raw.
		if _, err := e.submit(send.Request{Simple: simple("a@example.test", "b@example.org"), Raw: raw}); err == nil || errors.As(err, new(*send.Error)) {
			t.Errorf("Simple and Raw together: %v, want an internal error", err)
		}
	})
}

func TestConfigurationSet(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		se := e.rejected(send.Request{Simple: simple("a@example.test", "bob@example.org"), ConfigurationSet: "cs1"},
			send.KindConfigurationSetDoesNotExist, "Configuration set cs1 does not exist.")
		if !errors.Is(se, send.ErrConfigurationSetDoesNotExist) {
			t.Errorf("errors.Is(ErrConfigurationSetDoesNotExist) is false")
		}
		raw := []byte("From: a@example.test\r\nTo: bob@example.org\r\nX-SES-CONFIGURATION-SET: cs2\r\n\r\nHi\r\n")
		e.rejected(send.Request{Raw: raw}, send.KindConfigurationSetDoesNotExist, "Configuration set cs2 does not exist.")

		// With the hook (the later step's configuration sets), a set that exists is used.
		e.s = e.sender(func(_ context.Context, acct, name string) (*configset.Set, error) {
			if acct == e.acct && name == "cs2" {
				return &configset.Set{AccountID: acct, Name: name, SendingEnabled: true}, nil
			}
			return nil, &configset.NotFoundError{Set: name}
		})
		id := e.mustSubmit(send.Request{Raw: raw})
		ev := e.sendEvent(id)
		if ev.ConfigurationSet != "cs2" || !slices.Equal(ev.Mail.Tags["ses:configuration-set"], []string{"cs2"}) {
			t.Errorf("configuration set of the event: %q, tags %v", ev.ConfigurationSet, ev.Mail.Tags)
		}
		e.rejected(send.Request{Raw: raw, ConfigurationSet: "cs1"}, send.KindConfigurationSetDoesNotExist, "Configuration set cs1 does not exist.")
	})
}

func TestDailyQuota(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setProduction(e.acct, 3, 1000)
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "b1@example.org", "b2@example.org")})
		// Simulator recipients do not count against the daily quota.
		e.clock.Advance(time.Hour)
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "b3@example.org", "success@simulator.amazonses.com", "ooto@simulator.sesame.example.test")})
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "bounce@simulator.amazonses.com")})
		se := e.rejected(send.Request{Simple: simple("a@example.test", "b4@example.org")}, send.KindDailyQuotaExceeded, send.MsgDailyQuotaExceeded)
		if !errors.Is(se, send.ErrThrottled) {
			t.Errorf("errors.Is(ErrThrottled) is false")
		}
		// 24 hours after the first message (plus the 5 minutes of the
		// counting buckets, which err on the safe side), its two recipients
		// no longer count.
		e.clock.Advance(23*time.Hour + 5*time.Minute)
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "b4@example.org", "b5@example.org")})
		e.rejected(send.Request{Simple: simple("a@example.test", "b6@example.org")}, send.KindDailyQuotaExceeded, send.MsgDailyQuotaExceeded)
	})
}

func TestSendRate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setProduction(e.acct, -1, 2)
		one := send.Request{Simple: simple("a@example.test", "b@example.org")}
		two := send.Request{Simple: simple("a@example.test", "b@example.org", "c@example.org")}
		e.mustSubmit(two)
		se := e.rejected(one, send.KindRateExceeded, send.MsgRateExceeded)
		if !errors.Is(se, send.ErrThrottled) {
			t.Errorf("errors.Is(ErrThrottled) is false")
		}
		e.clock.Advance(500 * time.Millisecond)
		e.mustSubmit(one)
		e.rejected(one, send.KindRateExceeded, send.MsgRateExceeded)
		// A message with more recipients than the rate goes when the bucket
		// is full, and the debt is paid back before the next one.
		e.clock.Advance(time.Second)
		e.mustSubmit(send.Request{Simple: simple("a@example.test", "b1@example.org", "b2@example.org", "b3@example.org", "b4@example.org", "success@simulator.amazonses.com")})
		e.clock.Advance(time.Second)
		e.rejected(one, send.KindRateExceeded, send.MsgRateExceeded)
		e.clock.Advance(1500 * time.Millisecond)
		e.mustSubmit(one)
		// Rejections for other reasons take no tokens.
		e.clock.Advance(time.Minute)
		e.rejected(send.Request{Simple: simple("mallory@evil.test", "b@example.org")}, send.KindMessageRejected, notVerified+"mallory@evil.test")
		e.mustSubmit(two)
	})
}

func TestNew(t *testing.T) {
	if _, err := send.New(send.Options{}); err == nil {
		t.Error("New without stores succeeded")
	}
	if got := send.DefaultSimulatorDomains("Sesame.Example.Net."); !slices.Equal(got, []string{"simulator.amazonses.com", "simulator.sesame.example.net"}) {
		t.Errorf("DefaultSimulatorDomains = %v", got)
	}
}

func TestDailyQuotaConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setProduction(e.acct, 10, 1000)
		const n = 20
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := e.s.Submit(ctx, send.Request{AccountID: e.acct, Simple: simple("a@example.test", fmt.Sprintf("r%d@example.org", i))})
				errs <- err
			}()
		}
		accepted := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				accepted++
			case !errors.Is(err, send.ErrThrottled):
				t.Errorf("concurrent submit: %v", err)
			}
		}
		if accepted > 10 {
			t.Fatalf("%d messages accepted concurrently against a quota of 10", accepted)
		}
		// Filling up one by one reaches exactly the quota.
		for ; accepted < 10; accepted++ {
			e.mustSubmit(send.Request{Simple: simple("a@example.test", "late@example.org")})
		}
		e.rejected(send.Request{Simple: simple("a@example.test", "late@example.org")}, send.KindDailyQuotaExceeded, send.MsgDailyQuotaExceeded)
	})
}

// TestKeyRotation: after new DKIM signing attributes, mail is signed with
// the new key, not a cached old one.
func TestKeyRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d) // example.test: Easy DKIM, verified
		e.setProduction(e.acct, -1, 1000)
		first := e.mustSubmit(send.Request{Simple: simple("a@example.test", "b@example.org")})
		e.verifyDKIM(e.body(first))
		if _, err := e.ids.SetDKIMSigning(ctx, e.acct, "example.test", identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA2048}, false); err != nil {
			t.Fatal(err)
		}
		second := e.mustSubmit(send.Request{Simple: simple("a@example.test", "b@example.org")})
		// verifyDKIM looks keys up in the store, which now holds only the new key.
		if got := e.verifyDKIM(e.body(second)); len(got) != 2 {
			t.Fatalf("signatures after rotation: %v", got)
		}
	})
}

// TestEd25519OnlyWhenPublished: the extra Ed25519 signature is added only
// once the checker has seen that key's (optional) CNAME.
func TestEd25519OnlyWhenPublished(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setProduction(e.acct, -1, 1000)
		if _, err := e.ids.Create(ctx, e.acct, "rsaonly.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA1024}}); err != nil {
			t.Fatal(err)
		}
		e.record(e.acct, "rsaonly.test", func(r *identity.CheckResult) {
			r.Verification, r.DKIM, r.Ed25519 = identity.Present, identity.Present, identity.Absent
		})
		id := e.mustSubmit(send.Request{Simple: simple("a@rsaonly.test", "b@example.org")})
		if got := e.verifyDKIM(e.body(id)); len(got) != 1 {
			t.Fatalf("signatures without the Ed25519 CNAME: %v", got)
		}
		e.record(e.acct, "rsaonly.test", func(r *identity.CheckResult) { r.DKIM, r.Ed25519 = identity.Present, identity.Present })
		id = e.mustSubmit(send.Request{Simple: simple("a@rsaonly.test", "b@example.org")})
		if got := e.verifyDKIM(e.body(id)); len(got) != 2 {
			t.Fatalf("signatures with the Ed25519 CNAME: %v", got)
		}
	})
}

// TestSuppressedRecipients: a recipient on the suppression list does not
// fail the send; it is stored as bounced with a
// Permanent/OnAccountSuppressionList Bounce event, and the others are
// delivered as usual.
func TestSuppressedRecipients(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setProduction(e.acct, -1, 1000)
		s, err := send.New(send.Options{Identities: e.ids, Accounts: e.accts, Queue: e.q, Region: region, ServiceDomain: serviceDomain,
			Now: e.clock.Now, Logger: e.logger,
			Suppressed: func(_ context.Context, acct string, _, rcpts []string) (map[string]bool, error) {
				return map[string]bool{"gone@example.org": acct == e.acct}, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Submit(ctx, send.Request{AccountID: e.acct, Simple: simple("a@example.test", "b@example.org", "gone@example.org")})
		if err != nil {
			t.Fatal(err)
		}
		counts, _ := e.q.Counts(ctx)
		if counts[queue.Queued] != 1 || counts[queue.Bounced] != 1 {
			t.Fatalf("recipient states: %v", counts)
		}
		evs, err := event.List(ctx, d, 0, 10, "", res.MessageID)
		if err != nil || len(evs) != 2 || evs[0].Type != event.Send || evs[1].Type != event.Bounce {
			t.Fatalf("events: %+v, %v", evs, err)
		}
		b, err := evs[1].Event()
		if err != nil || b.Bounce.BounceSubType != "OnAccountSuppressionList" || b.Bounce.BouncedRecipients[0].EmailAddress != "gone@example.org" {
			t.Fatalf("bounce event: %+v, %v", b, err)
		}
		// Only the deliverable recipient is ever claimed.
		cs, _ := e.q.Claim(ctx, "w", 10, time.Minute)
		if len(cs) != 1 || cs[0].Address != "b@example.org" {
			t.Fatalf("claimed: %+v", cs)
		}
	})
}
