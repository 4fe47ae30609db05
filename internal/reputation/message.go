package reputation

import (
	"fmt"
	"strings"
)

// pct writes a rate as a percentage.
func pct(r float64) string {
	s := fmt.Sprintf("%.3f", r*100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// message returns the subject and plain text body of the mail about one
// change.
func (g *Guard) message(accountID, set, action string, r Rates, th Threshold) (subject, text string) {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	window := g.o.Window.String()
	if g.o.Window%(24*60*60*1e9) == 0 {
		window = fmt.Sprintf("%d days", g.o.Window/(24*60*60*1e9))
	}
	rates := func() {
		line("")
		line("Over the last %s (%d messages sent):", window, r.Sends)
		line("  bounce rate     %s", pct(r.Bounce))
		line("  complaint rate  %s", pct(r.Complaint))
	}
	levels := func() {
		line("")
		line("The account is placed under review at a bounce rate of %s or a complaint rate of %s,", pct(ReviewBounceRate), pct(ReviewComplaintRate))
		line("and its sending is paused at %s or %s. Rates are judged once at least %d messages", pct(PauseBounceRate), pct(PauseComplaintRate), g.o.MinVolume)
		line("were sent in the period.")
	}
	advice := func() {
		line("")
		line("What to do: send only to addresses that asked for your mail; remove addresses that")
		line("bounced or complained (the suppression list does this when it is enabled); look at")
		line("recent bounce and complaint notifications to find the lists or senders at fault.")
	}
	switch action {
	case ActionProbation:
		subject = fmt.Sprintf("Your account %s is under review: high bounce or complaint rate", accountID)
		line("The bounce or complaint rate of account %s has reached a review level, so the", accountID)
		line("account's enforcement status is now PROBATION. Sending continues.")
		rates()
		levels()
		advice()
		line("")
		line("The account returns to HEALTHY by itself once both rates are below the review levels.")
	case ActionShutdown:
		subject = fmt.Sprintf("Sending paused for your account %s: bounce or complaint rate too high", accountID)
		line("The bounce or complaint rate of account %s has reached a pause level, so sending", accountID)
		line("is paused for the account and its enforcement status is SHUTDOWN. Sends are refused")
		line("until the operator of this service reinstates the account.")
		rates()
		levels()
		advice()
		line("")
		line("Then ask the operator of this service to reinstate the account (sesame account reinstate).")
	case ActionHealthy:
		subject = fmt.Sprintf("Your account %s is no longer under review", accountID)
		line("The bounce and complaint rates of account %s are below the review levels again;", accountID)
		line("its enforcement status is HEALTHY.")
		rates()
	case ActionReinstate:
		subject = fmt.Sprintf("Sending resumed for your account %s", accountID)
		line("The operator of this service has reinstated account %s: sending is resumed and its", accountID)
		line("enforcement status is HEALTHY. Rates are counted afresh from now on.")
		line("")
		line("The rates when the account was last evaluated:")
		line("  bounce rate     %s (%d messages sent)", pct(r.Bounce), r.Sends)
		line("  complaint rate  %s", pct(r.Complaint))
		levels()
	case ActionPause:
		subject = fmt.Sprintf("Sending paused for configuration set %s of account %s", set, accountID)
		line("The bounce or complaint rate of mail sent through configuration set %s of account", set)
		line("%s has reached the set's threshold, so sending through the set is paused. Sends", accountID)
		line("that use it fail with a sending-paused error until you resume it.")
		rates()
		thresholds(line, th)
		advice()
		line("")
		line("To resume, call PutConfigurationSetSendingOptions with SendingEnabled true (SES v2) or")
		line("UpdateConfigurationSetSendingEnabled with Enabled true (SES v1), for example:")
		line("  aws sesv2 put-configuration-set-sending-options --configuration-set-name %s --sending-enabled", set)
		line("Only mail sent after the resume counts toward the threshold.")
	case ActionResume:
		subject = fmt.Sprintf("Sending resumed for configuration set %s of account %s", set, accountID)
		line("Sending through configuration set %s of account %s was resumed. Only mail sent from", set, accountID)
		line("now on counts toward the set's threshold.")
		thresholds(line, th)
	}
	return subject, b.String()
}

func thresholds(line func(string, ...any), th Threshold) {
	if th.none() {
		return
	}
	line("")
	line("The set's threshold:")
	if th.Bounce > 0 {
		line("  bounce rate     %s", pct(th.Bounce))
	}
	if th.Complaint > 0 {
		line("  complaint rate  %s", pct(th.Complaint))
	}
}
