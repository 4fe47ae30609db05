package readiness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sesame-email/sesame/internal/identity"
)

// mode names a DMARC alignment mode.
func mode(m string) string {
	if m == "s" {
		return "strict"
	}
	return "relaxed"
}

func dmarcCheck(r *Report) Check {
	d := r.DMARC
	c := Check{Name: CheckDMARCRecord, Title: "DMARC record published"}
	where := d.Name
	if d.Inherited {
		where += " (the organizational domain's record, which covers " + r.Domain + ")"
	}
	publish := fmt.Sprintf("Publish a TXT record at _dmarc.%s, e.g. \"v=DMARC1; p=none; rua=mailto:dmarc-reports@%s\", then move to p=quarantine or p=reject once the reports show your mail passing.", r.OrganizationalDomain, r.OrganizationalDomain)
	switch {
	case d.LookupError != "":
		c.Status, c.Summary = Unknown, "The DMARC record could not be looked up; try again."
		c.Evidence = []string{d.LookupError}
	case !d.Found:
		c.Status, c.Summary = Fail, "No DMARC record is published for "+r.Domain+"."
		c.Evidence = []string{"no v=DMARC1 TXT record at _dmarc." + r.Domain}
		if r.OrganizationalDomain != r.Domain {
			c.Evidence = append(c.Evidence, "none at _dmarc."+r.OrganizationalDomain+" either (the organizational domain)")
		}
		c.Advice = []string{"Bulk senders must publish DMARC (Gmail and Yahoo, 2024). " + publish}
	case d.Error != "":
		c.Status, c.Summary = Fail, "The DMARC record at "+d.Name+" is broken, so receivers ignore it: "+d.Error+"."
		c.Evidence = []string{where + ": " + d.Record}
		c.Advice = []string{"Fix the record: it needs v=DMARC1 first and p=none, quarantine or reject; tags are name=value separated by semicolons. " + publish}
	default:
		c.Evidence = []string{where + ": " + d.Record,
			fmt.Sprintf("policy %s, DKIM alignment %s, SPF alignment %s, pct %d", d.Policy, mode(d.ADKIM), mode(d.ASPF), d.Percent)}
		if len(d.RUA) > 0 {
			c.Evidence = append(c.Evidence, "aggregate reports to "+strings.Join(d.RUA, ", "))
		} else {
			c.Advice = append(c.Advice, "Add rua=mailto:<address> to receive aggregate reports: they show which mail passes DMARC.")
		}
		c.Status = Pass
		if d.Policy == "none" {
			c.Summary = "A DMARC record is published with p=none: it satisfies the bulk-sender rules but only monitors; failing mail is still delivered."
			c.Advice = append(c.Advice, "Once the aggregate reports show your mail passing, move to p=quarantine, then p=reject, to protect the domain from spoofing.")
		} else {
			c.Summary = "A DMARC record is published with p=" + d.Policy + "."
		}
		if d.Percent < 100 && d.Policy != "none" {
			c.Advice = append(c.Advice, fmt.Sprintf("pct=%d applies the policy to only part of the failing mail; raise it to 100 when you can.", d.Percent))
		}
	}
	return c
}

