//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestDataFileModes: an admin command on a 0755 data directory makes every
// file in it (database, WAL, shared memory, master.key) 0600 and warns
// about the directory.
func TestDataFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := sesame(t, dir, "account", "create", "--name", "acme")
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "data directory is readable or writable by other users") {
		t.Errorf("no warning about the data directory:\n%s", out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) < 2 {
		t.Fatalf("data directory: %v", entries)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", e.Name(), fi.Mode().Perm(), err)
		}
	}
}
