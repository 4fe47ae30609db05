package app_test

import (
	"testing"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/smtpsubmit"
)

// TestSMTPDefaults: the --smtp-* flags' defaults, which config spells out
// because it does not import smtpsubmit, are smtpsubmit's own.
func TestSMTPDefaults(t *testing.T) {
	for _, c := range []struct {
		name      string
		cfg, smtp any
	}{
		{"max message bytes", int64(config.DefaultSMTPMaxMessageBytes), int64(smtpsubmit.DefaultMaxMessageBytes)},
		{"max recipients", config.DefaultSMTPMaxRecipients, smtpsubmit.DefaultMaxRecipients},
		{"max conns", config.DefaultSMTPMaxConns, smtpsubmit.DefaultMaxConns},
		{"max conns per IP", config.DefaultSMTPMaxConnsPerIP, smtpsubmit.DefaultMaxConnsPerIP},
		{"max session", config.DefaultSMTPMaxSession, smtpsubmit.DefaultMaxSession},
		{"timeout", config.DefaultSMTPTimeout, smtpsubmit.DefaultTimeout},
		{"data timeout", config.DefaultSMTPDataTimeout, smtpsubmit.DefaultDataTimeout},
		{"auth delay after", config.DefaultSMTPAuthDelayAfter, smtpsubmit.DefaultAuthDelayAfter},
		{"auth block after", config.DefaultSMTPAuthBlockAfter, smtpsubmit.DefaultAuthBlockAfter},
		{"auth delay", config.DefaultSMTPAuthDelay, smtpsubmit.DefaultAuthDelay},
		{"auth block", config.DefaultSMTPAuthBlock, smtpsubmit.DefaultAuthBlock},
		{"max held bytes", int64(config.DefaultSMTPMaxHeldBytes), int64(smtpsubmit.DefaultMaxHeldBytes)},
		{"max held per IP", int64(config.DefaultSMTPMaxHeldPerIP), int64(smtpsubmit.DefaultMaxHeldPerIP)},
	} {
		if c.cfg != c.smtp {
			t.Errorf("%s: config's default %v, smtpsubmit's %v", c.name, c.cfg, c.smtp)
		}
	}
}
