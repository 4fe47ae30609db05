package readiness

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/sesame-email/sesame/internal/dmarcrule"
	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
)

// DMARCRecord is what the DMARC lookup found.
type DMARCRecord struct {
	// Name is where the record was looked for last: _dmarc.<domain>, or
	// _dmarc.<organizational domain> when the first had none.
	Name string `json:"name"`
	// Found: a DMARC record exists there (Record holds it), even a broken
	// one (then Error says what is wrong).
	Found  bool   `json:"found"`
	Record string `json:"record,omitempty"`
	Error  string `json:"error,omitempty"`
	// LookupError: the lookup failed (no evidence either way).
	LookupError string `json:"lookupError,omitempty"`
	// Inherited: the record is the organizational domain's, and Policy is
	// its sp= (or p= when it has no sp=).
	Inherited bool `json:"inherited"`
	// The parsed record (rec); the alignment modes are "r" or "s" (r when
	// left out), Percent 100 when left out.
	Policy          string   `json:"policy,omitempty"`
	SubdomainPolicy string   `json:"subdomainPolicy,omitempty"`
	ADKIM           string   `json:"adkim,omitempty"`
	ASPF            string   `json:"aspf,omitempty"`
	Percent         int      `json:"pct,omitempty"`
	RUA             []string `json:"rua,omitempty"`
	rec             *dmarc.Record
}

// usable reports whether receivers apply the record: found and valid.
func (d *DMARCRecord) usable() bool { return d.rec != nil }

// Alignment says whether an identifier aligns with the From domain in
// each DMARC mode.
type Alignment struct {
	Relaxed bool `json:"relaxed"`
	Strict  bool `json:"strict"`
}

// SPFState is the SPF side: the envelope sender's domain and its record.
type SPFState struct {
	MailFromDomain string `json:"mailFromDomain"` // what mail is sent with now
	Custom         bool   `json:"custom"`         // it is the custom MAIL FROM domain
	// The custom MAIL FROM setting that decides (empty when none).
	CustomDomain   string `json:"customDomain,omitempty"`
	CustomStatus   string `json:"customStatus,omitempty"`
	CustomBehavior string `json:"customBehavior,omitempty"`
	CustomFindings string `json:"customFindings,omitempty"`
	CustomOf       string `json:"customOf,omitempty"` // the identity it belongs to
	// Record is the MAIL FROM domain's SPF record (custom domain only).
	Record      string `json:"record,omitempty"`
	Include     string `json:"include"` // the SPF include that lists Sesame's servers
	LookupError string `json:"lookupError,omitempty"`
	// Pass: SPF passes for Sesame's servers (the default domain, or a
	// custom one whose record includes Sesame's service domain).
	Pass    bool      `json:"pass"`
	Aligned Alignment `json:"aligned"`
}

// DKIMState is the DKIM side: which identity signs and with what d=.
type DKIMState struct {
	Signed   bool      `json:"signed"`
	Domain   string    `json:"domain,omitempty"`   // d=
	Identity string    `json:"identity,omitempty"` // the signing identity
	Origin   string    `json:"origin,omitempty"`   // AWS_SES (Easy DKIM) or EXTERNAL (BYODKIM)
	Reason   string    `json:"reason,omitempty"`   // why mail is not signed
	Aligned  Alignment `json:"aligned"`
}

// DMARCOutcome is the DMARC result a receiver would give the domain's
// mail now.
type DMARCOutcome struct {
	// Result is pass, fail, or none (no usable DMARC record: receivers
	// apply no DMARC policy).
	Result string `json:"result"`
	// Via lists what passes aligned under the policy's modes: dkim, spf.
	Via []string `json:"via,omitempty"`
}

// align says whether id aligns with the From domain from in each mode.
func align(id, from string) Alignment {
	return Alignment{Strict: dmarcrule.Aligned(dmarc.AlignmentStrict, id, from), Relaxed: dmarcrule.Aligned(dmarc.AlignmentRelaxed, id, from)}
}

// lookupDMARC finds the DMARC record of domain (RFC 7489 §6.6.3).
func (e *Evaluator) lookupDMARC(ctx context.Context, domain string) DMARCRecord {
	p, err := dmarcrule.Lookup(ctx, e.opts.Resolver, domain)
	d := dmarcRecord(p)
	if err != nil {
		d.LookupError = err.Error()
	}
	return d
}

