package dnscheck_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/testkit"
)

// BenchmarkCheckerRound measures one checker round over 10,000 domain
// identities (Easy DKIM, verified, with a custom MAIL FROM domain in
// Success) against the in-process DNS server: 6 lookups and one recorded
// result per identity. Run it with
//
//	go test -run '^$' -bench CheckerRound -benchtime 3x ./internal/dnscheck/
//
// (with SESAME_TEST_DATABASE_URL set for the PostgreSQL variant).
func BenchmarkCheckerRound(b *testing.B) {
	const n = 10000
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		box, _ := seal.New("k")
		clock := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		ids, err := identity.New(identity.Options{DB: d, Seal: box, Region: region, ServiceDomain: svc, Now: clock.Now, GenerateKey: testkit.FastKeys})
		if err != nil {
			b.Fatal(err)
		}
		a, _, err := account.New(d, box, clock.Now).Create(ctx, account.CreateOptions{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		srv := dnstest.NewServer(b)
		for k := range n {
			name := fmt.Sprintf("d%05d.example.test", k)
			i, err := ids.Create(ctx, a.ID, name, identity.CreateOptions{DKIM: identity.DKIMSetup{Origin: identity.OriginEasy}})
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range i.DKIM.Tokens {
				srv.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", t, name, t, svc))
			}
			srv.Add(fmt.Sprintf("bounce.%s. 300 IN MX 10 %s.", name, feedback))
			srv.Add(fmt.Sprintf(`bounce.%s. 300 IN TXT "v=spf1 include:%s ~all"`, name, svc))
		}
		res := srv.Resolver()
		res.Timeout = 2 * time.Second
		c, err := dnscheck.New(dnscheck.Options{Store: ids, Resolver: res, Now: clock.Now, Interval: time.Minute, Window: window, Concurrency: 32})
		if err != nil {
			b.Fatal(err)
		}
		if got, err := c.RunOnce(ctx); err != nil || got != n {
			b.Fatalf("verifying round: %d, %v", got, err)
		}
		if _, err := d.Exec(ctx, `UPDATE identities SET mail_from_domain = 'bounce.' || name, mail_from_status = 'Success', mail_from_since = ?`, db.Millis(clock.Now())); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		checked := 0
		for b.Loop() {
			b.StopTimer()
			clock.Advance(time.Minute)
			b.StartTimer()
			got, err := c.RunOnce(ctx)
			if err != nil || got != n {
				b.Fatalf("round: %d, %v", got, err)
			}
			checked += got
		}
		b.ReportMetric(float64(checked)/b.Elapsed().Seconds(), "identities/s")
		i, _ := ids.Get(ctx, a.ID, "d00042.example.test")
		if i.MailFrom.Status != identity.Success || i.DKIM.Status != identity.Success {
			b.Fatalf("after the rounds: %s / %s", i.MailFrom.Status, i.DKIM.Status)
		}
	})
}
