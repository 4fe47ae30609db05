package sesv2_test

// Limits on verification mail through both APIs (the v1 handlers answer
// with v1 codes, these with v2 codes), with the real AWS SDK for Go v2
// clients; mailfromowner_test.go uses its helpers too.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/testkit"
)

// verifier is one API's way of asking for an address verification mail.
type verifier struct {
	name string
	v2   bool
	send func(env *apitest.Env, address string) error
	// The codes of a refusal: throttled (resend cooldown, sending rate,
	// daily quota) with its HTTP status, and the daily cap.
	throttled       string
	throttledStatus int
	limited         string
}

var verifiers = []verifier{
	{name: "v1 VerifyEmailIdentity", throttled: "Throttling", throttledStatus: http.StatusBadRequest, limited: "LimitExceeded",
		send: func(env *apitest.Env, a string) error {
			_, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(a)})
			return err
		}},
	{name: "v1 VerifyEmailAddress", throttled: "Throttling", throttledStatus: http.StatusBadRequest, limited: "LimitExceeded",
		send: func(env *apitest.Env, a string) error {
			_, err := env.V1.VerifyEmailAddress(ctx, &ses.VerifyEmailAddressInput{EmailAddress: aws.String(a)})
			return err
		}},
	// v2 has no "send it again": a client deletes the identity and
	// creates it anew.
	{name: "v2 CreateEmailIdentity", v2: true, throttled: "TooManyRequestsException", throttledStatus: http.StatusTooManyRequests, limited: "LimitExceededException",
		send: func(env *apitest.Env, a string) error {
			if _, err := env.V2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(a)}); err != nil && apitest.Code(err) != "NotFoundException" {
				return err
			}
			_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(a)})
			return err
		}},
}

// refused asserts an SES error with this code and HTTP status whose
// message contains want.
func refused(t *testing.T, err error, code string, httpStatus int, want string) {
	t.Helper()
	if apitest.Code(err) != code {
		t.Fatalf("error %v; want %s", err, code)
	}
	if s := status(t, err); s != httpStatus {
		t.Errorf("%s: HTTP status %d; want %d", code, s, httpStatus)
	}
	if msg := message(err); !strings.Contains(msg, want) {
		t.Errorf("%s message %q; want it to contain %q", code, msg, want)
	}
}

// message is an SES error's message.
func message(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	return ae.ErrorMessage()
}

// mailsTo counts the messages queued to address.
func mailsTo(t *testing.T, env *apitest.Env, address string) int {
	t.Helper()
	var n int
	if err := env.DB.QueryRow(ctx, `SELECT COUNT(*) FROM recipients WHERE address = ?`, address).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sentLast24Hours is the account's SentLast24Hours, read through both
// APIs (they must agree).
func sentLast24Hours(t *testing.T, env *apitest.Env) float64 {
	t.Helper()
	q1, err := env.V1.GetSendQuota(ctx, &ses.GetSendQuotaInput{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.V2.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		t.Fatal(err)
	}
	if a.SendQuota.SentLast24Hours != q1.SentLast24Hours {
		t.Fatalf("SentLast24Hours: v1 %v, v2 %v", q1.SentLast24Hours, a.SendQuota.SentLast24Hours)
	}
	return q1.SentLast24Hours
}

// stored reports whether the account has the identity.
func stored(t *testing.T, env *apitest.Env, name string) bool {
	t.Helper()
	_, err := env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
	if err != nil && apitest.Code(err) != "NotFoundException" {
		t.Fatal(err)
	}
	return err == nil
}

// TestEightVerificationRequests: eight requests for one address in a few
// minutes make one mail, counted in SentLast24Hours; the other seven are
// throttled and change nothing (the link sent still works). After the
// cooldown the mail goes again.
func TestEightVerificationRequests(t *testing.T) {
	for _, v := range verifiers {
		t.Run(v.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				env := apitest.New(t, d)
				const victim = "victim@target.example"
				start := env.Clock.Now()
				if err := v.send(env, victim); err != nil {
					t.Fatal(err)
				}
				for range 7 {
					env.Clock.Advance(30 * time.Second)
					refused(t, v.send(env, victim), v.throttled, v.throttledStatus, "EmailAddress: at most one verification email to an address every 5m0s")
				}
				first := testkit.VerificationSecret(t, d, victim)
				if n := mailsTo(t, env, victim); n != 1 {
					t.Fatalf("%d mails to the address; want 1", n)
				}
				if n := sentLast24Hours(t, env); n != 1 {
					t.Fatalf("SentLast24Hours = %v; want 1", n)
				}
				if !v.v2 { // v2's resend deleted the identity first
					i, err := env.Identities.Get(ctx, env.Account.ID, victim)
					if sum := sha256.Sum256([]byte(first)); err != nil || i.VerificationToken != hex.EncodeToString(sum[:]) {
						t.Fatalf("the first link no longer matches the identity: %+v, %v", i, err)
					}
				}
				env.Clock.Set(start.Add(5 * time.Minute))
				if err := v.send(env, victim); err != nil {
					t.Fatalf("after the cooldown: %v", err)
				}
				if n := mailsTo(t, env, victim); n != 2 || sentLast24Hours(t, env) != 2 {
					t.Fatalf("after the cooldown: %d mails, SentLast24Hours %v; want 2, 2", n, sentLast24Hours(t, env))
				}
				if _, err := env.Identities.ConfirmAddress(ctx, testkit.VerificationSecret(t, d, victim)); err != nil {
					t.Fatalf("the new link: %v", err)
				}
			})
		})
	}
}

