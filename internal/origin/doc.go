// Package origin decides whether a bounce (DSN) or complaint (ARF report)
// that reached the feedback MX really comes from the side of the recipient
// it is about, so that forged reports change nothing. The return path is
// visible to every recipient of a message, so knowing it proves nothing.
//
// It is pure of storage: the feedback MX gives it the evidence it holds
// about a report (client address, HELO name, envelope sender, the results
// of [VerifyDKIM] on the report, its From address, whether it is a
// complaint) and the domain of the recipient the report
// is about; [Checker.Check] looks up what it needs through a dns.Resolver
// and returns a [Verdict]. Requiring a null envelope sender for DSNs,
// applying a report once per message and recipient, rate limits, and
// keeping unverifiable reports are the feedback MX's business.
//
// # Rules
//
// A genuine report is written by a mail system, not a person. Identifying
// the provider is not enough: the provider also signs and relays its
// users' own mail. Names the report's sender gives (a DKIM d=, the From
// or envelope sender's domain, the HELO name) are on R's side when they
// are R, a subdomain of R, or a parent of R up to R's organisational
// domain (public suffix plus one label, package dmarcrule's OrgDomain);
// or exactly a provider domain of R — the organisational domain of one of
// R's MX hosts (Gmail and Workspace: google.com; Microsoft 365:
// outlook.com; Yahoo: yahoodns.net; hosted filters: pphosted.com,
// mimecast.com, ...) — or exactly one of a provider's signing aliases
// from a small built-in table (google.com: googlemail.com; yahoodns.net:
// yahoo.com). Names under a provider's domain do not count: they may be
// its customers'. A role address is one whose local part (case-insensitive,
// without a +tag) is mailer-daemon, postmaster, abuse, feedback,
// feedbackloop, fbl, arf, staff, scomp or complaints (each justified in
// role.go).
//
// A report is genuine for recipient domain R when one of these holds (the
// first that does is named in Verdict.How):
//
//  1. DKIM: a signature that verifies, whose d= is on R's side, over a
//     report whose From header holds exactly one address
//     ([Evidence].HeaderFrom), a role address on R's side in the same
//     organisational domain as d= (aligned). A signature over a message
//     From a person never counts, whatever its d=.
//  2. MX host: the client's address is an address of one of R's MX hosts
//     (at most 10), or of R itself when R has no MX record (implicit MX).
//  3. Reverse DNS: a PTR name of the client's address that is under R or
//     under a provider domain or alias of R (Gmail's bounces leave from
//     mail-*.google.com, Microsoft's from *.outbound.protection.outlook.com,
//     which are not MX hosts) and that resolves back to the address
//     (forward-confirmed). Needs a Resolver that is also a [PTRResolver].
//     A failed PTR lookup of the client's address counts as no PTR name,
//     never as a temporary failure: the client controls that zone.
//  4. SPF: the client passes SPF (result pass; softfail and neutral are not
//     a pass) for R, with blitiri.com.ar/go/spf, and the same record does
//     not also pass the documentation address 192.0.2.1 (2001:db8::1 for
//     an IPv6 client): a record that does (+all, 0.0.0.0/1 and
//     128.0.0.0/1) authorises everyone and proves nothing.
//  5. SPF, as in rule 4, for the HELO name or the envelope sender's domain,
//     when that name is on R's side.
//
// Rules 2 to 5 are about the client, and count only when the envelope
// sender is null, or, for a complaint ([Evidence].Complaint), a role
// address on R's side: a system on R's side relaying a person's mail (a
// shared provider's user, a forwarder) says nothing about who wrote it. A
// bounce must come from the null sender.
//
// And never:
//
//   - a DKIM signature whose d= is under the organisational domain of the
//     original message's sending side ([Evidence].SenderDomains): every
//     recipient holds that signature and can replay it;
//   - anything under Sesame's own domains ([Checker].Own);
//   - d= under onmicrosoft.com, or gmail.com, merely because R's mail is at
//     Microsoft or Google: anyone can have a tenant or an address there.
//     (For R = gmail.com, gmail.com is R's own domain, and counts like any
//     R over a role From only.)
//
// # Bounds and failures
//
// A Check makes at most Checker.MaxLookups lookups within Checker.Timeout;
// [VerifyDKIM] verifies at most [MaxSignatures] signatures and holds at most
// [MaxHeaderBytes] of header. A lookup that fails (timeout, SERVFAIL) is
// never a pass: if no rule passed and such a failure might have changed
// that, the Verdict is Temporary (the report may be retried later) and its
// Reason says so. Within a Check every answer is remembered (SPF's second
// evaluation reuses the first's); nothing is kept between calls.
//
// # Limits
//
// DKIM, SPF and reverse DNS identify the system that sent a report; the
// role address says a system wrote it. What remains possible: whoever
// controls a role mailbox at R or at R's provider (a colleague who is
// R's postmaster; a consumer provider that let a person register
// feedback@ or complaints@) or can make R's provider sign a role From;
// whoever can send from an address R's SPF record lists (a shared IP at a
// web host R's own mail leaves from) with a null sender; a record that
// authorises a large range not holding the documentation address (a lone
// 0.0.0.0/1); a provider that delegates names under its own domain to
// customers who also hold their reverse zone (reverse DNS rule). The null
// envelope sender the feedback MX requires for DSNs, once-per-recipient
// application and rate limits bound what such a forgery can do.
package origin
