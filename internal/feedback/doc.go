// Package feedback is Sesame's side of the feedback loop: the feedback MX
// that takes bounces and complaints about the mail Sesame sent, and the
// processor that turns them — and the bounces of Sesame's own delivery
// attempts — into what SES gives its users.
//
// # The feedback MX
//
// Every message leaves with the envelope sender <MessageId>@<MAIL FROM
// domain>: a verified custom MAIL FROM domain of the sending identity, or
// the default one, <region>.<service domain>. Both have MX records pointing
// at feedback-smtp.<region>.<service domain>, where Server listens. It
// accepts a recipient only when its local part is a message Sesame sent,
// within the retention window, and the whole address is exactly that
// message's envelope sender — or, with ServerOptions.Unsubscribe, when it
// is a mailto: unsubscribe address of a List-Unsubscribe header with a
// genuine token: a message to it is honoured as an unsubscribe (package
// unsub), whatever it says, and never read as a bounce or complaint.
// Anything else gets 550 5.1.1 and nothing is stored. It has no AUTH and relays nothing. Message size (552), command
// and DATA timeouts, a DATA stream that sends nothing (DataIdle: the
// sender is disconnected), a connection's whole life, and open
// connections in all and per client network (an IPv4 /24 or IPv6 /64;
// 421 beyond) are bounded. A report is streamed: its first MaxPrefixBytes
// (1 MiB: the human- and machine-readable parts of a DSN or ARF report
// come before the enclosed original) are kept and parsed, the rest is
// read and discarded; the prefixes held at once are bounded too, across
// connections (MaxHeldBytes) and per client network (a quarter of it), a
// prefix reserving what it holds, in steps of 64 KiB; the first step is
// every connection's own, so a report that finds no room is still taken,
// parsed from its first 64 KiB, never refused because others stall. Each SMTP session
// has a context that ends with it, and what one report may cost is
// bounded as a whole: its DNS lookups, DKIM key lookups included, share
// one budget (MaxReportLookups, ReportLookupTime), its origin is checked
// once per recipient domain for all the messages it is addressed to, and
// for at most MaxReportDomains domains.
//
// # Which reports count
//
// The return path is visible to every recipient of a message, so knowing
// it proves nothing. A report changes something for a recipient only when
// it shows it comes from that recipient's side: a bounce must come from
// the null envelope sender (RFC 5321 §4.5.5), and package origin must
// find, for the recipient's domain, a DKIM signature of that domain or of
// its mailbox provider (verified as the report streams in, over all its
// bytes), or the client among its MX hosts, its forward-confirmed reverse
// DNS on its side, or an SPF pass. A DSN recipient is the one its
// Final-Recipient names; a group with no usable Final-Recipient is
// matched on its Original-Recipient (the ORCPT the original's sender
// chose), but then only records the event and never suppresses. A report
// naming no recipient — recipients taken from the enclosed original's To
// and Cc do not count — is attributed to a one-recipient message only,
// when verified for that recipient. What a report says about other
// recipients changes nothing. When the check failed for a DNS failure
// for some recipient, what was verified is applied, the report is kept
// (outcome "temporary" when nothing else was applied) and answered 451
// 4.4.3, to be retried; the retry finds what was applied a duplicate.
// A verdict that is temporary only because the report's lookup budget
// ran out is not: a retry would run out again. Every report taken,
// verified or not, is kept with the evidence, the verdict per recipient
// and its first 64 KiB (ListReports, `sesame feedback list/show`) and
// logged.
//
// # What a report does
//
// A received message is parsed by package bounce (DSN, ARF, vendor
// formats, auto-replies) and applied to each message it was addressed to
// (Processor.Apply), all in one transaction, so a sender retrying after a
// 451 causes no duplicates. What a report says about a recipient is
// applied once per message, recipient and kind, whatever its bytes: a
// permanent bounce, a transient one (which does not block a later
// permanent one), a complaint and a not-spam report (which does not block
// a later complaint) are each applied once; bounces from delivery take
// the same keys. At most MaxNoticesPerHour notifications
// (20) are forwarded about one message in a clock hour. For each message:
//
//   - a bounce: Bounce events (one per bounceType and bounceSubType) for
//     the verified recipients of the report that were recipients of the
//     message (others are ignored and logged; so are recipients whose delivery
//     the remote MTA reports as still delayed), with the
//     report's status, action, diagnostic code and reporting MTA and the
//     classification to SES's bounceType/bounceSubType (bounce.Classify);
//     a bounce whose verdict is that the address itself is bad adds it to
//     the account's suppression list (reason BOUNCE) when the account
//     suppresses bounces. Policy and reputation blocks, full mailboxes and
//     refused content are Permanent bounces when their status is 5.x.x,
//     but never suppress (see smtpcode.Judge).
//   - a complaint: one Complaint event naming the complained recipients
//     (when the report names none and the message had one recipient, that
//     one), with the ARF feedback type (SES's values; others are "other"),
//     user agent and arrival date; each
//     address goes on the suppression list (reason COMPLAINT) when the
//     account suppresses complaints.
//   - auto-replies, success DSNs and unrecognised mail: nothing is applied.
//   - reports about Sesame's own (system) mail: kept and logged, nothing
//     applied.
//
// When the sending identity has feedback forwarding on (SES's default), a
// notification is queued in the same transaction to the message's return
// address (FeedbackForwardingEmailAddress / ReturnPath, else the Source):
// an RFC 3464 report from MAILER-DAEMON@<service domain> for a bounce, an
// RFC 5965 report from complaints@<service domain> for a complaint. Its
// text is Sesame's own wording with facts Sesame controls (MessageIds,
// dates, recipient addresses, status codes, bounce type), never text from
// a report; the report received is attached (message/rfc822 when it is
// clean 7-bit text, else base64 as message/global), or for feedback from
// delivery the original message's header, with the remote reply in the
// machine-readable part. Every line ends with CRLF and is within RFC
// 5322's 998 characters, with no NUL. It is system mail: feedback about
// it is never forwarded, so notifications cannot loop.
//
// Bounces during delivery (a 5xx reply, or the retry window's end) go
// through Processor.Delivered from the delivery transaction: the same
// suppression and forwarding rules, so both paths give the same result.
package feedback
