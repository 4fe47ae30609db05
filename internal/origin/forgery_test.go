package origin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/origin"
)

// selfHosted sets up recipient.example with its own MX host and an SPF
// record that ends in ~all.
func selfHosted(t *testing.T) *zone {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.recipient.example.",
		`recipient.example. 300 IN TXT "v=spf1 mx ~all"`)
	z.host("mx.recipient.example", "192.0.2.10")
	return z
}

func TestForgedFromLoopbackWithNothingElse(t *testing.T) {
	z := selfHosted(t)
	v := z.check(origin.Evidence{RemoteIP: ip("127.0.0.1"), HELO: "localhost"}, "recipient.example")
	wantFail(t, v, false,
		"no evidence that the report comes from recipient.example's side",
		"no DKIM signature",
		"client 127.0.0.1 is not an MX host of recipient.example (mx.recipient.example)",
		"client 127.0.0.1 has no reverse DNS name",
		"spf for recipient.example: softfail",
		"helo localhost is not on recipient.example's side")
}

func TestForgedPTRNotForwardConfirmed(t *testing.T) {
	z := gmailLike(t)
	// The attacker controls the reverse zone of his address, not the
	// provider's forward zone.
	z.add("66.2.0.192.in-addr.arpa. 300 IN PTR mail-x.google.test.")
	z.host("mail-x.google.test", "192.0.2.67")
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.66")}, "recipient.example")
	wantFail(t, v, false, "client 192.0.2.66 claims to be mail-x.google.test but mail-x.google.test does not resolve to it")

	// Nor does a PTR name with no address at all.
	z.add("68.2.0.192.in-addr.arpa. 300 IN PTR nowhere.google.test.")
	v = z.check(origin.Evidence{RemoteIP: ip("192.0.2.68")}, "recipient.example")
	wantFail(t, v, false, "client 192.0.2.68 claims to be nowhere.google.test")
}

func TestForgedPTROffTheRecipientSide(t *testing.T) {
	z := gmailLike(t)
	z.host("mail.attacker.test", "192.0.2.69")
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.69")}, "recipient.example")
	wantFail(t, v, false, "client 192.0.2.69 is mail.attacker.test, neither under recipient.example nor under a mailbox provider's domain")
}

func TestForgedDKIMOfUnrelatedDomain(t *testing.T) {
	z := gmailLike(t)
	v := z.check(origin.Evidence{RemoteIP: ip("127.0.0.1"), DKIM: z.signed("attacker.test")}, "recipient.example")
	wantFail(t, v, false, "dkim d=attacker.test: neither the recipient's domain nor exactly its mailbox provider's domain")
}

func TestForgedDKIMBodyChanged(t *testing.T) {
	z := gmailLike(t)
	msg := sign(t, report("mailer-daemon@google.test"), "google.test", "s1", z.key("google.test", "s1"))
	msg = strings.Replace(msg, "bob@recipient.example", "eve@recipient.example", 1)
	dk := z.verify(msg)
	if len(dk) != 1 || dk[0].Pass || dk[0].Domain != "google.test" || !strings.Contains(dk[0].Err, "body hash") {
		t.Fatalf("VerifyDKIM = %+v, want one failed signature of google.test", dk)
	}
	v := z.check(origin.Evidence{RemoteIP: ip("127.0.0.1"), DKIM: dk, HeaderFrom: []string{"mailer-daemon@google.test"}}, "recipient.example")
	wantFail(t, v, false, "dkim d=google.test (mailbox provider of recipient.example (MX aspmx.l.google.test)) did not verify: dkim: body hash did not verify")
}

func TestForgedDKIMReplayOfTheOriginal(t *testing.T) {
	// Sender and recipient share a domain: the original, signed by the
	// sender's domain, verifies for the recipient's domain too.
	z := selfHosted(t)
	ev := z.signedFrom("mailer-daemon@recipient.example", "recipient.example")
	ev.SenderDomains = []string{"News.Recipient.Example"}
	v := z.check(ev, "recipient.example")
	wantFail(t, v, false, "dkim d=recipient.example ignored: the original message's sending side")

	// Without the sending side's domain it would pass: the test does test.
	ev.SenderDomains = nil
	wantOK(t, z.check(ev, "recipient.example"), "dkim d=recipient.example: the recipient's domain")
}

