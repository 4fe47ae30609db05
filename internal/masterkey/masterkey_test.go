package masterkey_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/masterkey"
	"github.com/sesame-email/sesame/internal/seal"
)

// sample is Options.Sealed over the accounts' sealed secrets, as the app
// wires it (less the service DKIM key).
func sample(d *db.DB) func(ctx context.Context) ([]seal.Sealed, error) {
	return func(ctx context.Context) ([]seal.Sealed, error) { return account.SealedSecrets(ctx, d) }
}

func storedCheck(t *testing.T, d *db.DB) (string, bool) {
	t.Helper()
	v, ok, err := d.Setting(t.Context(), masterkey.CheckSetting)
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

func wantWrongKey(t *testing.T, err error, says ...string) {
	t.Helper()
	if !errors.Is(err, masterkey.ErrWrongKey) {
		t.Fatalf("error %v; want ErrWrongKey", err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// TestFirstStart: on a new database the default file is made (mode 0600)
// and its key's check stored; later starts read the file and pass the
// check; another key is refused, saying which key check is expected, and a
// missing file is not replaced by a new one.
func TestFirstStart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		file := filepath.Join(t.TempDir(), "master.key")
		o := masterkey.Options{DefaultFile: file, Sealed: sample(d)}
		box, err := masterkey.Open(ctx, d, o)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(file)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
		}
		if v, ok := storedCheck(t, d); !ok || v != box.Check() {
			t.Fatalf("stored check %q, %v; want %q", v, ok, box.Check())
		}
		entries, _ := os.ReadDir(filepath.Dir(file))
		if len(entries) != 1 {
			t.Fatalf("the data directory holds %d files; want only master.key (no temporary file left)", len(entries))
		}
		again, err := masterkey.Open(ctx, d, o)
		if err != nil || again.Check() != box.Check() {
			t.Fatalf("second start: %v", err)
		}
		key, _ := os.ReadFile(file)
		if b, err := masterkey.Open(ctx, d, masterkey.Options{Key: strings.TrimSpace(string(key))}); err != nil || b.Check() != box.Check() {
			t.Fatalf("the same key given with --master-key: %v", err)
		}

		_, err = masterkey.Open(ctx, d, masterkey.Options{Key: "another key", DefaultFile: file})
		wantWrongKey(t, err, "the master key given with --master-key (SESAME_MASTER_KEY) does not open this database (key check "+box.Check()[:8]+" expected, this key's is ",
			"use the key serve was started with")
		other := filepath.Join(t.TempDir(), "other.key")
		os.WriteFile(other, []byte("another key\n"), 0o600)
		_, err = masterkey.Open(ctx, d, masterkey.Options{File: other})
		wantWrongKey(t, err, "the master key in "+other+" does not open this database (key check "+box.Check()[:8]+" expected")

		// The default file gone (or never there for this command): no new one.
		missing := filepath.Join(t.TempDir(), "master.key")
		_, err = masterkey.Open(ctx, d, masterkey.Options{DefaultFile: missing})
		wantWrongKey(t, err, "no master key was given and "+missing+" does not exist", "(key check "+box.Check()[:8]+" expected)")
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused start made %s (%v)", missing, err)
		}
		if v, _ := storedCheck(t, d); v != box.Check() {
			t.Fatal("a refused key changed the stored check")
		}
	})
}

// TestUpgrade: a database from before key checks holds sealed values but
// no check. Only a key that opens them gets its check stored; a wrong one
// is refused, and a missing default file is not made.
func TestUpgrade(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		old, _ := seal.New("the key of the old server")
		if _, _, err := account.New(d, old, nil).Create(ctx, account.CreateOptions{Name: "acme"}); err != nil {
			t.Fatal(err)
		}
		missing := filepath.Join(t.TempDir(), "master.key")
		_, err := masterkey.Open(ctx, d, masterkey.Options{DefaultFile: missing, Sealed: sample(d)})
		wantWrongKey(t, err, "no master key was given and "+missing+" does not exist", "it holds the secret of access key AKIA")
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused start made %s (%v)", missing, err)
		}
		_, err = masterkey.Open(ctx, d, masterkey.Options{Key: "a wrong key", Sealed: sample(d)})
		wantWrongKey(t, err, "does not open this database: it cannot open the secret of access key AKIA", "use the key serve was started with")
		if _, ok := storedCheck(t, d); ok {
			t.Fatal("a wrong key's check was stored")
		}

		box, err := masterkey.Open(ctx, d, masterkey.Options{Key: "the key of the old server", Sealed: sample(d)})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := storedCheck(t, d); !ok || v != old.Check() || box.Check() != old.Check() {
			t.Fatalf("stored check %q, %v; want the old key's %q", v, ok, old.Check())
		}
		_, err = masterkey.Open(ctx, d, masterkey.Options{Key: "a wrong key", Sealed: sample(d)})
		wantWrongKey(t, err, "(key check "+old.Check()[:8]+" expected")
	})
}

// TestNoKey: without a default file (PostgreSQL) a key must be given; a
// given file must exist and hold a key.
func TestNoKey(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := t.Context()
	if _, err := masterkey.Open(ctx, d, masterkey.Options{}); err == nil || !strings.Contains(err.Error(), "set --master-key or --master-key-file") {
		t.Errorf("no key: %v", err)
	}
	dir := t.TempDir()
	if _, err := masterkey.Open(ctx, d, masterkey.Options{File: filepath.Join(dir, "nope")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := masterkey.Open(ctx, d, masterkey.Options{File: empty}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty key file: %v", err)
	}
	if _, ok := storedCheck(t, d); ok {
		t.Error("a check was stored without a key")
	}
}

// TestCreateWithoutHardLinks: where the file system refuses hard links,
// the key file is still made (mode 0600, the whole key, no temporary file
// left) and never replaced: a second start uses it, and a file another
// process holds — even empty, as a claim not yet filled or left by a
// crash — is not overwritten.
func TestCreateWithoutHardLinks(t *testing.T) {
	noLinks := func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "master.key")
	k, err := masterkey.Create(file, noLinks)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != k+"\n" || len(k) < 40 {
		t.Fatalf("key file %q, %v; want the key %q", b, err, k)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v; want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the directory holds %d files; want only master.key", len(entries))
	}
	if again, err := masterkey.Create(file, noLinks); err != nil || again != k {
		t.Fatalf("second create: %q, %v; want the existing key", again, err)
	}

	empty := filepath.Join(t.TempDir(), "master.key")
	os.WriteFile(empty, nil, 0o600)
	if _, err := masterkey.Create(empty, noLinks); err == nil || !strings.Contains(err.Error(), "is empty") || !strings.Contains(err.Error(), "remove it and start again") {
		t.Fatalf("an empty key file: %v", err)
	}
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Fatal("an empty key file held by another was overwritten")
	}
}
