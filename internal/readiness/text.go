package readiness

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes r for people: the domain, then each check's verdict,
// summary, evidence and advice.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	verdict := "READY"
	if !r.Ready {
		verdict = "NOT READY"
	}
	fmt.Fprintf(&b, "Bulk-sender readiness of %s (account %s) at %s: %s\n", r.Domain, r.AccountID, r.At.Format("2006-01-02 15:04 MST"), verdict)
	fmt.Fprintf(&b, "judged as mail from %s, covered by %s identity %s\n", r.SentAs, strings.ToLower(string(r.IdentityKind)), r.Identity)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "\n[%s] %s\n  %s\n", strings.ToUpper(string(c.Status)), c.Title, c.Summary)
		for _, e := range c.Evidence {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
		for _, a := range c.Advice {
			fmt.Fprintf(&b, "  > %s\n", a)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
