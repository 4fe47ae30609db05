package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("name", "", "")
	fs.Bool("force", false, "")
	fs.Float64("rate", 0, "")
	for _, c := range []struct {
		args, flags, pos []string
	}{
		{[]string{"acme", "--rate", "5"}, []string{"--rate", "5"}, []string{"acme"}},
		{[]string{"--rate", "5", "acme"}, []string{"--rate", "5"}, []string{"acme"}},
		{[]string{"a", "--force", "b", "-rate=2", "c"}, []string{"--force", "-rate=2"}, []string{"a", "b", "c"}},
		{[]string{"--force=false", "a"}, []string{"--force=false"}, []string{"a"}},
		{[]string{"a", "--", "--force", "-x"}, []string{}, []string{"a", "--force", "-x"}},
		{[]string{"--name", "--", "a"}, []string{"--name", "--"}, []string{"a"}}, // a value, as flag.Parse takes it
		{[]string{"-", "--name", "n"}, []string{"--name", "n"}, []string{"-"}},
		{[]string{"a", "-h", "b"}, []string{"-h"}, []string{"a", "b"}},
		{[]string{"a", "--unknown", "v"}, []string{"--unknown", "v"}, []string{"a"}},
		{[]string{"a", "--name"}, []string{"--name"}, []string{"a"}}, // flag.Parse reports the missing value
	} {
		flags, pos := splitArgs(fs, c.args)
		if !slices.Equal(flags, c.flags) || !slices.Equal(pos, c.pos) {
			t.Errorf("splitArgs(%q) = %q, %q; want %q, %q", c.args, flags, pos, c.flags, c.pos)
		}
	}
}

