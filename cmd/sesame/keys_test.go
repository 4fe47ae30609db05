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
