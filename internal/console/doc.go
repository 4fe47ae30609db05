// Package console is Sesame's web console: server-rendered pages
// (html/template, assets embedded with embed, a few lines of vanilla
// JavaScript for copy buttons) served under /console/ on the API
// listeners.
//
// It owns the console's sessions (table console_sessions), its sign-in
// (an account's access key ID and secret, checked against the account
// store as SigV4 verification finds the secret, or the operator's admin
// token), its CSRF tokens and the per-IP limit on sign-in attempts. It
// owns no rule about identities, suppression or sending: every page
// calls the same store methods and validation as the SES API handlers
// (identity.Store, suppression.Store; sns.Store's topic and subscription
// methods, which the SNS API's handlers call too) and sends through the admission
// door (send.Sender.Submit), so a form refuses what the API refuses with
// the API's sentence, and changes nothing when it refuses.
//
// Under `sesame dev` (Options.Captured) it also shows the captured mail
// (capture.Store): a message's HTML is untrusted and is only ever served
// alone, from its own path, under a sandboxing Content-Security-Policy and
// in an <iframe sandbox>, so none of its script runs; attachments and the
// raw source are downloads, never rendered.
//
// Invariants: every page of a session sees only the session's account
// (an operator's, the account picked); every POST but sign-in carries the
// session's CSRF token (compared in constant time) or is answered 403
// with nothing changed; a session ends at logout, at expiry (injected
// clock) and when its access key is removed; everything user-supplied is
// escaped by html/template (no template.HTML of user data).
package console
