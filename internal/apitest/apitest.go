// Package apitest starts a complete Sesame API (both stores' records, the
// SigV4 front door, SES v1 and v2) on a loopback httptest server, with an
// account, a settable clock and the real AWS SDK for Go v2 clients pointed
// at it. It is imported only from tests.
package apitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/notify"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
	sesameV1 "github.com/sesame-email/sesame/internal/sesv1"
	sesameV2 "github.com/sesame-email/sesame/internal/sesv2"
	"github.com/sesame-email/sesame/internal/sns"
	"github.com/sesame-email/sesame/internal/suppression"
	"github.com/sesame-email/sesame/internal/template"
	"github.com/sesame-email/sesame/internal/testkit"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// The deployment every Env serves.
const (
	Region        = "us-east-1"
	ServiceDomain = "sesame.example.test"
)

// Clock is the settable clock of an Env.
type Clock = testkit.Clock

// FastKeys is the DKIM key source of an Env; see testkit.FastKeys.
var FastKeys = testkit.FastKeys

// Env is a running API with one account.
type Env struct {
	URL         string
	DB          *db.DB
	Clock       *Clock
	Accounts    *account.Store
	Identities  *identity.Store
	Queue       *queue.Queue
	Suppression *suppression.Store
	ConfigSets  *configset.Store
	Templates   *template.Store
	// Topics are the SNS topics ConfigSets' TopicExists hook knows
	// (topic ARN → owning account ID); tests add to it (SNS itself is
	// another component). Validated records the topics the Validated hook
	// was called for, "<account> <topic ARN>".
	Topics    map[string]string
	Validated []string
	topicsMu  sync.Mutex
	Account   *account.Account
	Key       account.Key
	V1        *ses.Client
	V2        *sesv2.Client
	SNSClient *awssns.Client
	// SNS is the SNS service, at URL with the API (PublicURL is URL).
	SNS *sns.Store
	// Push receives the SNS service's HTTP/S deliveries, in the
	// publishing transaction; nil: they fail. Tests set it.
	Push func(ctx context.Context, tx *db.Tx, d push.Delivery) error
	// EnforcementStatus, when a test sets it, is GetAccount's
	// EnforcementStatus hook (sesv2.Options.EnforcementStatus); nil:
	// HEALTHY.
	EnforcementStatus func(ctx context.Context, accountID string) (string, error)
	// CustomVerification is the custom verification email templates and
	// their sending, wired into both APIs.
	CustomVerification *verifytemplate.Store
	// Contacts are the contact lists; Imports the import jobs, reading
	// files from ImportDir and writing failures under FailuresDir. No
	// worker runs: tests call Imports.Work.
	Contacts               *contact.Store
	Imports                *contact.Imports
	ImportDir, FailuresDir string
}

