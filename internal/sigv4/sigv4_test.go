package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/google/go-cmp/cmp"
)

var (
	signTime  = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	testCreds = aws.Credentials{
		AccessKeyID:     "AKIDEXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	}
	errInternal = errors.New("database is down")
)

// newVerifier returns a Verifier that knows testCreds and whose clock reads
// now.
func newVerifier(now time.Time) *Verifier {
	return &Verifier{
		Secret: func(_ context.Context, id string) (string, error) {
			switch id {
			case testCreds.AccessKeyID:
				return testCreds.SecretAccessKey, nil
			case "AKIDINTERNAL":
				return "", errInternal
			}
			return "", fmt.Errorf("access key %q: %w", id, ErrUnknownKey)
		},
		Now: func() time.Time { return now },
	}
}

// spec describes a request to sign with the AWS SDK signer.
type spec struct {
	name    string
	method  string
	url     string
	headers [][2]string // added in order, so a name may repeat
	body    string
	// target, when set, replaces the request-target on the wire after
	// signing, to send a different but equivalent form than the SDK's.
	target string
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// signSpec builds the client request for s and signs it with the SDK
// signer, the oracle of these tests.
func signSpec(t testing.TB, s spec, creds aws.Credentials, service, region string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(s.method, s.url, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range s.headers {
		req.Header.Add(h[0], h[1])
	}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash([]byte(s.body)), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// toServer writes req to the wire and reads it back as a server does, so
// r.RequestURI, r.Host and r.Header have their server-side forms. If target
// is set it replaces the request-target on the wire.
func toServer(t testing.TB, req *http.Request, target string) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	wire := buf.Bytes()
	if target != "" {
		line, rest, _ := bytes.Cut(wire, []byte("\r\n"))
		parts := strings.SplitN(string(line), " ", 3)
		parts[1] = target
		wire = append([]byte(strings.Join(parts, " ")+"\r\n"), rest...)
	}
	sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil {
		t.Fatalf("read request %q: %v", wire, err)
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sr, body
}

// checkKind fails t unless err is an *Error of kind want, or nil if want
// is 0.
func checkKind(t testing.TB, err error, want Kind) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("Verify: %v, want success", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify: %v, want *Error of kind %v", err, want)
	}
	if e.Kind != want {
		t.Fatalf("Verify: kind %v (%v), want %v", e.Kind, err, want)
	}
	if e.Msg == "" {
		t.Fatalf("Verify: %v has no client message", err)
	}
}

const (
	sesHost = "https://email.us-east-1.amazonaws.com"
	v1Body  = "Action=SendRawEmail&Version=2010-12-01&Source=sender%40example.com&Destinations.member.1=rcpt%2Btag%40example.com&RawMessage.Data=U3ViamVjdDogaGkNCg0KaGk%3D"
	v1Type  = "application/x-www-form-urlencoded; charset=utf-8"
)

var okSpecs = []spec{
	{
		name:    "v1 POST form",
		method:  "POST",
		url:     sesHost + "/",
		headers: [][2]string{{"Content-Type", v1Type}},
		body:    v1Body,
	},
	{
		name:    "v1 POST empty body",
		method:  "POST",
		url:     sesHost + "/",
		headers: [][2]string{{"Content-Type", v1Type}},
	},
	{
		name:   "v1 GET-style query",
		method: "GET",
		url:    sesHost + "/?Action=GetSendQuota&Version=2010-12-01",
	},
	{
		name:   "v2 path with encoded @",
		method: "GET",
		url:    sesHost + "/v2/email/identities/user%40example.com",
	},
	{
		name:   "v2 path with encoded + and @",
		method: "GET",
		url:    sesHost + "/v2/email/identities/user%2Btag%40example.com",
	},
	{
		name:   "v2 path with UTF-8",
		method: "GET",
		url:    sesHost + "/v2/email/identities/%C3%BCser%40b%C3%BCcher.example",
	},
	{
		name:   "v2 path with raw @ and :",
		method: "GET",
		url:    sesHost + "/v2/email/identities/user@example.com:x",
	},
	{
		name:   "query with repeated keys and spaces",
		method: "GET",
		url:    sesHost + "/v2/email/suppression/addresses?Reason=COMPLAINT&Reason=BOUNCE&NextToken=a%20b%2Bc%2F%3D&PageSize=10&Empty=",
	},
	{
		name:   "query sent unsorted with + for space and lower-case escapes",
		method: "GET",
		url:    sesHost + "/v2/email/suppression/addresses?Reason=COMPLAINT&Reason=BOUNCE&NextToken=a%20b%2Bc%2F%3D&PageSize=10&Empty=",
		target: "/v2/email/suppression/addresses?PageSize=10&Reason=COMPLAINT&NextToken=a+b%2bc/%3d&Empty&Reason=BOUNCE",
	},
	{
		name:    "PUT JSON body",
		method:  "PUT",
		url:     sesHost + "/v2/email/configuration-sets/my-set/sending",
		headers: [][2]string{{"Content-Type", "application/json"}},
		body:    `{"SendingEnabled":true}`,
	},
	{
		name:    "POST JSON with UTF-8 body",
		method:  "POST",
		url:     sesHost + "/v2/email/outbound-emails",
		headers: [][2]string{{"Content-Type", "application/json"}},
		body:    `{"FromEmailAddress":"sender@example.com","Content":{"Simple":{"Subject":{"Data":"Grüße"}}}}`,
	},
	{
		name:   "non-default port",
		method: "GET",
		url:    "https://localhost:8443/v2/email/account",
	},
	{
		name:   "default port dropped by the signer",
		method: "GET",
		url:    sesHost + ":443/v2/email/account",
	},
	{
		name:   "plain http with port",
		method: "GET",
		url:    "http://127.0.0.1:8080/v2/email/account",
	},
	{
		name:   "endpoint with path prefix",
		method: "GET",
		url:    "https://mail.example.com/ses/v2/email/account",
	},
	{
		name:   "headers with runs of spaces and repeated names",
		method: "POST",
		url:    sesHost + "/",
		headers: [][2]string{
			{"Content-Type", v1Type},
			{"X-Custom", "a   b    c"},
			{"X-Multi", "one"},
			{"X-Multi", "two   three"},
			{"X-Amz-User-Agent", "aws-sdk-js/3.0.0  ua/2.1 os/linux#6.1  lang/js"},
		},
		body: v1Body,
	},
	{
		name:    "X-Amz-Content-Sha256 header matching the body",
		method:  "POST",
		url:     sesHost + "/",
		headers: [][2]string{{"Content-Type", v1Type}, {"X-Amz-Content-Sha256", payloadHash([]byte(v1Body))}},
		body:    v1Body,
	},
	{
		name:   "Go SDK signs dot segments as sent",
		method: "GET",
		url:    sesHost + "/v2/email/./identities/../account",
	},
	{
		name:   "botocore-style client normalised the path it signed",
		method: "GET",
		url:    sesHost + "/v2/email/account",
		target: "/v2//email/identities/../account",
	},
}

func TestVerifySDKSigned(t *testing.T) {
	for _, s := range okSpecs {
		t.Run(s.name, func(t *testing.T) {
			req := signSpec(t, s, testCreds, "ses", "us-east-1", signTime)
			r, body := toServer(t, req, s.target)
			res, err := newVerifier(signTime).Verify(context.Background(), r, body)
			checkKind(t, err, 0)
			want := Result{AccessKeyID: testCreds.AccessKeyID, Region: "us-east-1", Date: "20250101T120000Z", Service: "ses"}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifySessionTokenAndRegion(t *testing.T) {
	creds := testCreds
	creds.SessionToken = "FwoGZXIvYXdzEJr//////////wEaDNoToken=="
	req := signSpec(t, okSpecs[0], creds, "ses", "eu-west-1", signTime)
	if !strings.Contains(req.Header.Get("Authorization"), "x-amz-security-token") {
		t.Fatalf("session token not signed: %s", req.Header.Get("Authorization"))
	}
	r, body := toServer(t, req, "")
	v := newVerifier(signTime)
	v.Regions = func(region string) bool { return region == "eu-west-1" }
	res, err := v.Verify(context.Background(), r, body)
	checkKind(t, err, 0)
	if res.Region != "eu-west-1" {
		t.Errorf("Region = %q, want eu-west-1", res.Region)
	}
}

// TestVerifyClientSideRequest verifies a request that never went over the
// wire: no RequestURI, Host in r.Host, length only in r.ContentLength.
func TestVerifyClientSideRequest(t *testing.T) {
	req := signSpec(t, okSpecs[0], testCreds, "ses", "us-east-1", signTime)
	if req.Header.Get("Content-Length") != "" || req.RequestURI != "" {
		t.Fatalf("unexpected client-side request shape: %v %q", req.Header, req.RequestURI)
	}
	_, err := newVerifier(signTime).Verify(context.Background(), req, []byte(v1Body))
	checkKind(t, err, 0)
}

func TestVerifyCustomService(t *testing.T) {
	req := signSpec(t, okSpecs[3], testCreds, "email", "us-east-1", signTime)
	r, body := toServer(t, req, "")
	v := newVerifier(signTime)
	_, err := v.Verify(context.Background(), r, body)
	checkKind(t, err, KindIncomplete)
	v.Service = "email"
	_, err = v.Verify(context.Background(), r, body)
	checkKind(t, err, 0)
}

func TestVerifyFailures(t *testing.T) {
	setHeader := func(name, value string) func(*http.Request, []byte) []byte {
		return func(r *http.Request, b []byte) []byte { r.Header.Set(name, value); return b }
	}
	editAuthz := func(old, new string) func(*http.Request, []byte) []byte {
		return func(r *http.Request, b []byte) []byte {
			a := r.Header.Get("Authorization")
			if !strings.Contains(a, old) {
				panic(fmt.Sprintf("%q not in %q", old, a))
			}
			r.Header.Set("Authorization", strings.Replace(a, old, new, 1))
			return b
		}
	}
	tests := []struct {
		name     string
		spec     *spec // nil: okSpecs[0], the v1 POST
		service  string
		region   string
		creds    *aws.Credentials
		now      time.Duration // server clock minus signing time
		edit     func(r *http.Request, body []byte) []byte
		verifier func(v *Verifier)
		want     Kind
	}{
		{name: "unchanged", want: 0},
		{name: "body changed", edit: func(r *http.Request, b []byte) []byte {
			return bytes.Replace(b, []byte("rcpt"), []byte("rcpx"), 1)
		}, want: KindBadSignature},
		{name: "body truncated", edit: func(r *http.Request, b []byte) []byte { return b[:len(b)-1] }, want: KindBadSignature},
		{name: "method changed", edit: func(r *http.Request, b []byte) []byte { r.Method = "PUT"; return b }, want: KindBadSignature},
		{name: "path changed", edit: func(r *http.Request, b []byte) []byte { r.RequestURI = "/v2/email/account"; return b }, want: KindBadSignature},
		{name: "query added", edit: func(r *http.Request, b []byte) []byte { r.RequestURI = "/?Action=DeleteIdentity"; return b }, want: KindBadSignature},
		{name: "host changed", edit: func(r *http.Request, b []byte) []byte { r.Host = "evil.example"; return b }, want: KindBadSignature},
		{name: "signed header changed", edit: setHeader("Content-Type", "text/plain"), want: KindBadSignature},
		{name: "signed header removed", edit: func(r *http.Request, b []byte) []byte { r.Header.Del("Content-Type"); return b }, want: KindBadSignature},
		{name: "unsigned header changed", edit: setHeader("User-Agent", "curl/8"), want: 0},
		{name: "X-Amz-Date changed by a second", edit: setHeader("X-Amz-Date", "20250101T120001Z"), want: KindBadSignature},
		{name: "signature upper-case", edit: func(r *http.Request, b []byte) []byte {
			a := r.Header.Get("Authorization")
			i := strings.Index(a, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", a[:i]+strings.ToUpper(a[i:]))
			return b
		}, want: KindBadSignature},
		{name: "signature truncated", edit: func(r *http.Request, b []byte) []byte {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-2])
			return b
		}, want: KindBadSignature},
		{name: "wrong secret", creds: &aws.Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: "not-the-secret"}, want: KindBadSignature},
		{name: "unknown key", creds: &aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}, want: KindUnknownKey},
		{name: "unknown key and bad body", creds: &aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"},
			edit: func(r *http.Request, b []byte) []byte { return append(b, 'x') }, want: KindUnknownKey},
		{name: "content sha256 header not matching body", edit: setHeader("X-Amz-Content-Sha256", payloadHash([]byte("other"))), want: KindBadSignature},
		{name: "UNSIGNED-PAYLOAD with a body", edit: setHeader("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"), want: KindBadSignature},
		{name: "16 minutes fast", now: -16 * time.Minute, want: KindExpired},
		{name: "16 minutes slow", now: 16 * time.Minute, want: KindExpired},
		{name: "14 minutes fast", now: -14 * time.Minute, want: 0},
		{name: "14 minutes slow", now: 14 * time.Minute, want: 0},
		{name: "exactly 15 minutes slow", now: 15 * time.Minute, want: 0},
		{name: "expired before unknown key", now: time.Hour, creds: &aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}, want: KindExpired},
		{name: "no Authorization", edit: func(r *http.Request, b []byte) []byte { r.Header.Del("Authorization"); return b }, want: KindMissing},
		{name: "empty Authorization", edit: setHeader("Authorization", " "), want: KindMissing},
		{name: "two Authorization headers", edit: func(r *http.Request, b []byte) []byte {
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return b
		}, want: KindIncomplete},
		{name: "garbage Authorization", edit: setHeader("Authorization", "garbage"), want: KindIncomplete},
		{name: "Basic Authorization", edit: setHeader("Authorization", "Basic dXNlcjpwYXNz"), want: KindIncomplete},
		{name: "algorithm only", edit: setHeader("Authorization", "AWS4-HMAC-SHA256"), want: KindIncomplete},
		{name: "no Signature", edit: setHeader("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/ses/aws4_request, SignedHeaders=host;x-amz-date"), want: KindIncomplete},
		{name: "part without =", edit: editAuthz("SignedHeaders=", "SignedHeaders"), want: KindIncomplete},
		{name: "duplicate Credential", edit: editAuthz("SignedHeaders=", "Credential=AKIDEXAMPLE/20250101/us-east-1/ses/aws4_request, SignedHeaders="), want: KindIncomplete},
		{name: "credential with four parts", edit: editAuthz("/ses/aws4_request", "/ses"), want: KindIncomplete},
		{name: "credential with empty key", edit: editAuthz("Credential=AKIDEXAMPLE/", "Credential=/"), want: KindIncomplete},
		{name: "empty SignedHeaders", edit: func(r *http.Request, b []byte) []byte {
			a := r.Header.Get("Authorization")
			i := strings.Index(a, "SignedHeaders=") + len("SignedHeaders=")
			j := strings.Index(a, ", Signature=")
			r.Header.Set("Authorization", a[:i]+a[j:])
			return b
		}, want: KindIncomplete},
		{name: "wrong algorithm", edit: editAuthz("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA512 "), want: KindIncomplete},
		{name: "SigV4a algorithm", edit: editAuthz("AWS4-HMAC-SHA256 ", "AWS4-ECDSA-P256-SHA256 "), want: KindIncomplete},
		{name: "wrong service in scope", service: "sqs", want: KindIncomplete},
		{name: "wrong terminator", edit: editAuthz("/aws4_request", "/aws4_reqest"), want: KindIncomplete},
		{name: "scope date differs from X-Amz-Date", now: 24 * time.Hour, edit: setHeader("X-Amz-Date", "20250102T120000Z"), want: KindIncomplete},
		{name: "no X-Amz-Date", edit: func(r *http.Request, b []byte) []byte { r.Header.Del("X-Amz-Date"); return b }, want: KindIncomplete},
		{name: "two X-Amz-Date", edit: func(r *http.Request, b []byte) []byte { r.Header.Add("X-Amz-Date", "20250101T120000Z"); return b }, want: KindIncomplete},
		{name: "X-Amz-Date not basic ISO 8601", edit: setHeader("X-Amz-Date", "2025-01-01T12:00:00Z"), want: KindIncomplete},
		{name: "X-Amz-Date with fraction", edit: setHeader("X-Amz-Date", "20250101T120000.5Z"), want: KindIncomplete},
		{name: "host not signed", edit: editAuthz("SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;"), want: KindIncomplete},
		{name: "region rejected", region: "xx-nowhere-1", verifier: func(v *Verifier) {
			v.Regions = func(r string) bool { return r == "us-east-1" }
		}, want: KindIncomplete},
		{name: "empty region", region: "", want: KindIncomplete},
		{name: "Authorization and presign query", edit: func(r *http.Request, b []byte) []byte {
			r.RequestURI = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256"
			return b
		}, want: KindIncomplete},
		{name: "internal lookup error", creds: &aws.Credentials{AccessKeyID: "AKIDINTERNAL", SecretAccessKey: "x"}, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := okSpecs[0]
			if tt.spec != nil {
				s = *tt.spec
			}
			creds := testCreds
			if tt.creds != nil {
				creds = *tt.creds
			}
			service := "ses"
			if tt.service != "" {
				service = tt.service
			}
			region := "us-east-1"
			if tt.region != "" || tt.name == "empty region" {
				region = tt.region
			}
			req := signSpec(t, s, creds, service, region, signTime)
			r, body := toServer(t, req, s.target)
			if tt.edit != nil {
				body = tt.edit(r, body)
			}
			v := newVerifier(signTime.Add(tt.now))
			if tt.verifier != nil {
				tt.verifier(v)
			}
			_, err := v.Verify(context.Background(), r, body)
			if tt.want == -1 {
				var e *Error
				if !errors.Is(err, errInternal) || errors.As(err, &e) {
					t.Fatalf("Verify: %v, want the lookup error as is", err)
				}
				return
			}
			checkKind(t, err, tt.want)
			if tt.want == KindUnknownKey && !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Verify: %v does not wrap ErrUnknownKey", err)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	req := signSpec(t, okSpecs[0], testCreds, "ses", "us-east-1", signTime)
	r, body := toServer(t, req, "")
	msg := func(now time.Time, r *http.Request, body []byte) string {
		t.Helper()
		_, err := newVerifier(now).Verify(context.Background(), r, body)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify: %v, want *Error", err)
		}
		return e.Msg
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{
			name: "expired",
			got:  msg(signTime.Add(31*time.Minute), r, body),
			want: "Signature expired: 20250101T120000Z is now earlier than 20250101T121600Z (20250101T123100Z - 15 min.)",
		},
		{
			name: "not yet current",
			got:  msg(signTime.Add(-31*time.Minute), r, body),
			want: "Signature not yet current: 20250101T120000Z is still later than 20250101T114400Z (20250101T112900Z + 15 min.)",
		},
		{
			name: "bad signature",
			got:  msg(signTime, r, append(bytes.Clone(body), 'x')),
			want: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
		},
	}
	unknown := signSpec(t, okSpecs[0], aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}, "ses", "us-east-1", signTime)
	ur, ubody := toServer(t, unknown, "")
	tests = append(tests, struct{ name, got, want string }{
		name: "unknown key",
		got:  msg(signTime, ur, ubody),
		want: "The security token included in the request is invalid.",
	})
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: message\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}

	e := &Error{Kind: KindUnknownKey, Msg: "m", Err: ErrUnknownKey}
	if got, want := e.Error(), "sigv4: unknown access key: m: sigv4: unknown access key"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestAuthorizationWhitespace(t *testing.T) {
	req := signSpec(t, okSpecs[0], testCreds, "ses", "us-east-1", signTime)
	r, body := toServer(t, req, "")
	a := r.Header.Get("Authorization")
	variants := map[string]string{
		"no space after commas": strings.ReplaceAll(a, ", ", ","),
		"many spaces":           strings.ReplaceAll(strings.Replace(a, " ", "   ", 1), ", ", " ,  "),
		"tabs":                  strings.ReplaceAll(a, ", ", ",\t"),
		"reordered": func() string {
			alg, rest, _ := strings.Cut(a, " ")
			parts := strings.Split(rest, ", ")
			return alg + " " + parts[2] + ", " + parts[0] + ", " + parts[1]
		}(),
		"trailing comma": a + ",",
	}
	for name, h := range variants {
		t.Run(name, func(t *testing.T) {
			r := r.Clone(context.Background())
			r.Header.Set("Authorization", h)
			_, err := newVerifier(signTime).Verify(context.Background(), r, body)
			checkKind(t, err, 0)
		})
	}
}

// presign signs s as a presigned URL and returns its server-side form.
func presign(t *testing.T, s spec, payload string) (*http.Request, []byte) {
	t.Helper()
	req, err := http.NewRequest(s.method, s.url, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range s.headers {
		req.Header.Add(h[0], h[1])
	}
	uri, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, req, payload, "ses", "us-east-1", signTime)
	if err != nil {
		t.Fatal(err)
	}
	preq, err := http.NewRequest(s.method, uri, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if strings.EqualFold(k, "host") {
			continue
		}
		for _, v := range vs {
			preq.Header.Add(k, v)
		}
	}
	return toServer(t, preq, "")
}

func TestVerifyPresigned(t *testing.T) {
	get := spec{method: "GET", url: sesHost + "/v2/email/identities/user%40example.com?X-Amz-Expires=300&PageSize=5"}
	noExpiry := spec{method: "GET", url: sesHost + "/v2/email/account"}
	post := spec{method: "POST", url: sesHost + "/?X-Amz-Expires=60", headers: [][2]string{{"Content-Type", v1Type}}, body: v1Body}
	emptyHash := payloadHash(nil)
	tests := []struct {
		name    string
		spec    spec
		payload string
		now     time.Duration
		edit    func(r *http.Request, body []byte) []byte
		want    Kind
	}{
		{name: "GET empty payload hash", spec: get, payload: emptyHash},
		{name: "GET UNSIGNED-PAYLOAD", spec: get, payload: "UNSIGNED-PAYLOAD"},
		{name: "GET just before expiry", spec: get, payload: emptyHash, now: 300 * time.Second},
		{name: "GET after expiry", spec: get, payload: emptyHash, now: 301 * time.Second, want: KindExpired},
		{name: "GET from the future", spec: get, payload: emptyHash, now: -16 * time.Minute, want: KindExpired},
		{name: "no X-Amz-Expires, 14 minutes", spec: noExpiry, payload: emptyHash, now: 14 * time.Minute},
		{name: "no X-Amz-Expires, 16 minutes", spec: noExpiry, payload: emptyHash, now: 16 * time.Minute, want: KindExpired},
		{name: "POST with signed body", spec: post, payload: payloadHash([]byte(v1Body))},
		{name: "POST body changed", spec: post, payload: payloadHash([]byte(v1Body)),
			edit: func(r *http.Request, b []byte) []byte { return append(b, '&') }, want: KindBadSignature},
		{name: "POST UNSIGNED-PAYLOAD with a body", spec: post, payload: "UNSIGNED-PAYLOAD", want: KindBadSignature},
		{name: "query parameter changed", spec: get, payload: emptyHash, edit: func(r *http.Request, b []byte) []byte {
			r.RequestURI = strings.Replace(r.RequestURI, "PageSize=5", "PageSize=6", 1)
			return b
		}, want: KindBadSignature},
		{name: "signature changed", spec: get, payload: emptyHash, edit: func(r *http.Request, b []byte) []byte {
			i := strings.Index(r.RequestURI, "X-Amz-Signature=") + len("X-Amz-Signature=")
			c := "0"
			if r.RequestURI[i] == '0' {
				c = "1"
			}
			r.RequestURI = r.RequestURI[:i] + c + r.RequestURI[i+1:]
			return b
		}, want: KindBadSignature},
		{name: "signature removed", spec: get, payload: emptyHash, edit: func(r *http.Request, b []byte) []byte {
			i := strings.Index(r.RequestURI, "&X-Amz-Signature=")
			r.RequestURI = r.RequestURI[:i]
			return b
		}, want: KindIncomplete},
		{name: "bad X-Amz-Expires", spec: get, payload: emptyHash, edit: func(r *http.Request, b []byte) []byte {
			r.RequestURI = strings.Replace(r.RequestURI, "X-Amz-Expires=300", "X-Amz-Expires=-1", 1)
			return b
		}, want: KindIncomplete},
		{name: "wrong algorithm", spec: get, payload: emptyHash, edit: func(r *http.Request, b []byte) []byte {
			r.RequestURI = strings.Replace(r.RequestURI, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", 1)
			return b
		}, want: KindIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := presign(t, tt.spec, tt.payload)
			if !strings.Contains(r.RequestURI, "X-Amz-Signature=") || r.Header.Get("Authorization") != "" {
				t.Fatalf("not a presigned request: %s %v", r.RequestURI, r.Header)
			}
			if tt.edit != nil {
				body = tt.edit(r, body)
			}
			_, err := newVerifier(signTime.Add(tt.now)).Verify(context.Background(), r, body)
			checkKind(t, err, tt.want)
		})
	}
}

func TestCanonicalForms(t *testing.T) {
	paths := []struct{ in, norm string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/../../a", "/a"},
		{"/a/b/..", "/a"},
		{"/a/%2E%2E/b", "/a/%2E%2E/b"},
	}
	for _, p := range paths {
		if got := normalizePath(p.in); got != p.norm {
			t.Errorf("normalizePath(%q) = %q, want %q", p.in, got, p.norm)
		}
	}
	if got, want := escapePath("/v2/email/identities/user%40example.com"), "/v2/email/identities/user%2540example.com"; got != want {
		t.Errorf("escapePath = %q, want %q", got, want)
	}
	queries := []struct{ in, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=10", "a=1&a=10&a=2"},
		{"k=a+b", "k=a%20b"},
		{"k=a%20b", "k=a%20b"},
		{"k=%2b%7e", "k=%2B~"},
		{"k=a/b", "k=a%2Fb"},
		{"k", "k="},
		{"k=&j", "j=&k="},
		{"a=1&&b=2&", "a=1&b=2"},
		{"k=%zz", "k=%25zz"},
		{"k=x=y", "k=x%3Dy"},
		{"%C3%BC=%E2%82%AC", "%C3%BC=%E2%82%AC"},
	}
	for _, q := range queries {
		if got := canonicalQuery(parseQuery(q.in), false); got != q.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", q.in, got, q.want)
		}
	}
	values := []struct{ in, want string }{
		{"a", "a"},
		{"  a  ", "a"},
		{"a   b", "a b"},
		{"a \t b", "a b"},
		{"a b c", "a b c"},
	}
	for _, v := range values {
		if got := trimAll(v.in); got != v.want {
			t.Errorf("trimAll(%q) = %q, want %q", v.in, got, v.want)
		}
	}
}

// TestSignedTransferEncoding: a client that signs Transfer-Encoding (curl
// --aws-sigv4 does) is verified, although Go's server moves that header
// out of r.Header into r.TransferEncoding. (It was canonicalised as empty,
// so such a request got SignatureDoesNotMatch.)
func TestSignedTransferEncoding(t *testing.T) {
	wire := "POST / HTTP/1.1\r\nHost: email.us-east-1.amazonaws.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := canonicalHeaders(r, []string{"host", "transfer-encoding"}), "host:email.us-east-1.amazonaws.com\ntransfer-encoding:chunked\n"; got != want {
		t.Errorf("canonical headers %q, want %q", got, want)
	}
}

// recorder is an HTTP handler that verifies every request it gets.
type recorder struct {
	v    *Verifier
	mu   sync.Mutex
	errs []error
	uris []string
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		_, err = h.v.Verify(r.Context(), r, body)
	}
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.uris = append(h.uris, r.Method+" "+r.RequestURI)
	h.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}")
}

