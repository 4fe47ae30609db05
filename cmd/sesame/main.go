// Command sesame is a self-hosted email sending service that speaks Amazon
// SES's APIs. `sesame serve` runs it; the other subcommands administer its
// accounts and identities over the same database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
)

const usage = `sesame: a self-hosted email sending service that speaks Amazon SES's APIs.

Usage:
  sesame dev [--port N] [--data-dir D | --memory]   a local SES for development: no configuration, mail captured
  sesame serve [flags]                       run every role (API, DNS, feedback MX, checker, delivery)
  sesame account create [--name N] [--email E] [--access-key-id K --secret-access-key S]
  sesame account list
  sesame account keys <account> [--add [--access-key-id K --secret-access-key S]] [--remove KEY_ID [--force]]
                                             [--deactivate KEY_ID] [--activate KEY_ID]
  sesame account production <account> [--max-24h-send N] [--max-send-rate R]
  sesame account reinstate <account>        lift a reputation SHUTDOWN: sending resumes, status HEALTHY
  sesame account smtp-credentials <account> [--key KEY_ID]   SMTP host, ports, user and password of each key
  sesame configset threshold <account> <set> [--bounce-rate R] [--complaint-rate R] [--clear]
                                             pause the configuration set when its rates reach R (0.05 or 5%)
  sesame identity show <identity> [--account A]
  sesame identity records <identity> [--account A] [--format zone|csv]
  sesame domain readiness <domain> [--account A] [--json]   bulk-sender readiness: DMARC, SPF/DKIM alignment,
                                             one-click unsubscribe, complaint rate, with what to change
  sesame events tail [--account A] [--limit N] [--follow]
  sesame events failed [--account A] [--limit N]   HTTP notifications parked after their retries
  sesame events retry [--all | ID...]        send parked HTTP notifications again
  sesame feedback parse FILE...              what the feedback MX makes of a bounce or complaint, as JSON
  sesame feedback list [--account A] [--since DUR] [--unverified]   reports the feedback MX took, one line each
  sesame feedback show <id> [--account A]    one report: its origin, the verdict per recipient, its first bytes

Flags may come before or after a command's arguments; "--" ends the flags.
Every flag has an environment variable: --data-dir is SESAME_DATA_DIR, and so on.
Run 'sesame <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sesame:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, args := args[0], args[1:]
	if cmd == "dev" {
		return dev(ctx, args, stdout, stderr)
	}
	sub := ""
	if cmd == "account" || cmd == "identity" || cmd == "events" || cmd == "feedback" || cmd == "configset" || cmd == "domain" {
		if len(args) == 0 {
			return fmt.Errorf("%s: which command? see 'sesame help'", cmd)
		}
		sub, args = args[0], args[1:]
	}
	if cmd == "account" && sub == "smtp-credentials" {
		return smtpCredentials(ctx, args, stdout, stderr, getenv)
	}
	var cfg config.Config
	scope := config.ScopeStorage
	if cmd == "serve" {
		scope = config.ScopeServe
	}
	fs := cfg.FlagSet("sesame "+cmd+" "+sub, scope, stderr)
	var (
		name, email, keyID, secret, acctRef, format string
		remove, deactivate, activate                string
		add, follow, unverified, force, clear, all  bool
		asJSON                                      bool
		max24h, rate                                float64
		bounceRate, complaintRate                   rateValue
		limit                                       int
		since                                       time.Duration
		cpuProfile                                  string
	)
	switch cmd + " " + sub {
	case "serve ":
		fs.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile (go tool pprof) of the server to this file, from start until it stops on SIGTERM or SIGINT; for measuring, not for production")
	case "account create":
		fs.StringVar(&name, "name", "", "account name (default: generated)")
		fs.StringVar(&email, "email", "", "the owner's address, for notifications")
		fs.StringVar(&keyID, "access-key-id", "", "access key id to use (default: generated)")
		fs.StringVar(&secret, "secret-access-key", "", "secret access key to use (default: generated)")
	case "account list":
	case "account keys":
		fs.BoolVar(&add, "add", false, "add an access key")
		fs.StringVar(&keyID, "access-key-id", "", "access key id to add (default: generated)")
		fs.StringVar(&secret, "secret-access-key", "", "secret access key to add (default: generated)")
		fs.StringVar(&remove, "remove", "", "remove this access key (after --add when both are given)")
		fs.BoolVar(&force, "force", false, "with --remove: remove the account's last key too")
		fs.StringVar(&deactivate, "deactivate", "", "deactivate this access key: it signs nothing until activated again")
		fs.StringVar(&activate, "activate", "", "activate this access key again")
	case "account production":
		fs.Float64Var(&max24h, "max-24h-send", 0, fmt.Sprintf("messages (recipients) per 24 hours; -1 for unlimited (when left out: unchanged for an account already out of the sandbox, else %d)", account.DefaultProductionMax24HourSend))
		fs.Float64Var(&rate, "max-send-rate", 0, fmt.Sprintf("messages (recipients) per second (when left out: unchanged for an account already out of the sandbox, else %d)", account.DefaultProductionMaxSendRate))
	case "account reinstate":
	case "configset threshold":
		fs.Var(&bounceRate, "bounce-rate", "pause the set when its bounce rate reaches this (0.05 or 5%); 0: no bounce threshold")
		fs.Var(&complaintRate, "complaint-rate", "pause the set when its complaint rate reaches this (0.001 or 0.1%); 0: no complaint threshold")
		fs.BoolVar(&clear, "clear", false, "remove the set's thresholds (the deployment's default applies again to a set with ReputationMetricsEnabled)")
	case "identity show":
		fs.StringVar(&acctRef, "account", "", "the account (id, access key id or name) when several have the identity")
	case "domain readiness":
		fs.StringVar(&acctRef, "account", "", "the account (id, access key id or name); needed when several have the identity, or when only a parent domain or address identities cover the domain")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		fs.StringVar(&cfg.Resolver, "resolver", "", "DNS resolver host:port for the customer's records, as the server's --resolver (default: the system's, from /etc/resolv.conf)")
	case "identity records":
		fs.StringVar(&acctRef, "account", "", "the account (id, access key id or name) when several have the identity")
		fs.StringVar(&format, "format", "zone", "zone (zone-file lines) or csv (a CSV record set)")
	case "events tail":
		fs.StringVar(&acctRef, "account", "", "only this account's events (id, access key id or name)")
		fs.IntVar(&limit, "limit", 20, "how many of the latest events to print first")
		fs.BoolVar(&follow, "follow", false, "keep printing new events as they are stored")
	case "events failed":
		fs.StringVar(&acctRef, "account", "", "only this account's notifications (id, access key id or name)")
		fs.IntVar(&limit, "limit", 100, "how many to print, oldest first")
	case "events retry":
		fs.BoolVar(&all, "all", false, "every parked notification")
	case "feedback list":
		fs.StringVar(&acctRef, "account", "", "only this account's reports (name, id or access key id)")
		fs.DurationVar(&since, "since", 0, "only reports received within this long (e.g. 24h); 0 for all")
		fs.BoolVar(&unverified, "unverified", false, "only reports naming a recipient they were not shown to come from")
	case "feedback show":
		fs.StringVar(&acctRef, "account", "", "only if it is this account's report (name, id or access key id)")
	case "feedback parse":
		// Needs no database: the files are parsed and printed.
		fs := flag.NewFlagSet("sesame feedback parse", flag.ContinueOnError)
		fs.SetOutput(stderr)
		flags, files := splitArgs(fs, args)
		if err := fs.Parse(flags); err != nil {
			return err
		}
		return feedbackParse(files, os.Stdin, stdout)
	default:
		return fmt.Errorf("unknown command %q; see 'sesame help'", (cmd + " " + sub))
	}
	// Flags may come before, between and after the positional arguments.
	flags, pos := splitArgs(fs, args)
	if err := cfg.Parse(fs, flags, getenv); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()

	need := func(n int, what string) error {
		if len(pos) != n {
			return fmt.Errorf("%s %s: expected %s", cmd, sub, what)
		}
		return nil
	}
	switch cmd + " " + sub {
	case "serve ":
		if cpuProfile != "" {
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
		}
		return a.Serve(ctx, nil)
	case "account create":
		if err := need(0, "no arguments (the name is --name)"); err != nil {
			return err
		}
		return a.CreateAccount(ctx, stdout, account.CreateOptions{Name: name, Email: email, AccessKeyID: keyID, SecretAccessKey: secret})
	case "account list":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		return a.ListAccounts(ctx, stdout)
	case "account keys":
		if err := need(1, "one account (id, access key id or name)"); err != nil {
			return err
		}
		if force && remove == "" { // before anything changes
			return errors.New("--force goes with --remove")
		}
		for _, c := range []struct {
			id     string
			active bool
		}{{deactivate, false}, {activate, true}} {
			if c.id == "" {
				continue
			}
			if err := a.SetKeyActive(ctx, stdout, pos[0], c.id, c.active); err != nil {
				return err
			}
		}
		return a.AccountKeys(ctx, stdout, pos[0], add, keyID, secret, remove, force)
	case "account production":
		if err := need(1, "one account (id, access key id or name)"); err != nil {
			return err
		}
		// A quota left out is nil: app.Production keeps its value.
		var max24hp, ratep *float64
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "max-24h-send":
				max24hp = &max24h
			case "max-send-rate":
				ratep = &rate
			}
		})
		return a.Production(ctx, stdout, pos[0], max24hp, ratep)
	case "account reinstate":
		if err := need(1, "one account (id, access key id or name)"); err != nil {
			return err
		}
		return a.Reinstate(ctx, stdout, pos[0])
	case "configset threshold":
		if err := need(2, "an account (id, access key id or name) and a configuration set name"); err != nil {
			return err
		}
		return a.SetThreshold(ctx, stdout, pos[0], pos[1], float64(bounceRate), float64(complaintRate), clear)
	case "identity show":
		if err := need(1, "one identity (a domain or an address)"); err != nil {
			return err
		}
		return a.ShowIdentity(ctx, stdout, pos[0], acctRef)
	case "domain readiness":
		if err := need(1, "one sending domain (or address)"); err != nil {
			return err
		}
		return a.DomainReadiness(ctx, stdout, pos[0], acctRef, asJSON)
	case "events tail":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		return a.TailEvents(ctx, stdout, acctRef, limit, follow)
	case "events failed":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		return a.FailedNotifications(ctx, stdout, acctRef, limit)
	case "events retry":
		var ids []int64
		for _, p := range pos {
			id, err := strconv.ParseInt(p, 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("events retry: %q is not a notification id (from sesame events failed)", p)
			}
			ids = append(ids, id)
		}
		return a.RetryNotifications(ctx, stdout, all, ids)
	case "feedback list":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		return a.ListFeedback(ctx, stdout, time.Now(), acctRef, since, unverified)
	case "feedback show":
		if err := need(1, "one report id (from sesame feedback list)"); err != nil {
			return err
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("feedback show: %q is not a report id (from sesame feedback list)", pos[0])
		}
		return a.ShowFeedback(ctx, stdout, id, acctRef)
	default: // identity records
		if err := need(1, "one identity (a domain or an address)"); err != nil {
			return err
		}
		return a.IdentityRecords(ctx, stdout, pos[0], acctRef, format)
	}
}

// rateValue is a rate flag: a fraction (0.05) or a percentage (5%).
type rateValue float64

func (r *rateValue) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 64) }

func (r *rateValue) Set(s string) error {
	p, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(p, 64)
	if err != nil {
		return fmt.Errorf("%q is not a rate (0.05 or 5%%)", s)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 {
		return fmt.Errorf("%q must be between 0 and 1 (or 0%% and 100%%)", s)
	}
	*r = rateValue(v)
	return nil
}

func level(s string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(s))
	return l
}

// startCPUProfile starts writing the process's CPU profile to path and
// returns the function that ends it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
