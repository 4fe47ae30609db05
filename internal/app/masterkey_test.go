package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/masterkey"
)

// TestMasterKeyUpgrade: a database from before key checks (sealed service
// DKIM key and access keys, no check) is opened only with the key that
// sealed them, which then has its check stored; on both stores.
func TestMasterKeyUpgrade(t *testing.T) {
	for _, store := range []struct {
		name string
		cfg  func(t *testing.T) config.Config
	}{
		{"sqlite", func(t *testing.T) config.Config { return config.Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) config.Config { return config.Config{DatabaseURL: dbtest.PostgresURL(t)} }},
	} {
		t.Run(store.name, func(t *testing.T) {
			ctx := context.Background()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg := store.cfg(t)
			cfg.Region, cfg.ServiceDomain, cfg.MasterKey = "us-east-1", svc, "the server's key"
			serving := cfg
			serving.APIAddr = "127.0.0.1:0" // makes the service DKIM key
			a, err := app.Open(ctx, serving, log)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.Accounts.Create(ctx, account.CreateOptions{Name: "acme"}); err != nil {
				t.Fatal(err)
			}
			// As before key checks were kept.
			if _, err := a.DB.Exec(ctx, `DELETE FROM settings WHERE name = ?`, masterkey.CheckSetting); err != nil {
				t.Fatal(err)
			}
			a.Close()

			wrong := cfg
			wrong.MasterKey = "another key"
			_, err = app.Open(ctx, wrong, log)
			if !errors.Is(err, masterkey.ErrWrongKey) || !strings.Contains(err.Error(), "cannot open the service DKIM key") {
				t.Fatalf("a wrong key on an old database: %v", err)
			}
			a, err = app.Open(ctx, cfg, log)
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
}