// take returns and forgets what the handler recorded.
func (h *recorder) take() ([]error, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	errs, uris := h.errs, h.uris
	h.errs, h.uris = nil, nil
	return errs, uris
}

// TestEndToEnd signs requests with the SDK signer and sends them over real
// HTTP/1.1 and HTTP/2 connections; the handler verifies them in their
// server-side form.
func TestEndToEnd(t *testing.T) {
	v := newVerifier(time.Time{})
	v.Now = time.Now
	h := &recorder{v: v}
	servers := map[string]*httptest.Server{
		"http1": httptest.NewServer(h),
		"http2": func() *httptest.Server {
			s := httptest.NewUnstartedServer(h)
			s.EnableHTTP2 = true
			s.StartTLS()
			return s
		}(),
	}
	for proto, srv := range servers {
		defer srv.Close()
		t.Run(proto, func(t *testing.T) {
			for _, s := range okSpecs {
				if s.target != "" {
					continue
				}
				t.Run(s.name, func(t *testing.T) {
					_, rest, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(s.url, "https://"), "http://"), "/")
					s.url = srv.URL + "/" + rest
					req := signSpec(t, s, testCreds, "ses", "us-east-1", time.Now())
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					msg, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if proto == "http2" && resp.ProtoMajor != 2 {
						t.Fatalf("response protocol %s, want HTTP/2", resp.Proto)
					}
					errs, uris := h.take()
					if len(errs) != 1 || errs[0] != nil || resp.StatusCode != http.StatusOK {
						t.Fatalf("%v: status %d %s; handler errors %v", uris, resp.StatusCode, msg, errs)
					}
				})
			}
		})
	}
}

