package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/account"
)

// signInData is the sign-in page's.
type signInData struct {
	CSRF        string
	AccessKeyID string
	AdminOn     bool
	KeyError    string
	AdminError  string
}

// signInPage shows the sign-in forms, with a fresh CSRF value in a cookie
// (double submit: there is no session yet).
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	tok := randomToken(24)
	c.setCookie(w, r, signInCookie, tok, 3600)
	c.render(w, http.StatusOK, "signin", view{Title: "Sign in", Data: signInData{CSRF: tok, AdminOn: c.opts.AdminToken != ""}})
}

// signIn checks an access key ID and secret, or the admin token, and
// opens a session. Attempts are limited per client address; a failure
// says only that the credentials were not accepted.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ck, err := r.Cookie(signInCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		c.forbidden(w, r, "This sign-in form is missing its security token (CSRF), or it is stale. Reload the page and try again.")
		return
	}
	again := func(d signInData) {
		tok := randomToken(24)
		c.setCookie(w, r, signInCookie, tok, 3600)
		d.CSRF, d.AdminOn = tok, c.opts.AdminToken != ""
		c.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: d})
	}
	if !c.limit.allow(r.RemoteAddr, c.now()) {
		c.log.Warn("console sign-in attempts over the limit", "client", clientPrefix(r.RemoteAddr).String())
		c.render(w, http.StatusTooManyRequests, "error", view{Title: "Too many attempts",
			Error: "Too many sign-in attempts from your address. Wait a few minutes and try again."})
		return
	}
	var (
		accountID, keyID string
		admin            bool
	)
	if tok := r.PostFormValue("admin_token"); tok != "" || r.PostFormValue("mode") == "admin" {
		if c.opts.AdminToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(c.opts.AdminToken)) != 1 {
			c.log.Info("console sign-in refused", "client", clientPrefix(r.RemoteAddr).String(), "mode", "admin")
			again(signInData{AdminError: "The admin token was not accepted."})
			return
		}
		admin = true
	} else {
		keyID = strings.TrimSpace(r.PostFormValue("access_key_id"))
		given := r.PostFormValue("secret")
		// The secret as SigV4 verification finds it: account.Store.Secret.
		secret, acct, err := c.opts.Accounts.Secret(ctx, keyID)
		if err != nil && !errors.Is(err, account.ErrUnknownKey) {
			c.internal(w, r, err)
			return
		}
		if keyID == "" || err != nil || subtle.ConstantTimeCompare([]byte(given), []byte(secret)) != 1 {
			c.log.Info("console sign-in refused", "client", clientPrefix(r.RemoteAddr).String(), "mode", "key")
			again(signInData{AccessKeyID: keyID, KeyError: "This access key ID and secret access key were not accepted."})
			return
		}
		accountID = acct
	}
	id, _, err := c.sessions.create(ctx, c.now(), accountID, keyID, admin)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.setCookie(w, r, signInCookie, "", -1)
	c.setCookie(w, r, sessionCookie, id, 0)
	c.log.Info("console sign-in", "account", accountID, "access_key_id", keyID, "admin", admin)
	if admin {
		http.Redirect(w, r, Prefix+"accounts", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"identities", http.StatusSeeOther)
}

// signOut ends the session.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, se *session) {
	if err := c.sessions.end(r.Context(), se); err != nil {
		c.internal(w, r, err)
		return
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

// accountsPage lists the accounts an operator may act as; an account's
// session sees only its own.
func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request, se *session) {
	var list []*account.Account
	if se.Admin {
		var err error
		if list, err = c.opts.Accounts.List(r.Context()); err != nil {
			c.internal(w, r, err)
			return
		}
	} else if a, err := c.opts.Accounts.Get(r.Context(), se.AccountID); err == nil {
		list = []*account.Account{a}
	} else {
		c.internal(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "accounts", view{Title: "Accounts", Session: se, Nav: "accounts", Data: list})
}

// pickAccount sets the account an operator's session acts as.
func (c *Console) pickAccount(w http.ResponseWriter, r *http.Request, se *session) {
	if !se.Admin {
		c.forbidden(w, r, "Only an operator signed in with the admin token can switch accounts.")
		return
	}
	a, err := c.opts.Accounts.Get(r.Context(), r.PostFormValue("account"))
	if errors.Is(err, account.ErrNotFound) {
		c.render(w, http.StatusBadRequest, "error", view{Title: "No such account", Session: se, Error: "There is no such account."})
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if err := c.sessions.pick(r.Context(), se, a.ID); err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"identities", http.StatusSeeOther)
}
