package origin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/origin"
)

// zone is a loopback DNS server playing the recipients' and providers'
// zones, and the checker that asks it.
type zone struct {
	t    testing.TB
	s    *dnstest.Server
	c    *origin.Checker
	keys int // DKIM keys published, for distinct selectors
}

func newZone(t testing.TB) *zone {
	t.Helper()
	s := dnstest.NewServer(t)
	return &zone{t: t, s: s, c: &origin.Checker{Resolver: s.Resolver(), Own: []string{"sesame.test"}}}
}

// add adds zone-file lines.
func (z *zone) add(rrs ...string) {
	z.t.Helper()
	for _, rr := range rrs {
		z.s.Add(rr)
	}
}

// host publishes name's A record and the matching PTR record.
func (z *zone) host(name, ip string) {
	z.t.Helper()
	rev, err := mdns.ReverseAddr(ip)
	if err != nil {
		z.t.Fatal(err)
	}
	z.add(fmt.Sprintf("%s. 300 IN A %s", name, ip), fmt.Sprintf("%s 300 IN PTR %s.", rev, name))
}

// key makes an Ed25519 DKIM key and publishes it at selector._domainkey.domain.
func (z *zone) key(domain, selector string) ed25519.PrivateKey {
	z.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		z.t.Fatal(err)
	}
	z.add(fmt.Sprintf(`%s._domainkey.%s. 300 IN TXT "v=DKIM1; k=ed25519; p=%s"`, selector, domain, base64.StdEncoding.EncodeToString(pub)))
	return priv
}

// report is a DSN as a mail system would send it.
func report(from string) string {
	return "From: Mail Delivery System <" + from + ">\r\n" +
		"To: 0100abc@bounce.sender.example\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\n" +
		"Message-ID: <dsn.1@mx.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n" +
		"\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n" +
		"Final-Recipient: rfc822; bob@recipient.example\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
		"--b--\r\n"
}

// sign returns msg signed with key for domain and selector.
func sign(t testing.TB, msg, domain, selector string, key ed25519.PrivateKey) string {
	t.Helper()
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: key}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// signed publishes a key for domain and returns the DKIM results of a
// report From mailer-daemon@domain signed with it, as the feedback MX would
// get them.
func (z *zone) signed(domain string) []origin.DKIMResult {
	z.t.Helper()
	return z.signedFrom("mailer-daemon@"+domain, domain).DKIM
}

// signedFrom publishes a key for domain and returns the evidence the
// feedback MX would hold for a report From from signed with it, received
// from 127.0.0.1.
func (z *zone) signedFrom(from, domain string) origin.Evidence {
	z.t.Helper()
	z.keys++
	sel := fmt.Sprintf("s%d", z.keys)
	msg := sign(z.t, report(from), domain, sel, z.key(domain, sel))
	return origin.Evidence{RemoteIP: ip("127.0.0.1"), DKIM: z.verify(msg), HeaderFrom: []string{from}}
}

func (z *zone) verify(msg string) []origin.DKIMResult {
	z.t.Helper()
	res, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, strings.NewReader(msg))
	if err != nil {
		z.t.Fatal(err)
	}
	return res
}