// TestEndToEndSESClients drives the verifier with the real SES v1 and v2
// clients of the AWS SDK for Go v2, pointed at an httptest.Server.
func TestEndToEndSESClients(t *testing.T) {
	v := newVerifier(time.Time{})
	v.Now = time.Now
	h := &recorder{v: v}
	srv := httptest.NewServer(h)
	defer srv.Close()
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil })
	ctx := context.Background()

	check := func(t *testing.T, wantURI string) {
		t.Helper()
		errs, uris := h.take()
		if len(errs) == 0 {
			t.Fatal("no request reached the server")
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: %v", uris[i], err)
			}
		}
		if wantURI != "" && uris[0] != wantURI {
			t.Errorf("request %q, want %q", uris[0], wantURI)
		}
	}

	v2 := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	t.Run("sesv2 GetEmailIdentity", func(t *testing.T) {
		_, err := v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("user+tag@example.com")})
		if err != nil {
			t.Error(err)
		}
		check(t, "GET /v2/email/identities/user%2Btag%40example.com")
	})
	t.Run("sesv2 ListSuppressedDestinations", func(t *testing.T) {
		_, err := v2.ListSuppressedDestinations(ctx, &sesv2.ListSuppressedDestinationsInput{
			Reasons:   []sesv2types.SuppressionListReason{sesv2types.SuppressionListReasonComplaint, sesv2types.SuppressionListReasonBounce},
			NextToken: aws.String("a b+c/=="),
			PageSize:  aws.Int32(10),
		})
		if err != nil {
			t.Error(err)
		}
		check(t, "")
	})
	t.Run("sesv2 SendEmail", func(t *testing.T) {
		_, err := v2.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String("sender@example.com"),
			Destination:      &sesv2types.Destination{ToAddresses: []string{"rcpt@example.com"}},
			Content: &sesv2types.EmailContent{Raw: &sesv2types.RawMessage{
				Data: []byte("Subject: Grüße\r\n\r\nhello\r\n"),
			}},
		})
		if err != nil {
			t.Error(err)
		}
		check(t, "POST /v2/email/outbound-emails")
	})

	v1 := ses.New(ses.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	t.Run("ses SendRawEmail", func(t *testing.T) {
		// The handler's JSON reply is not a Query response, so the
		// client's error is expected; only the verification counts.
		v1.SendRawEmail(ctx, &ses.SendRawEmailInput{
			Source:       aws.String("sender@example.com"),
			Destinations: []string{"a+b@example.com", "c@example.com"},
			RawMessage:   &sestypes.RawMessage{Data: []byte("Subject: hi\r\n\r\nhi\r\n")},
		})
		check(t, "POST /")
	})
}
