package sesapi_test

import (
	"bytes"
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

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// TestSNSRouting: a request signed for sns reaches Options.SNS with its
// caller, one signed for ses the SES handlers; sns failures are answered
// in SNS's XML namespace; without Options.SNS, sns is a wrong service.
func TestSNSRouting(t *testing.T) {
	d := dbtest.SQLite(t)
	box, _ := seal.New("routing test")
	accts := account.New(d, box, nil)
	a, k, err := accts.Create(t.Context(), account.CreateOptions{Name: "routing"})
	if err != nil {
		t.Fatal(err)
	}
	tag := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := sesapi.CallerFrom(r.Context())
			io.WriteString(w, name+" "+c.AccountID)
		})
	}
	call := func(srv http.Handler, service, secret string) (int, string) {
		body := []byte("Action=ListTopics&Version=2010-03-31")
		req := httptest.NewRequest(http.MethodPost, "http://sesame.example/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	with := sesapi.New(sesapi.Options{Accounts: accts, Region: "us-east-1", V1: tag("v1"), V2: tag("v2"), SNS: tag("sns")})
	if code, body := call(with, "sns", k.Secret); code != 200 || body != "sns "+a.ID {
		t.Errorf("sns: %d %q", code, body)
	}
	if code, body := call(with, "ses", k.Secret); code != 200 || body != "v1 "+a.ID {
		t.Errorf("ses: %d %q", code, body)
	}
	code, body := call(with, "sns", "wrong")
	if code != 403 || !strings.Contains(body, `<ErrorResponse xmlns="`+sesapi.SNSNamespace+`">`) || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("sns bad signature: %d %s", code, body)
	}
	code, body = call(with, "sqs", k.Secret)
	if code != 400 || !strings.Contains(body, sesapi.V1Namespace) || !strings.Contains(body, "&#39;ses&#39; or &#39;sns&#39;") {
		t.Errorf("sqs: %d %s", code, body)
	}
	without := sesapi.New(sesapi.Options{Accounts: accts, Region: "us-east-1", V1: tag("v1"), V2: tag("v2")})
	code, body = call(without, "sns", k.Secret)
	if code != 400 || !strings.Contains(body, "<Code>IncompleteSignature</Code>") || !strings.Contains(body, sesapi.V1Namespace) {
		t.Errorf("sns without Options.SNS: %d %s", code, body)
	}
}
