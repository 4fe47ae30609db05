package dmarcrule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/sesame-email/sesame/internal/dns"
)

// DMARC results, as in an Authentication-Results header (RFC 8601
// §2.7.1).
const (
	Pass      = "pass"
	Fail      = "fail"
	None      = "none"
	TempError = "temperror"
	PermError = "permerror"
)

// ErrMultipleRecords is a name holding more than one DMARC record:
// receivers then apply none (RFC 7489 §6.6.3 step 5).
var ErrMultipleRecords = errors.New("more than one DMARC record is published; receivers then apply none (RFC 7489 §6.6.3)")

// SyntaxError is a DMARC record (it starts with v=DMARC1) that does not
// parse: receivers apply no policy (RFC 7489 §6.6.3 step 6).
type SyntaxError struct {
	Record string // the TXT record as published
	Reason string // what is wrong, e.g. "invalid policy for parameter 'p'"
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("broken DMARC record %q: %s", e.Record, e.Reason)
}

// Policy is what policy discovery found for a domain.
type Policy struct {
	// Domain is where the record was looked for last: the From domain, or
	// its organisational domain when the first had no DMARC record. Name
	// is _dmarc.<Domain>.
	Domain string
	Name   string
	// Found: a DMARC record is published at Name, even a broken one or
	// several (then Err says why none applies).
	Found bool
	// Text is the record as published; several are joined by " | ".
	Text string
	// Record is the parsed record; nil unless Found and Err is nil.
	Record *dmarc.Record
	// Inherited: the record is the organisational domain's.
	Inherited bool
	// Err is why a found record applies no policy: ErrMultipleRecords or
	// a *SyntaxError.
	Err error
	// Ignored are the record's optional tags (adkim=, aspf=, fo=, pct=,
	// rf=, ri=, rua=, ruf=) with syntax errors, as published: receivers
	// use their defaults instead (RFC 7489 §6.3), and so does Record.
	Ignored []string
}

// Usable reports whether receivers apply p: one valid record was found.
func (p Policy) Usable() bool { return p.Record != nil }

// Applied is the policy receivers apply to the domain's mail: sp= of an
// inherited record that has one, else p= ("" when p is not usable).
func (p Policy) Applied() dmarc.Policy {
	switch {
	case p.Record == nil:
		return ""
	case p.Inherited && p.Record.SubdomainPolicy != "":
		return p.Record.SubdomainPolicy
	}
	return p.Record.Policy
}

// Result is the DMARC result when p is not usable: none when no record
// or several were found, permerror for a broken one; "" when p is usable
// (then [Evaluate] decides).
func (p Policy) Result() string {
	switch {
	case p.Usable():
		return ""
	case !p.Found, errors.Is(p.Err, ErrMultipleRecords):
		return None
	}
	return PermError
}

// Lookup discovers the DMARC policy of the From domain from (RFC 7489
// §6.6.3): the record at _dmarc.<from>, else, when there is no DMARC
// record there, the organisational domain's. A failed lookup returns an
// error (temperror) together with the Policy naming where it failed; no
// record anywhere is a Policy with Found false.
func Lookup(ctx context.Context, res dns.Resolver, from string) (Policy, error) {
	from = normalize(from)
	p, err := lookupAt(ctx, res, from)
	if err != nil || p.Found {
		return p, err
	}
	org := OrgDomain(from)
	if org == from {
		return p, nil
	}
	p, err = lookupAt(ctx, res, org)
	p.Inherited = p.Found
	return p, err
}

// lookupAt looks up and selects the DMARC record at _dmarc.<domain>.
func lookupAt(ctx context.Context, res dns.Resolver, domain string) (Policy, error) {
	name := "_dmarc." + domain
	txts, err := res.LookupTXT(ctx, name)
	switch {
	case dns.IsNotFound(err):
		txts = nil
	case err != nil:
		return Policy{Domain: domain, Name: name}, fmt.Errorf("look up DMARC record: %w", err)
	}
	p := Select(txts)
	p.Domain, p.Name = domain, name
	return p, nil
}

// Select picks the DMARC record out of the TXT records at a _dmarc name
// and parses it (RFC 7489 §6.6.3 steps 4 to 6): records that do not start
// with v=DMARC1 are discarded; none left is no record; more than one is
// ErrMultipleRecords; the one is parsed with go-msgauth, and one it
// refuses is a *SyntaxError.
func Select(txts []string) Policy {
	var recs []string
	for _, t := range txts {
		if isDMARC(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return Policy{}
	case 1:
	default:
		return Policy{Found: true, Text: strings.Join(recs, " | "), Err: ErrMultipleRecords}
	}
	p := Policy{Found: true, Text: recs[0]}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		// RFC 7489 §6.3: "Syntax errors in the remainder of the record
		// SHOULD be discarded in favor of default values (if any) or
		// ignored outright"; only v=, p= and sp= decide (§6.6.3 step 6).
		kept, ignored := dropBrokenTags(recs[0])
		if len(ignored) == 0 {
			p.Err = &SyntaxError{Record: recs[0], Reason: strings.TrimPrefix(err.Error(), "dmarc: ")}
			return p
		}
		if rec, err = dmarc.Parse(kept); err != nil {
			p.Err = &SyntaxError{Record: recs[0], Reason: strings.TrimPrefix(err.Error(), "dmarc: ")}
			return p
		}
		p.Ignored = ignored
	}
	p.Record = rec
	return p
}