// TestFlagsAnywhere: every subcommand takes its flags before, between and
// after its positional arguments, and prints quotas as integers.
func TestFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	if out, err := sesame(t, dir, "account", "create", "--name", "acme", "--access-key-id", "AKIDFLAGS0000000001", "--secret-access-key", "secretsecretsecretsecret"); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}

	// The form the usage line shows, and the flags first.
	out, err := sesame(t, dir, "account", "production", "acme", "--max-24h-send", "50000")
	if err != nil || !strings.Contains(out, "out of the sandbox: 50000 messages per 24 hours, 14 per second") {
		t.Fatalf("account production acme --max-24h-send: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "production", "--max-24h-send", "1000000", "acme", "--max-send-rate", "0.5")
	if err != nil || !strings.Contains(out, ": 1000000 messages per 24 hours, 0.5 per second") {
		t.Fatalf("account production with flags around the account: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "production", "acme", "--max-24h-send=-1", "--max-send-rate", "250")
	if err != nil || !strings.Contains(out, ": unlimited messages per 24 hours, 250 per second") {
		t.Fatalf("account production unlimited: %v\n%s", err, out)
	}
	// A quota left out keeps its value once out of the sandbox: raising the
	// rate does not reset the daily quota to the default, nor the reverse.
	out, err = sesame(t, dir, "account", "production", "acme", "--max-send-rate", "30")
	if err != nil || !strings.Contains(out, ": unlimited messages per 24 hours, 30 per second") {
		t.Fatalf("account production acme --max-send-rate 30 after unlimited: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "production", "acme", "--max-24h-send", "200000")
	if err != nil || !strings.Contains(out, ": 200000 messages per 24 hours, 30 per second") {
		t.Fatalf("account production acme --max-24h-send 200000: %v\n%s", err, out)
	}
	// Quotas the APIs could not encode, or not whole messages, are refused.
	for _, bad := range [][]string{{"--max-send-rate", "Inf"}, {"--max-send-rate", "NaN"}, {"--max-24h-send", "NaN"}, {"--max-24h-send", "1e400"}, {"--max-24h-send", "50000.5"}, {"--max-24h-send", "-0.5"}} {
		if out, err := sesame(t, dir, append([]string{"account", "production", "acme"}, bad...)...); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("account production acme %v: %v\n%s", bad, err, out)
		}
	}
	if out, err := sesame(t, dir, "account", "list", "acme"); err == nil || !strings.Contains(err.Error(), "expected no arguments") {
		t.Errorf("account list acme: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "account", "create", "other"); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Errorf("account create other: %v\n%s", err, out)
	}

	// A storage flag after the account is parsed too: this data dir is empty.
	if out, err := sesame(t, dir, "account", "production", "acme", "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "acme") {
		t.Fatalf("--data-dir after the account was not used: %v\n%s", err, out)
	}

	out, err = sesame(t, dir, "account", "keys", "--add", "acme", "--access-key-id", "AKIDFLAGS0000000002", "--secret-access-key", "secretsecretsecretsecret")
	if err != nil || !strings.Contains(out, "AKIDFLAGS0000000002") || !strings.Contains(out, "AKIDFLAGS0000000001") {
		t.Fatalf("account keys --add acme ...: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "account", "keys", "acme", "--remove", "AKIDFLAGS0000000002")
	if err != nil || !strings.Contains(out, "removed access key AKIDFLAGS0000000002") {
		t.Fatalf("account keys acme --remove: %v\n%s", err, out)
	}

	// Two positionals with flags between and after them.
	createSet(t, dir, "acme", "news")
	out, err = sesame(t, dir, "configset", "threshold", "acme", "--bounce-rate", "5%", "news", "--complaint-rate", "0.1%")
	if err != nil || !strings.Contains(out, "bounce rate threshold     5%") || !strings.Contains(out, "complaint rate threshold  0.1%") {
		t.Fatalf("configset threshold acme --bounce-rate 5%% news ...: %v\n%s", err, out)
	}
	out, err = sesame(t, dir, "configset", "threshold", "--clear", "acme", "news")
	if err != nil || !strings.Contains(out, "bounce rate threshold     none") {
		t.Fatalf("configset threshold --clear acme news: %v\n%s", err, out)
	}

	// Flags after positionals in the other command groups.
	if out, err := sesame(t, dir, "events", "retry", "1", "--all"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("events retry 1 --all: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "feedback", "show", "42", "--account", "nobody"); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("feedback show 42 --account nobody: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "identity", "show", "example.test", "--account", "acme"); err == nil || strings.Contains(err.Error(), "choose one") || strings.Contains(err.Error(), "expected") {
		t.Fatalf("identity show example.test --account acme: %v\n%s", err, out)
	}

	// "--" ends the flags: a file whose name starts with a dash.
	file := filepath.Join(dir, "-report.eml")
	if err := os.WriteFile(file, []byte("From: a@b.test\r\nSubject: x\r\n\r\nhello\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if out, err := sesame(t, dir, "feedback", "parse", "--", "-report.eml"); err != nil || !strings.Contains(out, "-report.eml") {
		t.Fatalf("feedback parse -- -report.eml: %v\n%s", err, out)
	}
	if out, err := sesame(t, dir, "feedback", "parse", "-report.eml"); err == nil {
		t.Fatalf("feedback parse -report.eml (a flag without --) succeeded:\n%s", out)
	}
	if out, err := sesame(t, dir, "account", "production", "--", "--max-24h-send", "5"); err == nil || !strings.Contains(err.Error(), "expected one account") {
		t.Fatalf("account production -- two words: %v\n%s", err, out)
	}

	// -h prints the command's flags wherever it stands.
	for _, args := range [][]string{
		{"account", "production", "acme", "-h"},
		{"account", "production", "-h", "acme"},
		{"configset", "threshold", "acme", "news", "--help"},
	} {
		out, err := sesame(t, dir, args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "Usage of sesame "+args[0]+" "+args[1]) || !strings.Contains(out, "-data-dir") {
			t.Errorf("sesame %v: %v\n%s", args, err, out)
		}
	}
}
