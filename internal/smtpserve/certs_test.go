package smtpserve_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/sesame-email/sesame/internal/smtpserve"
	"github.com/sesame-email/sesame/internal/testkit"
)

// served returns the common name of the certificate a TLS handshake with
// cfg gets.
func served(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestCertFiles: the pair is served, a reload serves the new files, and a
// reload that fails keeps the pair in use.
func TestCertFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testkit.WriteCertPair(t, certFile, keyFile, "one.test")
	cf, err := smtpserve.LoadCertFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.TLSConfig()
	if got := served(t, cfg); got != "one.test" {
		t.Fatalf("served %q", got)
	}
	testkit.WriteCertPair(t, certFile, keyFile, "two.test")
	if err := cf.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, cfg); got != "two.test" {
		t.Fatalf("after the reload: served %q", got)
	}
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	if err := cf.Reload(); err == nil {
		t.Fatal("a broken key file reloaded")
	}
	if got := served(t, cfg); got != "two.test" {
		t.Fatalf("after a failed reload: served %q", got)
	}
	if _, err := smtpserve.LoadCertFiles(certFile, keyFile); err == nil {
		t.Fatal("a broken pair loaded")
	}
}
