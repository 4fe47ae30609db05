package sesv2_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
)

// TestVerificationWhilePaused: an account whose sending is paused gets no
// verification mail — a new address and a resend alike are refused with
// SES's sending-paused error (v1 AccountSendingPausedException, v2
// SendingPausedException, HTTP 400) and nothing is stored or queued — but
// still manages its identities (a domain needs no mail). Resumed, the
// mail goes.
func TestVerificationWhilePaused(t *testing.T) {
	for _, v := range verifiers {
		t.Run(v.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				env := apitest.New(t, d)
				const pending = "pending@target.example"
				if err := v.send(env, pending); err != nil {
					t.Fatal(err)
				}
				before, err := env.Identities.Get(ctx, env.Account.ID, pending)
				if err != nil {
					t.Fatal(err)
				}
				env.Clock.Advance(identity.DefaultVerificationCooldown)
				pause := func(enabled bool) {
					t.Helper()
					if _, err := env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: enabled}); err != nil {
						t.Fatal(err)
					}
				}
				pause(false)

				code := "AccountSendingPausedException"
				if v.v2 {
					code = "SendingPausedException"
				}
				refused(t, v.send(env, "new@target.example"), code, http.StatusBadRequest, "Sending is paused for this account, and a verification email is mail it sends")
				if stored(t, env, "new@target.example") || mailsTo(t, env, "new@target.example") != 0 {
					t.Fatal("a verification refused for the pause left something behind")
				}
				refused(t, v.send(env, pending), code, http.StatusBadRequest, "Sending is paused for this account")
				if mailsTo(t, env, pending) != 1 || sentLast24Hours(t, env) != 1 {
					t.Fatalf("a resend refused for the pause queued mail: %d to the address, SentLast24Hours %v", mailsTo(t, env, pending), sentLast24Hours(t, env))
				}
				if !v.v2 { // v2's resend deleted the identity first
					if after, err := env.Identities.Get(ctx, env.Account.ID, pending); err != nil || after.Version != before.Version || after.VerificationToken != before.VerificationToken {
						t.Fatalf("a resend refused for the pause changed the identity: %+v, %v", after, err)
					}
				}
				// Identities are still the account's to manage.
				if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("domain.example")}); err != nil {
					t.Fatalf("a domain while paused: %v", err)
				}
				if _, err := env.V1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("other.example")}); err != nil {
					t.Fatalf("a v1 domain while paused: %v", err)
				}

				pause(true)
				env.Clock.Advance(time.Second) // the sandbox's sending rate
				if err := v.send(env, "new@target.example"); err != nil {
					t.Fatalf("resumed: %v", err)
				}
				if mailsTo(t, env, "new@target.example") != 1 {
					t.Fatal("resumed: no mail queued")
				}
			})
		})
	}
}
