package dmarcrule_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dmarc"
	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/dmarcrule"
	"github.com/sesame-email/sesame/internal/dnstest"
)

// The tests' zones use .test and .example names, which the public suffix
// list does not know: the default rule makes the last label the suffix.
func TestOrgDomain(t *testing.T) {
	for name, want := range map[string]string{
		"mx.provider.test":                        "provider.test",
		"aspmx.l.google.test":                     "google.test",
		"provider.test":                           "provider.test",
		"mail-x.outbound.protection.outlook.test": "outlook.test",
		"a.b.recipient.example":                   "recipient.example",
		"test":                                    "test",
		"News.Ex.Example.":                        "ex.example",
		// Real names, as the production rules see them.
		"aspmx.l.google.com": "google.com",
		"mail-db5eur03on2101.outbound.protection.outlook.com": "outlook.com",
		"mta5.am0.yahoodns.net":                               "yahoodns.net",
		"mx.example.co.uk":                                    "example.co.uk",
		"co.uk":                                               "co.uk",
		"ec2-192-0-2-1.compute-1.amazonaws.com":               "ec2-192-0-2-1.compute-1.amazonaws.com",
	} {
		if got := dmarcrule.OrgDomain(name); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestAligned(t *testing.T) {
	for _, c := range []struct {
		id, from        string
		relaxed, strict bool
	}{
		{"shop.test", "shop.test", true, true},
		{"Shop.Test.", "shop.test", true, true},
		{"parent.test", "news.parent.test", true, false},
		{"bounce.brand.test", "brand.test", true, false},
		{"us-east-1.sesame.example.test", "shop.test", false, false},
		{"y.co.uk", "x.co.uk", false, false},
		{"x.co.uk", "news.x.co.uk", true, false},
		{"", "shop.test", false, false},
		{"shop.test", "", false, false},
		{"", "", false, false},
	} {
		if got := dmarcrule.Aligned(dmarc.AlignmentRelaxed, c.id, c.from); got != c.relaxed {
			t.Errorf("relaxed %q with %q = %v", c.id, c.from, got)
		}
		if got := dmarcrule.Aligned("", c.id, c.from); got != c.relaxed {
			t.Errorf("default mode %q with %q = %v", c.id, c.from, got)
		}
		if got := dmarcrule.Aligned(dmarc.AlignmentStrict, c.id, c.from); got != c.strict {
			t.Errorf("strict %q with %q = %v", c.id, c.from, got)
		}
	}
}

func TestSelect(t *testing.T) {
	for _, c := range []struct {
		name   string
		txts   []string
		found  bool
		policy dmarc.Policy
		err    string // "" for a usable record
		result string
	}{
		{"nothing", nil, false, "", "", dmarcrule.None},
		{"not DMARC", []string{"v=spf1 -all", "p=reject; v=DMARC1", "v=DMARC10; p=reject", "v=DMARC2; p=reject", " v=DMARC1; p=reject"}, false, "", "", dmarcrule.None},
		{"one", []string{"v=spf1 -all", "v=DMARC1; p=none; sp=quarantine"}, true, dmarc.PolicyNone, "", ""},
		{"spaces", []string{"v = DMARC1 ; p = reject"}, true, dmarc.PolicyReject, "", ""},
		{"no p", []string{"v=DMARC1; adkim=s"}, true, "", "missing a 'p' parameter", dmarcrule.PermError},
		{"bad p", []string{"v=DMARC1; p=block"}, true, "", "invalid policy for parameter 'p'", dmarcrule.PermError},
		{"bare", []string{"v=DMARC1"}, true, "", "missing a 'p' parameter", dmarcrule.PermError},
		// RFC 7489 §6.3: syntax errors besides v=, p= and sp= are discarded
		// in favour of the defaults; the policy still applies.
		{"pct out of range", []string{"v=DMARC1; p=none; pct=200"}, true, dmarc.PolicyNone, "", ""},
		{"bad optional tags", []string{"v=DMARC1; p=reject; fo=x; adkim=q; rf=json; rua=mailto:d@corp.example"}, true, dmarc.PolicyReject, "", ""},
		{"bad sp", []string{"v=DMARC1; p=reject; sp=block; pct=200"}, true, "", "invalid policy for parameter 'sp'", dmarcrule.PermError},
		{"two", []string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}, true, "", "more than one DMARC record", dmarcrule.None},
		{"two, one broken", []string{"v=DMARC1; p=reject", "v=DMARC1; p=block"}, true, "", "more than one DMARC record", dmarcrule.None},
	} {
		p := dmarcrule.Select(c.txts)
		if p.Found != c.found || p.Result() != c.result || p.Applied() != c.policy || p.Usable() != (c.found && c.err == "") {
			t.Errorf("%s: %+v, result %q", c.name, p, p.Result())
		}
		switch {
		case c.err == "" && p.Err != nil:
			t.Errorf("%s: error %v", c.name, p.Err)
		case c.err != "" && (p.Err == nil || !strings.Contains(p.Err.Error(), c.err) || p.Record != nil):
			t.Errorf("%s: error %v, want %q", c.name, p.Err, c.err)
		}
	}
	if p := dmarcrule.Select([]string{"v=DMARC1; p=reject; adkim=q; pct=abc"}); p.Record == nil || p.Record.DKIMAlignment != dmarc.AlignmentRelaxed ||
		p.Record.Percent != nil || !slices.Equal(p.Ignored, []string{"adkim=q", "pct=abc"}) {
		t.Errorf("broken optional tags: %+v", p)
	}
	var se *dmarcrule.SyntaxError
	if p := dmarcrule.Select([]string{"v=DMARC1; p=block"}); !errors.As(p.Err, &se) || se.Reason != "invalid policy for parameter 'p'" || se.Record != "v=DMARC1; p=block" || p.Text != se.Record {
		t.Errorf("broken record: %+v", p)
	}
	if p := dmarcrule.Select([]string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}); !errors.Is(p.Err, dmarcrule.ErrMultipleRecords) || p.Text != "v=DMARC1; p=reject | v=DMARC1; p=none" {
		t.Errorf("two records: %+v", p)
	}
}