func spfCheck(r *Report) Check {
	s := r.SPF
	c := Check{Name: CheckSPF, Title: "SPF aligned via the custom MAIL FROM domain"}
	strict := r.DMARC.usable() && r.DMARC.ASPF == "s"
	c.Evidence = []string{"envelope sender (MAIL FROM) domain: " + s.MailFromDomain}
	if s.CustomDomain != "" {
		c.Evidence = append(c.Evidence, fmt.Sprintf("custom MAIL FROM domain %s of %s: %s (behavior on MX failure %s)", s.CustomDomain, s.CustomOf, s.CustomStatus, s.CustomBehavior))
		if s.CustomFindings != "" {
			c.Evidence = append(c.Evidence, "last check: "+s.CustomFindings)
		}
	}
	notAligned := func(summary string, advice ...string) {
		unaligned(&c, r, "dkim", " DMARC still passes through DKIM.", summary, advice)
	}
	switch {
	case r.IdentityKind == identity.KindEmail && s.CustomDomain == "":
		notAligned("Mail from "+r.SentAs+" uses Sesame's MAIL FROM domain "+s.MailFromDomain+": SPF passes for it but does not align with "+r.Domain+".",
			"An address identity can have a custom MAIL FROM domain only under its own domain. If you control "+r.Domain+", verify it as a domain identity and set a custom MAIL FROM domain such as bounce."+r.Domain+"; if you do not (a mailbox provider's domain), send from a domain you own: its DMARC policy decides, and you cannot align with it.")
	case s.CustomDomain == "":
		notAligned("No custom MAIL FROM domain is set: mail goes out with Sesame's "+s.MailFromDomain+", for which SPF passes but does not align with "+r.Domain+".",
			fmt.Sprintf("Set a custom MAIL FROM domain for %s (e.g. bounce.%s) and publish its MX and SPF records (sesame identity records %s).", r.Identity, r.Domain, r.Identity))
	case !s.Custom:
		notAligned(fmt.Sprintf("The custom MAIL FROM domain %s is %s, so mail goes out with Sesame's %s, which does not align.", s.CustomDomain, s.CustomStatus, s.MailFromDomain),
			fmt.Sprintf("Publish exactly one MX record at %s pointing at Sesame's feedback host, and its SPF record (sesame identity records %s); Sesame moves it to Success when it finds them.", s.CustomDomain, s.CustomOf))
	case s.LookupError != "":
		c.Status, c.Summary = Unknown, "The SPF record of "+s.MailFromDomain+" could not be looked up; try again."
		c.Evidence = append(c.Evidence, s.LookupError)
	case strict && !s.Aligned.Strict:
		notAligned(fmt.Sprintf("The DMARC policy asks for strict SPF alignment (aspf=s): the MAIL FROM domain must equal %s exactly, and a custom MAIL FROM domain is always a subdomain, so SPF can never align under this policy.", r.Domain),
			"Use relaxed SPF alignment (leave out aspf, or aspf=r) in the DMARC record, or rely on DKIM alignment alone.")
	case !s.Aligned.Relaxed:
		notAligned(fmt.Sprintf("The MAIL FROM domain %s is not under %s's organizational domain %s, so SPF does not align.", s.MailFromDomain, r.Domain, r.OrganizationalDomain),
			"Use a custom MAIL FROM domain under "+r.Domain+".")
	case s.Record == "":
		notAligned(fmt.Sprintf("The custom MAIL FROM domain %s aligns, but it publishes no SPF record, so SPF fails.", s.MailFromDomain),
			fmt.Sprintf("Publish the SPF record at %s (sesame identity records %s).", s.MailFromDomain, s.CustomOf))
	case !s.Pass:
		c.Evidence = append(c.Evidence, "SPF record: "+s.Record)
		notAligned(fmt.Sprintf("The custom MAIL FROM domain %s aligns, but its SPF record does not include Sesame's servers, so SPF may fail.", s.MailFromDomain),
			fmt.Sprintf("Add include:%s to the SPF record of %s (sesame identity records %s).", r.SPF.Include, s.MailFromDomain, s.CustomOf))
	default:
		c.Evidence = append(c.Evidence, "SPF record: "+s.Record)
		c.Status = Pass
		c.Summary = fmt.Sprintf("Mail goes out with the custom MAIL FROM domain %s, whose SPF record includes Sesame; it aligns with %s in %s mode.", s.MailFromDomain, r.Domain, mode(r.DMARC.ASPF))
	}
	return c
}

// unaligned makes c a failure with summary and advice, or only a warning
// (with note added) when DMARC passes through the other mechanism.
func unaligned(c *Check, r *Report, other, note, summary string, advice []string) {
	c.Status, c.Summary, c.Advice = Fail, summary, advice
	if slices.Contains(r.Result.Via, other) {
		c.Status = Warn
		c.Summary += note
	}
}