func (z *zone) check(ev origin.Evidence, domain string) origin.Verdict {
	z.t.Helper()
	return z.c.Check(context.Background(), ev, domain)
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func wantOK(t *testing.T, v origin.Verdict, how string) {
	t.Helper()
	if !v.OK {
		t.Fatalf("verdict not OK: %+v", v)
	}
	if v.How != how {
		t.Fatalf("How = %q, want %q", v.How, how)
	}
	if v.Reason != "" || v.Temporary {
		t.Fatalf("OK verdict with Reason/Temporary: %+v", v)
	}
}

func wantFail(t *testing.T, v origin.Verdict, temporary bool, reasons ...string) {
	t.Helper()
	if v.OK {
		t.Fatalf("forged report accepted: %+v", v)
	}
	if v.Temporary != temporary {
		t.Fatalf("Temporary = %v, want %v: %+v", v.Temporary, temporary, v)
	}
	if v.How != "" {
		t.Fatalf("failed verdict with How: %+v", v)
	}
	for _, r := range reasons {
		if !strings.Contains(v.Reason, r) {
			t.Errorf("Reason %q does not mention %q", v.Reason, r)
		}
	}
}

// The shapes that must pass.

func TestSelfHostedMTAIsMXHost(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.recipient.example.", "recipient.example. 300 IN MX 20 mx2.recipient.example.")
	z.host("mx.recipient.example", "192.0.2.10")
	z.host("mx2.recipient.example", "192.0.2.11")
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.11"), HELO: "mx2.recipient.example"}, "Recipient.Example.")
	wantOK(t, v, "client 192.0.2.11 is an MX host of recipient.example (mx2.recipient.example)")

	// IPv4-mapped client addresses are the same client.
	v = z.check(origin.Evidence{RemoteIP: ip("::ffff:192.0.2.10")}, "recipient.example")
	wantOK(t, v, "client 192.0.2.10 is an MX host of recipient.example (mx.recipient.example)")
}

func TestImplicitMX(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN A 192.0.2.20", "recipient.example. 300 IN AAAA 2001:db8::20")
	v := z.check(origin.Evidence{RemoteIP: ip("2001:db8::20")}, "recipient.example")
	wantOK(t, v, "client 2001:db8::20 is an MX host of recipient.example (recipient.example)")
}

func TestSPF(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.hoster.test.",
		`recipient.example. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 include:_spf.relay.test -all"`,
		`_spf.relay.test. 300 IN TXT "v=spf1 ip4:203.0.113.5 ip6:2001:db8:5::/48 -all"`)
	z.host("mx.hoster.test", "192.0.2.99")
	for _, c := range []string{"198.51.100.7", "203.0.113.5", "2001:db8:5::1"} {
		t.Run(c, func(t *testing.T) {
			v := z.check(origin.Evidence{RemoteIP: ip(c), HELO: "out.relay.test"}, "recipient.example")
			wantOK(t, v, "spf pass for recipient.example")
		})
	}
}

func TestSPFForHELOOnRecipientSide(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.recipient.example.",
		`out.recipient.example. 300 IN TXT "v=spf1 ip4:198.51.100.8 -all"`)
	z.host("mx.recipient.example", "192.0.2.10")
	v := z.check(origin.Evidence{RemoteIP: ip("198.51.100.8"), HELO: "out.recipient.example"}, "recipient.example")
	wantOK(t, v, "spf pass for helo out.recipient.example: the recipient's domain")

	// The same SPF pass for a HELO name off the recipient's side counts
	// for nothing.
	z.add(`out.elsewhere.test. 300 IN TXT "v=spf1 ip4:198.51.100.9 -all"`)
	v = z.check(origin.Evidence{RemoteIP: ip("198.51.100.9"), HELO: "out.elsewhere.test"}, "recipient.example")
	wantFail(t, v, false, "helo out.elsewhere.test is not on recipient.example's side")
}

func TestSPFForSenderOnProviderSide(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.filter.example.",
		`filter.example. 300 IN TXT "v=spf1 ip4:198.51.100.30 -all"`,
		`fbl.filter.example. 300 IN TXT "v=spf1 ip4:198.51.100.31 -all"`)
	z.host("mx.filter.example", "192.0.2.30")
	ev := origin.Evidence{RemoteIP: ip("198.51.100.30"), HELO: "[198.51.100.30]", MailFrom: "ARF+123@filter.example", Complaint: true}
	v := z.check(ev, "recipient.example")
	wantOK(t, v, "spf pass for envelope sender filter.example: mailbox provider of recipient.example (MX mx.filter.example)")

	// A subdomain of the provider's domain may be one of its customers'
	// (whose SPF record the customer writes): only the provider's domain
	// itself counts.
	ev = origin.Evidence{RemoteIP: ip("198.51.100.31"), HELO: "[198.51.100.31]", MailFrom: "arf@fbl.filter.example", Complaint: true}
	v = z.check(ev, "recipient.example")
	wantFail(t, v, false, "envelope sender <arf@fbl.filter.example> is not on recipient.example's side")
}