// TestVerificationWithinDailyQuota: a sandbox account at its 200-a-day
// quota cannot have a verification mail sent (the sandbox's rule on
// recipients does not stop verification; the quota does), and nothing is
// stored.
func TestVerificationWithinDailyQuota(t *testing.T) {
	for _, v := range verifiers {
		t.Run(v.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				env := apitest.New(t, d)
				// The account's mail of the day so far: 199 recipients.
				err := env.Queue.Enqueue(ctx, &queue.Message{ID: "0100-earlier-mail", AccountID: env.Account.ID, MailFrom: "0100-earlier-mail@us-east-1." + apitest.ServiceDomain,
					Body: []byte("Subject: earlier\r\n\r\nearlier\r\n"), Recipients: []string{"someone@rcpt.example"}, Counted: 199}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.send(env, "first@target.example"); err != nil {
					t.Fatalf("the 200th recipient of the day: %v", err)
				}
				if n := sentLast24Hours(t, env); n != 200 {
					t.Fatalf("SentLast24Hours = %v; want 200", n)
				}
				env.Clock.Advance(time.Second)
				refused(t, v.send(env, "second@target.example"), v.throttled, v.throttledStatus, "Daily message quota exceeded.")
				if stored(t, env, "second@target.example") || mailsTo(t, env, "second@target.example") != 0 || sentLast24Hours(t, env) != 200 {
					t.Fatal("a verification refused for the quota left something behind")
				}
			})
		})
	}
}

// TestVerificationDailyCap: at most 50 verification mails per account in
// 24 hours, though the quota would allow more; the 51st is refused with
// the limit error and nothing is stored.
func TestVerificationDailyCap(t *testing.T) {
	for _, v := range verifiers {
		t.Run(v.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				env := apitest.New(t, d)
				for k := range 50 {
					if err := v.send(env, fmt.Sprintf("user%d@target.example", k)); err != nil {
						t.Fatalf("mail %d: %v", k+1, err)
					}
					env.Clock.Advance(time.Second) // the sandbox's sending rate
				}
				refused(t, v.send(env, "user50@target.example"), v.limited, http.StatusBadRequest, "at most 50 verification emails per account in any 24 hours")
				if stored(t, env, "user50@target.example") || mailsTo(t, env, "user50@target.example") != 0 || sentLast24Hours(t, env) != 50 {
					t.Fatal("a verification refused for the cap left something behind")
				}
			})
		})
	}
}

// TestVerificationTakesTheSendingRate: verification mail and the
// account's own mail share one sending-rate bucket (the sandbox's one
// message a second).
func TestVerificationTakesTheSendingRate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("sender.example")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "sender.example")
		sendOne := func() error {
			_, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("me@sender.example"),
				Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
				Content:     &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("hi")}, Body: &types.Body{Text: &types.Content{Data: aws.String("hi")}}}}})
			return err
		}
		if err := verifiers[0].send(env, "a@target.example"); err != nil {
			t.Fatal(err)
		}
		refused(t, sendOne(), "TooManyRequestsException", http.StatusTooManyRequests, "Maximum sending rate exceeded.")
		env.Clock.Advance(time.Second)
		if err := sendOne(); err != nil {
			t.Fatalf("a second later: %v", err)
		}
		refused(t, verifiers[0].send(env, "b@target.example"), "Throttling", http.StatusBadRequest, "Maximum sending rate exceeded.")
		refused(t, verifiers[2].send(env, "b@target.example"), "TooManyRequestsException", http.StatusTooManyRequests, "Maximum sending rate exceeded.")
		if stored(t, env, "b@target.example") || mailsTo(t, env, "b@target.example") != 0 {
			t.Fatal("a verification refused for the rate left something behind")
		}
		// A second later the bucket has a token again.
		env.Clock.Advance(time.Second)
		if err := verifiers[0].send(env, "b@target.example"); err != nil {
			t.Fatal(err)
		}
	})
}
