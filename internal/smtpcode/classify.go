package smtpcode

import (
	"fmt"
	"regexp"
	"strings"
)

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

// Verdict is what a failure reply means for SES's Bounce event and for
// the suppression list.
type Verdict struct {
	// BounceType and SubType are the event's bounceType and
	// bounceSubType.
	BounceType, SubType string
	// Suppress says the reply shows the destination address itself is
	// bad, so that it belongs on the suppression list. It is never true
	// for a Transient or Undetermined bounce, and not for a permanent
	// refusal that blames something else: the message, a full mailbox,
	// the sender, its reputation or a policy.
	Suppress bool
	// Rule is the row of the table that decided, as a short phrase for
	// operators ("bad destination address (5.1.1)").
	Rule string
}

// Classify gives the bounceType and bounceSubType of SES's Bounce event
// (ses-api.md §13.3) for a failure reply: see [Judge].
func Classify(r Reply) (bounceType, subType string) {
	v := Judge(r)
	return v.BounceType, v.SubType
}

// Judge classifies a failure reply — one that ended delivery to a
// recipient, or the one a bounce report carries.
//
// The bounceType follows the reply's class, as RFC 3463 defines it and as
// a DSN's Status says: 5yz is Permanent, 4yz Transient. Whether a
// permanent refusal means the address is bad is a separate question,
// answered by Suppress: many permanent refusals are about the sender
// (block lists, reputation, authentication, policy) or the message, and
// suppressing a good address for them is a classic complaint about other
// senders. The table, by enhanced code (RFC 3463 §3), then basic code:
//
//	reply                               bounceType    bounceSubType      Suppress
//	5.1.1 5.1.2 5.1.3 5.1.6 5.1.10      Permanent     NoEmail            yes  bad/moved destination address, null MX (RFC 7505)
//	556 (no enhanced code)              Permanent     NoEmail            yes  domain accepts no mail (RFC 7504)
//	5.1.7 5.1.8                         Permanent     General            no   the sender's address was refused
//	5.2.2 5.2.3, 552 (no enhanced code) Permanent     General            no   mailbox full, or the message too big for it
//	5.3.x                               Permanent     General            no   the receiving system (5.3.4: message too big)
//	5.4.7                               Permanent     General            no   delivery time expired
//	5.6.x 5.7.x                         Permanent     General            no   content, policy, security (SPF, DKIM, DMARC, TLS)
//	5yz, text blames the sender (below) Permanent     General            no   block lists, reputation, rate limits, policy
//	5yz, text says full or too large    Permanent     General            no   "mailbox full", "over quota", "too large", ...
//	other 5yz                           Permanent     General            yes
//	4.2.2                               Transient     MailboxFull        no
//	4.2.3 4.3.4                         Transient     MessageTooLarge    no
//	4.6.x 4.7.0 4.7.1                   Transient     ContentRejected    no   (AttachmentRejected when the text says "attachment")
//	4yz, text speaks of spam or content Transient     ContentRejected    no
//	other 4yz                           Transient     General            no
//	anything else (2yz, 3yz, zero)      Undetermined  Undetermined       no
//
// SES pairs MailboxFull, MessageTooLarge, ContentRejected and
// AttachmentRejected with Transient only, so a permanent refusal of those
// kinds is Permanent/General, with Suppress false. An enhanced code whose
// class is not the first digit of Code is ignored. Suppressed and
// OnAccountSuppressionList are not replies and are never returned.
//
// The sender-blame rule: a 5yz reply without one of the bad-address codes
// of the first row (5.1.1 5.1.2 5.1.3 5.1.6 5.1.10), whose text says the
// refusal is about the sending host, its reputation or a policy, is not
// evidence that the address is bad. The words, matched as whole words,
// any case: "blocked", "blocking", "block list", "blocklist(ed)",
// "blacklist(ed)", "black list", "denylist(ed)", "listed at/in/on/by" (not
// after "not", and not "listed in ... directory" or "address book", which
// is how some servers say "unknown user"), "reputation", "spamhaus",
// "spamcop", "dnsbl", "rbl", "sorbs", "spam", "spammer", "policy",
// "policies", "rejected due to", "too many", "rate limit(ed)",
// "rate-limited".
func Judge(r Reply) Verdict {
	class := r.Code / 100
	if class != 4 && class != 5 {
		return Verdict{BounceUndetermined, BounceUndetermined, false, "not a failure reply"}
	}
	subject, detail := -1, -1
	code := fmt.Sprintf("%d", r.Code)
	// An unspecific X.0.0 says no more than the class: the basic code's own
	// meaning (552 storage, 556 no mail) counts, as when there is none
	// (and as a DSN's Status: X.0.0 reads in package bounce).
	if validEnhanced(r.Code, r.Enhanced) && (r.Enhanced[1] != 0 || r.Enhanced[2] != 0) {
		subject, detail = r.Enhanced[1], r.Enhanced[2]
		code = r.EnhancedString()
	}
	attachment := strings.Contains(strings.ToLower(r.Text), "attachment")
	if class == 4 {
		t := func(sub, rule string) Verdict { return Verdict{BounceTransient, sub, false, rule + " (" + code + ")"} }
		switch {
		case subject == 2 && detail == 2:
			return t(SubTypeMailboxFull, "mailbox full")
		case subject == 2 && detail == 3, subject == 3 && detail == 4:
			return t(SubTypeMessageTooLarge, "message too large")
		case (subject == 6 || subject == 7 && (detail == 0 || detail == 1) || contentWords.MatchString(r.Text)) && attachment:
			return t(SubTypeAttachmentRejected, "attachment refused")
		case subject == 6, subject == 7 && (detail == 0 || detail == 1), contentWords.MatchString(r.Text):
			return t(SubTypeContentRejected, "content or policy refusal")
		}
		return t(SubTypeGeneral, "temporary failure")
	}
	keep := func(rule string) Verdict {
		return Verdict{BouncePermanent, SubTypeGeneral, false, rule + " (" + code + ")"}
	}
	switch {
	case badAddress(r):
		return Verdict{BouncePermanent, SubTypeNoEmail, true, "bad destination address (" + code + ")"}
	case subject < 0 && r.Code == NoMailDomain:
		if blame := blamesSender(r.Text); blame != "" {
			return keep("the reply text blames the sender or a policy (" + blame + "), not the address")
		}
		return Verdict{BouncePermanent, SubTypeNoEmail, true, "domain accepts no mail (556)"}
	case subject == 1 && (detail == 7 || detail == 8):
		return keep("the sender's address was refused")
	case subject == 2 && (detail == 2 || detail == 3), subject < 0 && r.Code == ExceededStorage:
		return keep("mailbox full or message too large for it")
	case subject == 3:
		return keep("the receiving mail system refused")
	case subject == 4 && detail == 7:
		return keep("delivery time expired")
	case subject == 6 && attachment, subject == 7 && attachment:
		return keep("attachment refused")
	case subject == 6:
		return keep("content refused")
	case subject == 7:
		return keep("refused by policy or security (SPF, DKIM, DMARC, TLS)")
	}
	if blame := blamesSender(r.Text); blame != "" {
		return keep("the reply text blames the sender or a policy (" + blame + "), not the address")
	}
	if fullWords.MatchString(r.Text) {
		return keep("the reply text says the mailbox is full or the message too large")
	}
	return Verdict{BouncePermanent, SubTypeGeneral, true, "permanent failure (" + code + ")"}
}

