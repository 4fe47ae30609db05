package bounce

import (
	"strings"

	"github.com/sesame-email/sesame/internal/smtpcode"
)

// isDeliveryStatus reports whether ct is a delivery-status media type:
// RFC 3464's message/delivery-status, RFC 6533's
// message/global-delivery-status, or the text/delivery-status some
// reporters write.
func isDeliveryStatus(ct string) bool {
	switch ct {
	case "message/delivery-status", "message/global-delivery-status", "text/delivery-status",
		"message/x-delivery-status", "text/x-delivery-status":
		return true
	}
	return false
}

// perMessageFields are the per-message fields of a DSN (RFC 3464 §2.2).
var perMessageFields = map[string]bool{
	"reporting-mta": true, "dsn-gateway": true, "received-from-mta": true,
	"arrival-date": true, "original-envelope-id": true,
}

// dsnGroup is one per-recipient group of a DSN (RFC 3464 §2.3).
type dsnGroup struct {
	fields header
}

// parseDeliveryStatus reads the fields of a delivery-status body: the
// per-message fields, wherever they are, and the per-recipient groups.
// It is tolerant: "Name : value", folded lines, lines that are not fields
// (skipped), and groups not separated by an empty line (a field the
// current group already has starts a new group).
func parseDeliveryStatus(text string) (perMessage header, groups []dsnGroup) {
	var cur header
	var last *field // the field continuation lines add to
	flush := func() {
		if hasRecipientField(cur) || cur.has("Status") || cur.has("Action") {
			groups = append(groups, dsnGroup{fields: cur})
		}
		cur = nil
		last = nil
	}
	for n, line := range strings.Split(text, "\n") {
		if n > 20000 || len(groups) >= maxRecipients {
			break
		}
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != nil && len(last.value) < 4096 {
				last.value = strings.TrimSpace(last.value + " " + strings.TrimSpace(line))
			}
			continue
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			last = nil
			continue
		}
		name := strings.TrimRight(line[:i], " \t")
		if !isFieldName(name) {
			last = nil
			continue
		}
		f := field{name: name, value: strings.TrimSpace(line[i+1:])}
		lname := strings.ToLower(name)
		if perMessageFields[lname] {
			perMessage = append(perMessage, f)
			last = &perMessage[len(perMessage)-1]
			continue
		}
		if len(cur) >= 100 {
			continue // a group has a dozen fields; this is garbage
		}
		if cur.has(name) {
			// A group has each field once: this one starts the next
			// group (groups not separated by an empty line).
			flush()
		}
		cur = append(cur, f)
		last = &cur[len(cur)-1]
	}
	flush()
	return perMessage, groups
}

func hasRecipientField(h header) bool {
	return h.has("Final-Recipient") || h.has("Original-Recipient")
}

// isSuccessAction reports whether a DSN action says the message was
// delivered (RFC 3464 §2.3.3: delivered, relayed, expanded; some write
// "deliverable").
func isSuccessAction(a string) bool {
	switch a {
	case "delivered", "relayed", "expanded", "deliverable":
		return true
	}
	return false
}

// cleanAction lower-cases an Action value and drops a comment after it.
func cleanAction(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	if i := strings.IndexAny(a, " \t(;"); i > 0 {
		a = a[:i]
	}
	return a
}