func dkimCheck(r *Report) Check {
	k := r.DKIM
	c := Check{Name: CheckDKIM, Title: "DKIM aligned"}
	strict := r.DMARC.usable() && r.DMARC.ADKIM == "s"
	fail := func(summary string, advice ...string) {
		unaligned(&c, r, "spf", " DMARC still passes through SPF, but forwarding breaks SPF: DKIM is what survives it.", summary, advice)
	}
	switch {
	case !k.Signed:
		c.Evidence = []string{k.Reason}
		if r.IdentityKind == identity.KindEmail {
			fail("Mail from "+r.SentAs+" is not signed with a key of "+r.Domain+".",
				"Verify "+r.Domain+" as a domain identity with Easy DKIM (publish its three CNAME records) if you control it; otherwise send from a domain you own.")
		} else {
			fail("Mail from "+r.Domain+" is not DKIM-signed: "+k.Reason+".",
				"Set up Easy DKIM (or BYODKIM) for "+r.Identity+", publish its records and keep signing enabled.")
		}
	default:
		c.Evidence = []string{fmt.Sprintf("signed by identity %s (%s) with d=%s", k.Identity, k.Origin, k.Domain)}
		switch {
		case strict && !k.Aligned.Strict:
			fail(fmt.Sprintf("The DMARC policy asks for strict DKIM alignment (adkim=s), and the signature's d=%s is a parent of %s, which aligns in relaxed mode only.", k.Domain, r.Domain),
				"Verify "+r.Domain+" itself as a domain identity with Easy DKIM, or use relaxed DKIM alignment (adkim=r).")
		case !k.Aligned.Relaxed:
			fail(fmt.Sprintf("The signature's d=%s does not align with %s.", k.Domain, r.Domain), "Sign with a key of "+r.Domain+".")
		default:
			c.Status = Pass
			if k.Aligned.Strict {
				c.Summary = fmt.Sprintf("Mail is signed with d=%s, the From domain itself: aligned in both modes.", k.Domain)
			} else {
				c.Summary = fmt.Sprintf("Mail is signed with d=%s, a parent of %s: aligned in relaxed mode (a strict policy would not accept it).", k.Domain, r.Domain)
			}
		}
	}
	return c
}

func unsubscribeCheck(r *Report) Check {
	u := r.Unsubscribe
	c := Check{Name: CheckUnsubscribe, Title: "One-click unsubscribe in recent bulk mail"}
	c.Evidence = []string{
		fmt.Sprintf("%d messages from %s in the last %s", u.Messages, r.Domain, fmtWindow(UnsubscribeWindow)),
		fmt.Sprintf("%d with one-click unsubscribe (List-Unsubscribe and List-Unsubscribe-Post), %d with List-Unsubscribe only, %d with neither", u.OneClick, u.ListUnsubscribeOnly, u.Messages-u.OneClick-u.ListUnsubscribeOnly),
		fmt.Sprintf("busiest day: %d sends (recipients; a bulk sender from %d a day)", u.PeakDay, BulkDailyVolume),
	}
	if u.Truncated > 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%d messages had headers too long to store whole; their fields may not have been seen", u.Truncated))
	}
	how := "Send marketing and subscribed mail with ListManagementOptions (a contact list and topic): Sesame then adds both fields and honours the unsubscribe at once; a raw message may carry its own."
	switch {
	case u.Messages == 0:
		c.Status, c.Summary = Unknown, "No mail from "+r.Domain+" in the last "+fmtWindow(UnsubscribeWindow)+": nothing to judge."
		c.Advice = []string{how}
	case u.ListUnsubscribeOnly > 0:
		c.Status = Fail
		c.Summary = fmt.Sprintf("%d messages carried List-Unsubscribe without one-click (List-Unsubscribe-Post: List-Unsubscribe=One-Click and an https URL).", u.ListUnsubscribeOnly)
		c.Advice = []string{"RFC 8058 one-click needs both fields and an https URL. " + how}
	case u.OneClick == 0 && u.Bulk:
		c.Status = Fail
		c.Summary = fmt.Sprintf("%s sends as a bulk sender (%d recipients on its busiest day) and none of its recent mail offers one-click unsubscribe.", r.Domain, u.PeakDay)
		c.Advice = []string{"Gmail and Yahoo require one-click unsubscribe in marketing and subscribed mail from bulk senders. " + how}
	case u.OneClick == 0:
		c.Status = Warn
		c.Summary = "None of the recent mail offers one-click unsubscribe; that is fine for transactional mail, but marketing mail needs it once you send " + fmt.Sprint(BulkDailyVolume) + " a day."
		c.Advice = []string{how}
	case u.OneClick < u.Messages:
		c.Status = Pass
		c.Summary = fmt.Sprintf("%d of %d recent messages offer one-click unsubscribe; the others carry no List-Unsubscribe (right for transactional mail only).", u.OneClick, u.Messages)
	default:
		c.Status = Pass
		c.Summary = fmt.Sprintf("All %d recent messages offer one-click unsubscribe.", u.Messages)
	}
	if u.NotHTTPS > 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%d of the one-click URLs are plain http", u.NotHTTPS))
		c.Advice = append(c.Advice, "RFC 8058 wants an https one-click URL: give Sesame an https public URL.")
		if c.Status == Pass {
			c.Status = Warn
		}
	}
	return c
}

