package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzVerify checks two properties:
//
//   - A request with an arbitrary Authorization header, X-Amz-Date,
//     request-target, header value and body never panics the verifier and
//     never verifies: nothing here knows the secret, so a success would be
//     a forgery.
//   - The same path, query, header value and body signed by the AWS SDK
//     signer always verify, both in-process and after a trip through the
//     HTTP/1.1 wire format, also when the body is handed to Begin's
//     Pending in pieces, and stop verifying when the body changes.
func FuzzVerify(f *testing.F) {
	seedAuthz := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/ses/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32)
	seeds := []struct {
		authz, date, target, header string
		body                        []byte
	}{
		{seedAuthz, "20250101T120000Z", "/", "", nil},
		{seedAuthz, "20250101T120000Z", "/", "text/plain", []byte(v1Body)},
		{seedAuthz, "20250101T120000Z", "/v2/email/identities/user%2Btag%40example.com", "a   b", nil},
		{seedAuthz, "20250101T120000Z", "/v2/email/suppression/addresses?Reason=BOUNCE&Reason=COMPLAINT&NextToken=a+b%2B", "", nil},
		{seedAuthz, "20250101T120000Z", "/a/./b/../c//d/", "", []byte("{}")},
		{seedAuthz, "20250101T120000Z", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20250101%2Fus-east-1%2Fses%2Faws4_request&X-Amz-Date=20250101T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60", "", nil},
		{"", "", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a/b/c/d/e&X-Amz-Date=x&X-Amz-SignedHeaders=&X-Amz-Signature=", "", nil},
		{"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/ses/aws4_request,SignedHeaders=,Signature=", "20250101T120000Z", "/", "", nil},
		{"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature==", "2025", "", "", nil},
		{"AWS4-HMAC-SHA256 ,,,=,", "20250101T120000.999Z", "*", "", nil},
		{"garbage", "", "http://example.com/x?y", "\xff\xfe", []byte{0}},
		{seedAuthz, "20250101T120000Z", "/%zz?%zz=%zz&;=;", "\u00a0 x  \u00a0", nil},
		{seedAuthz, "20250101T120000Z", "/%E2%82%AC/%2F/%252F?k=%E2%82%AC", "", nil},
	}
	for _, s := range seeds {
		f.Add(s.authz, s.date, s.target, s.header, s.body)
	}
	f.Fuzz(func(t *testing.T, authz, date, target, header string, body []byte) {
		v := &Verifier{
			Secret: func(context.Context, string) (string, error) { return testCreds.SecretAccessKey, nil },
			Now:    func() time.Time { return signTime },
		}
		ctx := context.Background()

		// Arbitrary input: no panic, no success, only *Error.
		r := &http.Request{
			Method:     "POST",
			RequestURI: target,
			Host:       "email.us-east-1.amazonaws.com",
			Header:     http.Header{},
		}
		if u, err := url.ParseRequestURI(target); err == nil {
			r.URL = u
		} else {
			r.URL = &url.URL{Path: "/"}
		}
		r.Header.Set("Authorization", authz)
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		r.Header.Set("X-Custom", header)
		res, err := v.Verify(ctx, r, body)
		if err == nil {
			t.Fatalf("unsigned request verified: %+v", res)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify returned %T %v, want *Error", err, err)
		}

		// The same shape signed by the SDK must verify.
		if strings.ContainsFunc(header, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return // not sendable, or a tab, on which SDKs disagree
		}
		path, query, _ := strings.Cut(target, "?")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u := &url.URL{Scheme: "https", Host: "email.us-east-1.amazonaws.com", RawQuery: query}
		if dec, err := url.PathUnescape(path); err == nil {
			u.Path, u.RawPath = dec, path
		} else {
			u.Path = path
		}
		req, err := http.NewRequest("POST", "https://email.us-east-1.amazonaws.com/", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
		req.Header.Set("X-Custom", header)
		if err := v4.NewSigner().SignHTTP(ctx, testCreds, req, payloadHash(body), "ses", "us-east-1", signTime); err != nil {
			t.Fatal(err)
		}
		if req.URL.Query().Has("X-Amz-Algorithm") {
			return // a presign parameter next to an Authorization header is rejected by design
		}
		v.Secret = newVerifier(signTime).Secret
		if _, err := v.Verify(ctx, req, body); err != nil {
			t.Fatalf("SDK-signed request (in process) %s: %v\nAuthorization: %s", req.URL.RequestURI(), err, req.Header.Get("Authorization"))
		}
		// Begin, then the body in two pieces, gives the same answer.
		p, err := v.Begin(ctx, req)
		if err != nil {
			t.Fatalf("SDK-signed request: Begin: %v", err)
		}
		p.Write(body[:len(body)/2])
		p.Write(body[len(body)/2:])
		if _, err := p.Finish(); err != nil {
			t.Fatalf("SDK-signed request: Finish after Begin: %v", err)
		}
		tampered := append(bytes.Clone(body), 'x')
		if _, err := v.Verify(ctx, req, tampered); !isKind(err, KindBadSignature) {
			t.Fatalf("tampered body: %v, want signature mismatch", err)
		}

		req.Body = io.NopCloser(bytes.NewReader(body))
		var wire bytes.Buffer
		if err := req.Write(&wire); err != nil {
			return
		}
		sr, err := http.ReadRequest(bufio.NewReader(&wire))
		if err != nil {
			return
		}
		got, err := io.ReadAll(sr.Body)
		if err != nil || !bytes.Equal(got, body) {
			return
		}
		if _, err := v.Verify(ctx, sr, got); err != nil {
			t.Fatalf("SDK-signed request (wire) %q: %v\nAuthorization: %s", sr.RequestURI, err, sr.Header.Get("Authorization"))
		}
	})
}

func isKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
