// Package smtpsubmit is Sesame's SMTP submission server: the SMTP
// interface of Amazon SES (email-smtp.<region>.amazonaws.com), through
// which applications, mail libraries and MTAs send with SES credentials.
// It serves STARTTLS listeners (port 587 style) and implicit-TLS
// listeners (port 465 style) with emersion/go-smtp, and hands every
// message to the same admission door as the API (send.Sender.Submit).
//
// # Authentication
//
// AUTH PLAIN and AUTH LOGIN are offered only once the connection is
// encrypted; AUTH before STARTTLS is answered "530 5.7.0 Must issue a
// STARTTLS command first", and MAIL before AUTH "530 5.7.0
// Authentication required": the server is never a relay for
// unauthenticated clients. The user name is an access key id; the
// password is SES's version-4 SMTP password derived from the key's secret
// and the deployment's region (sigv4.SMTPPassword), compared in constant
// time. A wrong pair is "535 5.7.8 Authentication Credentials Invalid".
// The key is looked up again at every MAIL, so a removed key stops
// working at once, in open sessions too.
//
// Failed AUTH attempts are counted per client address (an IPv4 address,
// an IPv6 /64): after Options.AuthDelayAfter failures each further
// attempt from it waits (Options.AuthDelay times the failures beyond,
// at most ten times), and after Options.AuthBlockAfter failures the
// address is refused for Options.AuthBlock: AUTH gets "454 4.7.0" and
// new connections "421 4.7.0", both saying why (on an implicit-TLS
// listener new connections are closed without a word: their clients
// expect a TLS handshake, not a plaintext line). A success clears the
// count; failures are forgotten AuthBlock after the last one. An AUTH
// exchange that goes wrong before credentials can be checked counts as
// a failure too: a PLAIN response without its NULs is answered "535
// 5.7.8" at once; one that is not base64, a cancel ("*") or a client
// leaving mid-exchange (which go-smtp answers itself) are counted at the
// session's next command. Only an initial response that is not base64
// ("AUTH PLAIN !!") is not: go-smtp refuses it before the session sees
// the AUTH.
//
// # Replies
//
// The message is submitted with the envelope: MAIL FROM is the source
// that must be verified (as in SES), the RCPT TO addresses are the
// recipients. The reply to the end of DATA follows SES's SMTP endpoint:
//
//	accepted                     250 Ok <MessageId>
//	sender/recipient unverified  554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: ...
//	sending rate                 454 Throttling failure: Maximum sending rate exceeded.
//	daily quota                  454 Throttling failure: Daily message quota exceeded.
//	more than 50 recipients      554 Transaction failed: Recipient count exceeds 50.
//	too large                    552 5.3.4 (at DATA, by size; or send's "Message length is more than ..." sentence)
//	other rejections             554 Transaction failed: <send's sentence>
//	                             (invalid message, account or configuration set paused,
//	                             configuration set missing, MAIL FROM domain not verified)
//	internal failure             451 4.3.0 (temporary: the client retries)
//	memory for messages full     452 4.3.1 Insufficient system resources; try again later (temporary)
//
// RCPT is accepted up to Options.MaxRecipients (a hard cap well above
// SES's 50, so that the count is judged, with SES's sentence, at the end
// of DATA); beyond it "452 4.5.3".
//
// # Limits
//
// Message size (Options.MaxMessageBytes, SES's 40 MB), recipients per
// message, open connections in all and per client network (an IPv4 /24,
// an IPv6 /64; over them "421 4.7.0" and close: package smtpserve; on an
// implicit-TLS listener, whose clients expect a TLS handshake, just
// close), a connection's whole life, each command's read and write, each
// DATA read and a whole DATA.
//
// A message is read whole before it is submitted, so the bytes held in
// memory are bounded too (smtpserve.Budget): across the server's
// connections (Options.MaxHeldBytes) and from one client network
// (Options.MaxHeldPerIP). Each message's buffer starts at the
// connection's own 64 KiB and grows up to the size limit (doubling to 1
// MiB, then by a quarter), each growth taken from the budget first; it is given back once the admission door
// has answered. A message whose buffer finds no room within
// Options.HeldWait is read to its end, dropped, and answered "452 4.3.1"
// (the client retries later).
package smtpsubmit