// optionalTags are the tags whose syntax errors receivers discard in
// favour of their defaults (RFC 7489 §6.3): all but v=, p= and sp=.
var optionalTags = []string{"adkim", "aspf", "fo", "pct", "rf", "ri", "rua", "ruf"}

// dropBrokenTags returns the record without its optional tags that
// go-msgauth refuses on their own, and those tags as published.
func dropBrokenTags(record string) (kept string, ignored []string) {
	var parts []string
	for _, part := range strings.Split(record, ";") {
		name, _, _ := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if slices.Contains(optionalTags, name) {
			if _, err := dmarc.Parse("v=DMARC1; p=none; " + strings.TrimSpace(part)); err != nil {
				ignored = append(ignored, strings.TrimSpace(part))
				continue
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ";"), ignored
}

// isDMARC reports whether txt starts with the version tag of DMARC 1:
// "v" *WSP "=" *WSP "DMARC1", then the end or a ";" (RFC 7489 §6.4).
func isDMARC(txt string) bool {
	wsp := func(s string) string { return strings.TrimLeft(s, " \t") }
	rest, ok := strings.CutPrefix(txt, "v")
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(wsp(rest), "="); !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(wsp(rest), "DMARC1"); !ok {
		return false
	}
	rest = wsp(rest)
	return rest == "" || rest[0] == ';'
}

// normalize is a domain name lower-cased without its trailing dot.
func normalize(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

// OrgDomain is the organisational domain of d (RFC 7489 §3.2): its public
// suffix plus one label, or d itself when d is a public suffix or has
// none; lower-cased, without a trailing dot.
func OrgDomain(d string) string {
	d = normalize(d)
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// Aligned reports whether an authenticated domain (a DKIM d=, an SPF
// domain) is aligned with the From domain under mode m (RFC 7489 §3.1):
// strict, the same name; relaxed (also when m is ""), the same
// organisational domain. An empty name never aligns.
func Aligned(m dmarc.AlignmentMode, authenticated, from string) bool {
	a, f := normalize(authenticated), normalize(from)
	if a == "" || f == "" {
		return false
	}
	if m == dmarc.AlignmentStrict {
		return a == f
	}
	return OrgDomain(a) == OrgDomain(f)
}

// Mode is an alignment mode with its default, relaxed (RFC 7489 §6.3).
func Mode(m dmarc.AlignmentMode) dmarc.AlignmentMode {
	if m == "" {
		return dmarc.AlignmentRelaxed
	}
	return m
}

// Input is what a DMARC evaluation needs of a message.
type Input struct {
	FromDomain string
	// Record is the policy that applies; nil: none. Alignment is then
	// judged under the default modes (relaxed), and the Result is None.
	Record      *dmarc.Record
	DKIMDomains []string // the d= of the signatures that verified
	SPFPass     bool     // SPF's result was pass
	SPFDomain   string   // the domain SPF was evaluated for
}

// Result is the outcome of Evaluate.
type Result struct {
	Result      string // Pass, Fail, or None (no Record)
	DKIMAligned bool   // a verified signature's d= is aligned
	SPFAligned  bool   // SPF passed for an aligned domain
	Reason      string // why not Pass
}

// Evaluate applies RFC 7489 §4.2: DMARC passes when DKIM or SPF passes
// for a domain aligned with the From domain, under the record's adkim=
// and aspf= modes (relaxed by default). pct= does not change the result.
func Evaluate(in Input) Result {
	var adkim, aspf dmarc.AlignmentMode
	if in.Record != nil {
		adkim, aspf = in.Record.DKIMAlignment, in.Record.SPFAlignment
	}
	var r Result
	for _, d := range in.DKIMDomains {
		if Aligned(adkim, d, in.FromDomain) {
			r.DKIMAligned = true
		}
	}
	r.SPFAligned = in.SPFPass && Aligned(aspf, in.SPFDomain, in.FromDomain)
	switch {
	case in.Record == nil:
		r.Result, r.Reason = None, "no DMARC policy for "+in.FromDomain
		return r
	case r.DKIMAligned || r.SPFAligned:
		r.Result = Pass
		return r
	}
	r.Result = Fail
	var why []string
	if len(in.DKIMDomains) == 0 {
		why = append(why, "no DKIM signature verified")
	} else {
		why = append(why, fmt.Sprintf("DKIM d=%s not aligned with %s (adkim=%s)", strings.Join(in.DKIMDomains, ","), in.FromDomain, Mode(adkim)))
	}
	if !in.SPFPass {
		why = append(why, "SPF did not pass")
	} else {
		why = append(why, fmt.Sprintf("SPF domain %s not aligned with %s (aspf=%s)", in.SPFDomain, in.FromDomain, Mode(aspf)))
	}
	r.Reason = strings.Join(why, "; ")
	return r
}
