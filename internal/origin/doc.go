// Package origin decides whether a bounce (DSN) or complaint (ARF report)
// that reached the feedback MX really comes from the side of the recipient
// it is about, so that forged reports change nothing. The return path is
// visible to every recipient of a message, so knowing it proves nothing.
//
// It is pure of storage: the feedback MX gives it the evidence it holds
// about a report (client address, HELO name, envelope sender, the results
// of [VerifyDKIM] on the report) and the domain of the recipient the report
// is about; [Checker.Check] looks up what it needs through a dns.Resolver
// and returns a [Verdict]. Requiring a null envelope sender for DSNs,
// applying a report once per message and recipient, rate limits, and
// keeping unverifiable reports are the feedback MX's business.
//
// # Rules
//
// A report is genuine for recipient domain R when one of these holds (the
// first that does is named in Verdict.How):
//
//  1. DKIM, recipient's domain: a signature that verifies and whose d= is R,
//     a subdomain of R, or a parent of R up to R's organisational domain
//     (public suffix plus one label, golang.org/x/net/publicsuffix).
//  2. DKIM, mailbox provider: a signature that verifies and whose d= is
//     under a provider domain of R — the organisational domain of one of
//     R's MX hosts (Gmail and Workspace: google.com; Microsoft 365:
//     outlook.com; Yahoo: yahoodns.net; hosted filters: pphosted.com,
//     mimecast.com, ...) — or under a provider's signing alias from a small
//     built-in table (google.com: googlemail.com; yahoodns.net: yahoo.com).
//  3. MX host: the client's address is an address of one of R's MX hosts
//     (at most 10), or of R itself when R has no MX record (implicit MX).
//  4. Reverse DNS: a PTR name of the client's address that is under R or
//     under a provider domain of R (Gmail's bounces leave from
//     mail-*.google.com, Microsoft's from *.outbound.protection.outlook.com,
//     which are not MX hosts) and that resolves back to the address
//     (forward-confirmed). Needs a Resolver that is also a [PTRResolver].
//  5. SPF: the client passes SPF (result pass; softfail and neutral are not
//     a pass) for R, with blitiri.com.ar/go/spf.
//  6. SPF for the HELO name or the envelope sender's domain, only when that
//     domain is on R's side (as in rules 1 and 2).
//
// And never:
//
//   - a DKIM signature whose d= is under the organisational domain of the
//     original message's sending side ([Evidence].SenderDomains): every
//     recipient holds that signature and can replay it;
//   - anything under Sesame's own domains ([Checker].Own);
//   - the client rules (3 to 6) when the envelope sender is not null and its
//     domain is not on R's side: the client is then relaying somebody
//     else's mail (a user of a shared provider, a forwarder), and its
//     address proves nothing about who wrote the report;
//   - d= under onmicrosoft.com or gmail.com merely because R's mail is at
//     Microsoft or Google: anyone can have a tenant or an address there.
//
// # Bounds and failures
//
// A Check makes at most Checker.MaxLookups lookups within Checker.Timeout;
// [VerifyDKIM] verifies at most [MaxSignatures] signatures and holds at most
// [MaxHeaderBytes] of header. A lookup that fails (timeout, SERVFAIL) is
// never a pass: if no rule passed and such a failure might have changed
// that, the Verdict is Temporary (the report may be retried later) and its
// Reason says so. Nothing is cached between calls.
//
// # Limits
//
// DKIM, SPF and reverse DNS identify the system that sent a report, not the
// person: a user of the same mailbox provider as the recipient — at a
// consumer provider whose users' own mail is signed with the provider's
// domain (yahoo.com), or a colleague on the recipient's own domain — can
// have a report he wrote signed, or sent from the provider's addresses. The
// null envelope sender the feedback MX requires for DSNs, the rule against
// relayed mail above, and once-per-recipient application with rate limits
// bound what such a forgery can do.
package origin
