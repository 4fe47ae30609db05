package capture_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/testkit"
)

// zone is a real DNS server on loopback with ex.example's records: a DKIM
// key (selector s1), an SPF record authorising 127.0.0.1 for the MAIL FROM
// domain mail.ex.example, and a DMARC policy given per test.
type zone struct {
	dns *dnstest.Server
	key *dkim.Key
	v   *capture.Verifier
}

func newZone(t *testing.T, dmarcRecord string) *zone {
	t.Helper()
	z := &zone{dns: dnstest.NewServer(t)}
	var err error
	if z.key, err = testkit.FastKeys(dkim.RSA, 2048); err != nil {
		t.Fatal(err)
	}
	rec, err := z.key.Record()
	if err != nil {
		t.Fatal(err)
	}
	z.dns.Add(`s1._domainkey.ex.example. 300 IN TXT "` + strings.Join(dkim.SplitTXT(rec), `" "`) + `"`)
	z.dns.Add(`mail.ex.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`)
	z.dns.Add(`ex.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`)
	if dmarcRecord != "" {
		z.dns.Add(`_dmarc.ex.example. 300 IN TXT "` + dmarcRecord + `"`)
	}
	addr := z.dns.Addr()
	z.v = &capture.Verifier{Resolver: z.dns.Resolver(), SPF: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}}
	return z
}

