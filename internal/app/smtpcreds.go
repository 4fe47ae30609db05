package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"text/tabwriter"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/sigv4"
)

// SMTPCredentials prints how SMTP clients reach the submission server as
// the account: the host (the public URL's), the two ports as `sesame
// serve` last recorded them, and for each of the account's access keys —
// or only keyID — the SMTP user name (the access key id) and SES's SMTP
// password derived from its secret for the deployment's region (an
// inactive key is listed as such, without one).
func (a *App) SMTPCredentials(ctx context.Context, w io.Writer, ref, keyID string) error {
	acct, err := a.Accounts.Find(ctx, ref)
	if err != nil {
		return err
	}
	keys, err := a.Accounts.Keys(ctx, acct.ID)
	if err != nil {
		return err
	}
	var ids []string
	inactive := map[string]bool{}
	for _, k := range keys {
		if keyID == "" || k.AccessKeyID == keyID {
			ids = append(ids, k.AccessKeyID)
			inactive[k.AccessKeyID] = !k.InactiveAt.IsZero()
		}
	}
	if len(ids) == 0 {
		if keyID != "" {
			return fmt.Errorf("account %s (%s) has no access key %s", acct.Name, acct.ID, keyID)
		}
		return fmt.Errorf("account %s (%s) has no access key: add one with 'sesame account keys %s --add'", acct.Name, acct.ID, acct.Name)
	}
	ep := smtpEndpoints{StartTLS: config.DefaultSMTPAddr, TLS: config.DefaultSMTPSAddr}
	if v, ok, err := a.DB.Setting(ctx, smtpSetting); err != nil {
		return err
	} else if ok {
		json.Unmarshal([]byte(v), &ep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "host\t%s\n", a.smtpHost())
	fmt.Fprintf(tw, "port (STARTTLS)\t%s\n", port(ep.StartTLS))
	fmt.Fprintf(tw, "port (TLS)\t%s\n", port(ep.TLS))
	fmt.Fprintf(tw, "region\t%s\n", a.cfg.Region)
	fmt.Fprintf(tw, "\nSMTP USER (ACCESS KEY ID)\tSMTP PASSWORD\n")
	for _, id := range ids {
		if inactive[id] { // Secret does not answer for it: it signs nothing
			fmt.Fprintf(tw, "%s\t(inactive: activate it to log in)\n", id)
			continue
		}
		secret, _, err := a.Accounts.Secret(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\n", id, sigv4.SMTPPassword(secret, a.cfg.Region))
	}
	return tw.Flush()
}

// port is a listener address's port, or "off".
func port(addr string) string {
	if !config.ListenerOn(addr) {
		return "off"
	}
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}
