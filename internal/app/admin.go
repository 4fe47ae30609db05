package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/reputation"
)

// CreateAccount creates an account and prints it with its key.
func (a *App) CreateAccount(ctx context.Context, w io.Writer, o account.CreateOptions) error {
	acct, k, err := a.Accounts.Create(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "account_id         %s\nname               %s\nemail              %s\naccess_key_id      %s\nsecret_access_key  %s\n",
		acct.ID, acct.Name, acct.Email, k.AccessKeyID, k.Secret)
	return nil
}

// ListAccounts prints every account.
func (a *App) ListAccounts(ctx context.Context, w io.Writer) error {
	all, err := a.Accounts.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT ID\tNAME\tEMAIL\tSANDBOX\tPRODUCTION REQUEST\tCREATED")
	for _, x := range all {
		req := "-"
		if d, err := a.Accounts.Details(ctx, x.ID); err == nil && d.ReviewStatus != "" {
			req = fmt.Sprintf("%s (%s, %s)", d.ReviewStatus, d.MailType, d.WebsiteURL)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", x.ID, x.Name, x.Email, x.Sandbox, req, x.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// AccountKeys prints an account's access keys; with add, it first adds
// one (generated when id is empty) and prints its secret; with remove, it
// then removes that key (the account's last one only with force).
func (a *App) AccountKeys(ctx context.Context, w io.Writer, ref string, add bool, id, secret, remove string, force bool) error {
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return err
	}
	if add {
		k, err := a.Accounts.AddKey(ctx, acct.ID, id, secret)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "access_key_id      %s\nsecret_access_key  %s\n\n", k.AccessKeyID, k.Secret)
	}
	if remove != "" {
		if err := a.Accounts.RemoveKey(ctx, acct.ID, remove, force); err != nil {
			return err
		}
		fmt.Fprintf(w, "removed access key %s of account %s (%s)\n\n", remove, acct.Name, acct.ID)
	}
	keys, err := a.Accounts.Keys(ctx, acct.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCESS KEY ID\tCREATED\tSTATUS")
	for _, k := range keys {
		status := "Active"
		if !k.InactiveAt.IsZero() {
			status = "Inactive since " + k.InactiveAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.AccessKeyID, k.CreatedAt.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

// SetKeyActive deactivates (active false) or activates again an access
// key of an account, as IAM does: an inactive key signs neither API
// requests nor SMTP logins, from the next one on (an open SMTP session
// fails at its next MAIL), and works again once activated.
func (a *App) SetKeyActive(ctx context.Context, w io.Writer, ref, id string, active bool) error {
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return err
	}
	if err := a.Accounts.SetKeyActive(ctx, acct.ID, id, active); err != nil {
		return err
	}
	what := "deactivated"
	if active {
		what = "activated"
	}
	fmt.Fprintf(w, "%s access key %s of account %s (%s)\n\n", what, id, acct.Name, acct.ID)
	return nil
}

// Production takes an account out of the sandbox with the given quotas,
// or changes the quotas of an account already out of it. A quota left
// out (nil) keeps the account's current value, or is SES's default
// production quota for an account still in the sandbox: raising the rate
// does not silently reset a raised daily quota.
func (a *App) Production(ctx context.Context, w io.Writer, ref string, max24hp, ratep *float64) error {
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return err
	}
	quota := func(given *float64, current, def float64) float64 {
		switch {
		case given != nil:
			return *given
		case acct.Sandbox:
			return def
		}
		return current
	}
	max24h := quota(max24hp, acct.Max24HourSend, account.DefaultProductionMax24HourSend)
	rate := quota(ratep, acct.MaxSendRate, account.DefaultProductionMaxSendRate)
	if err := a.Accounts.SetProduction(ctx, acct.ID, max24h, rate); err != nil {
		return err
	}
	fmt.Fprintf(w, "account %s (%s) is out of the sandbox: %s per 24 hours, %s per second\n", acct.Name, acct.ID, dailyQuota(max24h), quantity(rate))
	return nil
}

// dailyQuota prints a Max24HourSend: "1000000 messages", or "unlimited
// messages" for SES's -1.
func dailyQuota(max24h float64) string {
	if max24h < 0 {
		return "unlimited messages"
	}
	return quantity(max24h) + " messages"
}

// quantity prints a quota or a rate as written: a whole number without an
// exponent (1000000, not 1e+06), a fraction as it is (0.5).
func quantity(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Reinstate lifts an account's reputation SHUTDOWN (or PROBATION): its
// sending resumes, its status is HEALTHY, and its owner is told.
func (a *App) Reinstate(ctx context.Context, w io.Writer, ref string) error {
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return err
	}
	if err := a.Reputation.Reinstate(ctx, acct.ID); err != nil {
		return err
	}
	fmt.Fprintf(w, "account %s (%s) is reinstated: sending resumed, enforcement status HEALTHY; only mail sent from now on counts toward its rates\n", acct.Name, acct.ID)
	return nil
}

// SetThreshold sets (or, with clear or both rates 0, removes) the pause
// threshold of an account's configuration set, and prints the set's
// reputation.
func (a *App) SetThreshold(ctx context.Context, w io.Writer, ref, set string, bounce, complaint float64, clear bool) error {
	if clear && (bounce != 0 || complaint != 0) {
		return errors.New("--clear goes without --bounce-rate and --complaint-rate")
	}
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return err
	}
	if err := a.Reputation.SetThreshold(ctx, acct.ID, set, reputation.Threshold{Bounce: bounce, Complaint: complaint}); err != nil {
		return err
	}
	st, err := a.Reputation.Set(ctx, acct.ID, set)
	if err != nil {
		return err
	}
	rate := func(r float64) string {
		if r == 0 {
			return "none"
		}
		return fmt.Sprintf("%g%%", r*100)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "account\t%s (%s)\n", acct.Name, acct.ID)
	fmt.Fprintf(tw, "configuration set\t%s\n", set)
	fmt.Fprintf(tw, "bounce rate threshold\t%s\n", rate(st.Threshold.Bounce))
	fmt.Fprintf(tw, "complaint rate threshold\t%s\n", rate(st.Threshold.Complaint))
	if !st.PausedAt.IsZero() {
		fmt.Fprintf(tw, "last paused\t%s (resumed: %v)\n", st.PausedAt.Format(time.RFC3339), !st.Paused())
	}
	return tw.Flush()
}

// notifyOwner mails an account's owner (reputation.Options.Notify): a
// system mail queued now, delivered by the delivery role. An account
// without an address is only logged.
func (a *App) notifyOwner(ctx context.Context, accountID, subject, text string) error {
	acct, err := a.Accounts.Get(ctx, accountID)
	if err != nil {
		return err
	}
	if acct.Email == "" {
		a.log.Warn("account has no address to mail a notice to", "account", accountID, "subject", subject)
		return nil
	}
	if err := a.DB.InTx(ctx, func(tx *db.Tx) error { return a.mailer.MailTx(ctx, tx, accountID, acct.Email, subject, text) }); err != nil {
		return err
	}
	a.kickDelivery()
	return nil
}

// TailEvents prints stored events as JSON lines, oldest first: the last
// limit events (of one account when ref is given), then, with follow, new
// ones as they are stored until ctx ends.
func (a *App) TailEvents(ctx context.Context, w io.Writer, ref string, limit int, follow bool) error {
	acct, err := a.accountID(ctx, ref)
	if err != nil {
		return err
	}
	if limit < 1 {
		return errors.New("--limit must be at least 1")
	}
	// Start limit events back from the newest.
	var after int64
	if err := a.DB.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&after); err != nil {
		return err
	}
	after -= int64(limit)
	for {
		evs, err := event.List(ctx, a.DB, after, 500, acct, "")
		if err != nil {
			return err
		}
		for _, e := range evs {
			fmt.Fprintf(w, "%s\n", e.Payload)
			after = e.ID
		}
		if len(evs) == 500 {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// FailedNotifications prints the parked HTTP notifications (of one
// account when ref is given), oldest first, at most limit.
func (a *App) FailedNotifications(ctx context.Context, w io.Writer, ref string, limit int) error {
	acct, err := a.accountID(ctx, ref)
	if err != nil {
		return err
	}
	if limit < 1 {
		return errors.New("--limit must be at least 1")
	}
	parked, err := a.Push.Failed(ctx, acct, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCOUNT\tENDPOINT\tSUBSCRIPTION\tATTEMPTS\tSTATUS\tPARKED\tLAST ERROR")
	for _, p := range parked {
		status := "-"
		if p.LastStatus != 0 {
			status = fmt.Sprint(p.LastStatus)
		}
		sub := p.SubscriptionARN
		if sub == "" {
			sub = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.ID, p.AccountID, printable(p.Endpoint), printable(sub), p.Attempts, status,
			p.ParkedAt.Format(time.RFC3339), printable(p.LastError))
	}
	return tw.Flush()
}

// RetryNotifications makes parked HTTP notifications due again, with
// their whole delivery policy: those with the given ids, or all of them.
func (a *App) RetryNotifications(ctx context.Context, w io.Writer, all bool, ids []int64) error {
	switch {
	case all && len(ids) > 0:
		return errors.New("give --all or notification ids (from sesame events failed), not both")
	case !all && len(ids) == 0:
		return errors.New("which notifications? give their ids (from sesame events failed) or --all")
	}
	if all {
		ids = nil
	}
	n, err := a.Push.Retry(ctx, ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d parked notifications will be sent again\n", n)
	return nil
}

// findIdentity returns the identity named name, in the account ref when
// given; without ref the name must be unique across accounts.
func (a *App) findIdentity(ctx context.Context, name, ref string) (*identity.Identity, error) {
	if ref != "" {
		acct, err := a.Accounts.Find(ctx, ref)
		if err != nil {
			return nil, err
		}
		return a.Identities.Get(ctx, acct.ID, name)
	}
	all, err := a.Identities.FindByName(ctx, name)
	if err != nil {
		return nil, err
	}
	switch len(all) {
	case 0:
		return nil, fmt.Errorf("no account has the identity %s", name)
	case 1:
		return all[0], nil
	}
	var ids []string
	for _, i := range all {
		ids = append(ids, i.AccountID)
	}
	return nil, fmt.Errorf("%d accounts have the identity %s (%s): choose one with --account", len(all), name, strings.Join(ids, ", "))
}

// ShowIdentity prints an identity's state, its check findings and its
// transition history.
func (a *App) ShowIdentity(ctx context.Context, w io.Writer, name, ref string) error {
	i, err := a.findIdentity(ctx, name, ref)
	if err != nil {
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "identity\t%s\n", i.Name)
	fmt.Fprintf(tw, "type\t%s\n", i.Kind)
	fmt.Fprintf(tw, "account\t%s\n", i.AccountID)
	fmt.Fprintf(tw, "created\t%s\n", ts(i.CreatedAt))
	fmt.Fprintf(tw, "verification\t%s (since %s)\n", i.Verification, ts(i.VerificationSince))
	if i.VerificationError != "" {
		fmt.Fprintf(tw, "verification error\t%s\n", i.VerificationError)
	}
	fmt.Fprintf(tw, "last checked\t%s\n", ts(i.LastCheckedAt))
	fmt.Fprintf(tw, "next check\t%s\n", ts(i.NextCheckAt))
	if i.Kind == identity.KindDomain {
		origin := string(i.DKIM.Origin)
		if origin == "" {
			origin = "none"
		}
		fmt.Fprintf(tw, "dkim\t%s, origin %s, signing %v (since %s)\n", i.DKIM.Status, origin, i.DKIM.SigningEnabled, ts(i.DKIM.Since))
		if len(i.DKIM.Tokens) > 0 {
			fmt.Fprintf(tw, "dkim tokens\t%s\n", strings.Join(i.DKIM.Tokens, " "))
		}
		if i.DKIM.Ed25519Token != "" {
			fmt.Fprintf(tw, "dkim ed25519 token\t%s\n", i.DKIM.Ed25519Token)
		}
		if i.DKIM.Diagnostic != "" {
			fmt.Fprintf(tw, "dkim findings\t%s\n", i.DKIM.Diagnostic)
		}
	}
	if i.MailFrom.Domain == "" {
		fmt.Fprintf(tw, "mail from\tnone (default %s, behavior on MX failure %s)\n", a.Identities.DefaultMailFromDomain(), i.MailFrom.Behavior)
	} else {
		fmt.Fprintf(tw, "mail from\t%s: %s (since %s), behavior on MX failure %s\n", i.MailFrom.Domain, i.MailFrom.Status, ts(i.MailFrom.Since), i.MailFrom.Behavior)
		if i.MailFrom.Diagnostic != "" {
			fmt.Fprintf(tw, "mail from findings\t%s\n", i.MailFrom.Diagnostic)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	hist, err := a.Identities.Transitions(ctx, i.ID)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nhistory:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tATTRIBUTE\tFROM\tTO\tREASON")
	for _, t := range hist {
		from, to := string(t.From), string(t.To)
		if from == "" {
			from = "-"
		}
		if to == "" {
			to = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", ts(t.At), t.Attribute, from, to, t.Reason)
	}
	return tw.Flush()
}

// IdentityRecords prints the DNS records to publish, as zone-file lines
// or (format "csv") as a CSV record set.
func (a *App) IdentityRecords(ctx context.Context, w io.Writer, name, ref, format string) error {
	i, err := a.findIdentity(ctx, name, ref)
	if err != nil {
		return err
	}
	recs, err := a.Identities.Records(ctx, i)
	if err != nil {
		return err
	}
	switch format {
	case "", "zone":
		return identity.WriteZone(w, recs)
	case "csv":
		return identity.WriteCSV(w, recs)
	}
	return errors.New("--format must be zone or csv")
}

// ListFeedback prints the reports the feedback MX took, newest first, one
// line each: those of the account ref when given (strictly: no other
// account's), received within since before now (the caller's clock) when
// since > 0, and with unverified only those naming a recipient they were
// not shown to come from.
func (a *App) ListFeedback(ctx context.Context, w io.Writer, now time.Time, ref string, since time.Duration, unverified bool) error {
	acct, err := a.accountID(ctx, ref)
	if err != nil {
		return err
	}
	o := feedback.ListOptions{AccountID: acct, Unverified: unverified}
	switch {
	case since < 0:
		return errors.New("--since must not be negative")
	case since > 0:
		o.Since = now.Add(-since)
	}
	rs, err := feedback.ListReports(ctx, a.DB, o)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tACCOUNT\tMESSAGE ID\tFROM\tKIND\tOUTCOME\tRECIPIENTS")
	for _, r := range rs {
		var rcpts []string
		for _, c := range r.Recipients {
			v := "unverified"
			if c.Verified {
				v = "verified"
			}
			rcpts = append(rcpts, c.Address+" "+v)
		}
		if len(rcpts) == 0 {
			rcpts = []string{"-"}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.ReceivedAt.Format(time.RFC3339), r.AccountID, r.MessageID,
			printable(feedbackOrigin(r)), printable(string(r.Kind)+"/"+r.Format), r.Outcome, printable(strings.Join(rcpts, ", ")))
	}
	return tw.Flush()
}

// ShowFeedback prints one report the feedback MX took, whole: where it
// came from, the verdict about each recipient it named, and its first
// bytes. With ref, only a report of that account is shown.
func (a *App) ShowFeedback(ctx context.Context, w io.Writer, id int64, ref string) error {
	acct, err := a.accountID(ctx, ref)
	if err != nil {
		return err
	}
	r, err := feedback.GetReport(ctx, a.DB, id, acct)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%d\n", r.ID)
	fmt.Fprintf(tw, "received\t%s\n", r.ReceivedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "account\t%s\n", r.AccountID)
	fmt.Fprintf(tw, "message id\t%s\n", r.MessageID)
	fmt.Fprintf(tw, "from\t%s\n", printable(feedbackOrigin(r)))
	fmt.Fprintf(tw, "kind\t%s/%s\n", printable(string(r.Kind)), printable(r.Format))
	fmt.Fprintf(tw, "outcome\t%s\n", r.Outcome)
	fmt.Fprintf(tw, "size\t%d bytes (%d kept)\n", r.Size, len(r.Raw))
	for _, c := range r.Recipients {
		if c.Verified {
			fmt.Fprintf(tw, "recipient\t%s: verified: %s\n", printable(c.Address), printable(c.How))
		} else {
			fmt.Fprintf(tw, "recipient\t%s: not verified: %s\n", printable(c.Address), printable(c.Reason))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", printableText(r.Raw))
	return nil
}

// accountID is the id of the account ref (name, id or access key id), ""
// when ref is "".
func (a *App) accountID(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return "", err
	}
	return acct.ID, nil
}

// feedbackOrigin is where a report came from: "<ip> (<helo>) <mail from>".
func feedbackOrigin(r *feedback.Stored) string {
	return fmt.Sprintf("%s (%s) <%s>", r.RemoteIP, r.HELO, r.MailFrom)
}

// printable escapes what a terminal would act on, or what would make the
// text read otherwise than it is (control characters, C1 controls,
// invalid UTF-8, format characters such as the bidirectional overrides
// U+202E and isolates U+2066..U+2069 and zero-width ones, line and
// paragraph separators) in s, which may come from anyone.
func printable(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case unicode.In(r, unicode.Cf):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printableText is printable for a message's text: its lines are kept.
func printableText(raw []byte) string {
	lines := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}
