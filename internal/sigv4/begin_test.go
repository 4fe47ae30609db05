package sigv4

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// untouchable is a request body that fails the test if anything reads or
// closes it.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("Begin read the request body")
	return 0, errors.New("untouchable body read")
}

func (u untouchable) Close() error {
	u.t.Error("Begin closed the request body")
	return nil
}

// TestBeginLeavesBody: every check Begin makes, passing or failing, is
// made without reading the body; the failures are Verify's.
func TestBeginLeavesBody(t *testing.T) {
	withHash := spec{method: "POST", url: sesHost + "/", body: v1Body,
		headers: [][2]string{{"Content-Type", v1Type}, {"X-Amz-Content-Sha256", payloadHash([]byte(v1Body))}}}
	tests := []struct {
		name  string
		spec  spec
		creds aws.Credentials
		now   time.Duration
		edit  func(r *http.Request)
		want  Kind
	}{
		{name: "signed, no content hash header", spec: okSpecs[0], creds: testCreds},
		{name: "signed with content hash header", spec: withHash, creds: testCreds},
		{name: "no signature", spec: okSpecs[0], creds: testCreds, edit: func(r *http.Request) { r.Header.Del("Authorization") }, want: KindMissing},
		{name: "garbage signature", spec: okSpecs[0], creds: testCreds, edit: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }, want: KindIncomplete},
		{name: "bad X-Amz-Date", spec: okSpecs[0], creds: testCreds, edit: func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, want: KindIncomplete},
		{name: "clock skew", spec: okSpecs[0], creds: testCreds, now: time.Hour, want: KindExpired},
		{name: "unknown key", spec: okSpecs[0], creds: aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "x"}, want: KindUnknownKey},
		{name: "known key, wrong secret, content hash header", spec: withHash,
			creds: aws.Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: "not-the-secret"}, want: KindBadSignature},
		{name: "two content hash headers", spec: withHash, creds: testCreds,
			edit: func(r *http.Request) { r.Header.Add("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }, want: KindBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := toServer(t, signSpec(t, tt.spec, tt.creds, "ses", "us-east-1", signTime), "")
			if tt.edit != nil {
				tt.edit(r)
			}
			r.Body = untouchable{t}
			p, err := newVerifier(signTime.Add(tt.now)).Begin(context.Background(), r)
			if tt.want == 0 {
				if err != nil || p == nil {
					t.Fatalf("Begin: %v, want a Pending", err)
				}
				return
			}
			if p != nil {
				t.Errorf("Begin returned a Pending with error %v", err)
			}
			checkKind(t, err, tt.want)
		})
	}
}

// TestPendingFinish: the body written in pieces gives Verify's answer, and
// a body that does not match the X-Amz-Content-Sha256 header the signature
// was checked against fails with the content hash message.
func TestPendingFinish(t *testing.T) {
	withHash := spec{method: "POST", url: sesHost + "/", body: v1Body,
		headers: [][2]string{{"Content-Type", v1Type}, {"X-Amz-Content-Sha256", payloadHash([]byte(v1Body))}}}
	unsigned := spec{method: "POST", url: sesHost + "/", headers: [][2]string{{"Content-Type", v1Type}, {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}}}
	tests := []struct {
		name    string
		spec    spec
		payload string // the payload hash signed; "": the hash of spec.body
		body    string
		wantMsg string // "" for success
	}{
		{name: "plain, body as signed", spec: okSpecs[0], body: v1Body},
		{name: "plain, body changed", spec: okSpecs[0], body: v1Body + "&", wantMsg: msgBadSignature},
		{name: "plain, body cut", spec: okSpecs[0], body: v1Body[:10], wantMsg: msgBadSignature},
		{name: "content hash, body as claimed", spec: withHash, body: v1Body},
		{name: "content hash, body changed", spec: withHash, body: strings.Replace(v1Body, "rcpt", "rcpx", 1), wantMsg: msgContentHash},
		{name: "UNSIGNED-PAYLOAD, empty body", spec: unsigned, payload: unsignedPayload, body: ""},
		{name: "UNSIGNED-PAYLOAD, a body", spec: unsigned, payload: unsignedPayload, body: "Action=x", wantMsg: msgContentHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signSpec(t, tt.spec, testCreds, "ses", "us-east-1", signTime)
			if tt.payload != "" {
				if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, tt.payload, "ses", "us-east-1", signTime); err != nil {
					t.Fatal(err)
				}
			}
			r, _ := toServer(t, req, "")
			v := newVerifier(signTime)
			p, err := v.Begin(context.Background(), r)
			if err != nil {
				t.Fatalf("Begin: %v", err)
			}
			// In pieces of 7 bytes, as a reader would hand them over.
			for b := []byte(tt.body); len(b) > 0; {
				n := min(7, len(b))
				if w, err := p.Write(b[:n]); w != n || err != nil {
					t.Fatalf("Write: %d, %v", w, err)
				}
				b = b[n:]
			}
			res, err := p.Finish()
			_, verr := v.Verify(context.Background(), r, []byte(tt.body))
			if tt.wantMsg == "" {
				if err != nil || verr != nil {
					t.Fatalf("Finish: %v; Verify: %v; want success", err, verr)
				}
				if res.AccessKeyID != testCreds.AccessKeyID || res.Region != "us-east-1" || res.Date != "20250101T120000Z" {
					t.Errorf("Finish: result %+v", res)
				}
				if _, err := p.Finish(); err == nil {
					t.Error("a second Finish succeeded")
				}
				return
			}
			var e, ve *Error
			if !errors.As(err, &e) || e.Kind != KindBadSignature || e.Msg != tt.wantMsg {
				t.Fatalf("Finish: %v, want a signature mismatch %q", err, tt.wantMsg)
			}
			if !errors.As(verr, &ve) || ve.Msg != e.Msg {
				t.Errorf("Verify: %v, Finish: %v; want the same answer", verr, err)
			}
		})
	}
}
