package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/origin"
)

// Results of one check, as in an Authentication-Results header (RFC 8601).
const (
	Pass      = "pass"
	Fail      = "fail"
	None      = "none"
	Neutral   = "neutral"
	SoftFail  = "softfail"
	TempError = "temperror"
	PermError = "permerror"
)

// Verdicts are the DKIM, SPF and DMARC results of one message.
type Verdicts struct {
	DKIM  string `json:"dkim"`
	SPF   string `json:"spf"`
	DMARC string `json:"dmarc"`
	// DKIMDomains are the d= of the signatures that verified.
	DKIMDomains []string `json:"dkimDomains,omitempty"`
	// SPFDomain is the domain SPF was evaluated for: the envelope MAIL
	// FROM's, or the HELO name for a null sender.
	SPFDomain string `json:"spfDomain,omitempty"`
	// FromDomain is the domain of the From header ("" when it has none).
	FromDomain string `json:"fromDomain,omitempty"`
	// Policy is the DMARC record applied ("" when none was found), and
	// PolicyDomain where it was found.
	Policy       string `json:"policy,omitempty"`
	PolicyDomain string `json:"policyDomain,omitempty"`
	// DKIMAligned and SPFAligned say which passes count for DMARC.
	DKIMAligned bool `json:"dkimAligned"`
	SPFAligned  bool `json:"spfAligned"`
	// Notes say why a check did not pass.
	Notes []string `json:"notes,omitempty"`
}

// String is the verdicts as "dkim=pass spf=pass dmarc=pass".
func (v Verdicts) String() string {
	return "dkim=" + v.DKIM + " spf=" + v.SPF + " dmarc=" + v.DMARC
}

// Verifier computes the verdicts of messages.
type Verifier struct {
	// Resolver looks up DKIM keys and DMARC records (required).
	Resolver dns.Resolver
	// SPF looks up what SPF needs (required): a net.Resolver will do.
	SPF spf.DNSResolver
}

// Verify judges the message raw, received from ip, which said helo and
// gave mailFrom as the envelope sender ("" for the null sender).
func (v *Verifier) Verify(ctx context.Context, ip net.IP, helo, mailFrom string, raw []byte) Verdicts {
	var out Verdicts
	note := func(format string, args ...any) { out.Notes = append(out.Notes, fmt.Sprintf(format, args...)) }

	// DKIM: pass when a signature verifies.
	sigs, err := origin.VerifyDKIM(ctx, v.Resolver, bytes.NewReader(raw))
	out.DKIM = None
	switch {
	case err != nil:
		out.DKIM = PermError
		note("dkim: %v", err)
	default:
		for _, s := range sigs {
			switch {
			case s.Pass:
				out.DKIM = Pass
				out.DKIMDomains = append(out.DKIMDomains, s.Domain)
			case out.DKIM == Pass:
			case s.Temporary:
				out.DKIM = TempError
				note("dkim d=%s: %s", s.Domain, s.Err)
			default:
				if out.DKIM != TempError {
					out.DKIM = Fail
				}
				note("dkim d=%s: %s", s.Domain, s.Err)
			}
		}
	}

	// SPF for the envelope sender (RFC 7208 section 2.4), else HELO.
	sender := mailFrom
	if sender == "" {
		sender = "postmaster@" + helo
	}
	_, out.SPFDomain, _ = strings.Cut(sender, "@")
	out.SPFDomain = strings.ToLower(strings.TrimSuffix(out.SPFDomain, "."))
	res, err := spf.CheckHostWithSender(ip, helo, sender, spf.WithContext(ctx), spf.WithResolver(v.SPF))
	out.SPF = string(res)
	if res != spf.Pass {
		if err != nil {
			note("spf %s: %s: %v", out.SPFDomain, res, err)
		} else {
			note("spf %s: %s for %s", out.SPFDomain, res, ip)
		}
	}

	// DMARC.
	from, err := headerFromDomain(raw)
	if err != nil {
		out.DMARC = PermError
		note("dmarc: %v", err)
		return out
	}
	out.FromDomain = from
	rec, where, err := LookupPolicy(ctx, v.Resolver, from)
	switch {
	case err != nil:
		out.DMARC = TempError
		note("dmarc: %v", err)
		return out
	case rec == nil:
		out.DMARC = None
		note("dmarc: no policy at _dmarc.%s", from)
		return out
	}
	out.PolicyDomain = where
	out.Policy = fmt.Sprintf("p=%s adkim=%s aspf=%s", rec.Policy, mode(rec.DKIMAlignment), mode(rec.SPFAlignment))
	d := EvaluateDMARC(DMARCInput{FromDomain: from, Record: rec, DKIMDomains: out.DKIMDomains, SPFPass: out.SPF == Pass, SPFDomain: out.SPFDomain})
	out.DMARC, out.DKIMAligned, out.SPFAligned = d.Result, d.DKIMAligned, d.SPFAligned
	if d.Result != Pass {
		note("dmarc: %s", d.Reason)
	}
	return out
}