func TestForgedSPFSoftfail(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.hoster.test.",
		`recipient.example. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 ~all"`)
	z.host("mx.hoster.test", "192.0.2.80")
	v := z.check(origin.Evidence{RemoteIP: ip("203.0.113.9")}, "recipient.example")
	wantFail(t, v, false, "spf for recipient.example: softfail")

	z.s.Set("recipient.example.", mdns.TypeTXT, `recipient.example. 300 IN TXT "v=spf1 ?all"`)
	v = z.check(origin.Evidence{RemoteIP: ip("203.0.113.9")}, "recipient.example")
	wantFail(t, v, false, "spf for recipient.example: neutral")
}

func TestForgedRelayedThroughTheProvider(t *testing.T) {
	// A user of the recipient's provider writes a complaint and sends it
	// through the provider: right IP, somebody else's envelope sender.
	z := gmailLike(t)
	z.host("mail-sor-f41.google.test", "192.0.2.41")
	ev := origin.Evidence{RemoteIP: ip("192.0.2.41"), HELO: "mail-sor-f41.google.test", MailFrom: "eve@attacker.test", Complaint: true}
	v := z.check(ev, "recipient.example")
	wantFail(t, v, false, "envelope sender <eve@attacker.test> is not a role address of a mail system, so client 192.0.2.41 proves nothing")

	// The provider's own reports come with a role sender of its own (or a
	// null one).
	ev.MailFrom = "fbl@google.test"
	wantOK(t, z.check(ev, "recipient.example"), "client 192.0.2.41 is mail-sor-f41.google.test (forward-confirmed): mailbox provider of recipient.example (MX aspmx.l.google.test)")
}

func TestForgedSiblingUnderSharedParent(t *testing.T) {
	// victim.shared.test has no MX (implicit MX): its parent shared.test
	// (a hoster handing out subdomains) must not become a provider.
	z := newZone(t)
	z.add("victim.shared.test. 300 IN A 192.0.2.90")
	z.host("box.attacker.shared.test", "192.0.2.91")
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.91"), DKIM: z.signed("attacker.shared.test")}, "victim.shared.test")
	wantFail(t, v, false,
		"dkim d=attacker.shared.test: neither",
		"client 192.0.2.91 is box.attacker.shared.test, neither under victim.shared.test")
}

func TestSesamesOwnDomainsNeverCount(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 feedback-smtp.us-east-1.sesame.test.")
	z.host("feedback-smtp.us-east-1.sesame.test", "192.0.2.100")
	z.host("out.sesame.test", "192.0.2.101")
	for _, ev := range []origin.Evidence{
		{RemoteIP: ip("192.0.2.101"), DKIM: z.signed("sesame.test")},
		{RemoteIP: ip("192.0.2.101"), DKIM: z.signed("us-east-1.sesame.test")},
	} {
		v := z.check(ev, "recipient.example")
		wantFail(t, v, false, "client 192.0.2.101 is out.sesame.test, neither")
	}
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.101")}, "us-east-1.sesame.test")
	wantFail(t, v, false, "recipient domain us-east-1.sesame.test is Sesame's own")
}

func TestBadRecipientDomain(t *testing.T) {
	z := newZone(t)
	for _, d := range []string{"", "bad..example", "-x.example", "a b.example", strings.Repeat("a", 64) + ".example"} {
		v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.1")}, d)
		wantFail(t, v, false, "recipient domain")
	}
	if q := z.s.Queries(); q != 0 {
		t.Fatalf("%d queries for invalid recipient domains", q)
	}
}

func TestDNSTimeoutIsTemporary(t *testing.T) {
	z := selfHosted(t)
	z.s.Drop("recipient.example.", true)
	z.c.Timeout = 50 * time.Millisecond
	start := time.Now()
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.10")}, "recipient.example")
	wantFail(t, v, true, "temporary DNS failure", "MX of recipient.example")
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("Check took %v with a 50ms timeout", d)
	}
}

