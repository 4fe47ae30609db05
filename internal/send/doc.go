// Package send is Sesame's single admission door: every way a message comes
// in — SES v1 SendEmail/SendRawEmail/SendTemplatedEmail, each destination
// of SendBulkTemplatedEmail, SES v2 SendEmail (Simple, Raw or Template),
// each entry of SendBulkEmail, and SMTP submission — ends in
// [Sender.Submit]. It
// checks the message the way Amazon SES does, composes or normalises it,
// chooses the envelope sender by the custom MAIL FROM rules, signs it with
// DKIM, and queues it with its Send event in one transaction. A rejected
// message leaves nothing behind: no queue row, no event.
//
// Who calls it: the API layers (sesv1, sesv2) and, later, smtpsubmit. What it
// calls: account (sandbox, sending state, quotas), identity (which verified
// identity covers an address, MAIL FROM state, DKIM keys), compose (MIME),
// dkim (signing), queue (durable storage with the Send event) and event (the
// SES "mail" object).
//
// # Order of checks
//
// The checks run in the order of shared/ses-api.md §12.1 (AWS documents
// none; this mirrors the errors AWS is seen to give), and the first failure
// is returned:
//
//  1. Request shape: exactly one of Simple and Raw (Simple with a
//     Template); message tags (SES's tag
//     rules); the syntax of the addresses given as API parameters (From,
//     Destinations, FeedbackForwardingAddress, and Simple's From/To/Cc/Bcc),
//     with SES's own sentences ("Missing final '@domain'", "Illegal
//     address", "Missing local name", "Local address contains illegal
//     character", ...). → KindInvalid
//  2. Account sending paused. → KindSendingPaused
//  3. Raw input longer than MaxSize (a cheap guard before parsing). →
//     KindInvalid, SES's "Message length is more than N bytes long: 'M'."
//  4. Compose (Simple) or normalise (Raw): every compose.Error becomes
//     KindInvalid with compose's sentence and Field. A templated message
//     is composed without its Subject, Text and HTML here: the checks up
//     to 11 need none of the rendered content.
//  5. Configuration set: the request's, else the raw X-SES-CONFIGURATION-SET
//     header's (checked after parsing because raw mail can name it), is
//     looked up with Options.ConfigurationSet (one query by primary key,
//     made only when a set applies). Unknown (or no hook wired) →
//     KindConfigurationSetDoesNotExist, "Configuration set <name> does
//     not exist."; its SendingEnabled false →
//     KindConfigurationSetSendingPaused, "Sending is paused for this
//     configuration set.".
//  6. Recipients: the envelope recipients — Destinations when given (Raw),
//     else the message's To, Cc and Bcc — counted once each, must number 1
//     to 50 → KindInvalid "Recipient count exceeds 50." (SES's text); none
//     → "Missing required header 'To'." for Raw (SES's text) or "The
//     message must have at least one recipient (To, Cc or Bcc)." for Simple.
//  7. Size of the composed message, before signing, at most MaxSize (10 MB
//     for v1, 40 MB for v2 and SMTP, measured as SES does: the MIME text,
//     attachments base64-encoded). → KindInvalid
//  8. Identities (one query for every name involved): the source (From
//     parameter), the From header, the Sender header and the feedback
//     address (FeedbackForwardingAddress / v1 ReturnPath, else a raw
//     Return-Path header) must each be covered by a VERIFIED identity of the
//     account; in the sandbox so must every recipient that is not a mailbox
//     simulator address. All failures go in one KindMessageRejected error
//     with SES's sentence, region upper-cased, identities echoed as given:
//     "Email address is not verified. The following identities failed the
//     check in region US-EAST-1: a@example.com, b@example.org".
//     8b. No set named: the From identity's default configuration set,
//     taken from the most specific identity of the verified chain that
//     has one (an address identity's beats its domain's), is checked as
//     in 5; a default naming a deleted set fails like a named unknown set.
//  9. Custom MAIL FROM (see below): not in Success with RejectMessage →
//     KindMailFromNotVerified.
//     9b. ListManagementOptions (Request.ListManagement, else the raw
//     X-SES-LIST-MANAGEMENT-OPTIONS header): each recipient is looked up
//     with Options.Lists.MayReceive (no lookup at all without them). An
//     unknown list or topic → KindContactListDoesNotExist ("Contact list
//     l does not exist." / "Topic t does not exist in contact list l.").
//     A recipient who opted out (of everything, or of the topic by
//     preference or default) is queued as bounced with a Bounce event
//     (Permanent/OnAccountSuppressionList, 5.7.1, a diagnostic naming the
//     list), like a suppressed one; the suppression list is not touched.
//     With a single recipient, Options.Lists.Links gives its unsubscribe
//     link: it replaces the first two {{amazonSESUnsubscribeUrl}} of the
//     text and of the HTML part (in a template, the placeholder renders as
//     itself first; in raw mail, where it appears literally in the body),
//     and List-Unsubscribe (https and mailto) and List-Unsubscribe-Post:
//     List-Unsubscribe=One-Click replace any the message had, before
//     signing, so DKIM covers them.
//  10. Daily quota (Max24HourSend; -1 is unlimited): recipients of the
//     account's messages accepted in the last 24 hours, mailbox-simulator
//     recipients excluded (ses-api.md §14.1), plus this message's →
//     KindDailyQuotaExceeded "Daily message quota exceeded.".
//  11. Sending rate (MaxSendRate recipients per second; simulator recipients
//     count) → KindRateExceeded "Maximum sending rate exceeded.".
//  12. Templated messages only: the template is rendered with the data and
//     the message composed again with the rendered Subject, Text and HTML;
//     the size rule of 7 applies to that message. A template that does not
//     render (template.RenderError: "Attribute 'name' is not present in
//     the rendering data.") or renders into what compose refuses (a
//     subject with a line break) → KindRenderingFailure: nothing is
//     queued, the daily quota and the rate are given back, and a Rendering
//     Failure event (failure.templateName, failure.errorMessage; the mail
//     object without subject and without the unrendered body's Content-*
//     fields) goes to the event outbox with the configuration set, so
//     its destinations publish it. Submit returns the MessageId that
//     event is about together with the error: SES accepts a templated
//     send and renders it afterwards, so its APIs answer with that
//     MessageId (bulk sends: the entry's status Failed / FAILED).
//
// Then, when the message goes through a configuration set with an enabled
// OPEN or CLICK event destination (configset.Set.TracksOpen, TracksClick),
// Options.Track rewrites its HTML for open and click tracking (package
// track); any other message is not looked at. Then the message is
// DKIM-signed and queued; the answer is its MessageId.
// A templated message's Send event, like SES's, has no Subject header and
// no commonHeaders.subject; the events after it (Delivery, Bounce, ...)
// carry the rendered message's.
// Recipients on the suppression list (Options.Suppressed) are queued as
// bounced, each with its Bounce event: every listed address when no set
// applies or the set has no SuppressionOptions, else only addresses
// listed for one of the set's SuppressedReasons (none when it has none).
//
// # Which identity
//
// An address is covered by the account's verified identities for the address
// itself, its domain, or any parent domain of it (the SES Developer Guide:
// a verified domain covers its subdomains and every address under them).
// Unverified identities play no part: a pending address identity does not
// stop its verified domain from covering it. The most specific verified
// identity covering the From header's address is the sending identity: its
// name is in mail.sourceArn, and settings come from it, falling back to
// less specific ones:
//
//   - MAIL FROM: the most specific verified identity in that chain that has
//     a custom MAIL FROM domain configured decides (an address identity
//     without one inherits its domain's, as the DG describes). In Success
//     the envelope sender is <MessageId>@<MAIL FROM domain>; in any other
//     state its BehaviorOnMXFailure applies: UseDefaultValue →
//     <MessageId>@<region>.<service domain>, RejectMessage →
//     KindMailFromNotVerified and nothing is queued. No MAIL FROM anywhere
//     in the chain → the default domain. The From header decides, not the
//     source parameter, because SPF and DKIM must align with the From
//     domain under DMARC.
//   - DKIM: an address identity whose own DKIM switch is off (v1
//     SetIdentityDkimEnabled false) is not signed. Otherwise the most
//     specific verified domain identity of the chain with a DKIM setup
//     signs (d= that domain): if its switch is off, nothing is signed; if
//     its DKIM status is not Success (the key is not published yet), a less
//     specific one is tried. Signatures: RSA first, then Ed25519 when the
//     identity has that key (identity.Store.SigningKeys).
//
// # Errors and their SES codes
//
// Rejections are *Error values; errors.Is matches the sentinel of their
// Kind, and a compose error stays reachable through errors.As. The API
// layers map them as follows (anything else is an internal failure: v1
// InternalFailure 500, v2 InternalServiceErrorException 500):
//
//	Kind (sentinel)                  v1 code, HTTP 400                   v2 code (HTTP status)
//	KindInvalid (ErrInvalid)         InvalidParameterValue               BadRequestException (400)
//	KindMessageRejected              MessageRejected                     MessageRejected (400)
//	  (ErrMessageRejected)
//	KindMailFromNotVerified          MailFromDomainNotVerifiedException  MailFromDomainNotVerifiedException (400)
//	  (ErrMailFromNotVerified)
//	KindSendingPaused                AccountSendingPausedException       SendingPausedException (400)
//	  (ErrSendingPaused)
//	KindRateExceeded (ErrThrottled)  Throttling                          TooManyRequestsException (429)
//	KindDailyQuotaExceeded           Throttling                          TooManyRequestsException (429)
//	  (ErrThrottled)
//	KindConfigurationSetDoesNotExist ConfigurationSetDoesNotExist        NotFoundException (404)
//	  (ErrConfigurationSetDoesNotExist)
//	KindConfigurationSetSendingPaused ConfigurationSetSendingPausedException SendingPausedException (400)
//	  (ErrConfigurationSetPaused)
//	KindRenderingFailure             (success: the MessageId)            (success: the MessageId)
//	  (ErrRenderingFailure)
//	KindContactListDoesNotExist      InvalidParameterValue               NotFoundException (404)
//	  (ErrContactListDoesNotExist)
//
// Per-destination statuses of the bulk operations, v1 / v2: InvalidParameterValue /
// INVALID_PARAMETER, MessageRejected / MESSAGE_REJECTED,
// MailFromDomainNotVerified / MAIL_FROM_DOMAIN_NOT_VERIFIED,
// AccountSendingPaused / ACCOUNT_SENDING_PAUSED, AccountThrottled /
// ACCOUNT_THROTTLED (rate), AccountDailyQuotaExceeded /
// ACCOUNT_DAILY_QUOTA_EXCEEDED, ConfigurationSetDoesNotExist /
// CONFIGURATION_SET_NOT_FOUND, ConfigurationSetSendingPaused /
// CONFIGURATION_SET_SENDING_PAUSED, ContactListDoesNotExist:
// InvalidParameterValue / INVALID_PARAMETER (SES's enums have nothing
// closer), RenderingFailure: Failed / FAILED
// (with the MessageId of the Rendering Failure event and Error its
// message).
//
// Error.Msg is the message to return to the client as it is; Error.Field
// names the parameter at fault when there is one (for logs).
//
// # Per-node state
//
// The sending-rate limiter is an in-memory token bucket per account, so with
// several API nodes the effective rate is up to MaxSendRate per node. The
// daily quota is counted in the database, with this node's messages in
// flight added, so concurrent sends on one node cannot overshoot it; sends
// racing on different nodes can, by at most the messages in flight.
package send