// gmailLike sets up recipient.example on a Gmail-like provider google.test.
func gmailLike(t *testing.T) *zone {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 1 aspmx.l.google.test.", "recipient.example. 300 IN MX 5 alt1.aspmx.l.google.test.",
		`recipient.example. 300 IN TXT "v=spf1 include:_spf.google.test ~all"`,
		`_spf.google.test. 300 IN TXT "v=spf1 ip4:209.85.128.0/17 ~all"`)
	z.host("aspmx.l.google.test", "192.0.2.26")
	z.host("alt1.aspmx.l.google.test", "192.0.2.27")
	return z
}

func TestGmailLikeReverseDNS(t *testing.T) {
	z := gmailLike(t)
	z.host("mail-sor-f41.google.test", "192.0.2.41")
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.41"), HELO: "mail-sor-f41.google.test"}, "recipient.example")
	wantOK(t, v, "client 192.0.2.41 is mail-sor-f41.google.test (forward-confirmed): mailbox provider of recipient.example (MX aspmx.l.google.test)")
}

func TestGmailLikeSPFThroughInclude(t *testing.T) {
	z := gmailLike(t)
	v := z.check(origin.Evidence{RemoteIP: ip("209.85.220.41")}, "recipient.example")
	wantOK(t, v, "spf pass for recipient.example")
}

func TestGmailLikeDKIM(t *testing.T) {
	z := gmailLike(t)
	v := z.check(z.signedFrom("mailer-daemon@google.test", "google.test"), "recipient.example")
	wantOK(t, v, "dkim d=google.test: mailbox provider of recipient.example (MX aspmx.l.google.test)")

	// With the provider's signing alias.
	z.c.Aliases = map[string][]string{"google.test": {"googlemail.test"}}
	v = z.check(z.signedFrom("mailer-daemon@googlemail.test", "googlemail.test"), "recipient.example")
	wantOK(t, v, "dkim d=googlemail.test: signing domain of google.test, mailbox provider of recipient.example (MX aspmx.l.google.test)")
}

func TestMicrosoftLike(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 0 recipient-example.mail.protection.outlook.test.",
		`recipient.example. 300 IN TXT "v=spf1 include:spf.protection.outlook.test -all"`,
		`spf.protection.outlook.test. 300 IN TXT "v=spf1 ip4:40.92.0.0/15 -all"`)
	z.host("recipient-example.mail.protection.outlook.test", "192.0.2.50")
	z.host("mail-db5eur03on2101.outbound.protection.outlook.test", "192.0.2.51")

	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.51")}, "recipient.example")
	wantOK(t, v, "client 192.0.2.51 is mail-db5eur03on2101.outbound.protection.outlook.test (forward-confirmed): mailbox provider of recipient.example (MX recipient-example.mail.protection.outlook.test)")

	v = z.check(origin.Evidence{RemoteIP: ip("40.93.1.2")}, "recipient.example")
	wantOK(t, v, "spf pass for recipient.example")

	// The provider's own NDR, From its postmaster and signed by it.
	v = z.check(z.signedFrom("postmaster@outlook.test", "outlook.test"), "recipient.example")
	wantOK(t, v, "dkim d=outlook.test: mailbox provider of recipient.example (MX recipient-example.mail.protection.outlook.test)")

	// A tenant domain of the provider's is anybody's: not accepted.
	v = z.check(z.signedFrom("postmaster@attacker.onmicrosoft.test", "attacker.onmicrosoft.test"), "recipient.example")
	wantFail(t, v, false, "dkim d=attacker.onmicrosoft.test: neither the recipient's domain nor exactly its mailbox provider's domain")
}