// dmarcRecord is the report's view of what policy discovery found.
func dmarcRecord(p dmarcrule.Policy) DMARCRecord {
	d := DMARCRecord{Name: p.Name, Found: p.Found, Record: p.Text, Inherited: p.Inherited, rec: p.Record}
	var se *dmarcrule.SyntaxError
	switch {
	case errors.As(p.Err, &se):
		d.Error = se.Reason
	case p.Err != nil:
		d.Error = p.Err.Error()
	}
	if rec := p.Record; rec != nil {
		d.Policy, d.SubdomainPolicy = string(p.Applied()), string(rec.SubdomainPolicy)
		d.ADKIM, d.ASPF = string(rec.DKIMAlignment), string(rec.SPFAlignment)
		d.Percent = 100
		if rec.Percent != nil {
			d.Percent = *rec.Percent
		}
		d.RUA = rec.ReportURIAggregate
	}
	return d
}

// spf fills r.SPF from the chain's MAIL FROM setting and the MAIL FROM
// domain's SPF record.
func (e *Evaluator) spf(ctx context.Context, r *Report, chain []*identity.Identity) {
	mf, by := send.EnvelopeDomain(chain, e.opts.Identities.DefaultMailFromDomain())
	s := SPFState{MailFromDomain: mf, Include: e.opts.Identities.ServiceDomain()}
	if by != nil {
		s.CustomDomain, s.CustomStatus, s.CustomBehavior = by.MailFrom.Domain, string(by.MailFrom.Status), string(by.MailFrom.Behavior)
		s.CustomFindings, s.CustomOf = by.MailFrom.Diagnostic, by.Name
		s.Custom = by.MailFrom.Status == identity.Success
	}
	if !s.Custom {
		// Sesame's own domain: its SPF record lists Sesame's servers.
		s.Pass = true
	} else {
		txts, err := e.opts.Resolver.LookupTXT(ctx, mf)
		switch {
		case dns.IsNotFound(err):
		case err != nil:
			s.LookupError = err.Error()
		default:
			for _, t := range txts {
				if f := strings.Fields(strings.ToLower(t)); len(f) > 0 && f[0] == "v=spf1" {
					s.Record = t
					s.Pass = includes(f, s.Include)
				}
			}
		}
	}
	s.Aligned = align(mf, r.Domain)
	r.SPF = s
}

// includes reports whether the SPF terms include service.
func includes(terms []string, service string) bool {
	for _, t := range terms[1:] {
		t = strings.TrimLeft(t, "+")
		if v, ok := strings.CutPrefix(t, "include:"); ok && strings.TrimSuffix(v, ".") == strings.ToLower(service) {
			return true
		}
	}
	return false
}

// dkim fills r.DKIM from the identity that signs the chain's mail.
func (e *Evaluator) dkim(r *Report, chain []*identity.Identity) {
	signer := send.SigningIdentity(chain)
	if signer == nil {
		r.DKIM = DKIMState{Reason: unsignedReason(chain)}
		return
	}
	r.DKIM = DKIMState{Signed: true, Domain: signer.Domain, Identity: signer.Name, Origin: string(signer.DKIM.Origin), Aligned: align(signer.Domain, r.Domain)}
}

// unsignedReason says why SigningIdentity found no signer.
func unsignedReason(chain []*identity.Identity) string {
	for _, i := range chain {
		if i.Kind == identity.KindEmail {
			if !i.DKIM.SigningEnabled {
				return "DKIM signing is turned off for the address identity " + i.Name
			}
			continue
		}
		if i.DKIM.Origin == identity.OriginNone {
			continue
		}
		if !i.DKIM.SigningEnabled {
			return "DKIM signing is turned off for " + i.Name
		}
		return "the DKIM records of " + i.Name + " are not verified (status " + string(i.DKIM.Status) + ")"
	}
	if chain[0].Kind == identity.KindEmail {
		return "no domain identity with DKIM covers " + chain[0].Name + ": an address identity alone has no DKIM key of its domain"
	}
	return "no DKIM is set up for " + chain[0].Name
}

// outcome is the DMARC result of r's SPF and DKIM state under its
// record; without a usable record it is none, and Via says what would
// pass under the default (relaxed) modes.
func outcome(r *Report) DMARCOutcome {
	in := dmarcrule.Input{FromDomain: r.Domain, SPFPass: r.SPF.Pass, SPFDomain: r.SPF.MailFromDomain}
	if r.DKIM.Signed {
		in.DKIMDomains = []string{r.DKIM.Domain}
	}
	if r.DMARC.usable() {
		in.Record = r.DMARC.rec
	}
	res := dmarcrule.Evaluate(in)
	o := DMARCOutcome{Result: res.Result}
	if res.DKIMAligned {
		o.Via = append(o.Via, "dkim")
	}
	if res.SPFAligned {
		o.Via = append(o.Via, "spf")
	}
	return o
}
