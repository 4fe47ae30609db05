package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/testkit"
)

// TestSMTPCertificateReload: `sesame serve` with --smtp-tls-cert and
// --smtp-tls-key serves that certificate on the implicit-TLS port; after
// the files are replaced and the process gets SIGHUP, new connections get
// the new certificate, without a restart. A SIGHUP while the files hold
// garbage keeps the certificate that works.
func TestSMTPCertificateReload(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testkit.WriteCertPair(t, certFile, keyFile, "first.example.test")
	smtps := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
	st := store{name: "sqlite", flags: []string{"--data-dir", t.TempDir()}}
	setUpAccount(t, bin, st, "-1") // startServer's readiness check signs with its key
	srv := startServer(t, bin, st, serveOptions{apiPort: freePort(t, false), dnsPort: freePort(t, true), resolver: "127.0.0.1:1", smtpPort: 1,
		extra: []string{"--smtps-addr", smtps, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile}})

	served := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", smtps, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS to the SMTPS port: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := served(); got != want; got = served() {
			if time.Now().After(deadline) {
				t.Fatalf("served certificate %q, want %q", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("first.example.test")

	testkit.WriteCertPair(t, certFile, keyFile, "second.example.test")
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("second.example.test")

	// A broken pair is not loaded: the working certificate stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload has run once the server says it kept the old pair.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(srv.log)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "SMTP TLS certificate not reloaded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the failed reload:\n%s", tail(srv.log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := served(); got != "second.example.test" {
		t.Errorf("after a failed reload the server gave %q", got)
	}
	select {
	case <-srv.exited:
		t.Fatalf("sesame serve exited on SIGHUP: %v", srv.err)
	default:
	}
}

// TestSMTPSelfSignedAndOff: without --smtp-tls-cert, `sesame serve` makes
// a certificate at start and warns in its log, with the certificate: a
// client that trusts that PEM verifies the implicit-TLS listener under
// the public URL's host. --smtp-addr off leaves the STARTTLS listener
// out, and `account smtp-credentials` says so.
func TestSMTPSelfSignedAndOff(t *testing.T) {
	bin := binary(t)
	smtps := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
	st := store{name: "sqlite", flags: []string{"--data-dir", t.TempDir()}}
	setUpAccount(t, bin, st, "-1")
	srv := startServer(t, bin, st, serveOptions{apiPort: freePort(t, false), dnsPort: freePort(t, true), resolver: "127.0.0.1:1", smtpPort: 1,
		extra: []string{"--smtp-addr", "off", "--smtps-addr", smtps}})

	b, err := os.ReadFile(srv.log)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.Lines(string(b)) {
		if strings.Contains(l, "SMTP submission uses a self-signed certificate made at start") {
			line = l
		}
	}
	_, quoted, ok := strings.Cut(line, "certificate=")
	pemText, err := strconv.Unquote(strings.TrimSpace(quoted))
	if line == "" || !ok || err != nil {
		t.Fatalf("no warning with the certificate in the log (%v):\n%s", err, tail(srv.log, 20))
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(pemText)) {
		t.Fatalf("the logged certificate does not parse:\n%s", pemText)
	}
	// The public URL's host is 127.0.0.1 (startServer's --public-url).
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", smtps, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to the SMTPS port, trusting the logged certificate: %v", err)
	}
	c.Close()

	out := admin(t, bin, st, "account", "smtp-credentials", "e2e")
	for _, want := range []string{"port (STARTTLS)  off", "port (TLS)       " + smtps[strings.LastIndex(smtps, ":")+1:]} {
		if !strings.Contains(out, want) {
			t.Errorf("smtp-credentials lacks %q:\n%s", want, out)
		}
	}
}
