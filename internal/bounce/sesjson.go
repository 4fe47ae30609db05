package bounce

import (
	"encoding/json"
	"strings"

	"github.com/sesame-email/sesame/internal/smtpcode"
)

// FormatSESNotification is Report.Format for an Amazon SES notification
// (JSON, possibly in an SNS envelope) received by mail.
const FormatSESNotification = "ses-notification"

// sesNotification is the part of an SES bounce, complaint or delivery
// notification (ses-api.md §13) that Parse reads.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		ReportingMTA      string `json:"reportingMTA"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Action         string `json:"action"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	DeliveryDelay *struct {
		ReportingMTA      string `json:"reportingMTA"`
		DelayedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"delayedRecipients"`
	} `json:"deliveryDelay"`
	Complaint *struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		UserAgent             string `json:"userAgent"`
		ArrivalDate           string `json:"arrivalDate"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Delivery *struct {
		ReportingMTA string   `json:"reportingMTA"`
		SMTPResponse string   `json:"smtpResponse"`
		Recipients   []string `json:"recipients"`
	} `json:"delivery"`
	Mail *struct {
		Source        string `json:"source"`
		MessageID     string `json:"messageId"`
		CommonHeaders struct {
			From      []string `json:"from"`
			To        []string `json:"to"`
			Subject   string   `json:"subject"`
			MessageID string   `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// sesJSON reads an Amazon SES notification that arrived as the text of
// a message (SES's email feedback forwarding of SNS, or an SNS email
// subscription), or returns nil.
func (m *message) sesJSON() *Report {
	var body string
	m.root.walk(false, func(p *part) {
		if body == "" && len(p.children) == 0 && p.msg == nil && (strings.HasPrefix(p.ctype, "text/") || p.ctype == "application/json") {
			if t := strings.TrimSpace(p.text(maxDecoded)); strings.HasPrefix(t, "{") && (strings.Contains(t, "notificationType") || strings.Contains(t, "eventType")) {
				body = t
			}
		}
	})
	if body == "" {
		return nil
	}
	// Mail transport may have broken the long JSON line: sendmail's "!"
	// continuation, or plain line breaks (never valid inside a JSON
	// string, harmless outside).
	body = strings.NewReplacer("!\r\n ", "", "!\n ", "", "\r", " ", "\n", " ").Replace(body)
	var n sesNotification
	var envelope struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal([]byte(body), &envelope); err == nil && strings.HasPrefix(strings.TrimSpace(envelope.Message), "{") {
		if json.Unmarshal([]byte(envelope.Message), &n) != nil {
			return nil
		}
	} else if json.Unmarshal([]byte(body), &n) != nil {
		return nil
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	r := &Report{Format: FormatSESNotification}
	why := "SES " + kind + " notification"
	switch {
	case strings.EqualFold(kind, "Bounce") && n.Bounce != nil:
		r.Kind = KindBounce
		r.ReportingMTA = cleanMTA(n.Bounce.ReportingMTA)
		for _, b := range n.Bounce.BouncedRecipients {
			rc := Recipient{
				Address:        cleanAddress(b.EmailAddress),
				Action:         cleanAction(b.Action),
				Status:         parseStatus(b.Status).String(),
				DiagnosticCode: strings.TrimSpace(b.DiagnosticCode),
			}
			if rc.Address == "" {
				continue
			}
			if rc.Status == "" {
				if d := parseDiagnostic(rc.DiagnosticCode); d.enhanced.valid() {
					rc.Status = d.enhanced.String()
				} else if n.Bounce.BounceType == smtpcode.BounceTransient {
					rc.Status = "4.0.0"
				} else {
					rc.Status = "5.0.0"
				}
			}
			classifyRecipient(&rc, why+" (SES said "+n.Bounce.BounceType+"/"+n.Bounce.BounceSubType+"); ")
			r.Recipients = appendRecipients(r.Recipients, rc)
		}
	case strings.EqualFold(kind, "DeliveryDelay") && n.DeliveryDelay != nil:
		r.Kind = KindBounce
		r.ReportingMTA = cleanMTA(n.DeliveryDelay.ReportingMTA)
		for _, d := range n.DeliveryDelay.DelayedRecipients {
			rc := Recipient{Address: cleanAddress(d.EmailAddress), Action: "delayed", Status: parseStatus(d.Status).String(), DiagnosticCode: strings.TrimSpace(d.DiagnosticCode)}
			if rc.Address == "" {
				continue
			}
			if !strings.HasPrefix(rc.Status, "4.") {
				rc.Status = "4.0.0"
			}
			classifyRecipient(&rc, why+": ")
			r.Recipients = appendRecipients(r.Recipients, rc)
		}
	case strings.EqualFold(kind, "Complaint") && n.Complaint != nil:
		r.Kind = KindComplaint
		r.Complaint = &Complaint{
			FeedbackType: strings.ToLower(n.Complaint.ComplaintFeedbackType),
			UserAgent:    n.Complaint.UserAgent,
			ArrivalDate:  parseDate(n.Complaint.ArrivalDate),
		}
		for _, c := range n.Complaint.ComplainedRecipients {
			if a := cleanAddress(c.EmailAddress); a != "" {
				r.Recipients = appendRecipients(r.Recipients, Recipient{Address: a, Reason: why})
			}
		}
	case strings.EqualFold(kind, "Delivery") && n.Delivery != nil:
		r.Kind = KindDelivered
		r.ReportingMTA = n.Delivery.ReportingMTA
		for _, a := range n.Delivery.Recipients {
			if a = cleanAddress(a); a != "" {
				r.Recipients = appendRecipients(r.Recipients, Recipient{Address: a, Action: "delivered", Status: parseStatus(n.Delivery.SMTPResponse).String(), DiagnosticCode: n.Delivery.SMTPResponse, Reason: why})
			}
		}
	default:
		return nil
	}
	if len(r.Recipients) == 0 {
		return nil
	}
	if mail := n.Mail; mail != nil {
		o := &Original{MessageID: mail.MessageID, Subject: mail.CommonHeaders.Subject, ReturnPath: cleanAddress(mail.Source)}
		if len(mail.CommonHeaders.From) > 0 {
			o.From = mail.CommonHeaders.From[0]
		}
		for _, t := range mail.CommonHeaders.To {
			o.To = append(o.To, headerAddresses(t)...)
		}
		r.Original = o
	}
	return r
}