// TestLookup runs policy discovery against a real DNS server on loopback.
func TestLookup(t *testing.T) {
	srv := dnstest.NewServer(t)
	res := srv.Resolver()
	ctx := context.Background()
	srv.Add(`_dmarc.corp.test. 300 IN TXT "v=spf1 -all"`)
	srv.Add(`_dmarc.corp.test. 300 IN TXT "v=DMARC1; p=none; sp=quarantine; adkim=s; pct=50"`)
	srv.Add(`_dmarc.plain.test. 300 IN TXT "v=DMARC1; p=reject"`)
	srv.Add(`_dmarc.broken.test. 300 IN TXT "v=DMARC1; p=block"`)
	srv.Add(`_dmarc.sub.broken.test. 300 IN TXT "not a dmarc record"`)
	srv.Add(`_dmarc.twice.test. 300 IN TXT "v=DMARC1; p=reject"`)
	srv.Add(`_dmarc.twice.test. 300 IN TXT "v=DMARC1; p=none"`)
	srv.Add(`_dmarc.own.twice.test. 300 IN TXT "v=DMARC1; p=none"`)
	srv.Add(`_dmarc.fail.test. 300 IN TXT "v=DMARC1; p=reject"`)
	srv.Fail("_dmarc.fail.test.", mdns.RcodeServerFailure)
	srv.Add(`_dmarc.down.fail.test. 300 IN TXT "v=DMARC1; p=none"`)
	srv.Fail("_dmarc.sub.down.fail.test.", mdns.RcodeServerFailure)

	for _, c := range []struct {
		from      string
		domain    string
		found     bool
		inherited bool
		applied   dmarc.Policy
		result    string // Policy.Result
		lookupErr bool
	}{
		// At the From domain itself: p= applies, never sp=.
		{"corp.test", "corp.test", true, false, dmarc.PolicyNone, "", false},
		{"CORP.test.", "corp.test", true, false, dmarc.PolicyNone, "", false},
		// At the organisational domain: sp= applies, p= when no sp=.
		{"mail.corp.test", "corp.test", true, true, dmarc.PolicyQuarantine, "", false},
		{"a.b.plain.test", "plain.test", true, true, dmarc.PolicyReject, "", false},
		// None anywhere: the last name looked at is the organisational
		// domain's.
		{"nowhere.test", "nowhere.test", false, false, "", dmarcrule.None, false},
		{"x.nowhere.test", "nowhere.test", false, false, "", dmarcrule.None, false},
		// Broken: permerror, at the From domain or inherited; a TXT
		// record that is not DMARC's is no record.
		{"broken.test", "broken.test", true, false, "", dmarcrule.PermError, false},
		{"sub.broken.test", "broken.test", true, true, "", dmarcrule.PermError, false},
		// Several: none applies, and the organisational domain is not
		// asked (policy discovery terminates).
		{"twice.test", "twice.test", true, false, "", dmarcrule.None, false},
		{"own.twice.test", "own.twice.test", true, false, dmarc.PolicyNone, "", false},
		// A failed lookup is no evidence: no fallback, an error.
		{"fail.test", "fail.test", false, false, "", dmarcrule.None, true},
		{"sub.down.fail.test", "sub.down.fail.test", false, false, "", dmarcrule.None, true},
		// The From domain's lookup failing at the organisational domain.
		{"x.fail.test", "fail.test", false, false, "", dmarcrule.None, true},
		// A From domain with a record keeps it although its
		// organisational domain's lookup fails.
		{"down.fail.test", "down.fail.test", true, false, dmarc.PolicyNone, "", false},
	} {
		p, err := dmarcrule.Lookup(ctx, res, c.from)
		if (err != nil) != c.lookupErr || p.Domain != c.domain || p.Name != "_dmarc."+c.domain || p.Found != c.found ||
			p.Inherited != c.inherited || p.Applied() != c.applied || p.Result() != c.result {
			t.Errorf("Lookup(%s) = %+v, %v (applied %q, result %q)", c.from, p, err, p.Applied(), p.Result())
		}
		if c.lookupErr && !strings.Contains(err.Error(), "SERVFAIL") {
			t.Errorf("Lookup(%s) error %v does not say SERVFAIL", c.from, err)
		}
	}
	// The parsed record is kept whole: pct= and adkim= are there for the
	// callers, p= stays p= when sp= applies.
	p, err := dmarcrule.Lookup(ctx, res, "mail.corp.test")
	if err != nil || p.Record.Percent == nil || *p.Record.Percent != 50 || p.Record.DKIMAlignment != dmarc.AlignmentStrict || p.Record.Policy != dmarc.PolicyNone {
		t.Errorf("record %+v, %v", p.Record, err)
	}
}