// mode is an alignment mode with its default, relaxed.
func mode(m dmarc.AlignmentMode) dmarc.AlignmentMode {
	if m == "" {
		return dmarc.AlignmentRelaxed
	}
	return m
}

// headerFromDomain returns the domain of the From header's one address.
func headerFromDomain(raw []byte) (string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	list, err := m.Header.AddressList("From")
	if err != nil || len(list) != 1 {
		return "", errors.New("the From header does not hold exactly one address")
	}
	_, d, _ := strings.Cut(list[0].Address, "@")
	return strings.ToLower(strings.TrimSuffix(d, ".")), nil
}

// LookupPolicy finds the DMARC record for the From domain from (RFC 7489
// section 6.6.3): at _dmarc.<from>, else at its organisational domain's
// (whose sp= then applies, when given). It returns the record and the
// domain it was found at; (nil, "", nil) when there is none. A failed
// lookup is an error (temperror).
func LookupPolicy(ctx context.Context, res dns.Resolver, from string) (*dmarc.Record, string, error) {
	lookup := func(d string) (*dmarc.Record, error) {
		rec, err := dmarc.LookupWithOptions(d, &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) {
			txts, err := res.LookupTXT(ctx, name)
			if dns.IsNotFound(err) {
				return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
			}
			return txts, err
		}})
		if errors.Is(err, dmarc.ErrNoPolicy) {
			return nil, nil
		}
		return rec, err
	}
	rec, err := lookup(from)
	if rec != nil || err != nil {
		return rec, from, err
	}
	org := OrgDomain(from)
	if org == from {
		return nil, "", nil
	}
	if rec, err = lookup(org); rec == nil || err != nil {
		return nil, "", err
	}
	if rec.SubdomainPolicy != "" {
		rec.Policy = rec.SubdomainPolicy
	}
	return rec, org, nil
}

// OrgDomain is the organisational domain of d (RFC 7489 section 3.2): its
// public suffix plus one label, or d itself when it has none.
func OrgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(strings.TrimSuffix(d, ".")))
	if err != nil {
		return strings.ToLower(strings.TrimSuffix(d, "."))
	}
	return org
}

// Aligned reports whether an authenticated domain is aligned with the From
// domain under mode (RFC 7489 section 3.1): strict, the same name;
// relaxed, the same organisational domain.
func Aligned(m dmarc.AlignmentMode, authenticated, from string) bool {
	a := strings.ToLower(strings.TrimSuffix(authenticated, "."))
	f := strings.ToLower(strings.TrimSuffix(from, "."))
	if a == "" || f == "" {
		return false
	}
	if m == dmarc.AlignmentStrict {
		return a == f
	}
	return OrgDomain(a) == OrgDomain(f)
}

// DMARCInput is what a DMARC evaluation needs of a message.
type DMARCInput struct {
	FromDomain  string
	Record      *dmarc.Record // the policy found; nil: none
	DKIMDomains []string      // the d= of signatures that verified
	SPFPass     bool          // SPF's result was pass
	SPFDomain   string        // the domain SPF was evaluated for
}

// DMARCResult is the outcome of EvaluateDMARC.
type DMARCResult struct {
	Result      string // Pass, Fail or None (no policy)
	DKIMAligned bool   // a passing signature's d= is aligned
	SPFAligned  bool   // SPF passed for an aligned domain
	Reason      string // why not Pass
}

// EvaluateDMARC applies RFC 7489 section 4.2: DMARC passes when DKIM or
// SPF passes for a domain aligned with the From domain, under the
// record's adkim= and aspf= modes (relaxed by default).
func EvaluateDMARC(in DMARCInput) DMARCResult {
	if in.Record == nil {
		return DMARCResult{Result: None, Reason: "no DMARC policy for " + in.FromDomain}
	}
	var r DMARCResult
	for _, d := range in.DKIMDomains {
		if Aligned(in.Record.DKIMAlignment, d, in.FromDomain) {
			r.DKIMAligned = true
		}
	}
	r.SPFAligned = in.SPFPass && Aligned(in.Record.SPFAlignment, in.SPFDomain, in.FromDomain)
	if r.DKIMAligned || r.SPFAligned {
		r.Result = Pass
		return r
	}
	r.Result = Fail
	var why []string
	if len(in.DKIMDomains) == 0 {
		why = append(why, "no DKIM signature verified")
	} else {
		why = append(why, fmt.Sprintf("DKIM d=%s not aligned with %s (adkim=%s)", strings.Join(in.DKIMDomains, ","), in.FromDomain, mode(in.Record.DKIMAlignment)))
	}
	if !in.SPFPass {
		why = append(why, "SPF did not pass")
	} else {
		why = append(why, fmt.Sprintf("SPF domain %s not aligned with %s (aspf=%s)", in.SPFDomain, in.FromDomain, mode(in.Record.SPFAlignment)))
	}
	r.Reason = strings.Join(why, "; ")
	return r
}