// signed is a message From from, DKIM-signed by ex.example.
func (z *zone) signed(t *testing.T, from string) []byte {
	t.Helper()
	msg := []byte("From: " + from + "\r\nTo: r@rcpt.example\r\nSubject: hi\r\nMessage-ID: <m1@ex.example>\r\n\r\nHello, world.\r\n")
	out, err := dkim.Sign(msg, []dkim.Signer{{Domain: "ex.example", Selector: "s1", Key: z.key}}, dkim.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var local = net.ParseIP("127.0.0.1")

func TestVerifyPass(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=reject")
	v := z.v.Verify(context.Background(), local, "mta.ex.example", "0100-id@mail.ex.example", z.signed(t, "a@ex.example"))
	if v.String() != "dkim=pass spf=pass dmarc=pass" || !v.DKIMAligned || !v.SPFAligned || v.SPFDomain != "mail.ex.example" || v.FromDomain != "ex.example" {
		t.Errorf("verdicts %+v", v)
	}
	if v.Policy != "p=reject adkim=r aspf=r" || v.PolicyDomain != "ex.example" {
		t.Errorf("policy %q at %q", v.Policy, v.PolicyDomain)
	}
}

func TestVerifyTamperedBodyFailsDKIM(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=none")
	msg := bytes.Replace(z.signed(t, "a@ex.example"), []byte("Hello, world."), []byte("Hello, w0rld."), 1)
	v := z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", msg)
	if v.DKIM != capture.Fail || v.DKIMAligned || len(v.DKIMDomains) != 0 {
		t.Errorf("tampered body: %+v", v)
	}
	// SPF still passes and aligns (relaxed): DMARC passes on SPF alone.
	if v.SPF != capture.Pass || v.DMARC != capture.Pass || !v.SPFAligned {
		t.Errorf("tampered body, SPF side: %+v", v)
	}
}

func TestVerifyWrongIPFailsSPF(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=none")
	v := z.v.Verify(context.Background(), net.ParseIP("192.0.2.7"), "mta.ex.example", "b@mail.ex.example", z.signed(t, "a@ex.example"))
	if v.SPF != capture.Fail || v.SPFAligned {
		t.Errorf("wrong IP: %+v", v)
	}
	if v.DKIM != capture.Pass || v.DMARC != capture.Pass {
		t.Errorf("wrong IP, DKIM side: %+v", v)
	}
}

func TestVerifyUnalignedFailsDMARC(t *testing.T) {
	z := newZone(t, "")
	z.dns.Add(`_dmarc.other.example. 300 IN TXT "v=DMARC1; p=reject"`)
	// Signed by ex.example, MAIL FROM in ex.example, From other.example:
	// both pass, neither aligns.
	v := z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", z.signed(t, "a@other.example"))
	if v.DKIM != capture.Pass || v.SPF != capture.Pass || v.DMARC != capture.Fail || v.DKIMAligned || v.SPFAligned {
		t.Errorf("unaligned: %+v", v)
	}
	if len(v.Notes) == 0 || !strings.Contains(strings.Join(v.Notes, "\n"), "not aligned with other.example") {
		t.Errorf("notes %q", v.Notes)
	}
}

func TestVerifyStrictSPFWithMailFromSubdomain(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=quarantine; aspf=s")
	// Unsigned: SPF passes for mail.ex.example, which aspf=s never aligns
	// with ex.example.
	msg := []byte("From: a@ex.example\r\nSubject: hi\r\n\r\nHello.\r\n")
	v := z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", msg)
	if v.SPF != capture.Pass || v.SPFAligned || v.DKIM != capture.None || v.DMARC != capture.Fail {
		t.Errorf("aspf=s, unsigned: %+v", v)
	}
	// Signed by ex.example: DKIM aligns, DMARC passes.
	v = z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", z.signed(t, "a@ex.example"))
	if v.DMARC != capture.Pass || !v.DKIMAligned || v.SPFAligned {
		t.Errorf("aspf=s, signed: %+v", v)
	}
	// MAIL FROM in the From domain itself aligns strictly.
	v = z.v.Verify(context.Background(), local, "mta.ex.example", "b@ex.example", msg)
	if v.DMARC != capture.Pass || !v.SPFAligned {
		t.Errorf("aspf=s, MAIL FROM ex.example: %+v", v)
	}
}

func TestVerifyPolicyOfOrganisationalDomain(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=none; sp=reject")
	msg := []byte("From: a@news.ex.example\r\nSubject: hi\r\n\r\nHello.\r\n")
	v := z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", msg)
	if v.PolicyDomain != "ex.example" || !strings.HasPrefix(v.Policy, "p=reject") || v.DMARC != capture.Pass || !v.SPFAligned {
		t.Errorf("subdomain From: %+v", v)
	}
	// No From header: permerror; no policy anywhere: none.
	if v := z.v.Verify(context.Background(), local, "h.example", "", []byte("Subject: x\r\n\r\nx\r\n")); v.DMARC != capture.PermError {
		t.Errorf("no From: %+v", v)
	}
	if v := z.v.Verify(context.Background(), local, "h.example", "x@nowhere.example", []byte("From: x@nowhere.example\r\n\r\nx\r\n")); v.DMARC != capture.None || v.SPF != capture.None {
		t.Errorf("no policy: %+v", v)
	}
}

// TestVerifyUnusablePolicy: a broken record is permerror (RFC 8601
// §2.7.1) and several records are none (RFC 7489 §6.6.3): neither applies
// a policy, and neither is a lookup failure.
func TestVerifyUnusablePolicy(t *testing.T) {
	z := newZone(t, "v=DMARC1; p=block")
	z.dns.Add(`_dmarc.twice.ex.example. 300 IN TXT "v=DMARC1; p=reject"`)
	z.dns.Add(`_dmarc.twice.ex.example. 300 IN TXT "v=DMARC1; p=none"`)
	v := z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", z.signed(t, "a@ex.example"))
	if v.DMARC != capture.PermError || v.Policy != "" || v.PolicyDomain != "ex.example" || !strings.Contains(strings.Join(v.Notes, "\n"), "invalid policy for parameter 'p'") {
		t.Errorf("broken record: %+v", v)
	}
	// The broken record at the organisational domain is inherited.
	v = z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", []byte("From: a@news.ex.example\r\n\r\nx\r\n"))
	if v.DMARC != capture.PermError || v.PolicyDomain != "ex.example" {
		t.Errorf("inherited broken record: %+v", v)
	}
	v = z.v.Verify(context.Background(), local, "mta.ex.example", "b@mail.ex.example", []byte("From: a@twice.ex.example\r\n\r\nx\r\n"))
	if v.DMARC != capture.None || v.Policy != "" || !strings.Contains(strings.Join(v.Notes, "\n"), "more than one DMARC record") {
		t.Errorf("two records: %+v", v)
	}
}
