package console

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/suppression"
)

// suppressionData is the Suppression list page's.
type suppressionData struct {
	Entries []suppression.Entry
	Reason  string // the filter
	Query   string // the filter: part of an address
	Next    string // the next page's token
	// The add form's values and errors.
	Address      string
	AddReason    string
	AddressError string
	ReasonError  string
	Reasons      []suppression.Reason
}

// filter reads the list's filters: Reason (BOUNCE, COMPLAINT or all) and
// part of an address.
func filter(r *http.Request) (suppression.ListOptions, string, string) {
	q := r.URL.Query()
	reason := q.Get("reason")
	o := suppression.ListOptions{Token: q.Get("next"), PageSize: suppression.MaxPageSize}
	if reason != "" {
		o.Reasons = []suppression.Reason{suppression.Reason(reason)}
	}
	return o, reason, strings.TrimSpace(q.Get("q"))
}

func (c *Console) suppressionPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.suppressionWith(w, r, se, http.StatusOK, suppressionData{})
}

func (c *Console) suppressionWith(w http.ResponseWriter, r *http.Request, se *session, status int, d suppressionData) {
	o, reason, q := filter(r)
	d.Reason, d.Query, d.Reasons = reason, q, []suppression.Reason{suppression.Bounce, suppression.Complaint}
	es, next, err := c.opts.Suppression.List(r.Context(), se.AccountID, o)
	var ie *suppression.InvalidError
	if errors.As(err, &ie) {
		c.render(w, http.StatusBadRequest, "error", view{Title: "Suppression list", Session: se, Nav: "suppression", Error: ie.Msg})
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	d.Next = next
	for _, e := range es {
		if q == "" || strings.Contains(strings.ToLower(e.Address), strings.ToLower(q)) {
			d.Entries = append(d.Entries, e)
		}
	}
	c.render(w, status, "suppression", view{Title: "Suppression list", Session: se, Nav: "suppression", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// addSuppressed is v2 PutSuppressedDestination from a form.
func (c *Console) addSuppressed(w http.ResponseWriter, r *http.Request, se *session) {
	d := suppressionData{Address: strings.TrimSpace(r.PostFormValue("address")), AddReason: r.PostFormValue("reason")}
	// The store's rules and sentences, as PutSuppressedDestination's.
	err := c.opts.Suppression.Put(r.Context(), se.AccountID, d.Address, suppression.Reason(d.AddReason))
	var ie *suppression.InvalidError
	switch {
	case err == nil:
		flash(w, r, Prefix+"suppression", "suppressed")
		return
	case errors.As(err, &ie) && ie.Field == "Reason":
		d.ReasonError = ie.Msg
	case errors.As(err, &ie):
		d.AddressError = ie.Msg
	default:
		c.internal(w, r, err)
		return
	}
	c.suppressionWith(w, r, se, http.StatusBadRequest, d)
}

// removeSuppressed is v2 DeleteSuppressedDestination from a form.
func (c *Console) removeSuppressed(w http.ResponseWriter, r *http.Request, se *session) {
	address := r.PostFormValue("address")
	err := c.opts.Suppression.Delete(r.Context(), se.AccountID, address)
	switch {
	case err == nil:
		flash(w, r, Prefix+"suppression", "unsuppressed")
	case errors.Is(err, suppression.ErrNotFound):
		c.render(w, http.StatusNotFound, "error", view{Title: "Suppression list", Session: se, Nav: "suppression",
			Error: "Email address " + address + " does not exist on your suppression list."})
	default:
		c.internal(w, r, err)
	}
}

// suppressionCSV exports the (filtered) list: EmailAddress, Reason,
// LastUpdateTime, as an import job's file has them.
func (c *Console) suppressionCSV(w http.ResponseWriter, r *http.Request, se *session) {
	o, _, q := filter(r)
	o.Token = ""
	var rows [][]string
	for {
		es, next, err := c.opts.Suppression.List(r.Context(), se.AccountID, o)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		for _, e := range es {
			if q == "" || strings.Contains(strings.ToLower(e.Address), strings.ToLower(q)) {
				rows = append(rows, []string{e.Address, string(e.Reason), e.LastUpdateTime.UTC().Format("2006-01-02T15:04:05.000Z")})
			}
		}
		if next == "" {
			break
		}
		o.Token = next
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="suppression-list.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"EmailAddress", "Reason", "LastUpdateTime"})
	cw.WriteAll(rows)
}
