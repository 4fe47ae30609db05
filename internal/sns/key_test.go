package sns_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sns"
)

// TestSigningKey: the key is made once and shared by every Store on the
// database (every node), it is sealed (another master key cannot open
// it), and its certificate is served at the path SigningCertURL names.
func TestSigningKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		box, _ := seal.New("key test secret")
		opts := sns.Options{DB: d, Box: box, Region: "us-east-1", PublicURL: "https://sesame.example:8443/", KeyBits: 1024}
		a, err := sns.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sns.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if a.SigningCertURL() != b.SigningCertURL() || !a.Certificate().Equal(b.Certificate()) {
			t.Errorf("two stores, two keys: %s, %s", a.SigningCertURL(), b.SigningCertURL())
		}
		if !strings.HasPrefix(a.SigningCertURL(), "https://sesame.example:8443/sns/SimpleNotificationService-") || !strings.HasSuffix(a.SigningCertURL(), ".pem") {
			t.Errorf("SigningCertURL %s", a.SigningCertURL())
		}
		v, _, err := d.Setting(context.Background(), "sns_signing_key")
		if err != nil || strings.Contains(v, "PRIVATE KEY") {
			t.Errorf("stored key: %v", err)
		}
		other, _ := seal.New("another secret")
		opts.Box = other
		if _, err := sns.New(opts); err == nil {
			t.Error("another master key opened the signing key")
		}
		path := strings.TrimPrefix(a.SigningCertURL(), "https://sesame.example:8443")
		h := a.Public()[path]
		if h == nil {
			t.Fatalf("no handler for %s in %v", path, a.Public())
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "-----BEGIN CERTIFICATE-----") {
			t.Errorf("certificate: %d %q", rec.Code, rec.Body.String())
		}
		for _, bad := range []string{"", "ftp://x.example", "sesame.example"} {
			opts.PublicURL = bad
			opts.Box = box
			if _, err := sns.New(opts); err == nil {
				t.Errorf("PublicURL %q accepted", bad)
			}
		}
	})
}
