package devdns_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/authdns"
	"github.com/sesame-email/sesame/internal/devdns"
	sesdns "github.com/sesame-email/sesame/internal/dns"
)

// start runs a development DNS on loopback: the service zone
// sesame.test from a real authdns server with one DKIM key (token tok1,
// long enough to need two character strings), and the records of one
// identity, d.example, with the custom MAIL FROM mail.d.example.
func start(t *testing.T) string {
	t.Helper()
	key := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 450)
	auth, err := authdns.New(authdns.Options{Zone: "sesame.test", Region: "us-east-1",
		SPFIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, FeedbackIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		DKIMRecords: func(_ context.Context, token string) ([]string, error) {
			if token == "tok1" {
				return []string{key}, nil
			}
			return nil, authdns.ErrNoSuchKey
		}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := devdns.New(devdns.Options{Zone: "sesame.test", Service: auth, CaptureHost: "capture.localhost",
		CaptureIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Records: func(context.Context) ([]devdns.Record, error) {
			return []devdns.Record{
				{Name: "tok1._domainkey.d.example", Type: "CNAME", Value: "tok1.dkim.sesame.test"},
				{Name: "mail.d.example", Type: "MX", Value: "feedback-smtp.us-east-1.sesame.test", Priority: 10},
				{Name: "mail.d.example", Type: "TXT", Value: "v=spf1 include:sesame.test ~all"},
				{Name: "_dmarc.d.example", Type: "TXT", Value: "v=DMARC1; p=none; adkim=r; aspf=r"},
			}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		done <- nil // the cleanup's receive must not wait for ever
		t.Fatal(err)
	}
	return ""
}

func TestAnswers(t *testing.T) {
	addr := start(t)
	r := &sesdns.Client{Servers: []string{addr}}
	ctx := context.Background()

	// The DKIM selector: the CNAME followed into the service zone, over
	// UDP with a TCP retry for the long key.
	txt, err := r.LookupTXT(ctx, "tok1._domainkey.d.example")
	if err != nil || len(txt) != 1 || !strings.HasPrefix(txt[0], "v=DKIM1; k=rsa; p=AAAA") || len(txt[0]) != 18+450 {
		t.Fatalf("DKIM key through the CNAME: %q, %v", txt, err)
	}
	if c, err := r.LookupCNAME(ctx, "tok1._domainkey.d.example"); err != nil || c != "tok1.dkim.sesame.test." {
		t.Errorf("CNAME: %q, %v", c, err)
	}
	// The MAIL FROM domain keeps its MX; every other domain gets the
	// capture host, which is loopback.
	if mx, err := r.LookupMX(ctx, "mail.d.example"); err != nil || len(mx) != 1 || mx[0].Host != "feedback-smtp.us-east-1.sesame.test." {
		t.Errorf("MAIL FROM MX: %v, %v", mx, err)
	}
	if mx, err := r.LookupMX(ctx, "Rcpt.Example"); err != nil || len(mx) != 1 || mx[0].Host != "capture.localhost." || mx[0].Pref != 10 {
		t.Errorf("recipient MX: %v, %v", mx, err)
	}
	if ips, err := r.LookupIP(ctx, "capture.localhost"); err != nil || len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Errorf("capture host: %v, %v", ips, err)
	}
	// The service zone is authdns's: its SPF, the feedback host.
	if txt, err := r.LookupTXT(ctx, "sesame.test"); err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:127.0.0.1 ~all" {
		t.Errorf("service SPF: %q, %v", txt, err)
	}
	if ips, err := r.LookupIP(ctx, "feedback-smtp.us-east-1.sesame.test"); err != nil || len(ips) != 1 {
		t.Errorf("feedback host: %v, %v", ips, err)
	}
	if _, err := r.LookupTXT(ctx, "nokey.dkim.sesame.test"); !sesdns.IsNotFound(err) {
		t.Errorf("unknown DKIM token: %v", err)
	}
	// Nothing is published for a name without a record.
	for _, name := range []string{"_dmarc.other.example", "d.example", "tok2._domainkey.d.example"} {
		if txt, err := r.LookupTXT(ctx, name); !sesdns.IsNotFound(err) {
			t.Errorf("TXT %s: %q, %v; want none", name, txt, err)
		}
	}
	if txt, err := r.LookupTXT(ctx, "_dmarc.d.example"); err != nil || len(txt) != 1 || txt[0] != "v=DMARC1; p=none; adkim=r; aspf=r" {
		t.Errorf("DMARC: %q, %v", txt, err)
	}

	// Over plain UDP without EDNS the long answer is truncated (TC), as a
	// resolver's would be.
	m := new(dns.Msg)
	m.SetQuestion("tok1._domainkey.d.example.", dns.TypeTXT)
	in, _, err := (&dns.Client{UDPSize: 512}).Exchange(m, addr)
	if err != nil || !in.Truncated || !in.RecursionAvailable {
		t.Errorf("UDP answer: truncated %v, RA %v, %v", in != nil && in.Truncated, in != nil && in.RecursionAvailable, err)
	}
}
