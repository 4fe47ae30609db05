package console

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
)

// scenarios are the mailbox simulator's addresses the send page offers,
// by their local part.
var scenarios = []string{"success", "bounce", "complaint", "ooto", "suppressionlist"}

// sendData is the Send test email page's.
type sendData struct {
	From, Scenario, To, Subject, Body string
	Senders                           []string // verified identities, for the From suggestions
	Scenarios                         []string
	SimulatorDomain                   string
	FromError, ToError, Error         string
	MessageID                         string
}

func (c *Console) sendPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.sendWith(w, r, se, http.StatusOK, sendData{Scenario: "success", Subject: "Sesame test email", Body: "This is a test email sent from the Sesame console."})
}

func (c *Console) sendWith(w http.ResponseWriter, r *http.Request, se *session, status int, d sendData) {
	ids, err := c.listAll(r, se.AccountID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	for _, i := range ids {
		if !i.VerifiedForSending() {
			continue
		}
		if i.Kind == identity.KindDomain {
			d.Senders = append(d.Senders, "sender@"+i.Name)
		} else {
			d.Senders = append(d.Senders, i.Name)
		}
	}
	d.Scenarios, d.SimulatorDomain = scenarios, c.opts.SimulatorDomain
	if id := r.URL.Query().Get("sent"); id != "" && d.MessageID == "" && r.Method == http.MethodGet {
		d.MessageID = id
	}
	c.render(w, status, "send", view{Title: "Send test email", Session: se, Nav: "send", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// sendTest sends through the admission door, as v2 SendEmail with Simple
// content does: every rule (verified sender, sandbox, quotas, suppression)
// is Submit's.
func (c *Console) sendTest(w http.ResponseWriter, r *http.Request, se *session) {
	d := sendData{From: strings.TrimSpace(r.PostFormValue("from")), Scenario: r.PostFormValue("scenario"),
		To: strings.TrimSpace(r.PostFormValue("to")), Subject: r.PostFormValue("subject"), Body: r.PostFormValue("body")}
	to := d.To
	if d.Scenario != "custom" {
		found := false
		for _, s := range scenarios {
			found = found || s == d.Scenario
		}
		if !found {
			d.ToError = "Pick a mailbox simulator scenario, or Custom with a recipient address."
			c.sendWith(w, r, se, http.StatusBadRequest, d)
			return
		}
		to = d.Scenario + "@" + c.opts.SimulatorDomain
	}
	req := send.Request{AccountID: se.AccountID, From: d.From, MaxSize: send.MaxSizeV2, Operation: "SendEmail",
		CallerIdentity: se.AccessKeyID, TagsParam: "EmailTags",
		Simple: &compose.Simple{From: d.From, Subject: d.Subject, Text: d.Body}}
	if to != "" {
		req.Simple.To = []string{to}
	}
	req.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	res, err := c.opts.Sender.Submit(r.Context(), req)
	var e *send.Error
	switch {
	case err == nil:
		http.Redirect(w, r, Prefix+"send?note=sent&sent="+urlQueryEscape(res.MessageID), http.StatusSeeOther)
		return
	case errors.As(err, &e):
		switch {
		case e.Field == "From" || e.Field == "Source" || e.Field == "FromEmailAddress" || e.Field == "" && strings.Contains(e.Msg, "not verified"):
			d.FromError = e.Msg
		case strings.Contains(e.Field, "Destination") || strings.Contains(e.Field, "To"):
			d.ToError = e.Msg
		default:
			d.Error = e.Msg
		}
		c.sendWith(w, r, se, http.StatusBadRequest, d)
	default:
		c.internal(w, r, err)
	}
}
