package identity

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// DNSRecord is a record the customer must (or may) publish.
type DNSRecord struct {
	Name     string // FQDN without the trailing dot
	Type     string // CNAME, TXT, MX
	Value    string // for MX the host; TXT unquoted
	Priority int    // MX only
	Purpose  string
	Optional bool
}

// Records returns every record the customer should publish for the
// identity: the verification TXT and DKIM records, the custom MAIL FROM
// MX and SPF records when one is set, and a suggested DMARC record.
func (s *Store) Records(ctx context.Context, i *Identity) ([]DNSRecord, error) {
	var out []DNSRecord
	if i.Kind == KindDomain {
		switch i.DKIM.Origin {
		case OriginEasy:
			for _, t := range i.DKIM.Tokens {
				out = append(out, DNSRecord{Name: t + "._domainkey." + i.Domain, Type: "CNAME", Value: t + "." + s.SigningHostedZone(), Purpose: "Easy DKIM (verifies the domain)"})
			}
			if i.DKIM.Ed25519Token != "" {
				t := i.DKIM.Ed25519Token
				out = append(out, DNSRecord{Name: t + "._domainkey." + i.Domain, Type: "CNAME", Value: t + "." + s.SigningHostedZone(), Purpose: "Ed25519 DKIM key, an extra signature (RFC 8463)", Optional: true})
			}
		case OriginExternal:
			p, err := s.ExpectedBYODKIMKey(ctx, i.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, DNSRecord{Name: i.DKIM.Tokens[0] + "._domainkey." + i.Domain, Type: "TXT", Value: "v=DKIM1; k=rsa; p=" + p, Purpose: "BYODKIM public key (verifies the domain)"})
		}
		out = append(out, DNSRecord{Name: "_amazonses." + i.Domain, Type: "TXT", Value: i.VerificationToken, Purpose: "domain verification token", Optional: i.DKIM.Origin != OriginNone})
	}
	if i.MailFrom.Domain != "" {
		out = append(out,
			DNSRecord{Name: i.MailFrom.Domain, Type: "MX", Value: s.FeedbackHost(), Priority: 10, Purpose: "custom MAIL FROM: bounces and complaints reach Sesame (exactly one MX)"},
			DNSRecord{Name: i.MailFrom.Domain, Type: "TXT", Value: "v=spf1 include:" + s.opts.ServiceDomain + " ~all", Purpose: "custom MAIL FROM: SPF authorises Sesame to send"},
		)
	}
	out = append(out, DNSRecord{Name: "_dmarc." + i.Domain, Type: "TXT", Value: "v=DMARC1; p=none; adkim=r; aspf=r", Purpose: "suggested DMARC policy (tighten p= once reports look right)", Optional: true})
	return out, nil
}

// WriteZone writes the records as zone-file lines.
func WriteZone(w io.Writer, recs []DNSRecord) error {
	for _, r := range recs {
		comment := "; " + r.Purpose
		if r.Optional {
			comment += " (optional)"
		}
		var rdata string
		switch r.Type {
		case "MX":
			rdata = fmt.Sprintf("%d %s.", r.Priority, r.Value)
		case "CNAME":
			rdata = r.Value + "."
		case "TXT":
			rdata = quoteTXT(r.Value)
		default:
			rdata = r.Value
		}
		if _, err := fmt.Fprintf(w, "%s\n%s. 300 IN %s %s\n", comment, r.Name, r.Type, rdata); err != nil {
			return err
		}
	}
	return nil
}

// quoteTXT quotes a TXT value, split in 255-byte strings.
func quoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	parts = append(parts, s)
	for k, p := range parts {
		parts[k] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
	}
	return strings.Join(parts, " ")
}

// WriteCSV writes the records as a CSV record set: a header line, then
// Type,Name,Value,Priority,TTL,Purpose per record (MX priority in its own
// column; TXT values unquoted, as import forms take them).
func WriteCSV(w io.Writer, recs []DNSRecord) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"Type", "Name", "Value", "Priority", "TTL", "Purpose"})
	for _, r := range recs {
		prio := ""
		if r.Type == "MX" {
			prio = fmt.Sprint(r.Priority)
		}
		purpose := r.Purpose
		if r.Optional {
			purpose += " (optional)"
		}
		cw.Write([]string{r.Type, r.Name, r.Value, prio, "300", purpose})
	}
	cw.Flush()
	return cw.Error()
}
