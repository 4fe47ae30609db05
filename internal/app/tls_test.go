package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestAPITLS: with --api-tls-addr the same API answers over HTTPS, with a
// self-signed certificate when none is configured; the SNS URLs default
// to that listener.
func TestAPITLS(t *testing.T) {
	r := startWith(t, dbtest.SQLite(t), func(c *config.Config) { c.APITLSAddr = "127.0.0.1:0" })
	if r.ready.APITLS == "" {
		t.Fatal("no HTTPS listener")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(r.key.AccessKeyID, r.key.Secret, ""), RetryMaxAttempts: 1, HTTPClient: hc}
	v1 := ses.NewFromConfig(cfg, func(o *ses.Options) { o.BaseEndpoint = aws.String("https://" + r.ready.APITLS) })
	if _, err := v1.GetSendQuota(t.Context(), &ses.GetSendQuotaInput{}); err != nil {
		t.Fatalf("GetSendQuota over HTTPS: %v", err)
	}
	if got := r.app.SNSPublicURL; got != "https://localhost:0" && got != "https://127.0.0.1:0" {
		t.Errorf("SNSPublicURL = %q", got)
	}
	// Plain HTTP is still there.
	if _, err := r.v1.GetSendQuota(t.Context(), &ses.GetSendQuotaInput{}); err != nil {
		t.Fatalf("GetSendQuota over HTTP: %v", err)
	}
}

// TestAPITLSSelfSignedNames: the self-signed certificate names the host of
// --public-url (that of the SigningCertURL subscribers fetch, which they
// verify once told to trust the certificate) and the listener's address
// (as an IP address), not only the listener's host as a DNS name.
func TestAPITLSSelfSignedNames(t *testing.T) {
	r := startWith(t, dbtest.SQLite(t), func(c *config.Config) {
		c.APITLSAddr = "127.0.0.1:0"
		c.PublicURL = "https://sesame.example:8443"
	})
	// Take the certificate as a subscriber does (openssl s_client), then
	// trust it alone.
	conn, err := tls.Dial("tcp", r.ready.APITLS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, name := range []string{"sesame.example", "127.0.0.1"} {
		c, err := tls.Dial("tcp", r.ready.APITLS, &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Errorf("verifying the certificate for %s: %v (DNS names %q, IPs %v)", name, err, cert.DNSNames, cert.IPAddresses)
			continue
		}
		c.Close()
	}
}

// TestAPITLSSelfSignedKept: the self-signed certificate is kept in the
// database, so a restart (or another node) serves the same one and the
// subscribers told to trust it keep working; a --public-url it does not
// name gets a new one.
func TestAPITLSSelfSignedKept(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		serve := func(publicURL string) *x509.Certificate {
			r := startWith(t, d, func(c *config.Config) { c.APITLSAddr = "127.0.0.1:0"; c.PublicURL = publicURL })
			defer r.stop()
			conn, err := tls.Dial("tcp", r.ready.APITLS, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0]
		}
		first := serve("https://sesame.example:8443")
		if again := serve("https://sesame.example:8443"); !again.Equal(first) {
			t.Error("a restart serves another self-signed certificate")
		}
		moved := serve("https://notify.example")
		if moved.Equal(first) || moved.VerifyHostname("notify.example") != nil {
			t.Errorf("after --public-url changed: the same certificate %v, or one not naming the new host (%q)", moved.Equal(first), moved.DNSNames)
		}
	})
}
