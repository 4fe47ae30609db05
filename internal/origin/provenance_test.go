package origin_test

import (
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/origin"
)

// These are the reviewer's forgeries ("[4/10] Hardening", finding 1, 3 and
// 7): reports that a person, not a mail system, wrote, and that the
// identity of the provider alone let through.

// microsoftLike sets up corp.example on a Microsoft 365-like provider
// outlook.test, which also signs its consumer users' mail d=outlook.test.
func microsoftLike(t *testing.T) *zone {
	z := newZone(t)
	z.add("corp.example. 300 IN MX 0 corp-example.mail.protection.outlook.test.",
		`corp.example. 300 IN TXT "v=spf1 include:spf.protection.outlook.test -all"`,
		`spf.protection.outlook.test. 300 IN TXT "v=spf1 ip4:40.92.0.0/15 -all"`,
		"hotmail.test. 300 IN MX 2 hotmail-test.olc.protection.outlook.test.",
		`hotmail.test. 300 IN TXT "v=spf1 include:spf.protection.outlook.test -all"`)
	z.host("corp-example.mail.protection.outlook.test", "192.0.2.50")
	z.host("hotmail-test.olc.protection.outlook.test", "192.0.2.52")
	z.host("mail-db5eur03on2101.outbound.protection.outlook.test", "192.0.2.51")
	return z
}

// A free consumer account at the provider signs, as outlook.com does,
// d=outlook.test over mail From its user: it proves the provider sent it,
// not that the provider wrote it.
func TestForgedConsumerOfProvider(t *testing.T) {
	z := microsoftLike(t)
	ev := z.signedFrom("eve@outlook.test", "outlook.test")
	v := z.check(ev, "corp.example")
	wantFail(t, v, false, "dkim d=outlook.test not considered: the report's From eve@outlook.test is not a role address of a mail system")

	// The same as a complaint.
	ev.Complaint = true
	wantFail(t, z.check(ev, "corp.example"), false, "From eve@outlook.test is not a role address")

	// A consumer of the recipient's own domain (a Gmail user about a
	// Gmail user): d= is the recipient's domain, From is a person.
	ev = z.signedFrom("eve@hotmail.test", "hotmail.test")
	wantFail(t, z.check(ev, "hotmail.test"), false, "dkim d=hotmail.test not considered: the report's From eve@hotmail.test is not a role address")
}

// A co-recipient at the same consumer provider mails a JMRP-shaped
// complaint to the return path from his own account: the provider's
// servers, his own envelope sender.
func TestForgedComplaintFromAPersonThroughTheProvider(t *testing.T) {
	z := microsoftLike(t)
	ev := origin.Evidence{RemoteIP: ip("192.0.2.51"), HELO: "EUR03-DB5-obe.outbound.protection.outlook.test",
		MailFrom: "eve@hotmail.test", Complaint: true}
	v := z.check(ev, "hotmail.test")
	wantFail(t, v, false, "envelope sender <eve@hotmail.test> is not a role address of a mail system, so client 192.0.2.51 proves nothing")

	// The same client with JMRP's role sender is the provider speaking.
	ev.MailFrom = "Staff@Hotmail.test"
	wantOK(t, z.check(ev, "hotmail.test"),
		"client 192.0.2.51 is mail-db5eur03on2101.outbound.protection.outlook.test (forward-confirmed): mailbox provider of hotmail.test (MX hotmail-test.olc.protection.outlook.test)")

	// A role address off the recipient's side relayed by the provider (a
	// user's "send as" address) proves nothing either.
	ev.MailFrom = "abuse@attacker.test"
	wantFail(t, z.check(ev, "hotmail.test"), false, "envelope sender <abuse@attacker.test> is not on hotmail.test's side")

	// A bounce must come from the null sender, whoever sends it.
	ev.MailFrom, ev.Complaint = "mailer-daemon@hotmail.test", false
	wantFail(t, z.check(ev, "hotmail.test"), false, "a bounce's envelope sender must be null, not <mailer-daemon@hotmail.test>, so client 192.0.2.51 proves nothing")
}

// A hoster whose MX serves its customers' domains and which hands out
// subdomains of its own domain (mailgun.org sandboxes, sendgrid.net):
// neither the customer's signature, nor the hoster's own signature over
// the customer's mail, nor SPF the customer publishes counts.
func TestForgedSiblingCustomerOfMXProvider(t *testing.T) {
	z := newZone(t)
	z.add("victim.example. 300 IN MX 10 mxa.shared.test.",
		`attacker.shared.test. 300 IN TXT "v=spf1 ip4:203.0.113.66 -all"`)
	z.host("mxa.shared.test", "192.0.2.90")

	ev := z.signedFrom("postmaster@attacker.shared.test", "attacker.shared.test")
	wantFail(t, z.check(ev, "victim.example"), false,
		"dkim d=attacker.shared.test: neither the recipient's domain nor exactly its mailbox provider's domain")

	ev = z.signedFrom("postmaster@attacker.shared.test", "shared.test")
	wantFail(t, z.check(ev, "victim.example"), false,
		"dkim d=shared.test not considered: the report's From domain attacker.shared.test is not on victim.example's side")

	ev = origin.Evidence{RemoteIP: ip("203.0.113.66"), HELO: "attacker.shared.test", MailFrom: "postmaster@attacker.shared.test", Complaint: true}
	wantFail(t, z.check(ev, "victim.example"), false,
		"envelope sender <postmaster@attacker.shared.test> is not on victim.example's side")

	// The provider's own report, From its own domain, counts.
	ev = z.signedFrom("postmaster@shared.test", "shared.test")
	wantOK(t, z.check(ev, "victim.example"), "dkim d=shared.test: mailbox provider of victim.example (MX mxa.shared.test)")
}

