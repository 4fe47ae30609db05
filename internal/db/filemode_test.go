//go:build unix

package db_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
)

// TestFileModes: with a permissive umask and a pre-existing 0755 data
// directory, the SQLite database and its WAL and shared-memory files are
// made 0600, and the directory's mode is warned about. (PostgreSQL keeps no
// files of Sesame's.)
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d, err := db.Open(ctx, db.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 100 {
		if err := d.SetSetting(ctx, "n", strings.Repeat("x", i*100)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	for _, name := range []string{"sesame.db", "sesame.db-wal", "sesame.db-shm"} {
		if !seen[name] {
			t.Errorf("no %s in the data directory (%v)", name, seen)
		}
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "readable or writable by other users") || !strings.Contains(logs.String(), dir) {
		t.Errorf("no warning about the 0755 data directory:\n%s", logs.String())
	}
}

// TestExistingFileModes: a database file made before (0644) is warned
// about; a 0700 directory and 0600 files are not.
func TestExistingFileModes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	open := func() string {
		var logs bytes.Buffer
		d, err := db.Open(ctx, db.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		return logs.String()
	}
	if logs := open(); strings.Contains(logs, "level=WARN") {
		t.Errorf("warnings for a 0700 directory and new files:\n%s", logs)
	}
	file := filepath.Join(dir, "sesame.db")
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if logs := open(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, file) {
		t.Errorf("no warning about a 0644 database file:\n%s", logs)
	}
}
