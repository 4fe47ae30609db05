package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sesame-email/sesame/internal/configset"
)

// configSetsData is the Configuration sets page's.
type configSetsData struct {
	Sets  []*configset.Set
	Query string // the filter: part of a name
	// The create form's value and error.
	Name      string
	NameError string
}

// configSets returns the account's sets whose names contain the q filter.
func (c *Console) configSets(r *http.Request, accountID string) ([]*configset.Set, string, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	all, err := c.opts.ConfigSets.List(r.Context(), accountID)
	if err != nil {
		return nil, q, err
	}
	var out []*configset.Set
	for _, s := range all {
		if contains(s.Name, q) {
			out = append(out, s)
		}
	}
	return out, q, nil
}

func (c *Console) configSetsPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.configSetsWith(w, r, se, http.StatusOK, configSetsData{})
}

func (c *Console) configSetsWith(w http.ResponseWriter, r *http.Request, se *session, status int, d configSetsData) {
	var err error
	if d.Sets, d.Query, err = c.configSets(r, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, status, "configsets", view{Title: "Configuration sets", Session: se, Nav: "configsets", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// createConfigSet is v2 CreateConfigurationSet with a name only (SES's
// defaults for the rest).
func (c *Console) createConfigSet(w http.ResponseWriter, r *http.Request, se *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	err := c.opts.ConfigSets.Create(r.Context(), configset.NewSet(se.AccountID, name))
	var ie *configset.InvalidError
	switch {
	case err == nil:
		flash(w, r, Prefix+"configuration-sets/"+name, "set-created")
	case errors.As(err, &ie), errors.Is(err, configset.ErrAlreadyExists), errors.Is(err, configset.ErrLimitExceeded):
		c.configSetsWith(w, r, se, http.StatusBadRequest, configSetsData{Name: name, NameError: err.Error()})
	default:
		c.internal(w, r, err)
	}
}

// configSetData is one set's page's.
type configSetData struct {
	Set          *configset.Set
	Destinations []configset.Destination
}

func (c *Console) configSetPage(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	st, err := c.opts.ConfigSets.Get(ctx, se.AccountID, r.PathValue("name"))
	if !c.loaded(w, r, se, err, configset.ErrNotFound) {
		return
	}
	ds, err := c.opts.ConfigSets.EventDestinations(ctx, se.AccountID, st.Name)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "configset", view{Title: "Configuration set " + st.Name, Session: se, Nav: "configsets", Flash: note(r), FlashKey: noteKey(r),
		Data: configSetData{Set: st, Destinations: ds}})
}

// setSending pauses or resumes sending through the set, as v2
// PutConfigurationSetSendingOptions does (the same store call).
func (c *Console) setSending(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PathValue("name")
	enabled, perr := strconv.ParseBool(r.PostFormValue("enabled"))
	if perr != nil {
		c.render(w, http.StatusBadRequest, "error", view{Title: "Configuration set " + name, Session: se, Nav: "configsets",
			Error: "SendingEnabled must be true or false."})
		return
	}
	err := c.opts.ConfigSets.SetSendingEnabled(r.Context(), se.AccountID, name, enabled)
	switch {
	case err == nil:
		key := "set-paused"
		if enabled {
			key = "set-resumed"
		}
		flash(w, r, Prefix+"configuration-sets/"+name, key)
	case errors.Is(err, configset.ErrNotFound):
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
}

// deleteConfigSet is v2 DeleteConfigurationSet.
func (c *Console) deleteConfigSet(w http.ResponseWriter, r *http.Request, se *session) {
	err := c.opts.ConfigSets.Delete(r.Context(), se.AccountID, r.PathValue("name"))
	switch {
	case err == nil:
		flash(w, r, Prefix+"configuration-sets", "set-deleted")
	case errors.Is(err, configset.ErrNotFound):
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
}

// configSetsCSV exports the (filtered) sets: Name, SendingEnabled,
// ReputationMetricsEnabled, TlsPolicy, SuppressedReasons, CreatedTimestamp.
func (c *Console) configSetsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	sets, _, err := c.configSets(r, se.AccountID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	var rows [][]string
	for _, s := range sets {
		tls := s.TLSPolicy
		if tls == "" {
			tls = "OPTIONAL"
		}
		rows = append(rows, []string{s.Name, strconv.FormatBool(s.SendingEnabled), strconv.FormatBool(s.ReputationMetricsEnabled), tls,
			strings.Join(s.SuppressedReasons, " "), s.CreatedAt.UTC().Format(isoTime)})
	}
	writeCSV(w, "configuration-sets.csv", []string{"Name", "SendingEnabled", "ReputationMetricsEnabled", "TlsPolicy", "SuppressedReasons", "CreatedTimestamp"}, rows)
}
