package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/masterkey"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

// eachStore runs fn on a new SQLite data directory and on a new
// PostgreSQL schema, with the configuration of an admin command (no API)
// using the master key "the server's key", and the database options of
// the same database.
func eachStore(t *testing.T, fn func(t *testing.T, cfg config.Config, o db.Options)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, config.Config{DataDir: dir, Region: "us-east-1", ServiceDomain: svc, MasterKey: "the server's key"}, db.Options{DataDir: dir})
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.PostgresURL(t)
		fn(t, config.Config{DatabaseURL: url, Region: "us-east-1", ServiceDomain: svc, MasterKey: "the server's key"}, db.Options{URL: url})
	})
}

// oldServer opens cfg as serve does (which seals the service DKIM key),
// creates the account acme, and removes the key check, as a database
// from before key checks has none. It returns acme's access key.
func oldServer(t *testing.T, cfg config.Config) account.Key {
	t.Helper()
	ctx := context.Background()
	serving := cfg
	serving.APIAddr = "127.0.0.1:0" // makes the service DKIM key
	a, err := app.Open(ctx, serving, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, k, err := a.Accounts.Create(ctx, account.CreateOptions{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB.Exec(ctx, `DELETE FROM settings WHERE name = ?`, masterkey.CheckSetting); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMasterKeyUpgrade: a database from before key checks (sealed service
// DKIM key and access keys, no check) is opened only with the key that
// sealed them, which then has its check stored; on both stores.
func TestMasterKeyUpgrade(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config, _ db.Options) {
		ctx := context.Background()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		oldServer(t, cfg)

		wrong := cfg
		wrong.MasterKey = "another key"
		_, err := app.Open(ctx, wrong, log)
		if !errors.Is(err, masterkey.ErrWrongKey) || !strings.Contains(err.Error(), "cannot open the service DKIM key") {
			t.Fatalf("a wrong key on an old database: %v", err)
		}
		a, err := app.Open(ctx, cfg, log)
		if err != nil {
			t.Fatalf("the right key on an old database: %v", err)
		}
		defer a.Close()
		var check string
		if err := a.DB.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, masterkey.CheckSetting).Scan(&check); err != nil || check == "" {
			t.Fatalf("no key check stored: %v", err)
		}
		if _, err := a.Accounts.Find(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMasterKeyMixedUpgrade: the database defect 9 left behind — serve
// ran with key X (service DKIM key and acme's access key sealed with it),
// then an `account create` without the key made its own key file Y and
// sealed the account stray's key with it; no key check. Y is refused (it
// does not open the server's own value). X opens the database, stores
// its check and logs an error naming stray's key, which stays unusable;
// Y is then refused naming the expected check. The operator gives stray
// a new key and removes the old one. Whether stray's key is the newest
// or the oldest access key makes no difference.
func TestMasterKeyMixedUpgrade(t *testing.T) {
	for _, strayOldest := range []bool{false, true} {
		name := "stray's key newest"
		if strayOldest {
			name = "stray's key oldest"
		}
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, cfg config.Config, o db.Options) { mixedUpgrade(t, cfg, o, strayOldest) })
		})
	}
}

func mixedUpgrade(t *testing.T, cfg config.Config, o db.Options, strayOldest bool) {
	ctx := context.Background()
	acme := oldServer(t, cfg)
	d, err := db.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := seal.New("the key account create made")
	stray, strayKey, err := account.New(d, y, nil).Create(ctx, account.CreateOptions{Name: "stray"})
	if err == nil && strayOldest {
		_, err = d.Exec(ctx, `UPDATE access_keys SET created_at = created_at - 3600000 WHERE access_key_id = ?`, strayKey.AccessKeyID)
	}
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	withY := cfg
	withY.MasterKey = "the key account create made"
	if _, err := app.Open(ctx, withY, slog.New(slog.DiscardHandler)); !errors.Is(err, masterkey.ErrWrongKey) || !strings.Contains(err.Error(), "cannot open the service DKIM key") {
		t.Fatalf("Y before any check: %v", err)
	}

	var logged bytes.Buffer
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatalf("X on the mixed database: %v", err)
	}
	defer a.Close()
	var errLines []string
	for _, l := range strings.Split(logged.String(), "\n") {
		if strings.Contains(l, "level=ERROR") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "the secret of access key "+strayKey.AccessKeyID+" (account "+stray.ID+")") || !strings.Contains(errLines[0], "--remove") {
		t.Fatalf("errors logged: %q; want one naming %s", errLines, strayKey.AccessKeyID)
	}
	x, _ := seal.New(cfg.MasterKey)
	if v, _, _ := a.DB.Setting(ctx, masterkey.CheckSetting); v != x.Check() {
		t.Fatalf("stored check %q; want X's %q", v, x.Check())
	}
	if _, _, err := a.Accounts.Secret(ctx, acme.AccessKeyID); err != nil {
		t.Fatalf("acme's key: %v", err)
	}
	if _, _, err := a.Accounts.Secret(ctx, strayKey.AccessKeyID); !errors.Is(err, seal.ErrCorrupt) {
		t.Fatalf("stray's key sealed with Y: %v; want it unusable", err)
	}
	if _, err := app.Open(ctx, withY, slog.New(slog.DiscardHandler)); !errors.Is(err, masterkey.ErrWrongKey) || !strings.Contains(err.Error(), "(key check "+x.Check()[:8]+" expected") {
		t.Fatalf("Y once X's check is stored: %v", err)
	}

	// The clean-up: a new key for stray, sealed with X; the old one out.
	var out bytes.Buffer
	if err := a.AccountKeys(ctx, &out, "stray", true, "", "", strayKey.AccessKeyID, false); err != nil {
		t.Fatalf("account keys stray --add --remove: %v\n%s", err, &out)
	}
	keys, _ := a.Accounts.Keys(ctx, stray.ID)
	if len(keys) != 1 || keys[0].AccessKeyID == strayKey.AccessKeyID || !strings.Contains(out.String(), "removed access key "+strayKey.AccessKeyID) {
		t.Fatalf("stray's keys after the clean-up: %v\n%s", keys, &out)
	}
	if _, acct, err := a.Accounts.Secret(ctx, keys[0].AccessKeyID); err != nil || acct != stray.ID {
		t.Fatalf("stray's new key: %v", err)
	}
}

// TestWrongKeyBeforeMigrations: against a database one migration behind
// (0007 not applied) that has a key check, a wrong key and a missing one
// are refused with the schema left as it was — nothing migrated, no key
// file made; the right key then migrates it.
func TestWrongKeyBeforeMigrations(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config, o db.Options) {
		ctx := context.Background()
		a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		testkit.Before0007(t, a.DB)
		a.Close()
		// schema reads, without migrating, whether 0007 is applied.
		schema := func() (applied bool) {
			t.Helper()
			errLooked := errors.New("looked")
			look := o
			look.BeforeMigrate = func(ctx context.Context, d *db.DB) error {
				var n int
				if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = 7`).Scan(&n); err != nil {
					return err
				}
				pending, err := d.HasTable(ctx, "pending_mail")
				if err != nil {
					return err
				}
				if (n == 1) == pending {
					t.Fatalf("schema_migrations says 0007 is applied: %v, but pending_mail exists: %v", n == 1, pending)
				}
				applied = n == 1
				return errLooked
			}
			if _, err := db.Open(ctx, look); !errors.Is(err, errLooked) {
				t.Fatal(err)
			}
			return applied
		}

		wrong := cfg
		wrong.MasterKey = "another key"
		missing := cfg
		missing.MasterKey = ""
		for _, c := range []config.Config{wrong, missing} {
			if _, err := app.Open(ctx, c, slog.New(slog.DiscardHandler)); err == nil {
				t.Fatal("a wrong or missing key was taken")
			} else if c.MasterKey != "" && !errors.Is(err, masterkey.ErrWrongKey) {
				t.Fatalf("a wrong key: %v", err)
			}
			if schema() {
				t.Fatalf("a refused start (key %q) migrated the database", c.MasterKey)
			}
		}
		if cfg.DataDir != "" {
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "master.key")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused start made a key file: %v", err)
			}
		}
		a, err = app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("the right key: %v", err)
		}
		a.Close()
		if !schema() {
			t.Fatal("the right key did not migrate the database")
		}
	})
}