// New starts an API on d. The clock starts at the real current time (SigV4
// signatures from the SDK carry the real time) and may be moved.
func New(t testing.TB, d *db.DB) *Env {
	t.Helper()
	box, err := seal.New("apitest master secret")
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	accts := account.New(d, box, clock.Now)
	q, err := queue.New(queue.Options{DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := notify.NewMailer(notify.MailerOptions{Queue: q, Region: Region, ServiceDomain: ServiceDomain, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var sender *send.Sender
	ids, err := identity.New(identity.Options{DB: d, Seal: box, Region: Region, ServiceDomain: ServiceDomain, Now: clock.Now, GenerateKey: FastKeys, VerifyURL: "http://sesame.example.test",
		Mail: mailer.QueueTx,
		Admit: func(ctx context.Context, accountID string, n int) (func(bool), error) {
			return sender.Admit(ctx, accountID, n)
		}})
	if err != nil {
		t.Fatal(err)
	}
	supp, err := suppression.New(suppression.Options{DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The listener first: the SNS service builds its links on its URL.
	hs := httptest.NewUnstartedServer(nil)
	e := &Env{URL: "http://" + hs.Listener.Addr().String(), DB: d, Clock: clock, Accounts: accts, Identities: ids, Queue: q, Suppression: supp, Topics: map[string]string{}}
	e.Templates = template.NewStore(d, clock.Now)
	var topics *sns.Store
	sets, err := configset.New(configset.Options{DB: d, Now: clock.Now, Logger: log, Region: Region,
		TopicExists: func(ctx context.Context, accountID, arn string) (bool, error) {
			e.topicsMu.Lock()
			registered := e.Topics[arn] == accountID
			e.topicsMu.Unlock()
			if registered {
				return true, nil
			}
			return topics.TopicExists(ctx, accountID, arn)
		},
		Validated: func(_ context.Context, accountID, arn string) error {
			e.topicsMu.Lock()
			defer e.topicsMu.Unlock()
			e.Validated = append(e.Validated, accountID+" "+arn)
			return nil
		},
		DomainVerified: ids.DomainVerified})
	if err != nil {
		t.Fatal(err)
	}
	sender, err = send.New(send.Options{Identities: ids, Accounts: accts, Queue: q, Region: Region, ServiceDomain: ServiceDomain, Now: clock.Now, Logger: log,
		Suppressed: supp.Suppressed, ConfigurationSet: sets.Get})
	if err != nil {
		t.Fatal(err)
	}
	e.CustomVerification, err = verifytemplate.New(verifytemplate.Options{DB: d, Identities: ids, Accounts: accts, Sender: sender, Now: clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, k, err := accts.Create(context.Background(), account.CreateOptions{Name: "test", Email: "owner@owner.example"})
	if err != nil {
		t.Fatal(err)
	}
	enforcement := func(ctx context.Context, accountID string) (string, error) {
		if e.EnforcementStatus == nil {
			return "HEALTHY", nil
		}
		return e.EnforcementStatus(ctx, accountID)
	}
	topics, err = sns.New(sns.Options{DB: d, Box: box, Region: Region, PublicURL: e.URL, Now: clock.Now, Logger: log, KeyBits: 1024, Wake: q.Wake,
		Push: func(ctx context.Context, tx *db.Tx, dl push.Delivery) error {
			if e.Push == nil {
				return errors.New("apitest: no Push hook set")
			}
			return e.Push(ctx, tx, dl)
		},
		Mail: func(ctx context.Context, tx *db.Tx, accountID, to, subject, text string) error {
			return mailer.QueueTx(ctx, tx, identity.Mail{AccountID: accountID, To: to, Subject: subject, Body: text})
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.SNS = topics
	e.Contacts, err = contact.New(contact.Options{DB: d, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.ImportDir, e.FailuresDir = t.TempDir(), t.TempDir()
	e.Imports, err = contact.NewImports(contact.ImportOptions{DB: d, Contacts: e.Contacts, Suppression: supp, Dir: e.ImportDir, FailuresDir: e.FailuresDir,
		Now: clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := sesapi.New(sesapi.Options{
		Accounts: accts,
		Region:   Region,
		SNS:      topics.Handler(),
		Public:   topics.Public(),
		V1: sesameV1.New(sesameV1.Options{Identities: ids, Accounts: accts, Queue: q, Sender: sender, Now: clock.Now, Logger: log, Topics: topics, ConfigSets: sets, CustomVerification: e.CustomVerification,
			EnforcementStatus: enforcement, Templates: e.Templates}),
		V2: sesameV2.New(sesameV2.Options{Identities: ids, Accounts: accts, Queue: q, Sender: sender, Suppression: supp, ConfigSets: sets, Now: clock.Now, Logger: log, CustomVerification: e.CustomVerification,
			EnforcementStatus: enforcement, Templates: e.Templates, Contacts: e.Contacts, Imports: e.Imports}),
		Logger: log,
		Now:    clock.Now,
	})
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(hs.Close)
	e.ConfigSets = sets
	e.Account, e.Key = a, k
	e.V1, e.V2 = e.Clients(k.AccessKeyID, k.Secret)
	e.SNSClient = e.SNSClientFor(k.AccessKeyID, k.Secret)
	return e
}

// Topic registers an SNS topic of the account for ConfigSets' TopicExists
// hook and returns its ARN.
func (e *Env) Topic(accountID, name string) string {
	arn := "arn:aws:sns:" + Region + ":" + accountID + ":" + name
	e.topicsMu.Lock()
	e.Topics[arn] = accountID
	e.topicsMu.Unlock()
	return arn
}

// ValidatedTopics returns a copy of Validated.
func (e *Env) ValidatedTopics() []string {
	e.topicsMu.Lock()
	defer e.topicsMu.Unlock()
	return append([]string(nil), e.Validated...)
}

// Clients returns SDK clients signing with the given key.
func (e *Env) Clients(keyID, secret string) (*ses.Client, *sesv2.Client) {
	cfg := aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		RetryMaxAttempts: 1,
	}
	v1 := ses.NewFromConfig(cfg, func(o *ses.Options) { o.BaseEndpoint = aws.String(e.URL) })
	v2 := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(e.URL) })
	return v1, v2
}

// SNSClientFor returns an SDK sns client signing with the given key.
func (e *Env) SNSClientFor(keyID, secret string) *awssns.Client {
	cfg := aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		RetryMaxAttempts: 1,
	}
	return awssns.NewFromConfig(cfg, func(o *awssns.Options) { o.BaseEndpoint = aws.String(e.URL) })
}

// OtherKey creates a second account and returns its access key.
func (e *Env) OtherKey(t testing.TB, name string) (*account.Account, account.Key) {
	t.Helper()
	a, k, err := e.Accounts.Create(context.Background(), account.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a, k
}

// Other creates a second account and returns clients for it.
func (e *Env) Other(t testing.TB, name string) (*account.Account, *ses.Client, *sesv2.Client) {
	t.Helper()
	a, k, err := e.Accounts.Create(context.Background(), account.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := e.Clients(k.AccessKeyID, k.Secret)
	return a, v1, v2
}

// MarkVerified records a DNS check that found the identity's records, as
// the checker would, so tests can reach the verified state directly.
func (e *Env) MarkVerified(t testing.TB, name string) {
	t.Helper()
	e.MarkVerifiedIn(t, e.Account.ID, name)
}

// MarkVerifiedIn is MarkVerified for another account's identity.
func (e *Env) MarkVerifiedIn(t testing.TB, accountID, name string) {
	t.Helper()
	ctx := context.Background()
	// On PostgreSQL a domain's verification takes a database-wide
	// advisory lock (the MAIL FROM ownership check) and is discarded as
	// stale while another transaction holds it — in tests, another
	// package's on the same database. The checker checks again; so does
	// this.
	for attempt := 0; ; attempt++ {
		i, err := e.Identities.Get(ctx, accountID, name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Identities.Record(ctx, identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: e.Clock.Now(),
			Verification: identity.Present, VerificationDetail: "marked verified by the test", Window: 72 * time.Hour, Interval: time.Minute})
		if errors.Is(err, identity.ErrStale) && attempt < 100 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("mark %s verified: %v", name, err)
		}
		return
	}
}

// Signed sends a request signed with the account's key, bypassing the SDK,
// for checks of the wire format the SDK hides. target is the path with an
// optional query string; contentType is set when body is not nil.
func (e *Env) Signed(t testing.TB, method, target, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: e.Key.AccessKeyID, SecretAccessKey: e.Key.Secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ses", Region, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Code returns the SES error code an SDK call failed with ("<nil>" for
// no error, and a description for an error that is not an API error).
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return "<nil>"
	}
	return "<no API error: " + err.Error() + ">"
}

// Queued returns the number of messages stored in the queue, for checks
// that a refused message left nothing behind.
func (e *Env) Queued(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Body returns the bytes of a queued message.
func (e *Env) Body(t testing.TB, id string) string {
	t.Helper()
	b, err := e.Queue.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Events returns the account's stored events of type typ, oldest first.
func (e *Env) Events(t testing.TB, typ event.Type) []*event.Event {
	t.Helper()
	st, err := event.List(context.Background(), e.DB, 0, 1000, e.Account.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.Event
	for _, s := range st {
		if s.Type != typ {
			continue
		}
		ev, err := s.Event()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// Production takes the account out of the sandbox (no daily quota, 1,000
// messages a second), makes domain a verified identity of it and stores
// template, if not nil, as "welcome": an account ready for templated
// sends.
func (e *Env) Production(t testing.TB, domain string, welcome *template.Content) {
	t.Helper()
	ctx := context.Background()
	if err := e.Accounts.SetProduction(ctx, e.Account.ID, -1, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Identities.Create(ctx, e.Account.ID, domain, identity.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.MarkVerified(t, domain)
	if welcome != nil {
		if err := e.Templates.Create(ctx, e.Account.ID, template.Template{Name: "welcome", Content: *welcome}); err != nil {
			t.Fatal(err)
		}
	}
}
