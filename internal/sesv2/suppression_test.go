package sesv2_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/suppression"
)

// TestSuppressedDestinations: Put, Get, Delete through the SDK, scoped to
// the caller's account, with SES's error codes.
func TestSuppressedDestinations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		put := func(address string, r types.SuppressionListReason) error {
			_, err := env.V2.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String(address), Reason: r})
			return err
		}
		get := func(c *sesv2.Client, address string) (*types.SuppressedDestination, error) {
			out, err := c.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String(address)})
			if err != nil {
				return nil, err
			}
			return out.SuppressedDestination, nil
		}
		t0 := env.Clock.Now().Truncate(time.Second)
		env.Clock.Set(t0)
		if err := put("Jane.Doe@Example.com", types.SuppressionListReasonBounce); err != nil {
			t.Fatal(err)
		}
		sd, err := get(env.V2, "jane.doe@EXAMPLE.com")
		if err != nil || *sd.EmailAddress != "Jane.Doe@Example.com" || sd.Reason != types.SuppressionListReasonBounce || !sd.LastUpdateTime.Equal(t0) || sd.Attributes != nil {
			t.Fatalf("Get = %+v, %v", sd, err)
		}
		// Replaced: new reason and time.
		env.Clock.Advance(3 * time.Second)
		if err := put("jane.doe@example.com", types.SuppressionListReasonComplaint); err != nil {
			t.Fatal(err)
		}
		if sd, err := get(env.V2, "Jane.Doe@Example.com"); err != nil || *sd.EmailAddress != "jane.doe@example.com" || sd.Reason != types.SuppressionListReasonComplaint || !sd.LastUpdateTime.Equal(t0.Add(3*time.Second)) {
			t.Fatalf("after replacing: %+v, %v", sd, err)
		}
		// Attributes, as bounce processing records them.
		err = d.InTx(ctx, func(tx *db.Tx) error {
			_, err := env.Suppression.Record(ctx, tx, env.Account.ID, "bounced@example.org", suppression.Bounce, "0100-msg", "0100-feedback", nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if sd, err := get(env.V2, "bounced@example.org"); err != nil || sd.Attributes == nil || *sd.Attributes.MessageId != "0100-msg" || *sd.Attributes.FeedbackId != "0100-feedback" {
			t.Fatalf("recorded entry: %+v, %v", sd, err)
		}
		// Characters the SDK escapes in the path.
		if err := put("o'brien/sales+eu@example.org", types.SuppressionListReasonBounce); err != nil {
			t.Fatal(err)
		}
		if sd, err := get(env.V2, "O'Brien/Sales+EU@example.org"); err != nil || *sd.EmailAddress != "o'brien/sales+eu@example.org" {
			t.Fatalf("escaped path: %+v, %v", sd, err)
		}
		// The wire form: LastUpdateTime in epoch seconds.
		resp, body := env.Signed(t, "GET", "/v2/email/suppression/addresses/"+url.PathEscape("bounced@example.org"), "", nil)
		var raw struct {
			SuppressedDestination map[string]any
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &raw) != nil {
			t.Fatalf("raw get: %d %s", resp.StatusCode, body)
		}
		if _, ok := raw.SuppressedDestination["LastUpdateTime"].(float64); !ok {
			t.Fatalf("LastUpdateTime is not a number: %s", body)
		}

		// Another account sees none of it and cannot delete it.
		_, _, v2b := env.Other(t, "other")
		if _, err := get(v2b, "jane.doe@example.com"); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account's get: %v", err)
		}
		if _, err := v2b.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: aws.String("jane.doe@example.com")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("other account's delete: %v", err)
		}
		if out, err := v2b.ListSuppressedDestinations(ctx, &sesv2.ListSuppressedDestinationsInput{}); err != nil || len(out.SuppressedDestinationSummaries) != 0 {
			t.Fatalf("other account's list: %+v, %v", out, err)
		}

		// Delete, case-insensitively; then it is gone.
		if _, err := env.V2.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: aws.String("JANE.DOE@example.com")}); err != nil {
			t.Fatal(err)
		}
		if _, err := get(env.V2, "jane.doe@example.com"); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("get after delete: %v", err)
		}
		if _, err := env.V2.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: aws.String("jane.doe@example.com")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("second delete: %v", err)
		}

		// Bad input: BadRequestException naming the field; nothing written.
		for _, tc := range []struct {
			address, reason, field string
		}{
			{"not-an-address", "BOUNCE", "EmailAddress"},
			{"a b@example.com", "BOUNCE", "EmailAddress"},
			{strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 130) + "example", "BOUNCE", "EmailAddress"},
			{"", "BOUNCE", "EmailAddress"},
			{"ok@example.com", "HARD", "Reason"},
		} {
			_, err := env.V2.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String(tc.address), Reason: types.SuppressionListReason(tc.reason)})
			if apitest.Code(err) != "BadRequestException" || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("put %q %q: %v", tc.address, tc.reason, err)
			}
		}
		// Required members the SDK checks itself, sent without them.
		for body, field := range map[string]string{`{"EmailAddress":"ok@example.com"}`: "Reason", `{"Reason":"BOUNCE"}`: "EmailAddress", `{"EmailAddress":7,"Reason":"BOUNCE"}`: "EmailAddress"} {
			resp, out := env.Signed(t, "PUT", "/v2/email/suppression/addresses", "application/json", []byte(body))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-ErrorType") != "BadRequestException" || !strings.Contains(string(out), field) {
				t.Errorf("raw put %s: %d %s", body, resp.StatusCode, out)
			}
		}
		if _, err := get(env.V2, "ok@example.com"); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("refused put was written: %v", err)
		}
		if _, err := get(env.V2, "not-an-address"); apitest.Code(err) != "BadRequestException" {
			t.Fatalf("get of a bad address: %v", err)
		}
		// Tenants do not exist in Sesame.
		_, err = env.V2.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String("t@example.com"), Reason: types.SuppressionListReasonBounce, TenantName: aws.String("acme")})
		if apitest.Code(err) != "NotFoundException" {
			t.Fatalf("tenant put: %v", err)
		}
		if _, err := env.V2.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String("bounced@example.org"), TenantName: aws.String("acme")}); apitest.Code(err) != "NotFoundException" {
			t.Fatalf("tenant get: %v", err)
		}
	})
}

