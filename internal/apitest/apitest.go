// Package apitest starts a complete Sesame API (both stores' records, the
// SigV4 front door, SES v1 and v2) on a loopback httptest server, with an
// account, a settable clock and the real AWS SDK for Go v2 clients pointed
// at it. It is imported only from tests.
package apitest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sesapi"
	sesameV1 "github.com/sesame-email/sesame/internal/sesv1"
	sesameV2 "github.com/sesame-email/sesame/internal/sesv2"
	"github.com/sesame-email/sesame/internal/testkit"
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
	URL        string
	DB         *db.DB
	Clock      *Clock
	Accounts   *account.Store
	Identities *identity.Store
	Account    *account.Account
	Key        account.Key
	V1         *ses.Client
	V2         *sesv2.Client
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
	ids, err := identity.New(identity.Options{DB: d, Seal: box, Region: Region, ServiceDomain: ServiceDomain, Now: clock.Now, GenerateKey: FastKeys, VerifyURL: "http://sesame.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	a, k, err := accts.Create(context.Background(), account.CreateOptions{Name: "test", Email: "owner@owner.example"})
	if err != nil {
		t.Fatal(err)
	}
	srv := sesapi.New(sesapi.Options{
		Accounts: accts,
		Region:   Region,
		V1:       sesameV1.New(sesameV1.Options{Identities: ids, Logger: log}),
		V2:       sesameV2.New(sesameV2.Options{Identities: ids, Logger: log}),
		Logger:   log,
		Now:      clock.Now,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &Env{URL: hs.URL, DB: d, Clock: clock, Accounts: accts, Identities: ids, Account: a, Key: k}
	e.V1, e.V2 = e.Clients(k.AccessKeyID, k.Secret)
	return e
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
