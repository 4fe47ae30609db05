package sesv2_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

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
		// Asking for production access: recorded, pending until the operator grants it.
		_, err = env.V2.PutAccountDetails(ctx, &sesv2.PutAccountDetailsInput{MailType: types.MailTypeTransactional,
			WebsiteURL: aws.String("https://shop.example"), ProductionAccessEnabled: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.V2.PutAccountDetails(ctx, &sesv2.PutAccountDetailsInput{MailType: types.MailTypeTransactional, WebsiteURL: aws.String("not a url")}); err == nil {
			t.Fatal("a bad WebsiteURL was accepted")
		}
		a, _ = env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
		if a.Details == nil || a.Details.ReviewDetails.Status != types.ReviewStatusPending || a.ProductionAccessEnabled {
			t.Fatalf("after PutAccountDetails: %+v", a.Details)
		}
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, -1, 14); err != nil {
			t.Fatal(err)
		}
		if _, err := env.V2.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: false}); err != nil {
			t.Fatal(err)
		}
		a, _ = env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
		if !a.ProductionAccessEnabled || a.SendingEnabled || a.SendQuota.Max24HourSend != -1 || a.Details.ReviewDetails.Status != types.ReviewStatusGranted {
			t.Fatalf("after production and pause: %+v", a)
		}
	})
}
