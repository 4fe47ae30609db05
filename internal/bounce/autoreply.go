package bounce

import (
	"regexp"
	"strings"
)

// autoReplySubjectRe matches the subjects auto-responders write.
var autoReplySubjectRe = regexp.MustCompile(`(?i)^\s*(?:(?:re|aw|fw|fwd)\s*:\s*)*(?:` +
	`auto(?:matic|matisch|matische)?[ -]?(?:reply|response|responder|antwort|answer)|autoreply|auto-?respon[sd]|` +
	`out of (?:the )?office|ooo\b|vacation|on leave|away from (?:the |my )?(?:office|desk)|` +
	`abwesenheit|r[ée]ponse automatique|absence|respuesta autom[aá]tica|fuera de la oficina|` +
	`risposta automatica|fuori sede|automatisch antwoord|afwezig|resposta autom[aá]tica|` +
	`automatyczna odpowied|automatick[aá] odpov|自動応答|自動返信|不在)`)

// strongAutoReply reports whether m says by its header that it is an
// auto-reply and does not look like it comes from a mail system: a
// vacation subject, or X-Autoreply, X-Autorespond, Precedence:
// auto_reply, with a sender that is not MAILER-DAEMON or postmaster and
// no X-Failed-Recipients. Such a message is an auto-reply even if its
// text happens to read like a bounce.
func (m *message) strongAutoReply() bool {
	if m.fromDaemon() || m.hdr.has("X-Failed-Recipients") {
		return false
	}
	return autoReplySubjectRe.MatchString(m.hdr.decoded("Subject")) || autoReplyHeaders(m.hdr)
}

// autoReplyHeaders reports the header fields auto-responders add, other
// than Auto-Submitted (which DSNs carry too).
func autoReplyHeaders(h header) bool {
	for _, name := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-Vacation", "X-Mailer-Autoreply"} {
		if v := strings.ToLower(strings.TrimSpace(h.get(name))); h.has(name) && v != "no" && v != "false" && v != "0" {
			return true
		}
	}
	for _, name := range []string{"Precedence", "X-Precedence"} {
		if v := strings.ToLower(strings.TrimSpace(h.get(name))); v == "auto_reply" || v == "auto-reply" || v == "autoreply" {
			return true
		}
	}
	return false
}

// weakAutoReply reports an RFC 3834 "Auto-Submitted: auto-replied" on a
// message that was not recognised as a bounce.
func (m *message) weakAutoReply() bool {
	v := strings.ToLower(m.hdr.get("Auto-Submitted"))
	return strings.HasPrefix(strings.TrimSpace(v), "auto-replied")
}

// autoReply makes the report of an auto-reply: the replying address is
// the From (else Reply-To, Sender).
func (m *message) autoReply() *Report {
	r := &Report{Kind: KindAutoReply, Format: FormatAutoReply}
	for _, name := range []string{"From", "Reply-To", "Sender", "Return-Path"} {
		if a := firstAddress(m.hdr.get(name)); a != "" {
			r.Recipients = []Recipient{{Address: a, Reason: "auto-reply (" + m.autoReplyWhy() + ") from this " + name + " address"}}
			break
		}
	}
	return r
}

// autoReplyWhy says which header made m an auto-reply.
func (m *message) autoReplyWhy() string {
	switch {
	case autoReplyHeaders(m.hdr):
		return "auto-responder header"
	case autoReplySubjectRe.MatchString(m.hdr.decoded("Subject")):
		return "subject " + clip(m.hdr.decoded("Subject"), 60)
	}
	return "Auto-Submitted: auto-replied"
}

// fromDaemon reports whether m comes from a mail system: its From is
// MAILER-DAEMON, postmaster or alike, or its display name says "Mail
// Delivery".
func (m *message) fromDaemon() bool {
	from := m.hdr.decoded("From")
	if a := firstAddress(from); a != "" && isDaemon(a) {
		return true
	}
	l := strings.ToLower(from)
	for _, w := range []string{"mailer-daemon", "mailer_daemon", "mail delivery", "postmaster", "mail administrator", "delivery subsystem", "mail system", "delivery status"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// clip shortens s to n bytes, at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
