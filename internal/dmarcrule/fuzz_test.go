package dmarcrule

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzSelect: any TXT data gives a policy that is either absent, found
// but not usable with a reason, or usable with a policy and alignment
// modes in range; and alignment never panics on what a record or a
// message may hold.
func FuzzSelect(f *testing.F) {
	for _, s := range []string{"v=DMARC1; p=reject", "v=DMARC1; p=none; sp=quarantine; adkim=s; aspf=r; pct=50; rua=mailto:a@b.example",
		"v=DMARC1; p=block", "v=DMARC1", "v=spf1 -all", "v = DMARC1 ; p = none", "v=DMARC1; p=none; pct=200", ""} {
		f.Add(s, "")
	}
	f.Add("v=DMARC1; p=none", "v=DMARC1; p=reject")
	f.Fuzz(func(t *testing.T, a, b string) {
		// An empty string stands for no second record.
		p := Select(slices.DeleteFunc([]string{a, b}, func(s string) bool { return s == "" }))
		switch {
		case !p.Found:
			if p.Text != "" || p.Err != nil || p.Record != nil || p.Result() != None {
				t.Fatalf("absent record with data: %+v", p)
			}
		case p.Err != nil:
			var se *SyntaxError
			if p.Record != nil || p.Applied() != "" || (!errors.Is(p.Err, ErrMultipleRecords) && (!errors.As(p.Err, &se) || se.Reason == "")) || p.Result() == "" {
				t.Fatalf("unusable record: %+v", p)
			}
		default:
			r := p.Record
			if !strings.Contains("none quarantine reject", string(r.Policy)) || r.Policy == "" || (r.DKIMAlignment != "r" && r.DKIMAlignment != "s") ||
				(r.SPFAlignment != "r" && r.SPFAlignment != "s") || (r.Percent != nil && (*r.Percent < 0 || *r.Percent > 100)) || p.Result() != "" {
				t.Fatalf("valid record out of range: %+v", r)
			}
			if res := Evaluate(Input{FromDomain: b, Record: r, DKIMDomains: []string{a}, SPFPass: true, SPFDomain: a}); res.Result != Pass && res.Result != Fail {
				t.Fatalf("evaluation %+v", res)
			}
		}
		if Aligned("s", a, b) && !Aligned("r", a, b) {
			t.Fatalf("%q strictly but not relaxedly aligned with %q", a, b)
		}
	})
}