// TestListSuppressedDestinations: filters, and paging with the SDK's
// paginator while entries are added between pages.
func TestListSuppressedDestinations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		t0 := env.Clock.Now().Truncate(time.Second)
		env.Clock.Set(t0)
		// 23 entries, one every 10 seconds; every fourth a complaint.
		var want []string
		for i := range 23 {
			r := types.SuppressionListReasonBounce
			if i%4 == 0 {
				r = types.SuppressionListReasonComplaint
			}
			a := fmt.Sprintf("user%02d@example.com", i)
			if _, err := env.V2.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String(a), Reason: r}); err != nil {
				t.Fatal(err)
			}
			want = append(want, a)
			env.Clock.Advance(10 * time.Second)
		}
		walk := func(in *sesv2.ListSuppressedDestinationsInput, between func(page int)) []string {
			t.Helper()
			var got []string
			p := sesv2.NewListSuppressedDestinationsPaginator(env.V2, in)
			for page := 0; p.HasMorePages(); page++ {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if in.PageSize != nil && len(out.SuppressedDestinationSummaries) > int(*in.PageSize) {
					t.Fatalf("page of %d", len(out.SuppressedDestinationSummaries))
				}
				for _, s := range out.SuppressedDestinationSummaries {
					if s.LastUpdateTime == nil || s.Reason == "" {
						t.Fatalf("summary %+v", s)
					}
					got = append(got, *s.EmailAddress)
				}
				if between != nil {
					between(page)
				}
			}
			return got
		}
		if got := walk(&sesv2.ListSuppressedDestinationsInput{}, nil); !slices.Equal(got, want) {
			t.Fatalf("one page: %v", got)
		}
		// Pages of 5, adding an entry ahead of the position and one behind
		// it after each page: each existing entry exactly once, and the
		// ones added ahead too.
		var ahead []string
		got := walk(&sesv2.ListSuppressedDestinationsInput{PageSize: aws.Int32(5)}, func(page int) {
			for _, a := range []string{fmt.Sprintf("zz%02d@example.com", page), fmt.Sprintf("aa%02d@example.com", page)} {
				if _, err := env.V2.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String(a), Reason: types.SuppressionListReasonBounce}); err != nil {
					t.Fatal(err)
				}
			}
			ahead = append(ahead, fmt.Sprintf("zz%02d@example.com", page))
		})
		all := append(slices.Clone(want), ahead[:len(ahead)-1]...) // the last one was added after the last page
		if !slices.Equal(got, all) {
			t.Fatalf("pages of 5 with inserts:\n got %v\nwant %v", got, all)
		}
		// Filters: reasons, and [StartDate, EndDate).
		complaints := walk(&sesv2.ListSuppressedDestinationsInput{Reasons: []types.SuppressionListReason{types.SuppressionListReasonComplaint}, PageSize: aws.Int32(2)}, nil)
		if !slices.Equal(complaints, []string{"user00@example.com", "user04@example.com", "user08@example.com", "user12@example.com", "user16@example.com", "user20@example.com"}) {
			t.Fatalf("complaints: %v", complaints)
		}
		dated := walk(&sesv2.ListSuppressedDestinationsInput{StartDate: aws.Time(t0.Add(50 * time.Second)), EndDate: aws.Time(t0.Add(100 * time.Second)), PageSize: aws.Int32(2)}, nil)
		if !slices.Equal(dated, want[5:10]) {
			t.Fatalf("dates: %v", dated)
		}
		dated = walk(&sesv2.ListSuppressedDestinationsInput{StartDate: aws.Time(t0.Add(50 * time.Second)), EndDate: aws.Time(t0.Add(100 * time.Second)),
			Reasons: []types.SuppressionListReason{types.SuppressionListReasonBounce}}, nil)
		if !slices.Equal(dated, []string{"user05@example.com", "user06@example.com", "user07@example.com", "user09@example.com"}) {
			t.Fatalf("dates and bounces: %v", dated)
		}
		// Errors.
		if _, err := env.V2.ListSuppressedDestinations(ctx, &sesv2.ListSuppressedDestinationsInput{NextToken: aws.String("not-a-token")}); apitest.Code(err) != "InvalidNextTokenException" {
			t.Fatalf("bad token: %v", err)
		}
		if _, err := env.V2.ListSuppressedDestinations(ctx, &sesv2.ListSuppressedDestinationsInput{PageSize: aws.Int32(1001)}); apitest.Code(err) != "BadRequestException" || !strings.Contains(err.Error(), "PageSize") {
			t.Fatalf("PageSize 1001: %v", err)
		}
		if _, err := env.V2.ListSuppressedDestinations(ctx, &sesv2.ListSuppressedDestinationsInput{Reasons: []types.SuppressionListReason{"SPAM"}}); apitest.Code(err) != "BadRequestException" || !strings.Contains(err.Error(), "Reason") {
			t.Fatalf("bad reason: %v", err)
		}
		if _, err := env.V2.ListSuppressedDestinations(ctx, &sesv2.ListSuppressedDestinationsInput{StartDate: aws.Time(t0), EndDate: aws.Time(t0.Add(-time.Hour))}); apitest.Code(err) != "BadRequestException" || !strings.Contains(err.Error(), "EndDate") {
			t.Fatalf("EndDate before StartDate: %v", err)
		}
		for _, q := range []string{"StartDate=yesterday", "EndDate=2020-13-01T00:00:00Z", "PageSize=ten", "PageSize=-1"} {
			resp, body := env.Signed(t, "GET", "/v2/email/suppression/addresses?"+q, "", nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-ErrorType") != "BadRequestException" || !strings.Contains(string(body), strings.Split(q, "=")[0]) {
				t.Errorf("%s: %d %s %s", q, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
			}
		}
		// Unix seconds in the query, as SES's documentation describes them.
		q := fmt.Sprintf("StartDate=%d&EndDate=%d", t0.Add(50*time.Second).Unix(), t0.Add(60*time.Second).Unix())
		resp, body := env.Signed(t, "GET", "/v2/email/suppression/addresses?"+q, "", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"user05@example.com"`) || strings.Contains(string(body), `"user06@example.com"`) {
			t.Fatalf("Unix seconds: %d %s", resp.StatusCode, body)
		}
	})
}

// TestSuppressionAttributes: PutAccountSuppressionAttributes, as GetAccount
// shows it.
func TestSuppressionAttributes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		reasons := func(c *sesv2.Client) []types.SuppressionListReason {
			t.Helper()
			a, err := c.GetAccount(ctx, &sesv2.GetAccountInput{})
			if err != nil {
				t.Fatal(err)
			}
			if a.SuppressionAttributes == nil {
				t.Fatal("GetAccount without SuppressionAttributes")
			}
			return a.SuppressionAttributes.SuppressedReasons
		}
		set := func(rs []types.SuppressionListReason, validation bool) error {
			in := &sesv2.PutAccountSuppressionAttributesInput{SuppressedReasons: rs}
			if validation {
				in.ValidationAttributes = &types.SuppressionValidationAttributes{ConditionThreshold: &types.SuppressionConditionThreshold{ConditionThresholdEnabled: types.FeatureStatusDisabled}}
			}
			_, err := env.V2.PutAccountSuppressionAttributes(ctx, in)
			return err
		}
		both := []types.SuppressionListReason{types.SuppressionListReasonBounce, types.SuppressionListReasonComplaint}
		if got := reasons(env.V2); !slices.Equal(got, both) {
			t.Fatalf("default: %v", got)
		}
		if err := set([]types.SuppressionListReason{types.SuppressionListReasonComplaint}, false); err != nil {
			t.Fatal(err)
		}
		if got := reasons(env.V2); !slices.Equal(got, []types.SuppressionListReason{types.SuppressionListReasonComplaint}) {
			t.Fatalf("complaints only: %v", got)
		}
		if err := set([]types.SuppressionListReason{"SPAM"}, false); apitest.Code(err) != "BadRequestException" || !strings.Contains(err.Error(), "SuppressedReasons") {
			t.Fatalf("bad reason: %v", err)
		}
		// Only ValidationAttributes: the reasons stay.
		if err := set(nil, true); err != nil {
			t.Fatal(err)
		}
		if got := reasons(env.V2); !slices.Equal(got, []types.SuppressionListReason{types.SuppressionListReasonComplaint}) {
			t.Fatalf("after ValidationAttributes only: %v", got)
		}
		// An empty list turns automatic suppression off.
		if err := set([]types.SuppressionListReason{}, false); err != nil {
			t.Fatal(err)
		}
		if got := reasons(env.V2); len(got) != 0 {
			t.Fatalf("off: %v", got)
		}
		if err := set(both, false); err != nil {
			t.Fatal(err)
		}
		if err := set(nil, false); err != nil {
			t.Fatal(err)
		}
		if got := reasons(env.V2); len(got) != 0 {
			t.Fatalf("absent list: %v", got)
		}
		// Per account: the other still has the default.
		_, _, v2b := env.Other(t, "other")
		if got := reasons(v2b); !slices.Equal(got, both) {
			t.Fatalf("other account: %v", got)
		}
	})
}

// TestSendToSuppressedAddress: SendEmail to a listed address is accepted,
// and that recipient gets a Permanent/OnAccountSuppressionList Bounce and
// is never queued for delivery.
func TestSendToSuppressedAddress(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		if _, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.test")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "example.test")
		if _, err := env.V2.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String("Gone@Example.test"), Reason: types.SuppressionListReasonBounce}); err != nil {
			t.Fatal(err)
		}
		out, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String("a@example.test"),
			Destination:      &types.Destination{ToAddresses: []string{"gone@example.test", "b@example.test"}},
			Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("hi")},
				Body: &types.Body{Text: &types.Content{Data: aws.String("hello")}}}},
		})
		if err != nil || out.MessageId == nil {
			t.Fatalf("SendEmail: %+v, %v", out, err)
		}
		evs, err := event.List(ctx, d, 0, 10, "", *out.MessageId)
		if err != nil || len(evs) != 2 || evs[0].Type != event.Send || evs[1].Type != event.Bounce {
			t.Fatalf("events: %+v, %v", evs, err)
		}
		b, err := evs[1].Event()
		if err != nil || b.Bounce.BounceType != "Permanent" || b.Bounce.BounceSubType != "OnAccountSuppressionList" ||
			len(b.Bounce.BouncedRecipients) != 1 || b.Bounce.BouncedRecipients[0].EmailAddress != "gone@example.test" {
			t.Fatalf("bounce: %+v, %v", b, err)
		}
		counts, err := env.Queue.Counts(ctx)
		if err != nil || counts[queue.Bounced] != 1 || counts[queue.Queued] != 1 {
			t.Fatalf("recipient states: %v, %v", counts, err)
		}
		cs, err := env.Queue.Claim(ctx, "test", 10, time.Minute)
		if err != nil || len(cs) != 1 || cs[0].Address != "b@example.test" {
			t.Fatalf("claimed: %+v, %v", cs, err)
		}
	})
}