func complaintCheck(r *Report) Check {
	k := r.Complaints
	c := Check{Name: CheckComplaints, Title: "Complaint rate under 0.3% (recommended under 0.1%)"}
	c.Evidence = []string{fmt.Sprintf("%d complaints of %d sends in the last %s (%s), statistics of %s",
		k.Complaints, k.Sends, fmtWindow(ComplaintWindow), pct(k.Rate), strings.Join(k.Identities, ", "))}
	lower := "Send only to people who asked for the mail, honour unsubscribes at once, make unsubscribing easy (one-click), and remove addresses that have not engaged for months."
	switch {
	case !k.Enough:
		c.Status = Unknown
		c.Summary = fmt.Sprintf("Not enough mail to judge: %d sends in the last %s, fewer than %d.", k.Sends, fmtWindow(ComplaintWindow), MinVolume)
	case k.Rate >= ComplaintFail:
		c.Status, c.Summary = Fail, fmt.Sprintf("The complaint rate is %s, at or above the 0.3%% the mailbox providers enforce.", pct(k.Rate))
		c.Advice = []string{lower}
	case k.Rate >= ComplaintWarn:
		c.Status, c.Summary = Warn, fmt.Sprintf("The complaint rate is %s: under the enforced 0.3%% but above the recommended 0.1%%.", pct(k.Rate))
		c.Advice = []string{lower}
	default:
		c.Status, c.Summary = Pass, fmt.Sprintf("The complaint rate is %s, under the recommended 0.1%%.", pct(k.Rate))
	}
	return c
}

func resultCheck(r *Report) Check {
	o := r.Result
	c := Check{Name: CheckDMARCResult, Title: "DMARC result of the domain's mail now"}
	c.Evidence = []string{
		fmt.Sprintf("DKIM: %s", dkimLine(r)),
		fmt.Sprintf("SPF: %s", spfLine(r)),
	}
	switch o.Result {
	case "pass":
		c.Status = Pass
		c.Summary = "DMARC passes via " + strings.ToUpper(strings.Join(o.Via, " and ")) + "."
	case "fail":
		c.Status = Fail
		c.Summary = "DMARC fails: neither DKIM nor SPF passes aligned with " + r.Domain + "."
		if r.DMARC.Policy != "" && r.DMARC.Policy != "none" {
			c.Summary += " Under p=" + r.DMARC.Policy + " receivers " + map[string]string{"quarantine": "put such mail in spam", "reject": "refuse such mail"}[r.DMARC.Policy] + "."
		}
		c.Advice = []string{"Align DKIM (a domain identity with Easy DKIM for " + r.Domain + ") or SPF (a custom MAIL FROM domain under it); see the checks above."}
	default:
		c.Status = Fail
		if len(o.Via) > 0 {
			c.Summary = "No usable DMARC record, so receivers apply no DMARC policy; with one, the mail would pass via " + strings.ToUpper(strings.Join(o.Via, " and ")) + "."
		} else {
			c.Summary = "No usable DMARC record, and neither DKIM nor SPF aligns with " + r.Domain + "."
		}
		c.Advice = []string{"Publish a valid DMARC record (see the first check)."}
	}
	return c
}

func dkimLine(r *Report) string {
	if !r.DKIM.Signed {
		return "not signed (" + r.DKIM.Reason + ")"
	}
	return fmt.Sprintf("d=%s, aligned relaxed %v, strict %v", r.DKIM.Domain, r.DKIM.Aligned.Relaxed, r.DKIM.Aligned.Strict)
}

func spfLine(r *Report) string {
	pass := "passes"
	if !r.SPF.Pass {
		pass = "does not pass"
	}
	return fmt.Sprintf("MAIL FROM %s %s, aligned relaxed %v, strict %v", r.SPF.MailFromDomain, pass, r.SPF.Aligned.Relaxed, r.SPF.Aligned.Strict)
}

// pct formats a rate as a percentage.
func pct(rate float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", rate*100), "0"), ".") + "%"
}

// fmtWindow writes a window in days.
func fmtWindow(d interface{ Hours() float64 }) string {
	return fmt.Sprintf("%g days", d.Hours()/24)
}
