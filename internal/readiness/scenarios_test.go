package readiness_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/readiness"
	"github.com/sesame-email/sesame/internal/testkit"
)

// scenarios renders a report's three setups as "setup=result[via]*" (*
// marks the one that applies) for comparison.
func scenarios(r *readiness.Report) string {
	var out []string
	for _, s := range r.Scenarios("us-east-1." + svc) {
		v := fmt.Sprintf("%s=%s%v", s.Setup, s.Result.Result, s.Result.Via)
		if s.Applies {
			v += "*"
		}
		out = append(out, v)
	}
	return strings.Join(out, " ")
}

// TestScenarios: the three setups' verdicts under each domain's record,
// the one that applies marked, and the MAIL FROM domain's MX found live.
func TestScenarios(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		if _, err := e.ids.Create(e.ctx, e.acct, "alice@mailbox.test", identity.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ids.ConfirmAddress(e.ctx, testkit.VerificationSecret(t, e.d, "alice@mailbox.test")); err != nil {
			t.Fatal(err)
		}
		e.dmarc("mailbox.test", "v=DMARC1; p=reject")
		e.domain(e.acct, "shop.test", "")
		e.dmarc("shop.test", "v=DMARC1; p=quarantine")
		e.domain(e.acct, "brand.test", "bounce.brand.test")
		e.dmarc("brand.test", "v=DMARC1; p=reject")
		e.domain(e.acct, "strict.test", "bounce.strict.test")
		e.dmarc("strict.test", "v=DMARC1; p=reject; aspf=s")
		e.domain(e.acct, "nodmarc.test", "")

		for name, want := range map[string]string{
			"mailbox.test": "address=fail[]* domain=pass[dkim] domain-mail-from=pass[dkim spf]",
			"shop.test":    "address=fail[] domain=pass[dkim]* domain-mail-from=pass[dkim spf]",
			"brand.test":   "address=fail[] domain=pass[dkim] domain-mail-from=pass[dkim spf]*",
			"strict.test":  "address=fail[] domain=pass[dkim] domain-mail-from=pass[dkim]*",
			"nodmarc.test": "address=none[] domain=none[dkim]* domain-mail-from=none[dkim spf]",
		} {
			r := e.report(name)
			if got := scenarios(r); got != want {
				t.Errorf("%s: %s\nwant %s", name, got, want)
			}
			// The setup that applies agrees with the report's own result.
			for _, s := range r.Scenarios("us-east-1." + svc) {
				if s.Applies && (s.Result.Result != r.Result.Result || !slices.Equal(s.Result.Via, r.Result.Via)) {
					t.Errorf("%s: applying setup %+v, report %+v", name, s.Result, r.Result)
				}
			}
		}
		if s := e.report("strict.test").Scenarios("us-east-1." + svc)[2]; !strings.Contains(s.Why, "can never align") || s.MailFromDomain != "bounce.strict.test" {
			t.Errorf("strict: %+v", s)
		}
		if s := e.report("shop.test").Scenarios("us-east-1." + svc)[2]; s.MailFromDomain != "bounce.shop.test" {
			t.Errorf("example MAIL FROM: %+v", s)
		}

		// The MX, live: one record; then two; then none (no MAIL FROM set
		// looks up nothing).
		if mx := e.report("brand.test").MailFromMX; mx.Domain != "bounce.brand.test" || !slices.Equal(mx.Records, []string{"10 " + feedback}) {
			t.Errorf("MX %+v", mx)
		}
		e.dns.Add("bounce.brand.test. 300 IN MX 20 mx.elsewhere.test.")
		if mx := e.report("brand.test").MailFromMX; !slices.Equal(mx.Records, []string{"10 " + feedback, "20 mx.elsewhere.test"}) {
			t.Errorf("two MX %+v", mx)
		}
		e.dns.Remove("bounce.brand.test.", dns.TypeMX)
		if mx := e.report("brand.test").MailFromMX; len(mx.Records) != 0 || mx.LookupError != "" {
			t.Errorf("no MX %+v", mx)
		}
		if mx := e.report("shop.test").MailFromMX; mx.Domain != "" || len(mx.Records) != 0 {
			t.Errorf("no MAIL FROM %+v", mx)
		}
	})
}
