package smtpcode

import "strings"

// The bounceType and bounceSubType values of SES's Bounce event
// (ses-api.md §13.3).
const (
	BounceUndetermined = "Undetermined" // bounceType, and its only bounceSubType
	BouncePermanent    = "Permanent"
	BounceTransient    = "Transient"

	SubTypeGeneral                  = "General" // Permanent or Transient
	SubTypeNoEmail                  = "NoEmail" // Permanent
	SubTypeSuppressed               = "Suppressed"
	SubTypeOnAccountSuppressionList = "OnAccountSuppressionList"
	SubTypeMailboxFull              = "MailboxFull" // Transient
	SubTypeMessageTooLarge          = "MessageTooLarge"
	SubTypeContentRejected          = "ContentRejected"
	SubTypeAttachmentRejected       = "AttachmentRejected"
)

// Classify gives the bounceType and bounceSubType of SES's Bounce event
// (ses-api.md §13.3) for the reply that ended delivery to a recipient:
// a permanent reply, or the last temporary one when the retry window ran
// out.
//
// bounceType Permanent is what makes an address a hard bounce (counted
// in the bounce rate, added to the suppression list), so it is given
// only when the reply is permanent and says nothing that puts the blame
// elsewhere than on the recipient address: the message (size, content,
// policy), a full mailbox, the sender's address, or time. Those get
// Transient, which is also the only bounceType SES pairs with
// MailboxFull, MessageTooLarge, ContentRejected and AttachmentRejected.
// The table, by enhanced code (RFC 3463 §3), then basic code:
//
//	reply                               bounceType    bounceSubType
//	5.1.1 5.1.2 5.1.3 5.1.6 5.1.10      Permanent     NoEmail          bad/moved destination address, null MX (RFC 7505)
//	5.1.7 5.1.8                         Transient     General          the sender's address was refused
//	5.2.2, 4.2.2                        Transient     MailboxFull      "persistent transient failure" (§3.3)
//	5.2.3 5.3.4, 4.2.3 4.3.4            Transient     MessageTooLarge  message too big for the mailbox or system
//	5.4.7                               Transient     General          delivery time expired
//	5.6.x                               Transient     ContentRejected  media/content refused (§3.7)
//	5.7.0 5.7.1                         Transient     ContentRejected  refused by policy -- spam and content filters (§3.8)
//	other 5.7.x                         Transient     General          security/authentication (SPF, DKIM, DMARC, TLS)
//	556 (no enhanced code)              Permanent     NoEmail          domain accepts no mail (RFC 7504)
//	552 (no enhanced code)              Transient     General          storage exceeded: mailbox or message size
//	other 5yz                           Permanent     General
//	other 4yz                           Transient     General
//	anything else (2yz, 3yz, zero)      Undetermined  Undetermined
//
// For 5.6.x, 5.7.0 and 5.7.1, a text that mentions "attachment" (any
// case) gives AttachmentRejected instead of ContentRejected: RFC 3463 has
// no code for it, and that word is how receivers say it. An enhanced code
// whose class is not the first digit of Code is ignored. Suppressed and
// OnAccountSuppressionList are not replies and are never returned.
func Classify(r Reply) (bounceType, subType string) {
	class := r.Code / 100
	if class != 4 && class != 5 {
		return BounceUndetermined, BounceUndetermined
	}
	subject, detail := -1, -1
	if validEnhanced(r.Code, r.Enhanced) {
		subject, detail = r.Enhanced[1], r.Enhanced[2]
	}
	switch {
	case subject == 2 && detail == 2:
		return BounceTransient, SubTypeMailboxFull
	case subject == 2 && detail == 3, subject == 3 && detail == 4:
		return BounceTransient, SubTypeMessageTooLarge
	case class == 4:
		return BounceTransient, SubTypeGeneral
	case subject == 1 && (detail == 1 || detail == 2 || detail == 3 || detail == 6 || detail == 10):
		return BouncePermanent, SubTypeNoEmail
	case subject == 1 && (detail == 7 || detail == 8):
		return BounceTransient, SubTypeGeneral
	case subject == 4 && detail == 7:
		return BounceTransient, SubTypeGeneral
	case subject == 6, subject == 7 && (detail == 0 || detail == 1):
		if strings.Contains(strings.ToLower(r.Text), "attachment") {
			return BounceTransient, SubTypeAttachmentRejected
		}
		return BounceTransient, SubTypeContentRejected
	case subject == 7:
		return BounceTransient, SubTypeGeneral
	case subject < 0 && r.Code == NoMailDomain:
		return BouncePermanent, SubTypeNoEmail
	case subject < 0 && r.Code == ExceededStorage:
		return BounceTransient, SubTypeGeneral
	}
	return BouncePermanent, SubTypeGeneral
}
