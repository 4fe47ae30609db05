package readiness

import (
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/dmarcrule"
)

// FuzzParseDMARC: any TXT data gives a record that is either absent,
// broken with a reason, or valid with a policy and alignment modes, and a
// DMARC check with a summary and advice. (Package dmarcrule fuzzes the
// record selection and parsing themselves.)
func FuzzParseDMARC(f *testing.F) {
	f.Add("v=DMARC1; p=none; sp=quarantine; adkim=s; aspf=r; pct=50; rua=mailto:a@b.example", "")
	f.Add("v=DMARC1; p=block", "v=spf1 -all")
	f.Add("v=DMARC1; p=none", "v=DMARC1; p=reject")
	f.Fuzz(func(t *testing.T, a, b string) {
		var txts []string
		for _, s := range []string{a, b} {
			if s != "" {
				txts = append(txts, s)
			}
		}
		p := dmarcrule.Select(txts)
		p.Name = "_dmarc.x.example"
		d := dmarcRecord(p)
		switch {
		case !d.Found:
			if d.Record != "" || d.Error != "" || d.Policy != "" {
				t.Fatalf("absent record with data: %+v", d)
			}
		case d.Error != "":
			if d.Policy != "" {
				t.Fatalf("broken record with a policy: %+v", d)
			}
		default:
			if !strings.Contains("none quarantine reject", d.Policy) || d.Policy == "" || (d.ADKIM != "r" && d.ADKIM != "s") ||
				(d.ASPF != "r" && d.ASPF != "s") || d.Percent < 0 || d.Percent > 100 {
				t.Fatalf("valid record out of range: %+v", d)
			}
		}
		r := &Report{Domain: "x.example", OrganizationalDomain: "x.example", DMARC: d}
		if c := dmarcCheck(r); c.Summary == "" || (c.Status != Pass && len(c.Advice) == 0) {
			t.Fatalf("check without summary or advice: %+v", c)
		}
	})
}
