package sesv2_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/reputation"
)

// TestEnforcementStatus: GetAccount reports the reputation guard's
// status of the calling account only, and SHUTDOWN pauses sending.
func TestEnforcementStatus(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		other, _, err := env.Accounts.Create(ctx, account.CreateOptions{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		totals := map[string]reputation.Totals{}
		g, err := reputation.New(reputation.Options{DB: d, Now: env.Clock.Now,
			Totals: func(ctx context.Context, id, set string, since time.Time) (reputation.Totals, error) {
				return totals[id], nil
			},
			PauseAccount: func(ctx context.Context, id string) error {
				return env.Accounts.SetSendingEnabled(ctx, id, false)
			},
			PauseSet: func(ctx context.Context, id, set string) error { return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		env.EnforcementStatus = g.Status
		status := func(want string, sending bool) {
			t.Helper()
			a, err := env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
			if err != nil || *a.EnforcementStatus != want || a.SendingEnabled != sending {
				t.Fatalf("GetAccount = %+v, %v; want %s, sending %v", a, err, want, sending)
			}
		}
		status("HEALTHY", true)
		totals[env.Account.ID] = reputation.Totals{Sends: 1000, PermanentBounces: 60}
		totals[other.ID] = reputation.Totals{Sends: 1000, Complaints: 6}
		if err := g.Evaluate(ctx, env.Account.ID, nil); err != nil {
			t.Fatal(err)
		}
		status("PROBATION", true)
		if err := g.Evaluate(ctx, other.ID, nil); err != nil {
			t.Fatal(err)
		}
		status("PROBATION", true) // the other account's SHUTDOWN is not this one's
		env.Clock.Advance(time.Minute)
		totals[env.Account.ID] = reputation.Totals{Sends: 1000, PermanentBounces: 100}
		if err := g.Evaluate(ctx, env.Account.ID, nil); err != nil {
			t.Fatal(err)
		}
		status("SHUTDOWN", false)

		// The customer cannot undo a SHUTDOWN with either API: only the
		// operator's reinstatement lifts it.
		_, err = env.V2.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: true})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), "SHUTDOWN") {
			t.Fatalf("v2 resume while SHUTDOWN: %v; want BadRequestException naming SHUTDOWN", err)
		}
		_, err = env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: true})
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" || !strings.Contains(ae.ErrorMessage(), "SHUTDOWN") {
			t.Fatalf("v1 resume while SHUTDOWN: %v; want InvalidParameterValue naming SHUTDOWN", err)
		}
		status("SHUTDOWN", false)
		// Pausing stays allowed.
		if _, err := env.V2.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: false}); err != nil {
			t.Fatal(err)
		}
		// A resume that raced the guard (it saw PROBATION, the guard
		// recorded SHUTDOWN before it finished) is undone.
		calls := 0
		if err := env.Accounts.ResumeSending(ctx, env.Account.ID, func(ctx context.Context, id string) (string, error) {
			calls++
			if calls == 1 {
				return "PROBATION", nil
			}
			return "SHUTDOWN", nil
		}); !errors.Is(err, account.ErrShutdown) {
			t.Fatalf("racing resume = %v, want ErrShutdown", err)
		}
		status("SHUTDOWN", false)

		// After the operator's reinstatement the customer may pause and
		// resume again.
		reinstate, err := reputation.New(reputation.Options{DB: d, Now: env.Clock.Now,
			ResumeAccount: func(ctx context.Context, id string) error { return env.Accounts.SetSendingEnabled(ctx, id, true) }})
		if err != nil {
			t.Fatal(err)
		}
		if err := reinstate.Reinstate(ctx, env.Account.ID); err != nil {
			t.Fatal(err)
		}
		status("HEALTHY", true)
		if _, err := env.V2.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: true}); err != nil {
			t.Fatal(err)
		}
		status("HEALTHY", true)
	})
}
