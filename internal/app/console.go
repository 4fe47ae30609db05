package app

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/console"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
)

// withConsole serves the web console under /console/ on the API
// listeners, and everything else with api. Both listeners share one
// console.
func (a *App) withConsole(api http.Handler) (http.Handler, error) {
	a.consoleOnce.Do(func() {
		ev, err := a.Readiness()
		if err != nil {
			a.consoleErr = err
			return
		}
		a.console, a.consoleErr = console.New(console.Options{DB: a.DB, Accounts: a.Accounts, Identities: a.Identities, Suppression: a.Suppression,
			ConfigSets: a.ConfigSets, Templates: a.Templates, Contacts: a.Contacts, Topics: a.Topics,
			Sender: a.Sender, CheckNow: a.checkNow, AdminToken: a.cfg.ConsoleAdminToken,
			Readiness: ev, Stats: a.Stats, Reputation: a.Reputation,
			SimulatorDomain: send.DefaultSimulatorDomains(a.Identities.ServiceDomain())[0],
			Captured:        a.devCaptured,
			Logger:          a.log.With("component", "console")})
	})
	if a.consoleErr != nil {
		return nil, a.consoleErr
	}
	ch := a.console.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, console.Prefix) {
			ch.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}), nil
}

// errNotServing is "check now" before Serve has built the checker.
var errNotServing = errors.New("app: the DNS checker is not running")

// checkNow is the console's "check now": the running checker's check of
// one identity, recorded.
func (a *App) checkNow(ctx context.Context, i *identity.Identity) error {
	a.mu.Lock()
	c := a.checker
	a.mu.Unlock()
	if c == nil {
		return errNotServing
	}
	_, err := c.CheckNow(ctx, i)
	return err
}
