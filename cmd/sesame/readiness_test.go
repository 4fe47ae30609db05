package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/app"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/identity"
)

// TestDomainReadiness runs `sesame domain readiness` through its entry
// point against a domain verified by the real checker in a loopback zone.
func TestDomainReadiness(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, n := range []string{"acme", "other"} {
		if out, err := sesame(t, dir, "account", "create", "--name", n); err != nil {
			t.Fatalf("account create: %v\n%s", err, out)
		}
	}
	srv := dnstest.NewServer(t)
	a, err := app.Open(ctx, config.Config{DataDir: dir, Region: "us-east-1", ServiceDomain: "sesame.example.net", APIAddr: ":8080"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	acct, err := a.Accounts.Find(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	i, err := a.Identities.Create(ctx, acct.ID, "shop.test", identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: identity.RSA1024}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range i.DKIM.Tokens {
		srv.Add(fmt.Sprintf("%s._domainkey.shop.test. 300 IN CNAME %s.dkim.sesame.example.net.", tok, tok))
	}
	srv.Add(`_dmarc.shop.test. 300 IN TXT "v=DMARC1; p=reject; aspf=s"`)
	checker, err := dnscheck.New(dnscheck.Options{Store: a.Identities, Resolver: srv.Resolver()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checker.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	a.Close()

	// Text, flags before the domain.
	out, err := sesame(t, dir, "domain", "readiness", "--resolver", srv.Addr(), "shop.test")
	if err != nil {
		t.Fatalf("domain readiness: %v\n%s", err, out)
	}
	for _, s := range []string{"Bulk-sender readiness of shop.test", ": READY", "[PASS] DKIM aligned", "[WARN] SPF aligned",
		"[PASS] DMARC record published", "[UNKNOWN] Complaint rate", "Not enough mail to judge", "DMARC passes via DKIM"} {
		if !strings.Contains(out, s) {
			t.Errorf("text report lacks %q:\n%s", s, out)
		}
	}
	// JSON, flags after.
	out, err = sesame(t, dir, "domain", "readiness", "shop.test", "--account", "acme", "--json", "--resolver", srv.Addr())
	if err != nil {
		t.Fatalf("domain readiness --json: %v\n%s", err, out)
	}
	var r struct {
		Domain string `json:"domain"`
		Ready  bool   `json:"ready"`
		Result struct {
			Result string   `json:"result"`
			Via    []string `json:"via"`
		} `json:"result"`
		Checks []struct{ Name, Status string }
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&r); err != nil { // the log follows on stderr
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Domain != "shop.test" || !r.Ready || r.Result.Result != "pass" || fmt.Sprint(r.Result.Via) != "[dkim]" || len(r.Checks) != 6 || r.Checks[1].Status != "warn" {
		t.Fatalf("JSON report: %+v\n%s", r, out)
	}
	// Another account does not see the domain; bad arguments are refused.
	for _, bad := range [][]string{
		{"domain", "readiness", "shop.test", "--account", "other", "--resolver", srv.Addr()},
		{"domain", "readiness", "unknown.test", "--resolver", srv.Addr()},
		{"domain", "readiness", "--resolver", srv.Addr()},
		{"domain", "readiness", "not a domain", "--account", "acme", "--resolver", srv.Addr()},
		{"domain"},
	} {
		if out, err := sesame(t, dir, bad...); err == nil {
			t.Errorf("sesame %v succeeded:\n%s", bad, out)
		}
	}
}
