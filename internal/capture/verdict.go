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

	"github.com/sesame-email/sesame/internal/dmarcrule"
	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/origin"
)

// Results of one check, as in an Authentication-Results header (RFC 8601).
const (
	Pass      = dmarcrule.Pass
	Fail      = dmarcrule.Fail
	None      = dmarcrule.None
	Neutral   = "neutral"
	SoftFail  = "softfail"
	TempError = dmarcrule.TempError
	PermError = dmarcrule.PermError
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
	// Policy is the DMARC record applied ("" when no usable one was
	// found), and PolicyDomain where it was found.
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
	pol, err := dmarcrule.Lookup(ctx, v.Resolver, from)
	switch {
	case err != nil:
		out.DMARC = TempError
		note("dmarc: %v", err)
		return out
	case !pol.Found:
		out.DMARC = None
		note("dmarc: no policy at _dmarc.%s", from)
		return out
	case !pol.Usable():
		// Several records: none applies (RFC 7489 §6.6.3); a broken
		// one: permerror (RFC 8601 §2.7.1).
		out.DMARC = pol.Result()
		out.PolicyDomain = pol.Domain
		note("dmarc: %s: %v", pol.Name, pol.Err)
		return out
	}
	rec := pol.Record
	out.PolicyDomain = pol.Domain
	out.Policy = fmt.Sprintf("p=%s adkim=%s aspf=%s", pol.Applied(), dmarcrule.Mode(rec.DKIMAlignment), dmarcrule.Mode(rec.SPFAlignment))
	d := dmarcrule.Evaluate(dmarcrule.Input{FromDomain: from, Record: rec, DKIMDomains: out.DKIMDomains, SPFPass: out.SPF == Pass, SPFDomain: out.SPFDomain})
	out.DMARC, out.DKIMAligned, out.SPFAligned = d.Result, d.DKIMAligned, d.SPFAligned
	if d.Result != Pass {
		note("dmarc: %s", d.Reason)
	}
	return out
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
