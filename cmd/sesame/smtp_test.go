package main

import (
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/sigv4"
)

// TestSMTPCredentials: `account smtp-credentials` prints the host, the
// ports, and each key's SMTP user and SES-derived password; --key, before
// or after the account, picks one key.
func TestSMTPCredentials(t *testing.T) {
	dir := t.TempDir()
	const secret = "secretsecretsecretsecret"
	if out, err := sesame(t, dir, "account", "create", "--name", "acme", "--access-key-id", "AKIDSMTP00000000001", "--secret-access-key", secret); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "account", "keys", "acme", "--add", "--access-key-id", "AKIDSMTP00000000002", "--secret-access-key", secret+"2"); err != nil {
		t.Fatalf("account keys --add: %v\n%s", err, out)
	}
	out, err := sesame(t, dir, "account", "smtp-credentials", "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"host             localhost", "port (STARTTLS)  2587", "port (TLS)       2465", "region           us-east-1",
		"AKIDSMTP00000000001        " + sigv4.SMTPPassword(secret, "us-east-1"),
		"AKIDSMTP00000000002        " + sigv4.SMTPPassword(secret+"2", "us-east-1")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{
		{"account", "smtp-credentials", "acme", "--key", "AKIDSMTP00000000002"},
		{"account", "smtp-credentials", "--key", "AKIDSMTP00000000002", "acme"},
	} {
		out, err := sesame(t, dir, args...)
		if err != nil || strings.Contains(out, "AKIDSMTP00000000001") || !strings.Contains(out, sigv4.SMTPPassword(secret+"2", "us-east-1")) {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := sesame(t, dir, "account", "smtp-credentials", "acme", "--key", "AKIDOTHER0000000001"); err == nil || !strings.Contains(err.Error(), "has no access key AKIDOTHER0000000001") {
		t.Errorf("unknown key: %v\n%s", err, out)
	}
	if _, err := sesame(t, dir, "account", "smtp-credentials"); err == nil {
		t.Error("no account: no error")
	}

	// An inactive key logs in to nothing: it is listed as inactive, with
	// no password, and the other keys are printed as before.
	if out, err := sesame(t, dir, "account", "keys", "acme", "--deactivate", "AKIDSMTP00000000001"); err != nil {
		t.Fatalf("--deactivate: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "smtp-credentials", "acme")
	if err != nil || strings.Contains(out, sigv4.SMTPPassword(secret, "us-east-1")) || !strings.Contains(out, "AKIDSMTP00000000001        (inactive: activate it to log in)") ||
		!strings.Contains(out, "AKIDSMTP00000000002        "+sigv4.SMTPPassword(secret+"2", "us-east-1")) {
		t.Errorf("with an inactive key: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "smtp-credentials", "acme", "--key", "AKIDSMTP00000000001")
	if err != nil || !strings.Contains(out, "AKIDSMTP00000000001        (inactive: activate it to log in)") {
		t.Errorf("--key of an inactive key: %v\n%s", err, out)
	}
}
