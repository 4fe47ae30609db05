package bounce

import (
	"bytes"
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Kind says what a message is.
type Kind string

// The kinds of message Parse tells apart.
const (
	KindBounce    Kind = "bounce"     // failed or delayed delivery report about one or more recipients
	KindComplaint Kind = "complaint"  // ARF (RFC 5965) feedback report, or a look-alike (JMRP, Apple unsubscribe)
	KindAutoReply Kind = "auto-reply" // RFC 3834 auto-replies, vacation messages: never a bounce
	KindDelivered Kind = "delivered"  // success DSNs (Action delivered/relayed/expanded, 2.x.x): never a bounce
	KindUnknown   Kind = "unknown"    // nothing recognised
)

// The values of Report.Format.
const (
	FormatDSN        = "dsn"               // RFC 3464 message/delivery-status
	FormatARF        = "arf"               // RFC 5965 message/feedback-report
	FormatJMRP       = "jmrp"              // Microsoft Junk Mail Reporting Program
	FormatAppleUnsub = "apple-unsubscribe" // Apple Mail's unsubscribe message
	FormatAutoReply  = "auto-reply"        // RFC 3834 or a vacation look-alike
	FormatText       = "text"              // free text, read by heuristics
	FormatNone       = ""                  // nothing recognised
)

// Report is what Parse found in a message.
type Report struct {
	Kind         Kind        `json:"kind"`
	Format       string      `json:"format"`
	ReportingMTA string      `json:"reportingMta,omitempty"`
	Recipients   []Recipient `json:"recipients,omitempty"` // bounce: the failed/delayed recipients; complaint: the complained recipients; auto-reply: the replying address; delivered: the delivered recipients
	Complaint    *Complaint  `json:"complaint,omitempty"`
	Original     *Original   `json:"original,omitempty"` // the enclosed original message's headers, when present
}

// Recipient is one recipient a report is about.
type Recipient struct {
	// Address is the recipient: the DSN's Final-Recipient (else its
	// Original-Recipient when the final one is not a usable address), the
	// address found in the text, the complained or auto-replying address;
	// with its domain lower-cased.
	Address           string `json:"address"`
	OriginalRecipient string `json:"originalRecipient,omitempty"`
	// Action is the DSN Action, lower-cased, as written (non-standard
	// values such as "expired" are kept). For free text, "failed" or
	// "delayed" as the text says.
	Action string `json:"action,omitempty"`
	// Status is the enhanced status code "5.1.1": the DSN Status field,
	// else the code found in the text, else one inferred (see the package
	// doc).
	Status         string    `json:"status,omitempty"`
	DiagnosticCode string    `json:"diagnosticCode,omitempty"` // e.g. "smtp; 550 5.1.1 <x@y>: user unknown"
	RemoteMTA      string    `json:"remoteMta,omitempty"`
	LastAttempt    time.Time `json:"lastAttempt,omitzero"`
	// BounceType and BounceSubType are SES's (bounces only), from
	// [Classify].
	BounceType    string `json:"bounceType,omitempty"`
	BounceSubType string `json:"bounceSubType,omitempty"`
	// Suppress says the address belongs on the suppression list. For a
	// bounce, the report shows the address itself is bad
	// ([smtpcode.Verdict]): false for transient failures, and for
	// permanent ones that blame the sender, its reputation, a policy, the
	// message or a full mailbox. For a complaint, true unless its feedback
	// type is not-spam.
	Suppress bool `json:"suppress"`
	// Reason says, for operators, what decided the classification.
	Reason string `json:"reason,omitempty"`
	// Source says where Address was taken from when the report itself
	// does not name it as the recipient it is about: SourceReport (the
	// zero value) for everything the report says, else
	// SourceOriginalRecipient or SourceEnclosed.
	Source AddressSource `json:"source,omitempty"`
}

// AddressSource says where Parse took a recipient's address from.
type AddressSource string

// The values of Recipient.Source.
const (
	// SourceReport: the report names the address as the recipient it is
	// about: a DSN's Final-Recipient (or X-Actual-Recipient), an ARF
	// report's Original-Rcpt-To or Removal-Recipient, the text of a
	// bounce, X-Failed-Recipients, a JMRP report's
	// X-HmXmrOriginalRecipient.
	SourceReport AddressSource = ""
	// SourceOriginalRecipient: a DSN recipient group without a usable
	// Final-Recipient, whose address is its Original-Recipient. That
	// field repeats the ORCPT parameter (RFC 3461 §4.2) that whoever sent
	// the original message chose, not the reporting MTA's word about
	// where it failed.
	SourceOriginalRecipient AddressSource = "original-recipient"
	// SourceEnclosed: the report names no recipient, and the address is a
	// To or Cc of the enclosed original message: whom the message was
	// addressed to, not who failed or complained.
	SourceEnclosed AddressSource = "enclosed-message"
)

// Complaint holds the fields of a feedback report.
type Complaint struct {
	FeedbackType     string    `json:"feedbackType,omitempty"` // lower-cased: abuse, fraud, virus, other, not-spam, auth-failure, opt-out...
	UserAgent        string    `json:"userAgent,omitempty"`
	ArrivalDate      time.Time `json:"arrivalDate,omitzero"`
	SourceIP         string    `json:"sourceIp,omitempty"`
	OriginalMailFrom string    `json:"originalMailFrom,omitempty"`
	ReportedDomain   string    `json:"reportedDomain,omitempty"`
}

// Original holds headers of the message a report is about, from its
// enclosed copy (message/rfc822 or text/rfc822-headers).
type Original struct {
	MessageID  string    `json:"messageId,omitempty"` // without angle brackets
	From       string    `json:"from,omitempty"`
	To         []string  `json:"to,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	ReturnPath string    `json:"returnPath,omitempty"`
	Date       time.Time `json:"date,omitzero"`
}

// ErrNotMessage is returned for input that is not a mail message.
var ErrNotMessage = errors.New("bounce: not a mail message (no header)")

// Parse reads one message -- the bytes received on the feedback MX: a
// DSN, an ARF report, a vendor bounce, an auto-reply, anything -- and
// says what it is. It returns an error only for input that has no
// header at all; anything else gives a Report, of KindUnknown if nothing
// was recognised. Input after the first 40 MiB is ignored. An mbox-style
// input (starting with a "From " line) may hold several messages: their
// reports are merged when they are of the same kind.
func Parse(msg []byte) (*Report, error) {
	if len(msg) > maxInput {
		msg = msg[:maxInput]
	}
	msgs := splitMbox(msg)
	var merged *Report
	for i, m := range msgs {
		r, err := parseOne(m)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			continue
		}
		switch {
		case merged == nil:
			merged = r
		case r.Kind == merged.Kind && (r.Kind == KindBounce || r.Kind == KindDelivered || r.Kind == KindComplaint):
			merged.Recipients = appendRecipients(merged.Recipients, r.Recipients...)
		}
	}
	if merged != nil && merged.Kind == KindComplaint {
		// A complaint suppresses whom it names, unless it says the
		// message was not spam.
		keep := merged.Complaint != nil && merged.Complaint.FeedbackType == "not-spam"
		for i := range merged.Recipients {
			merged.Recipients[i].Suppress = !keep
		}
	}
	return merged, nil
}

var mboxFromRe = regexp.MustCompile(`^From \S+ .*\d`)

// splitMbox splits an mbox-style input at its "From " lines (each
// preceded by an empty line, except the first) and drops those lines. An
// input that does not start with "From " is one message.
func splitMbox(b []byte) [][]byte {
	first, rest := nextLine(b)
	if !mboxFromRe.Match(first) || rest == nil {
		return [][]byte{b}
	}
	b = rest
	var msgs [][]byte
	start := 0
	for pos := 0; len(msgs) < maxMessages-1; {
		i := bytes.Index(b[pos:], []byte("\n\nFrom "))
		if i < 0 {
			break
		}
		i += pos + 2 // start of the "From " line
		line, rest := nextLine(b[i:])
		pos = i + 1
		if !mboxFromRe.Match(line) || rest == nil {
			continue
		}
		if h, _ := parseHeader(rest); len(h) == 0 {
			continue
		}
		msgs = append(msgs, b[start:i])
		start = len(b) - len(rest)
		pos = start
	}
	return append(msgs, b[start:])
}

// message is one parsed message and what Parse looks at in it.
type message struct {
	root       *part
	hdr        header
	text       *textReport // the free text read, once read
	inline     header      // the original's header copied into the text, if any
	inlineText string      // the text from that copy on
	level      int         // 0, or how deep in quoted bounces this message is
}

// parseOne parses a single message.
func parseOne(b []byte) (*Report, error) {
	// Leading empty lines or an mbox "From " line before the header.
	for {
		line, rest := nextLine(b)
		mbox := bytes.HasPrefix(line, []byte("From ")) && !bytes.HasPrefix(bytes.TrimLeft(line[5:], " \t"), []byte(":"))
		if rest == nil || (len(bytes.TrimSpace(line)) != 0 && !mbox) {
			break
		}
		b = rest
	}
	w := &walker{}
	root := w.entity(b, 0, "text/plain")
	if len(root.hdr) == 0 {
		return nil, ErrNotMessage
	}
	m := &message{root: root, hdr: root.hdr}
	r := m.report()
	if len(r.Recipients) > maxRecipients {
		r.Recipients = r.Recipients[:maxRecipients]
	}
	return r, nil
}

// report decides what m is. The order matters: a feedback report or a
// delivery-status part wins over everything; a recognised bounce text
// wins over the auto-reply headers that many bounces also carry.
func (m *message) report() *Report {
	r := m.decide()
	if r.Original == nil {
		r.Original = m.original()
	}
	return r
}

func (m *message) decide() *Report {
	if r := m.arf(); r != nil {
		return r
	}
	if r := m.dsn(); r != nil {
		return r
	}
	if r := m.enclosedDSN(); r != nil {
		return r
	}
	if r := m.jmrp(); r != nil {
		return r
	}
	if r := m.sesJSON(); r != nil {
		return r
	}
	if r := m.appleUnsubscribe(); r != nil {
		return r
	}
	if m.strongAutoReply() {
		return m.autoReply()
	}
	if r := m.textBounce(); r != nil {
		return r
	}
	if m.weakAutoReply() {
		return m.autoReply()
	}
	return &Report{Kind: KindUnknown, Format: FormatNone}
}

// enclosedDSN reads a DSN that m encloses as a message/rfc822 part: a
// bounce forwarded by a relay or a filter, its own text saying little.
func (m *message) enclosedDSN() *Report {
	var r *Report
	m.root.walk(false, func(p *part) {
		if r != nil || p.msg == nil || p == m.root || len(p.msg.hdr) == 0 {
			return
		}
		has := false
		p.msg.walk(false, func(q *part) { has = has || isDeliveryStatus(q.ctype) })
		if !has {
			return
		}
		inner := &message{root: p.msg, hdr: p.msg.hdr, level: m.level + 1}
		if r = inner.dsn(); r != nil && r.Original == nil {
			r.Original = inner.original()
		}
	})
	return r
}

// originalPart returns the enclosed original message (or header block):
// the last message/rfc822 or headers part outside enclosed messages.
func (m *message) originalPart() *part {
	var found *part
	m.root.walk(false, func(p *part) {
		if p.msg != nil && p != m.root {
			found = p.msg
		}
	})
	return found
}

// originalHeader returns the header of the original message: of its
// enclosed copy, else of a copy in the text (once the text was read).
func (m *message) originalHeader() header {
	if p := m.originalPart(); p != nil && len(p.hdr) > 0 {
		return p.hdr
	}
	return m.inline
}

// original returns the headers of the original message.
func (m *message) original() *Original {
	h := m.originalHeader()
	if len(h) == 0 {
		return nil
	}
	o := &Original{
		MessageID:  strings.Trim(strings.TrimSpace(h.get("Message-Id")), "<>"),
		From:       h.decoded("From"),
		Subject:    h.decoded("Subject"),
		ReturnPath: cleanAddress(h.get("Return-Path")),
	}
	for _, name := range []string{"To", "Cc"} {
		for _, v := range h.values(name) {
			o.To = append(o.To, headerAddresses(v)...)
		}
	}
	if d := h.get("Date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			o.Date = t
		}
	}
	if o.MessageID == "" && o.From == "" && o.Subject == "" && o.ReturnPath == "" && len(o.To) == 0 && o.Date.IsZero() {
		return nil
	}
	return o
}

// appendRecipients appends rs to list, skipping addresses already there
// and stopping at maxRecipients.
func appendRecipients(list []Recipient, rs ...Recipient) []Recipient {
	for _, r := range rs {
		if len(list) >= maxRecipients {
			break
		}
		dup := false
		for _, l := range list {
			if strings.EqualFold(l.Address, r.Address) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, r)
		}
	}
	return list
}

// parseDate parses a date field leniently, returning zero if it does not
// parse.
func parseDate(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t
	}
	// Drop a trailing comment, as "(JST)" after an offset.
	if i := strings.LastIndex(s, "("); i > 0 {
		if t, err := mail.ParseDate(strings.TrimSpace(s[:i])); err == nil {
			return t
		}
	}
	return time.Time{}
}
