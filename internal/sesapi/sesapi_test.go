package sesapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// TestAuthErrors checks the codes SES gives for each authentication
// failure, in both protocols, through the real SDK clients.
func TestAuthErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := context.Background()
		v1 := func(c *ses.Client) error {
			_, err := c.ListIdentities(ctx, &ses.ListIdentitiesInput{})
			return err
		}
		v2 := func(c *sesv2.Client) error {
			_, err := c.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{})
			return err
		}
		if err := v1(env.V1); err != nil {
			t.Fatalf("signed v1 request: %v", err)
		}
		if err := v2(env.V2); err != nil {
			t.Fatalf("signed v2 request: %v", err)
		}
		badV1, badV2 := env.Clients(env.Key.AccessKeyID, "wrong-secret-wrong-secret-wrong-secret00")
		unkV1, unkV2 := env.Clients("AKIANOSUCHKEY0000000", env.Key.Secret)
		cases := []struct {
			name string
			err  error
			want string
		}{
			{"v1 bad signature", v1(badV1), "SignatureDoesNotMatch"},
			{"v2 bad signature", v2(badV2), "InvalidSignatureException"},
			{"v1 unknown key", v1(unkV1), "InvalidClientTokenId"},
			{"v2 unknown key", v2(unkV2), "UnrecognizedClientException"},
		}
		for _, c := range cases {
			if got := apitest.Code(c.err); got != c.want {
				t.Errorf("%s: code %s, want %s", c.name, got, c.want)
			}
		}
		// The server's clock 20 minutes ahead: the signature has expired.
		env.Clock.Advance(20 * time.Minute)
		if got := apitest.Code(v1(env.V1)); got != "SignatureDoesNotMatch" {
			t.Errorf("v1 expired: %s", got)
		}
		err := v2(env.V2)
		if got := apitest.Code(err); got != "InvalidSignatureException" || !strings.Contains(err.Error(), "Signature expired") {
			t.Errorf("v2 expired: %v", err)
		}
	})
}

// TestUnsignedRequests checks raw requests without a signature, and the
// headers every response carries.
func TestUnsignedRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		for _, c := range []struct {
			method, path, body, wantCode, wantType string
			status                                 int
		}{
			{"POST", "/", "Action=ListIdentities&Version=2010-12-01", "<Code>MissingAuthenticationToken</Code>", "text/xml", 403},
			{"GET", "/v2/email/identities", "", "MissingAuthenticationTokenException", "application/json", 403},
		} {
			req, _ := http.NewRequest(c.method, env.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b)+resp.Header.Get("x-amzn-ErrorType"), c.wantCode) {
				t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, b)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), c.wantType) || resp.Header.Get("Date") == "" || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("%s %s: headers %v", c.method, c.path, resp.Header)
			}
		}
		// Bad Authorization syntax.
		req, _ := http.NewRequest("POST", env.URL+"/", strings.NewReader("Action=ListIdentities"))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage")
		req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>IncompleteSignature</Code>") {
			t.Errorf("garbage Authorization: %d %s", resp.StatusCode, b)
		}
	})
}

// TestWrongRegion: a client configured for a region this deployment does
// not serve gets a clear error naming the region.
func TestWrongRegion(t *testing.T) {
	env := apitest.New(t, dbtest.SQLite(t))
	c := ses.New(ses.Options{Region: "eu-west-1", Credentials: aws.NewCredentialsCache(staticCreds{env}), BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 1})
	_, err := c.ListIdentities(context.Background(), &ses.ListIdentitiesInput{})
	if err == nil || !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("wrong region: %v", err)
	}
}

type staticCreds struct{ env *apitest.Env }

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: s.env.Key.AccessKeyID, SecretAccessKey: s.env.Key.Secret}, nil
}

// TestOversizedBody: a body over the limit is refused before anything
// reads it, with the protocol's bad-request code.
func TestOversizedBody(t *testing.T) {
	d := dbtest.SQLite(t)
	box, _ := seal.New("k")
	accts := account.New(d, box, nil)
	_, k, err := accts.Create(context.Background(), account.CreateOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })
	srv := httptest.NewServer(sesapi.New(sesapi.Options{Accounts: accts, Region: apitest.Region, V1: h, V2: h, MaxBody: 1024}))
	defer srv.Close()
	for _, c := range []struct{ path, want string }{{"/", "<Code>InvalidParameterValue</Code>"}, {"/v2/email/identities", "BadRequestException"}} {
		body := []byte("Action=VerifyEmailIdentity&EmailAddress=" + strings.Repeat("a", 2000))
		req, _ := http.NewRequest("POST", srv.URL+c.path, bytes.NewReader(body))
		sum := sha256.Sum256(body)
		v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.Secret}, req, hex.EncodeToString(sum[:]), "ses", apitest.Region, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b)+resp.Header.Get("x-amzn-ErrorType"), c.want) {
			t.Errorf("%s: %d %s", c.path, resp.StatusCode, b)
		}
	}
	if reached {
		t.Fatal("an oversized request reached the handler")
	}
}
