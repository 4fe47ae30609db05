package send_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/send"
)

// TestAdmit: Sender.Admit takes from the account's own sending-rate bucket
// (a sandbox account: one a second), gives the token back when the message
// was not queued, and checks the daily quota, counting admissions still in
// flight.
func TestAdmit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		acct := e.account("sandbox")
		done, err := e.s.Admit(ctx, acct, 1)
		if err != nil {
			t.Fatal(err)
		}
		done(false) // not queued: the token comes back
		done, err = e.s.Admit(ctx, acct, 1)
		if err != nil {
			t.Fatalf("after a refund: %v", err)
		}
		done(true)
		var se *send.Error
		if _, err := e.s.Admit(ctx, acct, 1); !errors.As(err, &se) || se.Kind != send.KindRateExceeded || !errors.Is(err, send.ErrThrottled) {
			t.Fatalf("second admission in the same second: %v", err)
		}
		e.clock.Advance(time.Second)

		// The daily quota (2 here), admissions still in flight included.
		e.setProduction(acct, 2, 1000)
		first, err := e.s.Admit(ctx, acct, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Admit(ctx, acct, 1); !errors.As(err, &se) || se.Kind != send.KindDailyQuotaExceeded || se.Msg != send.MsgDailyQuotaExceeded {
			t.Fatalf("over the quota with two in flight: %v", err)
		}
		first(false)
		if done, err := e.s.Admit(ctx, acct, 1); err != nil {
			t.Fatalf("once the two were not queued after all: %v", err)
		} else {
			done(false)
		}
	})
}
