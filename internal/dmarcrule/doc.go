// Package dmarcrule owns Sesame's DMARC rules (RFC 7489), so that every
// part of Sesame that judges DMARC judges it the same way: the capture MX
// of `sesame dev` (package capture) for a message it received, the
// readiness report (package readiness) for a domain's setup, and the
// feedback MX's origin checks (package origin) for the organisational
// domain of a report's sender.
//
// It owns:
//
//   - the organisational domain ([OrgDomain], RFC 7489 §3.2): the public
//     suffix (golang.org/x/net/publicsuffix) plus one label, or the name
//     itself when it is a public suffix or has none;
//   - identifier alignment ([Aligned], RFC 7489 §3.1): strict, the same
//     name; relaxed, the same organisational domain; an empty name never
//     aligns;
//   - policy discovery ([Lookup], RFC 7489 §6.6.3): the TXT records at
//     _dmarc.<From domain>, else, when that name has no DMARC record (and
//     only then: a failed lookup is no evidence), at
//     _dmarc.<organisational domain>, whose sp= then applies (p= when it
//     has none). Of the TXT records, those that do not start with the tag
//     v=DMARC1 are not DMARC records; more than one DMARC record means no
//     policy applies ([ErrMultipleRecords]); the one is parsed with
//     go-msgauth's dmarc package; a syntax error in an optional tag
//     (adkim=, aspf=, fo=, pct=, rf=, ri=, rua=, ruf=) is discarded in
//     favour of the tag's default, as RFC 7489 §6.3 asks receivers to do
//     ([Policy.Ignored]), and a record still refused (v=, p=, sp=) is
//     reported as a [*SyntaxError] and applies no policy either;
//   - the DMARC outcome ([Evaluate], RFC 7489 §4.2): pass when a DKIM
//     signature that verified or an SPF pass is for a domain aligned with
//     the From domain under the record's adkim= and aspf= (relaxed when
//     left out).
//
// pct= (RFC 7489 §6.6.4) samples which failing messages the policy is
// applied to; it changes no result, so [Evaluate] ignores it and callers
// show it from the Record.
//
// Results are named as in Authentication-Results (RFC 8601 §2.7.1): a
// failed lookup is temperror, a broken record permerror, no record or
// several records none ([Policy.Result]).
//
// The package is pure apart from [Lookup], which reads DNS through the
// dns.Resolver it is given.
package dmarcrule
