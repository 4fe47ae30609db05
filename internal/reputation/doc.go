// Package reputation owns Sesame's reputation guardrails: rolling bounce
// and complaint rates per account and per configuration set, the
// account's enforcement status (SES's HEALTHY, PROBATION and SHUTDOWN, as
// GetAccount's EnforcementStatus reports it), and the automatic pause of
// an account or a configuration set whose rates pass their limits (tables
// reputation_accounts and reputation_sets, migration 0012).
//
// It is built by the composition root (internal/app) with New. The
// publisher calls Evaluate after each committed batch with the accounts
// and sets the batch touched; operators call Reinstate and SetThreshold
// through the sesame command. It reaches other components only through
// the hooks in Options: the statistics store's Totals, the account and
// configuration set stores' pauses, the system mail (Notify) and the
// metrics (Counted).
//
// # Rates
//
// The bounce rate is permanent bounces / sends and the complaint rate is
// complaints / sends, over the events of the last Options.Window (7 days
// by default: long enough to hold a representative volume for most
// senders, short enough that an account that cleaned its lists recovers
// within a week; SES does not publish its own window). Totals leaves the
// mailbox simulator's recipients out. Rates are judged only when the
// window holds at least Options.MinVolume sends (500 by default), so ten
// messages and one bounce cannot trip anything; below it nothing changes.
//
// # The account
//
//   - HEALTHY → PROBATION when the bounce rate reaches 5% or the
//     complaint rate 0.1% (the levels at which SES puts an account under
//     review).
//   - HEALTHY or PROBATION → SHUTDOWN when the bounce rate reaches 10% or
//     the complaint rate 0.5% (SES's pause levels): Options.PauseAccount
//     pauses the account's sending.
//   - PROBATION → HEALTHY when both rates are below the review levels
//     again.
//   - SHUTDOWN stays until an operator lifts it with Reinstate (`sesame
//     account reinstate`), which resumes sending (Options.ResumeAccount)
//     and makes the account HEALTHY. From then on only events after the
//     reinstatement count, so the data that shut the account down does
//     not shut it down again at once. The customer's own resume
//     (PutAccountSendingAttributes, UpdateAccountSendingEnabled) is
//     refused while SHUTDOWN (account.Store.ResumeSending).
//
// # Configuration sets
//
// A set is paused (Options.PauseSet) when its rates over the same window
// and with Options.SetMinVolume sends at least reach its threshold: the
// one an operator gave it (SetThreshold, `sesame configset threshold`),
// which applies whatever the set's options, or else, for a set with
// ReputationMetricsEnabled, the deployment's default
// (Options.SetBounceRate, Options.SetComplaintRate; off by default). The
// customer resumes the set with PutConfigurationSetSendingOptions or
// UpdateConfigurationSetSendingEnabled; SetResumed records that. Only
// events after the guard's last pause (and after the resume, when it is
// recorded) count for the set, so a resumed set is not paused again at
// once for the data that paused it; it is paused again when new mail
// through it reaches the threshold over the minimum volume. (A set's
// LastFreshStart is not used: the guard's own pause time is the fresh
// start.)
//
// # Changes
//
// Every change of status, pause and resume is written with a
// compare-and-set on the stored state, so when several nodes evaluate at
// once only one of them acts on it; it is logged, counted with
// Options.Counted(scope, action) — scope "account" or "configuration_set",
// action "probation", "shutdown", "healthy", "reinstate", "pause" or
// "resume" — and mailed to the account's address with Options.Notify: a
// subject and a plain text body with the rates and what to do. The pause
// itself is made before the state is recorded, so a failure in between is
// repaired by the next evaluation (pauses are idempotent); a mail that
// cannot be queued is logged and not retried.
package reputation
