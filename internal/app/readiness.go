package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sesame-email/sesame/internal/readiness"
)

// Readiness returns the bulk-sender readiness evaluator, built on the
// configured resolver (the one the DNS checker uses).
func (a *App) Readiness() (*readiness.Evaluator, error) {
	resolver, err := a.resolver()
	if err != nil {
		return nil, err
	}
	return readiness.New(readiness.Options{Identities: a.Identities, Resolver: resolver, Stats: a.Stats, DB: a.DB})
}

// DomainReadiness prints the bulk-sender readiness of a domain (or of an
// address) as text, or as JSON when asJSON is set. ref names the account
// (id, access key id or name); "" means the one account that has the
// identity.
func (a *App) DomainReadiness(ctx context.Context, w io.Writer, name, ref string, asJSON bool) error {
	ev, err := a.Readiness()
	if err != nil {
		return err
	}
	var accountID string
	if ref != "" {
		acct, err := a.Accounts.Find(ctx, ref)
		if err != nil {
			return err
		}
		accountID = acct.ID
	} else {
		all, err := a.Identities.FindByName(ctx, name)
		if err != nil {
			return err
		}
		var ids []string
		for _, i := range all {
			ids = append(ids, i.AccountID)
		}
		switch len(ids) {
		case 0:
			return fmt.Errorf("no account has the identity %s: name the account with --account (a domain covered by a parent domain or by address identities needs it)", name)
		case 1:
			accountID = ids[0]
		default:
			return fmt.Errorf("%d accounts have the identity %s (%s): choose one with --account", len(ids), name, strings.Join(ids, ", "))
		}
	}
	r, err := ev.Evaluate(ctx, accountID, name)
	if errors.Is(err, readiness.ErrNotFound) {
		return fmt.Errorf("account %s has no identity covering %s", accountID, name)
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return readiness.WriteText(w, r)
}
