package sesv2_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

func TestAccountOperations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		a, err := env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
		if err != nil || a.ProductionAccessEnabled || !a.SendingEnabled || a.SendQuota.Max24HourSend != 200 || a.SendQuota.MaxSendRate != 1 || *a.EnforcementStatus != "HEALTHY" {
			t.Fatalf("GetAccount = %+v, %v", a, err)
		}
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, -1, 14); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V2.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		a, _ = env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
		if !a.ProductionAccessEnabled || a.SendingEnabled || a.SendQuota.Max24HourSend != -1 {
			t.Fatalf("after production and pause: %+v", a)
		}
	})
}