func TestEvaluate(t *testing.T) {
	relaxed := &dmarc.Record{Policy: dmarc.PolicyReject}
	strict := &dmarc.Record{Policy: dmarc.PolicyReject, DKIMAlignment: dmarc.AlignmentStrict, SPFAlignment: dmarc.AlignmentStrict}
	fifty := 50
	sampled := &dmarc.Record{Policy: dmarc.PolicyReject, Percent: &fifty}
	for _, c := range []struct {
		name       string
		in         dmarcrule.Input
		want       string
		dkim, spf  bool
		reasonSays string
	}{
		// The capture MX's cases.
		{"no policy", dmarcrule.Input{FromDomain: "a.example"}, dmarcrule.None, false, false, "no DMARC policy for a.example"},
		{"dkim relaxed subdomain", dmarcrule.Input{FromDomain: "a.example", Record: relaxed, DKIMDomains: []string{"mail.a.example"}}, dmarcrule.Pass, true, false, ""},
		{"dkim strict subdomain", dmarcrule.Input{FromDomain: "a.example", Record: strict, DKIMDomains: []string{"mail.a.example"}}, dmarcrule.Fail, false, false, "not aligned with a.example (adkim=s)"},
		{"dkim strict exact", dmarcrule.Input{FromDomain: "a.example", Record: strict, DKIMDomains: []string{"A.example."}}, dmarcrule.Pass, true, false, ""},
		{"spf relaxed", dmarcrule.Input{FromDomain: "a.example", Record: relaxed, SPFPass: true, SPFDomain: "bounce.a.example"}, dmarcrule.Pass, false, true, ""},
		{"spf strict subdomain", dmarcrule.Input{FromDomain: "a.example", Record: strict, SPFPass: true, SPFDomain: "bounce.a.example"}, dmarcrule.Fail, false, false, "SPF domain bounce.a.example not aligned with a.example (aspf=s)"},
		{"spf aligned but not pass", dmarcrule.Input{FromDomain: "a.example", Record: relaxed, SPFDomain: "a.example"}, dmarcrule.Fail, false, false, "SPF did not pass"},
		{"unrelated", dmarcrule.Input{FromDomain: "a.example", Record: relaxed, DKIMDomains: []string{"b.example"}, SPFPass: true, SPFDomain: "b.example"}, dmarcrule.Fail, false, false, "(adkim=r)"},
		{"public suffix org domain", dmarcrule.Input{FromDomain: "x.co.uk", Record: relaxed, DKIMDomains: []string{"y.co.uk"}}, dmarcrule.Fail, false, false, "DKIM d=y.co.uk"},
		{"co.uk relaxed", dmarcrule.Input{FromDomain: "news.x.co.uk", Record: relaxed, DKIMDomains: []string{"x.co.uk"}}, dmarcrule.Pass, true, false, ""},
		{"no signature", dmarcrule.Input{FromDomain: "a.example", Record: relaxed}, dmarcrule.Fail, false, false, "no DKIM signature verified"},
		// The readiness report's cases: its setups judged with no record
		// (alignment under the default modes, result none), and under
		// strict modes.
		{"no record, would pass via dkim", dmarcrule.Input{FromDomain: "corp.test", DKIMDomains: []string{"corp.test"}, SPFPass: true, SPFDomain: "us-east-1.sesame.example.test"}, dmarcrule.None, true, false, ""},
		{"no record, both align", dmarcrule.Input{FromDomain: "brand.test", DKIMDomains: []string{"brand.test"}, SPFPass: true, SPFDomain: "bounce.brand.test"}, dmarcrule.None, true, true, ""},
		{"address identity", dmarcrule.Input{FromDomain: "mailbox.test", Record: relaxed, SPFPass: true, SPFDomain: "us-east-1.sesame.example.test"}, dmarcrule.Fail, false, false, "not aligned with mailbox.test"},
		{"aspf=s custom MAIL FROM", dmarcrule.Input{FromDomain: "strict.test", Record: &dmarc.Record{SPFAlignment: dmarc.AlignmentStrict}, DKIMDomains: []string{"strict.test"}, SPFPass: true, SPFDomain: "bounce.strict.test"}, dmarcrule.Pass, true, false, ""},
		{"adkim=s parent key", dmarcrule.Input{FromDomain: "news.parent.test", Record: &dmarc.Record{DKIMAlignment: dmarc.AlignmentStrict}, DKIMDomains: []string{"parent.test"}, SPFPass: true, SPFDomain: "us-east-1.sesame.example.test"}, dmarcrule.Fail, false, false, "adkim=s"},
		{"relaxed parent key", dmarcrule.Input{FromDomain: "relaxed.parent.test", Record: relaxed, DKIMDomains: []string{"parent.test"}}, dmarcrule.Pass, true, false, ""},
		// pct= samples the policy's application, not the result.
		{"pct=50 fail", dmarcrule.Input{FromDomain: "a.example", Record: sampled, DKIMDomains: []string{"b.example"}}, dmarcrule.Fail, false, false, "not aligned"},
		{"pct=50 pass", dmarcrule.Input{FromDomain: "a.example", Record: sampled, DKIMDomains: []string{"a.example"}}, dmarcrule.Pass, true, false, ""},
	} {
		got := dmarcrule.Evaluate(c.in)
		if got.Result != c.want || got.DKIMAligned != c.dkim || got.SPFAligned != c.spf || !strings.Contains(got.Reason, c.reasonSays) || (c.want == dmarcrule.Pass) != (got.Reason == "") {
			t.Errorf("%s: %+v, want %s dkim %v spf %v reason %q", c.name, got, c.want, c.dkim, c.spf, c.reasonSays)
		}
	}
}
