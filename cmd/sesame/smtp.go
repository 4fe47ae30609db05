package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
)

// smtpCredentials runs `sesame account smtp-credentials <account> [--key
// ID]`: the host, ports, user names and SES-derived passwords an SMTP
// client needs. Flags may come before and after the account.
func smtpCredentials(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cfg config.Config
	fs := cfg.FlagSet("sesame account smtp-credentials", config.ScopeStorage, stderr)
	var key string
	fs.StringVar(&key, "key", "", "only this access key (default: every key of the account)")
	flags, pos := splitArgs(fs, args)
	if err := fs.Parse(flags); err != nil {
		return err
	}
	if err := cfg.Parse(fs, nil, getenv); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("account smtp-credentials: expected one account (id, access key id or name)")
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)})))
	if err != nil {
		return err
	}
	defer a.Close()
	return a.SMTPCredentials(ctx, stdout, pos[0], key)
}
