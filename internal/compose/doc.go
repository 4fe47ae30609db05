// Package compose turns what a sender hands Sesame into the exact bytes that
// will be signed, queued and delivered, the way Amazon SES does it.
//
// It owns two doors, both pure (no I/O, no database, no clock of its own):
//
//   - [Build] writes an RFC 5322 / MIME message from SES "Simple" content
//     (v1 SendEmail, v2 SendEmail Content.Simple): From, To, Cc, Reply-To,
//     Subject, text and/or HTML bodies with their charsets, v2 custom
//     Headers and Attachments. Bcc recipients are reported, never written.
//   - [NormalizeRaw] checks and normalises raw mail (v1 SendRawEmail, v2
//     SendEmail Content.Raw) the way SES does: CRLF line endings, a header
//     and a body separated by a blank line, exactly one From, lines of at
//     most 998 octets, well-formed multipart structure; the SES control
//     headers (X-SES-CONFIGURATION-SET, X-SES-MESSAGE-TAGS, the
//     X-SES-*-ARN headers, X-SES-LIST-MANAGEMENT-OPTIONS) are read and
//     removed, and so are Bcc and Return-Path.
//
// Both add SES's own Message-ID (<MessageId@domain>) and Date, replacing any
// the sender supplied (shared/ses-api.md §12.2), and both return a
// [Message]: the final bytes plus the parsed From, Sender, Reply-To and
// To/Cc/Bcc addresses, the decoded Subject, and what the control headers
// said. The caller (the send door) decides which recipients and tags win:
// SES uses the API's Destinations, Tags and ConfigurationSetName when given
// and falls back to the headers otherwise.
//
// Every rejection is an [*Error] naming the field and the rule, wrapping
// [ErrInvalid]; the API layers turn it into SES's InvalidParameterValue /
// BadRequestException. Header injection is refused everywhere: no CR or LF
// can reach a header through a subject, an address, a display name, a
// custom header, an attachment field or a tag.
//
// Whatever this package writes is already in normal form: NormalizeRaw on
// the output of Build or NormalizeRaw returns the same bytes (with the same
// Options). The bytes use CRLF, keep every line within 998 octets and end
// with CRLF, so DKIM signing and SMTP DATA need no further fixing.
package compose