// badAddress reports whether r carries one of the enhanced codes that say
// the destination address itself is bad.
func badAddress(r Reply) bool {
	if !validEnhanced(r.Code, r.Enhanced) || r.Enhanced[1] != 1 {
		return false
	}
	switch r.Enhanced[2] {
	case 1, 2, 3, 6, 10:
		return true
	}
	return false
}

var (
	// blameWords are the words of the sender-blame rule (see Classify).
	blameWords = regexp.MustCompile(`(?i)\b(?:block(?:ed|ing)|block ?list(?:ed)?|black ?list(?:ed)?|deny ?list(?:ed)?|listed\s+(?:at|in|on|by)\b[^.;]{0,60}|reputation|spamhaus|spamcop|dnsbl|rbl|sorbs|spam|spammer|spamming|polic(?:y|ies)|rejected due to|too many|rate[ -]limit(?:ed|ing)?)\b`)
	// fullWords say a mailbox is full or a message too large, without the
	// enhanced code that would say so.
	fullWords = regexp.MustCompile(`(?i)\b(?:mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:storage|quota)|insufficient (?:storage|disk space)|storage (?:allocation|limit)|too (?:large|big))\b`)
	// contentWords make a temporary refusal ContentRejected.
	contentWords = regexp.MustCompile(`(?i)\b(?:spam|content|virus|malware|phishing)\b`)
	// directoryWords after "listed in" mean a directory lookup, the way
	// Domino and others say "unknown user".
	directoryWords = regexp.MustCompile(`(?i)directory|address book|names? (?:&|and) address`)
)

// blamesSender returns the first word of the sender-blame rule found in
// text, or "".
func blamesSender(text string) string {
	for _, loc := range blameWords.FindAllStringIndex(text, -1) {
		w := text[loc[0]:loc[1]]
		if strings.HasPrefix(strings.ToLower(w), "listed") {
			before := strings.ToLower(strings.TrimRight(text[:loc[0]], " \t"))
			if strings.HasSuffix(before, "not") || strings.HasSuffix(before, "n't") || directoryWords.MatchString(w) {
				continue
			}
			w = strings.Fields(w)[0] + " " + strings.Fields(w)[1]
		}
		return strings.ToLower(w)
	}
	return ""
}
