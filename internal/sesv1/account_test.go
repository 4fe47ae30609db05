package sesv1_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

func TestAccountActions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		q, err := env.V1.GetSendQuota(ctx, &ses.GetSendQuotaInput{})
		if err != nil || q.Max24HourSend != 200 || q.MaxSendRate != 1 || q.SentLast24Hours != 0 {
			t.Fatalf("sandbox quota = %+v, %v", q, err)
		}
		if err := env.Accounts.SetProduction(ctx, env.Account.ID, 50000, 14); err != nil {
			t.Fatal(err)
		}
		q, _ = env.V1.GetSendQuota(ctx, &ses.GetSendQuotaInput{})
		if q.Max24HourSend != 50000 || q.MaxSendRate != 14 {
			t.Fatalf("production quota = %+v", q)
		}
		en, err := env.V1.GetAccountSendingEnabled(ctx, &ses.GetAccountSendingEnabledInput{})
		if err != nil || !en.Enabled {
			t.Fatalf("sending enabled = %+v, %v", en, err)
		}
		if _, err := env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: false}); err != nil {
			t.Fatal(err)
		}
		en, _ = env.V1.GetAccountSendingEnabled(ctx, &ses.GetAccountSendingEnabledInput{})
		if en.Enabled {
			t.Fatal("sending still enabled")
		}
		if _, err := env.V1.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: true}); err != nil {
			t.Fatal(err)
		}
		// The raw XML carries doubles the way SES writes them.
		_, b := env.Signed(t, "POST", "/", "application/x-www-form-urlencoded", []byte("Action=GetSendQuota&Version=2010-12-01"))
		if want := "<Max24HourSend>50000.0</Max24HourSend>"; !strings.Contains(string(b), want) {
			t.Fatalf("raw GetSendQuota lacks %s:\n%s", want, b)
		}
	})
}
