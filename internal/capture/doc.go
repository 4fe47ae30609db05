// Package capture is the capture MX of `sesame dev`: an SMTP server on
// loopback that takes every message Sesame's delivery worker hands it,
// judges it as a receiving server would, and keeps it.
//
// The verdicts ([Verifier.Verify]) are computed from the message and the
// SMTP envelope alone, through DNS, like any receiving MX:
//
//   - DKIM: every signature verified with go-msgauth (package origin's
//     VerifyDKIM), keys looked up through the resolver;
//   - SPF: blitiri.com.ar/go/spf for the connecting IP and the envelope
//     MAIL FROM (the HELO name when the sender is null);
//   - DMARC (RFC 7489), by package dmarcrule's rules: the From domain's
//     policy (section 6.6.3: the organisational domain's when the From
//     domain has none; a broken record is permerror, several records
//     none), then a passing DKIM signature or an SPF pass whose domain
//     is aligned with the From domain (relaxed: same organisational
//     domain; strict: the same name).
//
// Captured messages are stored by [Store] (table captured_messages) with
// the account and SES MessageId of the message Sesame sent (found from the
// envelope's return path `<MessageId>@...`, else the Message-ID header),
// so each account sees only its own. The store keeps a bounded history:
// see [Store.Prune].
package capture
