package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/readiness"
)

// Readiness builds bulk-sender readiness reports (readiness.Evaluator):
// the authentication check and the deliverability page's summaries.
type Readiness interface {
	Evaluate(ctx context.Context, accountID, name string) (*readiness.Report, error)
}

// authData is the Authentication check page's.
type authData struct {
	Identity  *identity.Identity
	Report    *readiness.Report
	Scenarios []readiness.Scenario
	// DKIMRecords are the identity's DKIM records to publish.
	DKIMRecords []identity.DNSRecord
	// NotReady says why there is no report (the identity is not
	// verified yet).
	NotReady string
	CanCheck bool
}

// authCheckPage is the Authentication check of one identity: its DMARC
// record, MAIL FROM domain's SPF and MX, DKIM records, what aligns and
// what DMARC concludes, and the three setups' verdicts, all from a
// readiness report computed now.
func (c *Console) authCheckPage(w http.ResponseWriter, r *http.Request, se *session) {
	i := c.identityOf(w, r, se)
	if i == nil {
		return
	}
	d := authData{Identity: i, CanCheck: c.opts.CheckNow != nil}
	recs, err := c.opts.Identities.Records(r.Context(), i)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	for _, rec := range recs {
		if strings.Contains(rec.Purpose, "DKIM") {
			d.DKIMRecords = append(d.DKIMRecords, rec)
		}
	}
	rep, err := c.opts.Readiness.Evaluate(r.Context(), se.AccountID, i.Name)
	switch {
	case errors.Is(err, readiness.ErrNotVerified), errors.Is(err, readiness.ErrNotFound):
		d.NotReady = i.Name + " is not verified yet: Sesame refuses mail from it, so there is nothing to check. Publish its records and check now."
	case err != nil:
		c.internal(w, r, err)
		return
	default:
		d.Report = rep
		d.Scenarios = rep.Scenarios(c.opts.Identities.DefaultMailFromDomain())
	}
	c.render(w, http.StatusOK, "authcheck", view{Title: "Authentication check: " + i.Name, Session: se, Nav: "identities", Data: d})
}

// needs serves h when ok (its Options are set), else 404.
func (c *Console) needs(ok bool, h handlerFunc) handlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, se *session) { c.notFound(w, r, se) }
}