func TestSERVFAILIsTemporary(t *testing.T) {
	z := selfHosted(t)
	z.s.Fail("mx.recipient.example.", mdns.RcodeServerFailure)
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.10")}, "recipient.example")
	wantFail(t, v, true, "temporary DNS failure", "addresses of MX host mx.recipient.example", "SERVFAIL")

	// A failed lookup that could not have changed the verdict is not
	// temporary: off-side DKIM needs no lookup.
	z.s.Unfail("mx.recipient.example.")
	z.s.Fail("s1._domainkey.attacker.test.", mdns.RcodeServerFailure)
	dk := z.verify(sign(t, report("x@attacker.test"), "attacker.test", "s1", z.key("attacker.test", "s1")))
	if len(dk) != 1 || !dk[0].Temporary {
		t.Fatalf("VerifyDKIM = %+v, want a temporary failure", dk)
	}
	v = z.check(origin.Evidence{RemoteIP: ip("127.0.0.1"), DKIM: dk}, "recipient.example")
	wantFail(t, v, false)

	// But a key that could not be fetched for the recipient's domain is.
	z.s.Fail("s1._domainkey.recipient.example.", mdns.RcodeServerFailure)
	v = z.check(z.signedFrom("mailer-daemon@recipient.example", "recipient.example"), "recipient.example")
	wantFail(t, v, true, "dkim d=recipient.example (the recipient's domain) did not verify: dkim: key unavailable")
}

func TestLookupBudget(t *testing.T) {
	z := newZone(t)
	// A chain of includes that passes at its end, and ten MX hosts.
	z.add(`recipient.example. 300 IN TXT "v=spf1 include:a.chain.test -all"`,
		`a.chain.test. 300 IN TXT "v=spf1 include:b.chain.test -all"`,
		`b.chain.test. 300 IN TXT "v=spf1 ip4:203.0.113.50 -all"`)
	for _, h := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		z.add("recipient.example. 300 IN MX 10 " + h + ".mx.hoster.test.")
	}
	ev := origin.Evidence{RemoteIP: ip("203.0.113.50")}
	wantOK(t, z.check(ev, "recipient.example"), "spf pass for recipient.example")

	z.c.MaxLookups = 8
	before := z.s.Queries()
	v := z.check(ev, "recipient.example")
	wantFail(t, v, false, "MX hosts of recipient.example beyond the first 10 not considered", "budget")
	// LookupIP sends A and AAAA: at most two queries per lookup.
	if q := z.s.Queries() - before; q > 2*8 {
		t.Fatalf("%d queries with a budget of 8 lookups", q)
	}
}

func TestCheckIsSafeForConcurrentUse(t *testing.T) {
	z := gmailLike(t)
	z.host("mail-sor-f41.google.test", "192.0.2.41")
	dk := z.signedFrom("mailer-daemon@google.test", "google.test")
	done := make(chan origin.Verdict)
	for i := range 8 {
		go func() {
			ev := origin.Evidence{RemoteIP: ip("192.0.2.41")}
			if i%2 == 1 {
				ev = dk
			}
			done <- z.c.Check(context.Background(), ev, "recipient.example")
		}()
	}
	for range 8 {
		if v := <-done; !v.OK {
			t.Errorf("concurrent check failed: %+v", v)
		}
	}
}

func TestSPFTemperrorIsTemporary(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.hoster.test.",
		`recipient.example. 300 IN TXT "v=spf1 include:_spf.relay.test -all"`)
	z.host("mx.hoster.test", "192.0.2.80")
	z.s.Fail("_spf.relay.test.", mdns.RcodeServerFailure)
	v := z.check(origin.Evidence{RemoteIP: ip("203.0.113.5")}, "recipient.example")
	wantFail(t, v, true, "temporary DNS failure", "spf for recipient.example: temperror")

	// Once the include answers, the same report passes.
	z.s.Unfail("_spf.relay.test.")
	z.add(`_spf.relay.test. 300 IN TXT "v=spf1 ip4:203.0.113.5 -all"`)
	wantOK(t, z.check(origin.Evidence{RemoteIP: ip("203.0.113.5")}, "recipient.example"), "spf pass for recipient.example")
}

func TestNullMX(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 0 .", "recipient.example. 300 IN A 192.0.2.10")
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.10")}, "recipient.example")
	wantFail(t, v, false, "recipient.example has a null MX")
}

func TestNoPTRResolver(t *testing.T) {
	z := gmailLike(t)
	z.host("mail-sor-f41.google.test", "192.0.2.41")
	z.c.Resolver = onlyResolver{z.s.Resolver()}
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.41")}, "recipient.example")
	wantFail(t, v, false, "reverse DNS of 192.0.2.41: origin: the resolver cannot look up PTR records")
}

// onlyResolver hides every method but dns.Resolver's.
type onlyResolver struct{ dns.Resolver }
