// Package readiness judges whether a sending domain of an account meets
// the rules the big mailbox providers set for bulk senders in 2024
// (aligned authentication, a published DMARC policy, one-click
// unsubscribe, a low complaint rate), and says for each rule what it
// found and what to change.
//
// It is a library: Evaluate returns a Report (verdicts, evidence and
// advice as plain data) that the `sesame domain readiness` command prints
// as text or JSON and that a web page can render. It reads, and never
// changes, the account's identities (package identity), the customer's
// DNS through the resolver Sesame's DNS checks use (package dns), the
// send statistics (package stats) and the stored mail objects of recent
// messages (table messages, owned by package queue).
//
// # The checks
//
//   - DMARC record: the TXT record at _dmarc.<domain>, or when there is
//     none at the organizational domain's (RFC 7489 §6.6.3; the
//     organizational domain comes from the public suffix list), found and
//     parsed by package dmarcrule, which owns Sesame's DMARC rules (it
//     also decides alignment and the DMARC result below). p=none is
//     published but only monitors.
//   - SPF alignment: the envelope sender's domain is chosen by the same
//     rules the admission door applies (send.EnvelopeDomain): the custom
//     MAIL FROM domain when it is in Success, else Sesame's default
//     <region>.<service domain>, for which SPF passes but is never
//     aligned with a customer's domain. Relaxed alignment wants the same
//     organizational domain; strict (aspf=s) the very same domain, which
//     a custom MAIL FROM domain — always a subdomain — can never be. SPF
//     is taken to pass when the MAIL FROM domain's SPF record includes
//     Sesame's service domain (the record Sesame asks customers to
//     publish).
//   - DKIM alignment: the signing identity is chosen as the admission door
//     does (send.SigningIdentity); d= is its domain: the From domain
//     itself aligns in both modes, a parent domain's key in relaxed mode
//     only.
//   - One-click unsubscribe: of the domain's messages of the last
//     UnsubscribeWindow (7 days), how many carried List-Unsubscribe and
//     List-Unsubscribe-Post: List-Unsubscribe=One-Click, read from the
//     stored mail objects (whose headers include the fields Sesame adds
//     for ListManagementOptions). A domain is a bulk sender when it sent
//     BulkDailyVolume (5,000, Gmail's figure) or more recipients in one
//     day of the window.
//   - Complaint rate: complaints / sends of the last ComplaintWindow (7
//     days, the reputation guardrails' window) from the send statistics,
//     which are kept per sending identity; under MinVolume sends there is
//     not enough mail to judge. 0.3% or more fails, 0.1% or more warns.
//   - DMARC result: what a receiver would conclude now from the three
//     above: pass via DKIM, via SPF, or fail; "none" without a usable
//     DMARC record.
//
// Mailbox-simulator mail is left out of the counts, as the reputation
// metrics leave it out.
package readiness
