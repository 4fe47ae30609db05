package main

import (
	"strings"
	"testing"
)

// TestAccountKeysRemove: `account keys A --remove K` removes a key of A;
// the account's last key goes only with --force, and --add with --remove
// replaces a key in one command.
func TestAccountKeysRemove(t *testing.T) {
	dir := t.TempDir()
	if out, err := sesame(t, dir, "account", "create", "--name", "acme", "--access-key-id", "AKIDFIRST0000000001", "--secret-access-key", "secretsecretsecretsecret"); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "account", "create", "--name", "beta", "--access-key-id", "AKIDBETA00000000001", "--secret-access-key", "secretsecretsecretsecret"); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"account", "keys", "acme", "--remove", "AKIDBETA00000000001"}, // another account's key
		{"account", "keys", "acme", "--remove", "AKIDFIRST0000000001"}, // the last key, without --force
		{"account", "keys", "acme", "--force"},                         // --force alone
	} {
		if out, err := sesame(t, dir, bad...); err == nil {
			t.Errorf("sesame %v succeeded:\n%s", bad, out)
		}
	}
	out, err := sesame(t, dir, "account", "keys", "acme", "--remove", "AKIDFIRST0000000001")
	if err == nil || !strings.Contains(err.Error(), "is the only access key of account") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("the last key without --force: %v\n%s", err, out)
	}
	// A new key and the old one out, in one command.
	out, err = sesame(t, dir, "account", "keys", "AKIDFIRST0000000001", "--add", "--remove", "AKIDFIRST0000000001")
	if err != nil || !strings.Contains(out, "secret_access_key") || !strings.Contains(out, "removed access key AKIDFIRST0000000001 of account acme") {
		t.Fatalf("--add --remove: %v\n%s", err, out)
	}
	if list, _ := sesame(t, dir, "account", "keys", "acme"); strings.Contains(list, "AKIDFIRST0000000001") || strings.Count(list, "AKIA") != 1 {
		t.Fatalf("acme's keys after the swap:\n%s", list)
	}
	out, err = sesame(t, dir, "account", "keys", "beta", "--remove", "AKIDBETA00000000001", "--force")
	if err != nil || !strings.Contains(out, "removed access key AKIDBETA00000000001") {
		t.Fatalf("the last key with --force: %v\n%s", err, out)
	}
}

// TestAccountKeysDeactivate: `account keys A --deactivate K` and
// `--activate K`, before or after the account, switch a key of A, and the
// listing shows its status; another account's key is refused, and so is
// --force without --remove, before anything changes.
func TestAccountKeysDeactivate(t *testing.T) {
	dir := t.TempDir()
	for _, c := range [][2]string{{"acme", "AKIDACME00000000001"}, {"beta", "AKIDBETA00000000001"}} {
		if out, err := sesame(t, dir, "account", "create", "--name", c[0], "--access-key-id", c[1], "--secret-access-key", "secretsecretsecretsecret"); err != nil {
			t.Fatalf("account create: %v\n%s", err, out)
		}
	}
	if out, err := sesame(t, dir, "account", "keys", "acme", "--deactivate", "AKIDBETA00000000001"); err == nil || !strings.Contains(err.Error(), "has no access key AKIDBETA00000000001") {
		t.Fatalf("another account's key: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "account", "keys", "acme", "--deactivate", "AKIDACME00000000001", "--force"); err == nil || !strings.Contains(err.Error(), "--force goes with --remove") {
		t.Fatalf("--deactivate --force: %v\n%s", err, out)
	}
	if list, _ := sesame(t, dir, "account", "keys", "acme"); !strings.Contains(list, "AKIDACME00000000001") || strings.Contains(list, "Inactive") {
		t.Fatalf("a refused command changed the key:\n%s", list)
	}
	out, err := sesame(t, dir, "account", "keys", "acme", "--deactivate", "AKIDACME00000000001")
	if err != nil || !strings.Contains(out, "deactivated access key AKIDACME00000000001 of account acme") || !strings.Contains(out, "Inactive since ") {
		t.Fatalf("--deactivate: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "keys", "--activate", "AKIDACME00000000001", "acme")
	if err != nil || !strings.Contains(out, "activated access key AKIDACME00000000001") || strings.Contains(out, "Inactive") || !strings.Contains(out, "Active") {
		t.Fatalf("--activate: %v\n%s", err, out)
	}
}
