package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/event"
)

// messageRow is one message in the search results.
type messageRow struct {
	MessageID   string
	Timestamp   time.Time
	Source      string
	Destination []string
	Subject     string
	Events      []string // event types, oldest first
}

// messagesData is the Messages page's.
type messagesData struct {
	Query    string
	Messages []messageRow
	Scanned  int
}

// recentEvents returns the account's most recent events, newest first.
func (c *Console) recentEvents(r *http.Request, accountID string) ([]event.Stored, error) {
	return event.Read(r.Context(), c.opts.DB, `e.account_id = ?`, []any{accountID, c.opts.MessageScan}, `ORDER BY e.id DESC LIMIT ?`)
}

// matches reports whether a message matches q: its MessageId exactly, or
// q within its sender or one of its recipients (case-insensitive).
func matches(m *event.Mail, q string) bool {
	if q == "" || m.MessageID == q {
		return true
	}
	q = strings.ToLower(q)
	if strings.Contains(strings.ToLower(m.Source), q) {
		return true
	}
	return slices.ContainsFunc(m.Destination, func(d string) bool { return strings.Contains(strings.ToLower(d), q) })
}

// messagesPage searches the account's recent events by MessageId,
// recipient or sender.
func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request, se *session) {
	d := messagesData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	rows, err := c.recentEvents(r, se.AccountID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	d.Scanned = len(rows)
	byID := map[string]int{}
	for k := range rows {
		s := &rows[len(rows)-1-k] // oldest first, so events read in order
		if s.MessageID == "" {
			continue
		}
		e, err := s.Event()
		if err != nil {
			c.log.Warn("console: unreadable event", "id", s.ID, "err", err)
			continue
		}
		if !matches(&e.Mail, d.Query) {
			continue
		}
		n, ok := byID[s.MessageID]
		if !ok {
			n = len(d.Messages)
			byID[s.MessageID] = n
			d.Messages = append(d.Messages, messageRow{MessageID: s.MessageID, Timestamp: e.Mail.Timestamp, Source: e.Mail.Source,
				Destination: e.Mail.Destination, Subject: e.Mail.CommonHeaders.Subject})
		}
		d.Messages[n].Events = append(d.Messages[n].Events, string(s.Type))
	}
	slices.Reverse(d.Messages) // newest first
	c.render(w, http.StatusOK, "messages", view{Title: "Messages", Session: se, Nav: "messages", Data: d})
}

// timelineEntry is one event of a message, in plain words.
type timelineEntry struct {
	Type    string
	At      time.Time
	Summary string
	Lines   []string // recipients with their SMTP replies or diagnostics
}

// messageData is the message page's.
type messageData struct {
	MessageID string
	Mail      *event.Mail
	Tags      []string
	Timeline  []timelineEntry
}

// messagePage is one message's event timeline.
func (c *Console) messagePage(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	rows, err := event.List(r.Context(), c.opts.DB, 0, 1000, se.AccountID, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if len(rows) == 0 {
		c.notFound(w, r, se)
		return
	}
	d := messageData{MessageID: id}
	for _, s := range rows {
		e, err := s.Event()
		if err != nil {
			c.log.Warn("console: unreadable event", "id", s.ID, "err", err)
			continue
		}
		if d.Mail == nil {
			d.Mail = &e.Mail
			for k, vs := range e.Mail.Tags {
				for _, v := range vs {
					d.Tags = append(d.Tags, k+"="+v)
				}
			}
			slices.Sort(d.Tags)
		}
		d.Timeline = append(d.Timeline, describe(e, s.CreatedAt))
	}
	c.render(w, http.StatusOK, "message", view{Title: "Message " + id, Session: se, Nav: "messages", Data: d})
}

// describe says what an event means.
func describe(e *event.Event, at time.Time) timelineEntry {
	t := timelineEntry{Type: string(e.Type), At: at}
	switch {
	case e.Send != nil:
		t.Summary = "Accepted and queued for delivery."
	case e.Reject != nil:
		t.Summary = "Rejected: " + e.Reject.Reason + "."
	case e.Delivery != nil:
		t.At = e.Delivery.Timestamp
		t.Summary = "Delivered: the recipient's mail server accepted it."
		for _, rc := range e.Delivery.Recipients {
			t.Lines = append(t.Lines, rc+": "+e.Delivery.SMTPResponse)
		}
	case e.Bounce != nil:
		t.At = e.Bounce.Timestamp
		t.Summary = "Bounced (" + e.Bounce.BounceType + "/" + e.Bounce.BounceSubType + ")."
		for _, rc := range e.Bounce.BouncedRecipients {
			t.Lines = append(t.Lines, strings.TrimSpace(rc.EmailAddress+": "+rc.Status+" "+rc.DiagnosticCode))
		}
	case e.DeliveryDelay != nil:
		t.At = e.DeliveryDelay.Timestamp
		t.Summary = "Delayed (" + e.DeliveryDelay.DelayType + "); retried until " + e.DeliveryDelay.ExpirationTime.UTC().Format(time.RFC3339) + "."
		for _, rc := range e.DeliveryDelay.DelayedRecipients {
			t.Lines = append(t.Lines, strings.TrimSpace(rc.EmailAddress+": "+rc.Status+" "+rc.DiagnosticCode))
		}
	case e.Complaint != nil:
		t.At = e.Complaint.Timestamp
		t.Summary = "Complaint"
		if e.Complaint.ComplaintFeedbackType != "" {
			t.Summary += " (" + e.Complaint.ComplaintFeedbackType + ")"
		}
		t.Summary += ": the recipient reported it as unwanted."
		t.Lines = e.Complaint.ComplainedRecipients
	case e.Failure != nil:
		t.Summary = "Rendering failure: " + e.Failure.ErrorMessage
	case e.Subscription != nil:
		t.Summary = "Subscription preferences changed (" + e.Subscription.Source + ")."
	default:
		t.Summary = string(e.Type)
	}
	return t
}
