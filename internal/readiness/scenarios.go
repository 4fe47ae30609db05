package readiness

import (
	"context"
	"fmt"
	"strings"

	"github.com/sesame-email/sesame/internal/dns"
)

// Setup names one of the three ways of sending from a domain that the
// seed documents compare under DMARC.
type Setup string

// The three setups, in the order Scenarios returns them.
const (
	// SetupAddress: only an address at the domain is verified; mail is
	// not signed with a key of the domain and goes out with Sesame's
	// default MAIL FROM domain.
	SetupAddress Setup = "address"
	// SetupDomain: the domain is verified with Easy DKIM (d= the domain);
	// mail goes out with Sesame's default MAIL FROM domain.
	SetupDomain Setup = "domain"
	// SetupDomainMailFrom: the domain is verified with Easy DKIM and has
	// a custom MAIL FROM domain in Success, whose SPF record includes
	// Sesame's service domain.
	SetupDomainMailFrom Setup = "domain-mail-from"
)

// Scenario is what DMARC would conclude for the report's From domain, under
// its DMARC record as published now, if mail were sent in one Setup.
type Scenario struct {
	Setup Setup  `json:"setup"`
	Title string `json:"title"`
	// MailFromDomain is the envelope sender's domain in this setup (for
	// SetupDomainMailFrom, the custom domain when one is set, else
	// bounce.<domain> as an example).
	MailFromDomain string `json:"mailFromDomain"`
	// DKIMDomain is the signature's d= ("" when unsigned).
	DKIMDomain string `json:"dkimDomain,omitempty"`
	// DKIM and SPF: pass and align under the record's modes.
	DKIM   bool         `json:"dkim"`
	SPF    bool         `json:"spf"`
	Result DMARCOutcome `json:"result"`
	// Why says, in a sentence, what decides the result.
	Why string `json:"why"`
	// Applies: this is the setup the domain's mail is sent with now.
	Applies bool `json:"applies"`
}

// Scenarios returns the three setups' DMARC results for r's From domain
// under its DMARC record as published now (the same alignment rules and
// outcome as r.Result), marking the one r's mail is sent with: a custom
// MAIL FROM domain in Success, else a DKIM signature, else the address
// setup.
func (r *Report) Scenarios(defaultMailFrom string) []Scenario {
	mf := r.SPF.CustomDomain
	if mf == "" {
		mf = "bounce." + r.Domain
	}
	strictSPF := r.DMARC.usable() && r.DMARC.ASPF == "s"
	setups := []struct {
		setup  Setup
		title  string
		signed bool
		mf     string
	}{
		{SetupAddress, "Address identity (e.g. someone@" + r.Domain + ") only", false, defaultMailFrom},
		{SetupDomain, "Domain identity " + r.Domain + " with Easy DKIM", true, defaultMailFrom},
		{SetupDomainMailFrom, "Domain identity with custom MAIL FROM " + mf, true, mf},
	}
	applies := SetupAddress
	switch {
	case r.SPF.Custom:
		applies = SetupDomainMailFrom
	case r.DKIM.Signed:
		applies = SetupDomain
	}
	out := make([]Scenario, 0, len(setups))
	for _, s := range setups {
		h := Report{Domain: r.Domain, DMARC: r.DMARC}
		h.SPF = SPFState{MailFromDomain: s.mf, Pass: true, Aligned: align(s.mf, r.Domain)}
		if s.signed {
			h.DKIM = DKIMState{Signed: true, Domain: r.Domain, Aligned: align(r.Domain, r.Domain)}
		}
		o := outcome(&h)
		sc := Scenario{Setup: s.setup, Title: s.title, MailFromDomain: s.mf, DKIMDomain: h.DKIM.Domain, Result: o, Applies: s.setup == applies}
		for _, v := range o.Via {
			sc.DKIM = sc.DKIM || v == "dkim"
			sc.SPF = sc.SPF || v == "spf"
		}
		sc.Why = scenarioWhy(&h, sc, strictSPF)
		out = append(out, sc)
	}
	return out
}

// scenarioWhy explains a scenario's result in one sentence.
func scenarioWhy(h *Report, sc Scenario, strictSPF bool) string {
	switch {
	case !h.DMARC.usable():
		return "No usable DMARC record: receivers apply no DMARC policy, whatever passes."
	case sc.Result.Result == "fail" && sc.Setup == SetupAddress:
		return fmt.Sprintf("Unsigned with a key of %s, and SPF passes for %s, which does not align: DMARC fails.", h.Domain, sc.MailFromDomain)
	case sc.Setup == SetupDomainMailFrom && strictSPF && !sc.SPF:
		return fmt.Sprintf("aspf=s: SPF can never align with a MAIL FROM subdomain (%s ≠ %s); DMARC passes through DKIM alone.", sc.MailFromDomain, h.Domain)
	case sc.Result.Result == "pass":
		return "DMARC passes via " + strings.Join(sc.Result.Via, " and ") + "."
	}
	return "Neither DKIM nor SPF aligns under the published policy: DMARC fails."
}

// MXState is what the MAIL FROM domain's MX lookup found, live; the
// checker's verdict on it is SPFState.CustomStatus and CustomFindings.
type MXState struct {
	Domain      string   `json:"domain,omitempty"`  // the custom MAIL FROM domain looked up ("" when none is set)
	Records     []string `json:"records,omitempty"` // "10 host", as published
	LookupError string   `json:"lookupError,omitempty"`
}

// lookupMX fills r.MailFromMX for the custom MAIL FROM domain, whatever
// its state (none set: nothing to look up).
func (e *Evaluator) lookupMX(ctx context.Context, r *Report) {
	m := MXState{Domain: r.SPF.CustomDomain}
	if m.Domain != "" {
		mxs, err := e.opts.Resolver.LookupMX(ctx, m.Domain)
		switch {
		case dns.IsNotFound(err):
		case err != nil:
			m.LookupError = err.Error()
		default:
			for _, mx := range mxs {
				m.Records = append(m.Records, fmt.Sprintf("%d %s", mx.Pref, strings.TrimSuffix(mx.Host, ".")))
			}
		}
	}
	r.MailFromMX = m
}