func TestYahooLike(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 1 mta5.am0.yahoodns.test.")
	z.host("mta5.am0.yahoodns.test", "192.0.2.60")
	ev := z.signedFrom("MAILER-DAEMON@yahoo.test", "yahoo.test")

	// Without the alias, yahoo.test is unrelated to yahoodns.test.
	v := z.check(ev, "recipient.example")
	wantFail(t, v, false, "dkim d=yahoo.test: neither the recipient's domain nor exactly its mailbox provider's domain")

	z.c.Aliases = map[string][]string{"yahoodns.test": {"yahoo.test"}}
	v = z.check(ev, "recipient.example")
	wantOK(t, v, "dkim d=yahoo.test: signing domain of yahoodns.test, mailbox provider of recipient.example (MX mta5.am0.yahoodns.test)")

	// Yahoo's users sign d=yahoo.test too: a report From one of them
	// counts for nothing.
	v = z.check(z.signedFrom("eve@yahoo.test", "yahoo.test"), "recipient.example")
	wantFail(t, v, false, "the report's From eve@yahoo.test is not a role address")

	// Nor does a subdomain of the alias sign for the provider.
	v = z.check(z.signedFrom("mailer-daemon@groups.yahoo.test", "groups.yahoo.test"), "recipient.example")
	wantFail(t, v, false, "dkim d=groups.yahoo.test: neither")

	// Yahoo's complaint feedback loop serves every domain whose MX is
	// Yahoo's (AOL's among them) from feedback@arf.mail.yahoo.com, signed
	// d=yahoo.com: its exact name is an alias too.
	cfl := z.signedFrom("feedback@arf.mail.yahoo.test", "yahoo.test")
	cfl.Complaint = true
	v = z.check(cfl, "recipient.example")
	wantFail(t, v, false, "the report's From domain arf.mail.yahoo.test is not on recipient.example's side")
	z.c.Aliases = map[string][]string{"yahoodns.test": {"yahoo.test", "arf.mail.yahoo.test"}}
	v = z.check(cfl, "recipient.example")
	wantOK(t, v, "dkim d=yahoo.test: signing domain of yahoodns.test, mailbox provider of recipient.example (MX mta5.am0.yahoodns.test)")
	// A bounce is held to MAILER-DAEMON and postmaster.
	cfl.Complaint = false
	v = z.check(cfl, "recipient.example")
	wantFail(t, v, false, "the report's From feedback@arf.mail.yahoo.test is not a bounce's (MAILER-DAEMON or postmaster)")
}

func TestHostedFilter(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx0a-0042.filter.example.", "recipient.example. 300 IN MX 10 mx0b-0042.filter.example.")
	z.host("mx0a-0042.filter.example", "192.0.2.70")
	z.host("mx0b-0042.filter.example", "192.0.2.71")
	ev := z.signedFrom("postmaster@filter.example", "filter.example")
	ev.RemoteIP = ip("198.51.100.70")
	v := z.check(ev, "recipient.example")
	wantOK(t, v, "dkim d=filter.example: mailbox provider of recipient.example (MX mx0a-0042.filter.example)")
}

func TestDKIMRecipientDomain(t *testing.T) {
	z := newZone(t)
	z.add("sub.recipient.example. 300 IN MX 10 mx.hoster.test.")
	z.host("mx.hoster.test", "192.0.2.80")
	for _, d := range []string{"sub.recipient.example", "recipient.example", "mail.sub.recipient.example"} {
		v := z.check(z.signedFrom("mailer-daemon@"+d, d), "sub.recipient.example")
		wantOK(t, v, "dkim d="+d+": the recipient's domain")
	}
	// Relaxed alignment: From a host of the recipient's, signed by its
	// parent organisation.
	v := z.check(z.signedFrom("Postmaster@mx1.sub.recipient.example", "recipient.example"), "sub.recipient.example")
	wantOK(t, v, "dkim d=recipient.example: the recipient's domain")

	// A sibling under the same parent is not the recipient's, neither as
	// d= nor as the From domain.
	v = z.check(z.signedFrom("mailer-daemon@other.recipient.example", "other.recipient.example"), "sub.recipient.example")
	wantFail(t, v, false, "dkim d=other.recipient.example: neither")
	v = z.check(z.signedFrom("mailer-daemon@other.recipient.example", "recipient.example"), "sub.recipient.example")
	wantFail(t, v, false, "dkim d=recipient.example not considered: the report's From domain other.recipient.example is not on sub.recipient.example's side")
}