// Role From, aligned, on the recipient's side: but a second From field (one
// the signature may not cover) or a From at another organisation than d=
// does not count.
func TestForgedFromNotASingleAlignedRole(t *testing.T) {
	z := gmailLike(t)
	z.c.Aliases = map[string][]string{"google.test": {"googlemail.test"}}
	ev := z.signedFrom("mailer-daemon@googlemail.test", "googlemail.test")
	ev.HeaderFrom = append(ev.HeaderFrom, "eve@attacker.test")
	wantFail(t, z.check(ev, "recipient.example"), false, "the report's From holds 2 addresses, not one")

	ev.HeaderFrom = nil
	wantFail(t, z.check(ev, "recipient.example"), false, "the report has no parsable From address")

	ev = z.signedFrom("mailer-daemon@google.test", "googlemail.test")
	wantFail(t, z.check(ev, "recipient.example"), false, "dkim d=googlemail.test not considered: the report's From domain google.test is not aligned with it")
}

// An SPF record that passes everyone proves nothing.
func TestForgedSPFPassesEveryone(t *testing.T) {
	z := newZone(t)
	z.add("victim.example. 300 IN MX 10 mx.victim.example.", `victim.example. 300 IN TXT "v=spf1 mx +all"`,
		"v2.example. 300 IN MX 10 mx.victim.example.", `v2.example. 300 IN TXT "v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all"`,
		"v6.example. 300 IN MX 10 mx.victim.example.", `v6.example. 300 IN TXT "v=spf1 ip6:2000::/3 -all"`)
	z.host("mx.victim.example", "192.0.2.10")
	for _, c := range []struct{ domain, client, probe string }{
		{"victim.example", "203.0.113.66", "192.0.2.1"},
		{"v2.example", "203.0.113.66", "192.0.2.1"},
		{"v6.example", "2001:db8:66::66", "2001:db8::1"},
	} {
		v := z.check(origin.Evidence{RemoteIP: ip(c.client), HELO: "evil"}, c.domain)
		wantFail(t, v, false, "spf for "+c.domain+": pass, but also for "+c.probe+" (a documentation address): the record authorises everyone and proves nothing")
	}
}

// The client controls its own reverse zone: a failure to look it up is
// no evidence and no reason to ask for a retry.
func TestReverseDNSFailureIsNoName(t *testing.T) {
	// No SPF record, an MX host elsewhere: only the reverse lookup could
	// show the report genuine, and it fails.
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.provider.test.")
	z.host("mx.provider.test", "192.0.2.80")
	z.host("out-7.provider.test", "192.0.2.7")
	z.s.Fail("7.2.0.192.in-addr.arpa.", mdns.RcodeServerFailure)
	v := z.check(origin.Evidence{RemoteIP: ip("192.0.2.7")}, "recipient.example")
	wantFail(t, v, false, "reverse DNS of 192.0.2.7 failed", "SERVFAIL", "taken as no reverse DNS name: the client controls its reverse zone")

	z.s.Unfail("7.2.0.192.in-addr.arpa.")
	wantOK(t, z.check(origin.Evidence{RemoteIP: ip("192.0.2.7")}, "recipient.example"),
		"client 192.0.2.7 is out-7.provider.test (forward-confirmed): mailbox provider of recipient.example (MX mx.provider.test)")
}

// Microsoft's JMRP complaint as it comes: From staff@, signed by the
// consumer domain, about a recipient at that domain.
func TestMicrosoftLikeJMRP(t *testing.T) {
	z := microsoftLike(t)
	ev := z.signedFrom("staff@hotmail.test", "hotmail.test")
	ev.MailFrom, ev.Complaint = "staff@hotmail.test", true
	wantOK(t, z.check(ev, "hotmail.test"), "dkim d=hotmail.test: the recipient's domain")

	// About a Microsoft 365 customer, hotmail.test is nobody's provider.
	wantFail(t, z.check(ev, "corp.example"), false, "dkim d=hotmail.test: neither")
}

// The check for a record that passes everyone evaluates SPF a second
// time; the check's memo answers its lookups, so it costs no budget.
func TestSPFProbeCostsNoLookups(t *testing.T) {
	z := newZone(t)
	z.add("recipient.example. 300 IN MX 10 mx.hoster.test.",
		`recipient.example. 300 IN TXT "v=spf1 include:a.chain.test -all"`,
		`a.chain.test. 300 IN TXT "v=spf1 include:b.chain.test -all"`,
		`b.chain.test. 300 IN TXT "v=spf1 ip4:203.0.113.50 -all"`)
	z.host("mx.hoster.test", "192.0.2.80")
	ev := origin.Evidence{RemoteIP: ip("203.0.113.50")}
	// MX, the MX host's addresses, PTR, and three TXT records.
	z.c.MaxLookups = 6
	wantOK(t, z.check(ev, "recipient.example"), "spf pass for recipient.example")

	// One fewer and the first evaluation itself runs out: the budget is
	// tight, so the probe's lookups were all remembered ones.
	z.c.MaxLookups = 5
	wantFail(t, z.check(ev, "recipient.example"), false, "budget")
}