// dsn reads the delivery-status parts of m, or returns nil if it has none
// with a recipient group.
func (m *message) dsn() *Report {
	var perMessage header
	var groups []dsnGroup
	found := false
	m.root.walk(false, func(p *part) {
		if !isDeliveryStatus(p.ctype) {
			return
		}
		found = true
		pm, gs := parseDeliveryStatus(p.text(maxDecoded))
		perMessage = append(perMessage, pm...)
		groups = append(groups, gs...)
	})
	if !found || len(groups) == 0 {
		if found {
			// An empty delivery-status part: the text may still say
			// what failed.
			if r := m.textBounce(); r != nil {
				return r
			}
		}
		return nil
	}
	r := &Report{Kind: KindBounce, Format: FormatDSN, ReportingMTA: cleanMTA(perMessage.get("Reporting-MTA"))}
	var bounced, delivered []Recipient
	var unresolved []int // indexes in bounced without a usable address
	var text *textReport // the text read, when needed
	readText := func() *textReport {
		if text == nil {
			text = m.readText()
		}
		return text
	}
	for _, g := range groups {
		rc, _ := dsnRecipient(g)
		success := strings.HasPrefix(rc.Status, "2.") || (rc.Status == "" && isSuccessAction(rc.Action))
		if success {
			if rc.Address != "" {
				rc.Reason = "DSN status " + rc.Status + ", action " + rc.Action + ": delivered"
				delivered = append(delivered, rc)
			}
			continue
		}
		if rc.Address == "" {
			unresolved = append(unresolved, len(bounced))
		}
		bounced = append(bounced, rc)
	}
	if len(unresolved) > 0 {
		// Final-Recipient is a file, a bare domain, ...: take the
		// addresses the text (or X-Failed-Recipients) names, in order.
		known := map[string]bool{}
		for _, b := range bounced {
			if b.Address != "" {
				known[strings.ToLower(b.Address)] = true
			}
		}
		var cands []string
		for _, tr := range readText().recipients {
			if !known[strings.ToLower(tr.Address)] {
				cands = append(cands, tr.Address)
			}
		}
		for i, idx := range unresolved {
			if i < len(cands) {
				bounced[idx].Address = cands[i]
			}
		}
	}
	for i := range bounced {
		rc := &bounced[i]
		if rc.Status == "" {
			// No code in the DSN at all: what the text says.
			if tr := readText().find(rc.Address); tr != nil {
				rc.Status = tr.Status
				if rc.DiagnosticCode == "" {
					rc.DiagnosticCode = tr.DiagnosticCode
				}
			}
		}
		if rc.Status == "" {
			switch {
			case rc.Action == "delayed":
				rc.Status = "4.0.0"
			default:
				rc.Status = "5.0.0"
			}
		}
		classifyRecipient(rc, "DSN ")
	}
	for _, rc := range bounced {
		if rc.Address != "" {
			r.Recipients = appendRecipients(r.Recipients, rc)
		}
	}
	if len(r.Recipients) == 0 {
		if len(delivered) > 0 {
			r.Kind = KindDelivered
			r.Recipients = appendRecipients(nil, delivered...)
			return r
		}
		if tr := m.textBounce(); tr != nil {
			return tr
		}
		return nil
	}
	return r
}

// dsnRecipient reads a recipient group: its address is the
// Final-Recipient, else X-Actual-Recipient, else Original-Recipient, when
// usable; its status the Status field, else the code of its
// Diagnostic-Code. ok is false if the group names no recipient at all.
func dsnRecipient(g dsnGroup) (rc Recipient, ok bool) {
	f := g.fields
	rc = Recipient{
		Address:           cleanAddress(f.get("Final-Recipient")),
		OriginalRecipient: cleanAddress(f.get("Original-Recipient")),
		Action:            cleanAction(f.get("Action")),
		Status:            parseStatus(f.get("Status")).String(),
		DiagnosticCode:    strings.TrimSpace(f.get("Diagnostic-Code")),
		RemoteMTA:         cleanMTA(f.get("Remote-MTA")),
		LastAttempt:       parseDate(f.get("Last-Attempt-Date")),
	}
	if rc.Address == "" {
		rc.Address = cleanAddress(f.get("X-Actual-Recipient"))
	}
	if rc.Address == "" && rc.OriginalRecipient != "" {
		rc.Address, rc.Source = rc.OriginalRecipient, SourceOriginalRecipient
	}
	if rc.Status == "" {
		if d := parseDiagnostic(rc.DiagnosticCode); d.enhanced.valid() {
			rc.Status = d.enhanced.String()
		} else {
			rc.Status = smtpcode.Reply{Code: d.code}.Status() // X.0.0 of a 2yz/4yz/5yz reply, else none
		}
	}
	return rc, hasRecipientField(f)
}

// classifyRecipient sets the bounce type, subtype, suppression verdict and
// reason of rc from its status and diagnostic.
func classifyRecipient(rc *Recipient, from string) {
	v := Classify(rc.Status, rc.DiagnosticCode)
	rc.BounceType, rc.BounceSubType, rc.Suppress = v.BounceType, v.SubType, v.Suppress
	rc.Reason = from + v.Rule
	if v.Suppress {
		rc.Reason += "; the address is bad: suppress it"
	}
	if rc.Action == "" {
		if strings.HasPrefix(rc.Status, "4.") {
			rc.Action = "delayed"
		} else {
			rc.Action = "failed"
		}
	}
}

// cleanMTA drops the "dns;" type of an MTA name field.
func cleanMTA(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ';'); i >= 0 && i < 20 {
		s = strings.TrimSpace(s[i+1:])
	}
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}
