package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/identity"
)

// sesame runs the command line with SESAME_DATA_DIR=dir.
func sesame(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut, func(k string) string {
		if k == "SESAME_DATA_DIR" {
			return dir
		}
		return ""
	})
	return out.String() + errOut.String(), err
}

func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	out, err := sesame(t, dir, "account", "create", "--name", "acme", "--email", "ops@acme.example")
	if err != nil || !strings.Contains(out, "access_key_id") || !strings.Contains(out, "secret_access_key") {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "create", "--name", "given", "--access-key-id", "AKIDGIVEN0000000001", "--secret-access-key", "secretsecretsecretsecret")
	if err != nil || !strings.Contains(out, "AKIDGIVEN0000000001") {
		t.Fatalf("account create with keys: %v\n%s", err, out)
	}
	if out, err = sesame(t, dir, "account", "create", "--name", "acme"); err == nil {
		t.Fatalf("duplicate account accepted:\n%s", out)
	}
	out, err = sesame(t, dir, "account", "list")
	if err != nil || !strings.Contains(out, "acme") || !strings.Contains(out, "given") {
		t.Fatalf("account list: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "keys", "AKIDGIVEN0000000001", "--add")
	if err != nil || strings.Count(out, "AKIA") != 2 || !strings.Contains(out, "AKIDGIVEN0000000001") {
		t.Fatalf("account keys --add: %v\n%s", err, out)
	}

	out, err = sesame(t, dir, "account", "production", "acme", "--max-send-rate", "20")
	if err != nil || !strings.Contains(out, "out of the sandbox: 50000 messages per 24 hours, 20 per second") {
		t.Fatalf("account production: %v\n%s", err, out)
	}
	if out, err = sesame(t, dir, "account", "production", "acme", "--max-send-rate", "0"); err == nil {
		t.Fatalf("zero rate accepted:\n%s", out)
	}
	out, _ = sesame(t, dir, "account", "list")
	if !strings.Contains(out, "acme  ") || strings.Count(out, "false") != 1 {
		t.Fatalf("account list after production:\n%s", out)
	}

	// A server configured for its own zone stores it; an identity is made
	// through the records, then shown by the CLI, which must name the
	// server's zone without being told it.
	a, err := app.Open(context.Background(), config.Config{DataDir: dir, Region: "eu-west-1", ServiceDomain: "mail.example.net", APIAddr: ":8080"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := a.Accounts.Find(context.Background(), "acme")
	if _, err := a.Identities.Create(context.Background(), acct.ID, "example.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA1024}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	out, err = sesame(t, dir, "identity", "records", "example.test", "--format", "csv")
	if err != nil || !strings.HasPrefix(out, "Type,Name,Value,Priority,TTL,Purpose\nCNAME,") || !strings.Contains(out, ".dkim.mail.example.net") {
		t.Fatalf("identity records --format csv: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "identity", "records", "example.test")
	if err != nil || !strings.Contains(out, "._domainkey.example.test. 300 IN CNAME ") {
		t.Fatalf("identity records: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "identity", "show", "example.test", "--account", "acme")
	if err != nil || !strings.Contains(out, "Pending") || !strings.Contains(out, "history:") || !strings.Contains(out, "default eu-west-1.mail.example.net") {
		t.Fatalf("identity show: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"identity", "show", "unknown.test"},
		{"identity", "records", "example.test", "--format", "yaml"},
		{"identity", "show"},
		{"account", "keys", "nobody"},
		{"frobnicate"},
		{"account"},
		{"serve", "--region", "Not A Region"},
		{"identity", "records", "example.test", "--service-domain", "x.example"}, // admin commands take it from the server
		{"feedback", "show", "abc"},
		{"feedback", "show", "42"},
		{"feedback", "show"},
		{"feedback", "list", "--since", "-1h"},
		{"feedback", "list", "--account", "nobody"},
	} {
		if out, err := sesame(t, dir, bad...); err == nil {
			t.Errorf("sesame %v succeeded:\n%s", bad, out)
		}
	}
	out, err = sesame(t, dir, "feedback", "list", "--account", "acme", "--since", "24h", "--unverified")
	if err != nil || !strings.HasPrefix(out, "ID  RECEIVED  ACCOUNT") {
		t.Fatalf("feedback list: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "help"); err != nil || !strings.Contains(out, "sesame serve") {
		t.Fatalf("help: %v\n%s", err, out)
	}
}

// TestAccountNamesLikeReferences: `account create` refuses a name that
// looks like an account ID or an access key ID, so `account keys <ref>`
// (and --add) always acts on the account ref names.
func TestAccountNamesLikeReferences(t *testing.T) {
	dir := t.TempDir()
	out, err := sesame(t, dir, "account", "create", "--name", "acme")
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	field := func(out, name string) string {
		for line := range strings.Lines(out) {
			if f := strings.Fields(line); len(f) == 2 && f[0] == name {
				return f[1]
			}
		}
		t.Fatalf("no %s in\n%s", name, out)
		return ""
	}
	id, key := field(out, "account_id"), field(out, "access_key_id")
	for _, c := range []struct{ name, rule string }{
		{"836309891122", "looks like an account ID"},
		{id, "looks like an account ID"},
		{key, "looks like an access key ID"},
	} {
		out, err := sesame(t, dir, "account", "create", "--name", c.name)
		if err == nil || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("account create --name %s: %v\n%s", c.name, err, out)
		}
	}
	for _, ref := range []string{id, key, "acme"} {
		out, err := sesame(t, dir, "account", "keys", ref)
		if err != nil || !strings.Contains(out, key) {
			t.Errorf("account keys %s: %v\n%s", ref, err, out)
		}
	}
}

func TestFeedbackParse(t *testing.T) {
	dir := t.TempDir()
	dsn := "From: MAILER-DAEMON@mx.rcpt.test\r\nTo: m1@mail.example.test\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.rcpt.test\r\n\r\n" +
		"Final-Recipient: rfc822; gone@rcpt.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n"
	file := filepath.Join(dir, "dsn.eml")
	if err := os.WriteFile(file, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := sesame(t, dir, "feedback", "parse", file)
	if err != nil {
		t.Fatalf("feedback parse: %v\n%s", err, out)
	}
	var got struct {
		File       string
		Kind       string
		Recipients []struct{ Address, Status, BounceType, BounceSubType, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if got.File != file || got.Kind != "bounce" || len(got.Recipients) != 1 {
		t.Fatalf("parsed = %+v\n%s", got, out)
	}
	if r := got.Recipients[0]; r.Address != "gone@rcpt.test" || r.Status != "5.1.1" || r.BounceType != "Permanent" || r.BounceSubType != "NoEmail" || r.Reason == "" {
		t.Fatalf("recipient = %+v", r)
	}
	if _, err := sesame(t, dir, "feedback", "parse", filepath.Join(dir, "missing.eml")); err == nil {
		t.Fatal("a missing file was not an error")
	}
	if _, err := sesame(t, dir, "feedback", "parse"); err == nil {
		t.Fatal("no files was not an error")
	}
}

// TestWrongMasterKeyRefused: a server started with --master-key leaves no
// master.key in the data directory; an admin command without that key must
// neither write a second one nor seal anything with it, and must say which
// key it expects. The same for a wrong key given.
func TestWrongMasterKeyRefused(t *testing.T) {
	dir := t.TempDir()
	a, err := app.Open(context.Background(), config.Config{DataDir: dir, Region: "us-east-1", ServiceDomain: "sesame.example.test", APIAddr: ":8080", MasterKey: "the server's key"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	for _, args := range [][]string{
		{"account", "create", "--name", "acme"},
		{"account", "create", "--name", "acme", "--master-key", "another key"},
		{"account", "list"},
	} {
		out, err := sesame(t, dir, args...)
		if err == nil || !strings.Contains(err.Error(), "open this database (key check ") ||
			!strings.Contains(err.Error(), "the key serve was started with") {
			t.Errorf("sesame %v: %v\n%s", args, err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("sesame %v wrote a master.key (%v)", args, err)
		}
	}
	out, err := sesame(t, dir, "account", "create", "--name", "acme", "--master-key", "the server's key")
	if err != nil {
		t.Fatalf("with the server's key: %v\n%s", err, out)
	}
}
