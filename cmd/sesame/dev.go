package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/sesame-email/sesame/internal/app"
)

// dev runs `sesame dev [--port N] [--data-dir D | --memory]`: Sesame for
// local development, with no configuration (see app.Dev).
func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sesame dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o app.DevOptions
	var logLevel string
	fs.IntVar(&o.Port, "port", app.DevDefaultPort, fmt.Sprintf("the API's port N; SMTP (STARTTLS) is N+1, SMTPS N+2, DNS N+3, the feedback MX N+4, the capture MX N+5, all on 127.0.0.1"))
	fs.StringVar(&o.DataDir, "data-dir", app.DevDataDir, "directory of the SQLite database, kept between runs")
	fs.BoolVar(&o.Memory, "memory", false, "keep the state in a temporary directory removed at exit instead of --data-dir")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error (the log goes to stderr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dev: unexpected argument %q", fs.Arg(0))
	}
	o.Out = stdout
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(logLevel)}))
	return app.Dev(ctx, o)
}
