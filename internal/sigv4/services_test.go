package sigv4

import (
	"context"
	"strings"
	"testing"
)

// TestServices checks a Verifier serving several services: each accepted
// service verifies and is reported, any other is refused, and
// ClaimedService reads the scope without verifying.
func TestServices(t *testing.T) {
	s := okSpecs[0]
	for _, svc := range []string{"ses", "sns", "sqs"} {
		req := signSpec(t, s, testCreds, svc, "us-east-1", signTime)
		r, body := toServer(t, req, s.target)
		if got := ClaimedService(r); got != svc {
			t.Errorf("ClaimedService = %q; want %q", got, svc)
		}
		v := newVerifier(signTime)
		v.Services = []string{"ses", "sns"}
		res, err := v.Verify(context.Background(), r, body)
		if svc == "sqs" {
			checkKind(t, err, KindIncomplete)
			if err == nil || !strings.Contains(err.Error(), "'ses' or 'sns'") {
				t.Errorf("sqs: %v; want the accepted services named", err)
			}
			continue
		}
		checkKind(t, err, 0)
		if res.Service != svc {
			t.Errorf("Result.Service = %q; want %q", res.Service, svc)
		}
		// The default verifier still takes only ses.
		r, body = toServer(t, signSpec(t, s, testCreds, svc, "us-east-1", signTime), s.target)
		_, err = newVerifier(signTime).Verify(context.Background(), r, body)
		if svc == "ses" {
			checkKind(t, err, 0)
		} else {
			checkKind(t, err, KindIncomplete)
		}
	}
	r, _ := toServer(t, signSpec(t, s, testCreds, "sns", "us-east-1", signTime), s.target)
	r.Header.Del("Authorization")
	if got := ClaimedService(r); got != "" {
		t.Errorf("ClaimedService of an unsigned request = %q", got)
	}
}
