// Package deliver owns outbound delivery: the workers that take due
// recipients from the durable queue (package queue) and hand the message
// to each recipient's mail server over SMTP, recording every outcome with
// its SES event in the queue's transaction.
//
// It is built by the composition root (internal/app) with New and run
// with Run; tests drive it one round at a time with RunOnce. It calls the
// queue (Claim, Body, Mail, Finish, FinishEvents, Retry), a dns.Resolver
// for MX and address lookups, and github.com/emersion/go-smtp's client
// over a connection from Options.Dial.
//
// # A round
//
// A round claims up to Options.Batch recipients under a lease and groups
// them by destination domain, then by message: one SMTP transaction per
// (message, domain), with a RCPT for each of the message's recipients at
// that domain and one DATA carrying the stored bytes. The messages for one
// domain share a connection (a domain with many messages in the batch is
// spread over up to Options.PerDomain connections, at least
// minPerConnection messages each); no more than Options.PerDomain
// connections to one domain and Options.Workers connections in all are
// open at a time, across rounds.
//
// # Routing (RFC 5321 §5.1, RFC 7505)
//
// With Options.Relay every domain goes to that host, without DNS.
// Otherwise the domain's MX records are tried in order of preference, and
// each host's addresses in the order LookupIP gives them; a host that
// cannot be reached, or that refuses the session before MAIL (greeting,
// EHLO), is skipped for the next one. No MX records (NXDOMAIN or NODATA)
// makes the domain itself the only host (the implicit MX), and a domain
// with neither MX nor address records fails for good (550 5.1.2). A null
// MX — one MX record whose host is "." — fails at once, without a
// connection: 556 5.1.10 "Recipient address has null MX". A DNS lookup
// that fails (dns.LookupError) is temporary: 451 4.4.3.
//
// # TLS
//
// STARTTLS is used whenever the server offers it (RFC 3207). It is
// opportunistic, as on the public MX network: the certificate is not
// verified unless Options.TLSConfig asks for it, and when STARTTLS fails
// (refused, or the handshake fails) the same address is tried again at
// once on a new connection without TLS, rather than deferring the mail
// (the behaviour of Postfix's "may" security level). The EHLO name is
// Options.HeloName before and after STARTTLS.
//
// A message whose configuration set requires TLS (Options.Policy,
// TlsPolicy REQUIRE) is never sent without it. Its domain's addresses and
// hosts are tried in order for a session with TLS, never falling back to
// plain text; when none gives one (no STARTTLS offered, or the handshake
// fails) its recipients get a temporary failure, "454 4.7.10 TLS is
// required for this message ...", recorded as a DeliveryDelay of type
// TLSFailure and retried like any other until the retry window ends, when
// it becomes a Transient Bounce (SES's behaviour for TlsPolicy REQUIRE).
// The messages of a domain share a session as before: a session with TLS
// serves both kinds; when the session is plain, a TLS session is sought
// once for the task's TLS messages while the plain one goes on serving
// the others. The certificate is verified only as Options.TLSConfig says
// (SES's REQUIRE asks for encryption, not for an authenticated peer).
// A policy's MaxDelivery replaces Options.RetryWindow for its messages.
// Policies are read once per round for each configuration set. The
// mailbox simulator's recipients ignore both.
//
// # Outcomes
//
// Every outcome is an smtpcode.Reply, "temporary unless proven
// permanent", recorded per recipient:
//
//   - 2yz after DATA: queue.Finish(Delivered) with a Delivery event (the
//     reply line, reportingMTA, remoteMtaIp, processingTimeMillis since
//     the message was queued, the ses:outgoing-ip tag).
//   - 5yz to MAIL, RCPT or DATA, a null MX, a domain without mail hosts:
//     queue.Finish(Bounced) with a Bounce event whose bounceType and
//     bounceSubType come from smtpcode.Classify; Options.OnFeedback
//     decides the suppression list (the feedback processor, with the same
//     classification as bounces that arrive later by mail).
//   - 4yz, a refused or broken connection, a timeout, a failed DNS
//     lookup: queue.Retry after Options.Backoff with a DeliveryDelay event,
//     as long as that next attempt still falls inside Options.RetryWindow
//     from when the message was queued; otherwise queue.Finish(Bounced)
//     with a Transient Bounce carrying the last reply.
//
// The delayType of a DeliveryDelay (ses-api.md §13.3) is
// TransientCommunicationFailure for a connection that could not be made
// or broke; Undetermined for a local problem (a DNS failure); and for a
// reply from the server, the first that fits: MailboxFull for X.2.2 or a
// text saying so; IPFailure for a text naming a block list (so that
// "blocked using zen.spamhaus.org" is not taken for spam); SpamDetected
// for a text mentioning spam or unsolicited mail; General for
// greylisting; IPFailure for a text about the sending IP, reputation,
// blocking or rate limiting; RecipientServerError for 421, 451 and X.3.x
// (the server's own trouble); and General otherwise, SES's "generic
// failure during the SMTP conversation".
//
// # Mailbox simulator (ses-api.md §14.1)
//
// Recipients at Options.SimulatorDomains (simulator.amazonses.com and
// simulator.<service domain> in the app) never reach the network: no DNS
// lookup, no connection, with or without a relay, and no connection slot.
// Their outcome is decided by the local part, without case and without a
// "+label" tail (bounce+run42@ is bounce@), and recorded at once with
// queue.FinishEvents:
//
//   - success@: Delivered, a Delivery event with smtpResponse "250 2.6.0
//     Message received".
//   - bounce@: Bounced, a Bounce Permanent/General, status 5.1.1,
//     diagnosticCode "smtp; 550 5.1.1 user unknown" (the address is not
//     suppressed, as on SES).
//   - ooto@: Delivered, a Delivery event. SES then sends an RFC 3834
//     auto-reply to the envelope sender; it would arrive at the feedback
//     MX, which takes auto-replies and ignores them, so none is sent.
//   - complaint@: Delivered, a Delivery event and then, in the same
//     transaction, a Complaint (complaintFeedbackType "abuse", userAgent
//     "Amazon SES Mailbox Simulator", a feedbackId and arrivalDate).
//   - suppressionlist@: Bounced, a Bounce Permanent/Suppressed (the
//     address is treated as on the global suppression list), status 5.1.1.
//   - any other local part: SES documents none; Sesame bounces it,
//     Permanent/General, "smtp; 550 5.1.1 unknown simulator address",
//     rather than deliver it anywhere.
//
// These events carry reportingMTA like any other but no remoteMtaIp and no
// ses:outgoing-ip tag, since no connection was made. SES merges several
// simulated bounces of one message into one Bounce event; Sesame, as for
// real bounces, records one event per recipient.
//
// # Leases and crashes
//
// A round's network work ends before its lease does (the lease less a
// tenth, at most 30 seconds), so outcomes are recorded while the worker
// still holds the rows. An outcome refused with queue.ErrLeaseLost is
// logged and dropped: another worker holds the row now. A recipient whose
// attempt was cut short by the end of Run's context, or never started, is
// handed back (queue.Retry, due at once, no event). A panic while
// delivering is recovered and logged; the rows it held come back when
// their lease expires. The queue's promise holds: a delivery in flight at
// a crash may happen twice, never zero times.
package deliver
