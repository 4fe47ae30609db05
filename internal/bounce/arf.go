package bounce

import (
	"strings"
)

// arf reads the message/feedback-report parts of m (RFC 5965), or
// returns nil if it has none.
func (m *message) arf() *Report {
	var reports []header
	m.root.walk(false, func(p *part) {
		if p.ctype != "message/feedback-report" || len(reports) >= maxParts {
			return
		}
		// The report is one header-like block; be tolerant of empty
		// lines inside it.
		var h header
		for _, g := range strings.Split(p.text(maxDecoded), "\n\n") {
			gh, _ := parseHeader([]byte(strings.TrimLeft(g, "\r\n")))
			h = append(h, gh...)
		}
		reports = append(reports, h)
	})
	if len(reports) == 0 {
		return nil
	}
	first := reports[0]
	c := &Complaint{
		FeedbackType:     strings.ToLower(strings.TrimSpace(first.get("Feedback-Type"))),
		UserAgent:        strings.TrimSpace(first.get("User-Agent")),
		SourceIP:         strings.TrimSpace(first.get("Source-IP")),
		OriginalMailFrom: cleanAddress(first.get("Original-Mail-From")),
		ReportedDomain:   strings.ToLower(strings.TrimSpace(first.get("Reported-Domain"))),
	}
	if c.OriginalMailFrom == "" {
		c.OriginalMailFrom = strings.Trim(strings.TrimSpace(first.get("Original-Mail-From")), "<>")
	}
	c.ArrivalDate = parseDate(first.get("Arrival-Date"))
	if c.ArrivalDate.IsZero() {
		c.ArrivalDate = parseDate(first.get("Received-Date"))
	}
	r := &Report{Kind: KindComplaint, Format: FormatARF, Complaint: c}
	why := "ARF feedback report, Feedback-Type " + c.FeedbackType
	for _, h := range reports {
		for _, name := range []string{"Original-Rcpt-To", "Removal-Recipient"} {
			for _, v := range h.values(name) {
				if a := cleanAddress(v); a != "" {
					r.Recipients = appendRecipients(r.Recipients, Recipient{Address: a, Reason: why + ", recipient from " + name})
				}
			}
		}
	}
	if len(r.Recipients) == 0 {
		if o := m.originalPart(); o != nil {
			for _, name := range []string{"To", "Cc"} {
				for _, v := range o.hdr.values(name) {
					for _, a := range headerAddresses(v) {
						r.Recipients = appendRecipients(r.Recipients, Recipient{Address: a, Reason: why + ", recipient from the enclosed message's " + name, Source: SourceEnclosed})
					}
				}
			}
		}
	}
	return r
}

// jmrp reads a Microsoft JMRP (Junk Mail Reporting Program) report: not
// RFC 5965, but a message enclosing the reported one, which carries the
// complaining recipient in X-HmXmrOriginalRecipient.
func (m *message) jmrp() *Report {
	o := m.originalPart()
	if o == nil || !o.hdr.has("X-HmXmrOriginalRecipient") {
		return nil
	}
	r := &Report{Kind: KindComplaint, Format: FormatJMRP, Complaint: &Complaint{FeedbackType: "abuse"}}
	for _, v := range o.hdr.values("X-HmXmrOriginalRecipient") {
		if a := cleanAddress(v); a != "" {
			r.Recipients = appendRecipients(r.Recipients, Recipient{Address: a, Reason: "Microsoft JMRP report: X-HmXmrOriginalRecipient of the enclosed message"})
		}
	}
	r.Complaint.SourceIP = strings.TrimSpace(o.hdr.get("X-Reporter-IP"))
	return r
}

// appleUnsubscribe reads the message Apple Mail sends to unsubscribe
// (X-Apple-Unsubscribe: true): a complaint of type opt-out from the
// address it comes from.
func (m *message) appleUnsubscribe() *Report {
	if !strings.EqualFold(strings.TrimSpace(m.hdr.get("X-Apple-Unsubscribe")), "true") {
		return nil
	}
	r := &Report{Kind: KindComplaint, Format: FormatAppleUnsub, Complaint: &Complaint{FeedbackType: "opt-out"}}
	if a := firstAddress(m.hdr.get("From")); a != "" {
		r.Recipients = []Recipient{{Address: a, Reason: "Apple Mail unsubscribe message (X-Apple-Unsubscribe: true) from this address"}}
	}
	return r
}
