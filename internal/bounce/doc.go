// Package bounce reads the messages that arrive on Sesame's feedback MX --
// delivery status notifications, complaint reports, vendor bounces,
// auto-replies, anything -- and says what each one is: [Parse] returns a
// [Report] with its [Kind], the recipients it is about, and for bounces
// the SES bounceType and bounceSubType of each recipient. It is pure: bytes
// in, a Report out, no I/O, no configuration.
//
// # Formats
//
// Parse tries these in order; the first that applies decides:
//
//  1. ARF (RFC 5965): a message/feedback-report part gives a complaint
//     (Format "arf"). The complained recipients are its Original-Rcpt-To
//     and Removal-Recipient fields, else the To and Cc of the enclosed
//     message (message/rfc822 or text/rfc822-headers), marked
//     SourceEnclosed: to whom the message went, not who complained.
//  2. DSN (RFC 3464): a message/delivery-status part (also
//     message/global-delivery-status of RFC 6533, and text/delivery-status
//     as some write it; found at any depth outside enclosed messages)
//     gives a bounce (Format "dsn"). Each recipient group gives a
//     recipient: Final-Recipient, else Original-Recipient when the final
//     one is not a usable address (a file, a bare domain; marked
//     SourceOriginalRecipient: it repeats the original sender's ORCPT,
//     not the reporting MTA's word), else an address from the text or
//     X-Failed-Recipients. Groups whose Action is
//     delivered, relayed or expanded, or whose Status is 2.x.x, are not
//     bounces: a DSN with only those is KindDelivered. Reading is
//     tolerant: "Name : value", folded lines, a missing address type,
//     angle brackets, and groups not separated by an empty line (a field
//     that the current group already has starts the next one). A DSN
//     enclosed in a message/rfc822 part (a bounce forwarded by a relay)
//     is read the same way.
//  3. Look-alikes of complaints: Microsoft JMRP (an enclosed message with
//     X-HmXmrOriginalRecipient; feedback type "abuse"), and Apple Mail's
//     unsubscribe message (X-Apple-Unsubscribe: true; a complaint of type
//     "opt-out" from its From address).
//  4. An Amazon SES notification (JSON, possibly in an SNS envelope)
//     received as the text of a message (Format "ses-notification").
//  5. Auto-replies by their header: a vacation subject ("Automatic
//     reply:", "Out of Office", ...), X-Autoreply, X-Autorespond,
//     Precedence: auto_reply -- unless the message comes from a mail
//     system (MAILER-DAEMON, postmaster) or carries X-Failed-Recipients.
//  6. Free text: a message that reads like a bounce (X-Failed-Recipients,
//     a known vendor phrase, a bounce subject or bounce wording from a
//     mail system or with a null return path) is read by heuristics
//     (Format "text", or the vendor the text names: "qmail", "exim",
//     "sendmail", "postfix", "gmail", "exchange", ...; the reading itself
//     is the same for all). The copy of the original message is cut off
//     first (at a separator line or at a block of header fields). DSN
//     fields written in the text are read as a DSN. Otherwise the failed
//     recipients are X-Failed-Recipients, else the addresses best placed
//     in the text: in "RCPT TO:<a>", alone on a line, first on a line
//     ("<a>:", "a ... reason", "550 <a>... User unknown"), after words
//     like "recipient" -- never the bounce's own From, To or Return-Path,
//     the original's sender, a Message-ID, or a MAILER-DAEMON or
//     postmaster address, unless nothing else is there; else the
//     original's To (marked SourceEnclosed). A bounce quoted whole in the text (header and body,
//     as a relay forwards it to its postmaster) is parsed as a message.
//  7. "Auto-Submitted: auto-replied" alone, on a message not recognised
//     as a bounce: an auto-reply. (Many bounces carry it too, which is
//     why it comes last.)
//
// Anything else is KindUnknown. Parse returns an error only for input
// without a header. An mbox-style input ("From " lines) may hold several
// messages; their recipients are merged when they are of the same kind.
//
// # Status of a free-text bounce
//
// For each recipient: the enhanced status code (RFC 3463) on a line that
// names the address or just after it, else in the recipient's paragraph,
// else anywhere in the text; without one, X.0.0 from a 4yz or 5yz reply
// code found the same way; without one, the wording: "retry timeout
// exceeded" (a final failure after temporary ones) is 4.4.7, and words
// such as "user unknown", "mailbox full", "too large", "expired",
// "connection timed out", "blocked" give X.1.1, X.2.2, X.3.4, X.4.7,
// X.4.7 (X.4.1 in a delay notice), X.7.1; without any, 5.0.0. The class X
// is 4 when the text is a delay notice ("will be retried", "warning
// message only", "delayed", ... and no "permanent error", "giving up"),
// else 5.
//
// # Classification
//
// [Classify] gives each bounced recipient its SES bounceType and
// bounceSubType from its status and diagnostic, whether the address
// belongs on the suppression list (Recipient.Suppress), and the rule that
// decided (Recipient.Reason). The Status field decides the class: 5.x.x
// is Permanent, 4.x.x Transient (even with Action failed, as after an
// expiry). When it is the unspecific X.0.0, an enhanced code of the same
// class in the Diagnostic-Code is used for the subtype. The table is
// smtpcode's ([smtpcode.Judge]).
//
// Policy and reputation blocks are not bad mailboxes: a permanent refusal
// is suppressed only when it says the address itself is bad. One with a
// bad-address code (5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10) always is; one
// about the sender (5.1.7, 5.1.8), a full mailbox or the message size
// (5.2.2, 5.2.3, 5.3.x, 552), an expiry (5.4.7), content or policy (5.6.x,
// 5.7.x), or whose text blames the sending host or a policy --
// "blocked", block lists, "listed at/in" a DNSBL, "reputation",
// "spamhaus", "spam", "policy", "rejected due to", "too many", "rate
// limit" -- is a Permanent bounce in the event stream that does not
// suppress. A free-text failure notice that gives neither a code nor a
// reason does not suppress either.
//
// # Limits
//
// Parse is meant for hostile input. It reads at most the first 40 MiB,
// at most 100 MIME parts nested at most 10 deep, decodes at most 1 MiB of
// a part (4 MiB of an encoded enclosed message), scans at most 128 KiB of
// free text, and reports at most 1000 recipients. Enclosed messages are
// sliced from the input, not copied, unless they are transfer-encoded.
package bounce
