package readiness

import (
	"context"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

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
	// The parsed record; the alignment modes are "r" or "s" (r when left
	// out), Percent 100 when left out.
	Policy          string   `json:"policy,omitempty"`
	SubdomainPolicy string   `json:"subdomainPolicy,omitempty"`
	ADKIM           string   `json:"adkim,omitempty"`
	ASPF            string   `json:"aspf,omitempty"`
	Percent         int      `json:"pct,omitempty"`
	RUA             []string `json:"rua,omitempty"`
}

// usable reports whether receivers apply the record: found and valid.
func (d *DMARCRecord) usable() bool { return d.Found && d.Error == "" }

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

// orgDomain returns domain's organizational domain (RFC 7489 §3.2: one
// label below its public suffix), or domain itself when there is none.
func orgDomain(domain string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return d
}

// align says whether id aligns with the From domain from.
func align(id, from string) Alignment {
	id, from = strings.ToLower(id), strings.ToLower(from)
	return Alignment{Strict: id == from, Relaxed: id != "" && orgDomain(id) == orgDomain(from)}
}

// lookupDMARC finds the DMARC record of domain (RFC 7489 §6.6.3).
func (e *Evaluator) lookupDMARC(ctx context.Context, domain string) DMARCRecord {
	d := e.dmarcAt(ctx, domain)
	if org := orgDomain(domain); !d.Found && d.LookupError == "" && org != domain {
		d = e.dmarcAt(ctx, org)
		d.Inherited = d.Found
	}
	if d.usable() && d.Inherited && d.SubdomainPolicy != "" {
		d.Policy = d.SubdomainPolicy
	}
	return d
}

// dmarcAt looks up the DMARC record at _dmarc.<domain>.
func (e *Evaluator) dmarcAt(ctx context.Context, domain string) DMARCRecord {
	d := DMARCRecord{Name: "_dmarc." + domain}
	txts, err := e.opts.Resolver.LookupTXT(ctx, d.Name)
	if dns.IsNotFound(err) {
		return d
	}
	if err != nil {
		d.LookupError = err.Error()
		return d
	}
	return parseDMARC(d, txts)
}

// parseDMARC fills d from the TXT records found at its name: records
// that do not start with v=DMARC1 are not DMARC records; more than one is
// an error (RFC 7489 §6.6.3); the one is parsed with go-msgauth.
func parseDMARC(d DMARCRecord, txts []string) DMARCRecord {
	var recs []string
	for _, t := range txts {
		v, _, _ := strings.Cut(t, ";")
		if k, val, ok := strings.Cut(v, "="); ok && strings.TrimSpace(k) == "v" && strings.TrimSpace(val) == "DMARC1" {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return d
	case 1:
	default:
		d.Found, d.Record = true, strings.Join(recs, " | ")
		d.Error = "more than one DMARC record is published; receivers then apply none (RFC 7489 §6.6.3)"
		return d
	}
	d.Found, d.Record = true, recs[0]
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		d.Error = strings.TrimPrefix(err.Error(), "dmarc: ")
		return d
	}
	d.Policy, d.SubdomainPolicy = string(rec.Policy), string(rec.SubdomainPolicy)
	d.ADKIM, d.ASPF = string(rec.DKIMAlignment), string(rec.SPFAlignment)
	d.Percent = 100
	if rec.Percent != nil {
		d.Percent = *rec.Percent
	}
	d.RUA = rec.ReportURIAggregate
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

// outcome is the DMARC result of r's SPF and DKIM state under its record.
func outcome(r *Report) DMARCOutcome {
	strictDKIM, strictSPF := false, false
	if r.DMARC.usable() {
		strictDKIM, strictSPF = r.DMARC.ADKIM == "s", r.DMARC.ASPF == "s"
	}
	var o DMARCOutcome
	if r.DKIM.Signed && aligned(r.DKIM.Aligned, strictDKIM) {
		o.Via = append(o.Via, "dkim")
	}
	if r.SPF.Pass && aligned(r.SPF.Aligned, strictSPF) {
		o.Via = append(o.Via, "spf")
	}
	switch {
	case !r.DMARC.usable():
		o.Result = "none"
	case len(o.Via) > 0:
		o.Result = "pass"
	default:
		o.Result = "fail"
	}
	return o
}

func aligned(a Alignment, strict bool) bool {
	if strict {
		return a.Strict
	}
	return a.Relaxed
}
