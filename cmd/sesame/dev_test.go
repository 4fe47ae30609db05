package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestDevCommand runs `sesame dev --memory --port N` as a user would: it
// prints the settings for port N and stops on the signal's cancellation.
func TestDevCommand(t *testing.T) {
	n := testkit.FreePorts(t, app.DevPorts)
	var out, errOut testkit.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--memory", "--port", strconv.Itoa(n), "--log-level", "error"}, &out, &errOut, func(string) string { return "" })
	}()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(out.String(), "Captured mail") {
		select {
		case err := <-done:
			t.Fatalf("sesame dev: %v\n%s%s", err, out.String(), errOut.String())
		case <-deadline:
			t.Fatalf("sesame dev printed no settings:\n%s%s", out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sesame dev: %v", err)
	}
	for _, want := range []string{
		"export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:" + strconv.Itoa(n) + "\n",
		"export AWS_ACCESS_KEY_ID=" + app.DevAccessKeyID + "\n",
		"port " + strconv.Itoa(n+1) + " (STARTTLS) or " + strconv.Itoa(n+2) + " (TLS)",
		"State     in memory",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if errOut.String() != "" {
		t.Errorf("stderr at --log-level error: %s", errOut.String())
	}
}

func TestDevCommandRefuses(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"dev --port 65533", "--port 65533: use 1 to 65530"},
		{"dev extra", `unexpected argument "extra"`},
		{"dev --port x", `invalid value "x"`},
	} {
		var out, errOut testkit.LogBuffer
		err := run(context.Background(), strings.Fields(c.args), &out, &errOut, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error()+errOut.String(), c.want) {
			t.Errorf("%s: %v %s, want %q", c.args, err, errOut.String(), c.want)
		}
	}
}
