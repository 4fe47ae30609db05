package event_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
)

// sendEvent is a minimal valid Send event for account and message id.
func sendEvent(account, id string) *event.Event {
	return &event.Event{Type: event.Send, AccountID: account,
		Mail: event.Mail{Timestamp: accepted, MessageID: id, SendingAccountID: account, Destination: []string{"r@example.org"}},
		Send: &event.SendDetails{}}
}

func deliveryEvent(account, id string) *event.Event {
	return &event.Event{Type: event.Delivery, AccountID: account, ConfigurationSet: "cs",
		Mail:     event.Mail{Timestamp: accepted, MessageID: id, SendingAccountID: account, Destination: []string{"r@example.org"}},
		Delivery: &event.DeliveryDetails{Timestamp: at(time.Second), ProcessingTimeMillis: 1000, Recipients: []string{"r@example.org"}, SMTPResponse: "250 ok"}}
}

func appendAll(t *testing.T, d *db.DB, now time.Time, evs ...*event.Event) []int64 {
	t.Helper()
	var ids []int64
	err := d.InTx(context.Background(), func(tx *db.Tx) error {
		for _, e := range evs {
			id, err := event.Append(context.Background(), tx, e, now)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func list(t *testing.T, q db.Querier, after int64, limit int, account, message string) []event.Stored {
	t.Helper()
	s, err := event.List(context.Background(), q, after, limit, account, message)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(s []event.Stored) []int64 {
	out := []int64{}
	for _, r := range s {
		out = append(out, r.ID)
	}
	return out
}

func TestAppendList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 6, 789_500_000, time.UTC)

		if got := list(t, d, 0, 10, "", ""); len(got) != 0 {
			t.Fatalf("fresh outbox holds %d rows", len(got))
		}

		full := goldenCases()["bounce"]
		first := appendAll(t, d, now, full)[0]
		got := list(t, d, 0, 10, "", "")
		if len(got) != 1 {
			t.Fatalf("got %d rows, want 1", len(got))
		}
		payload, _ := full.MarshalJSON()
		want := event.Stored{ID: first, AccountID: testAccount, MessageID: testMessageID, ConfigurationSet: "cs1", Type: event.Bounce,
			Payload: payload, CreatedAt: now.Truncate(time.Millisecond)}
		if diff := cmp.Diff(want, got[0]); diff != "" {
			t.Errorf("stored row (-want +got):\n%s", diff)
		}
		if !got[0].PublishedAt.IsZero() {
			t.Errorf("PublishedAt = %v, want zero", got[0].PublishedAt)
		}
		dec, err := got[0].Event()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(full, dec, msEqual); diff != "" {
			t.Errorf("Stored.Event (-want +got):\n%s", diff)
		}

		// A rolled-back transaction leaves nothing behind.
		errBoom := errors.New("boom")
		err = d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := event.Append(ctx, tx, sendEvent("111111111111", "rolled-back"), now); err != nil {
				return err
			}
			// Visible inside the transaction…
			if got := list(t, tx, 0, 10, "", "rolled-back"); len(got) != 1 {
				t.Errorf("inside the transaction: %d rows", len(got))
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx = %v", err)
		}
		// …gone after the rollback.
		if got := list(t, d, 0, 10, "", ""); len(got) != 1 {
			t.Errorf("after rollback: %d rows, want 1", len(got))
		}

		// An invalid event is refused and fails the transaction.
		bad := sendEvent("", "no-account")
		err = d.InTx(ctx, func(tx *db.Tx) error {
			_, err := event.Append(ctx, tx, bad, now)
			return err
		})
		if !errors.Is(err, event.ErrInvalid) {
			t.Errorf("Append of an invalid event = %v, want ErrInvalid", err)
		}
		err = d.InTx(ctx, func(tx *db.Tx) error {
			_, err := event.Append(ctx, tx, sendEvent("a", "b"), time.Time{})
			return err
		})
		if err == nil {
			t.Error("Append with a zero time succeeded")
		}
		if got := list(t, d, 0, 10, "", ""); len(got) != 1 {
			t.Errorf("after refused appends: %d rows, want 1", len(got))
		}

		// Several accounts and messages, appended over several transactions.
		const a, b = "111111111111", "222222222222"
		var all []int64
		all = append(all, first)
		all = append(all, appendAll(t, d, now, sendEvent(a, "m1"), sendEvent(b, "m2"))...)
		all = append(all, appendAll(t, d, now.Add(time.Second), deliveryEvent(a, "m1"))...)
		all = append(all, appendAll(t, d, now.Add(2*time.Second), sendEvent(a, "m3"), deliveryEvent(b, "m2"), sendEvent(a, "m4"))...)
		for i := 1; i < len(all); i++ {
			if all[i] <= all[i-1] {
				t.Fatalf("ids not increasing: %v", all)
			}
		}

		for _, c := range []struct {
			after            int64
			limit            int
			account, message string
			want             []int64
		}{
			{0, 100, "", "", all},
			{0, 3, "", "", all[:3]},
			{all[2], 2, "", "", all[3:5]},
			{all[len(all)-1], 10, "", "", []int64{}},
			{0, 100, a, "", []int64{all[1], all[3], all[4], all[6]}},
			{0, 100, b, "", []int64{all[2], all[5]}},
			{0, 100, "", "m1", []int64{all[1], all[3]}},
			{0, 100, a, "m2", []int64{}},
			{0, 100, b, "m2", []int64{all[2], all[5]}},
			{all[2], 100, b, "m2", []int64{all[5]}},
			{0, 2, a, "", []int64{all[1], all[3]}},
			{0, 100, "nobody", "", []int64{}},
		} {
			t.Run(fmt.Sprintf("after=%d,limit=%d,account=%q,message=%q", c.after, c.limit, c.account, c.message), func(t *testing.T) {
				got := list(t, d, c.after, c.limit, c.account, c.message)
				if diff := cmp.Diff(c.want, ids(got)); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
				for _, r := range got {
					if (c.account != "" && r.AccountID != c.account) || (c.message != "" && r.MessageID != c.message) {
						t.Errorf("row %d of %s/%s does not match the filter", r.ID, r.AccountID, r.MessageID)
					}
				}
			})
		}

		// Paging with after = the last id returned visits every row once.
		var paged []int64
		for after := int64(0); ; {
			page := list(t, d, after, 2, "", "")
			if len(page) == 0 {
				break
			}
			paged = append(paged, ids(page)...)
			after = page[len(page)-1].ID
		}
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("paging (-want +got):\n%s", diff)
		}

		// Row columns follow the event.
		rows := list(t, d, 0, 100, "", "m2")
		if rows[1].Type != event.Delivery || rows[1].ConfigurationSet != "cs" || !rows[1].CreatedAt.Equal(now.Add(2*time.Second).Truncate(time.Millisecond)) {
			t.Errorf("delivery row = %+v", rows[1])
		}
		if !bytes.Contains(rows[1].Payload, []byte(`"ses:configuration-set":["cs"]`)) {
			t.Errorf("payload lacks the configuration-set tag: %s", rows[1].Payload)
		}

		if _, err := event.List(ctx, d, 0, 0, "", ""); err == nil {
			t.Error("List with limit 0 succeeded")
		}
	})
}

// TestPrune: Prune deletes published rows created before the cut-off, over
// several statements when there are many, and never an unpublished one.
func TestPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		cut := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		const a = "111111111111"
		many := make([]*event.Event, 1203) // more than two statements' worth
		for i := range many {
			many[i] = sendEvent(a, fmt.Sprintf("old-published-%d", i))
		}
		oldPublished := appendAll(t, d, cut.Add(-24*time.Hour), many...)
		oldUnpublished := appendAll(t, d, cut.Add(-48*time.Hour), sendEvent(a, "old-unpublished"))
		atCut := appendAll(t, d, cut, sendEvent(a, "at-cut"))
		newPublished := appendAll(t, d, cut.Add(time.Hour), sendEvent(a, "new-published"))
		newUnpublished := appendAll(t, d, cut.Add(time.Hour), sendEvent(a, "new-unpublished"))
		publish := func(ids ...int64) {
			for _, id := range ids {
				if _, err := d.Exec(ctx, `UPDATE events SET published_at = ? WHERE id = ?`, db.Millis(cut.Add(2*time.Hour)), id); err != nil {
					t.Fatal(err)
				}
			}
		}
		publish(oldPublished...)
		publish(atCut...)
		publish(newPublished...)

		n, err := event.Prune(ctx, d, cut)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(oldPublished)) {
			t.Errorf("Prune = %d, want %d", n, len(oldPublished))
		}
		want := []int64{oldUnpublished[0], atCut[0], newPublished[0], newUnpublished[0]}
		if diff := cmp.Diff(want, ids(list(t, d, 0, 2000, "", ""))); diff != "" {
			t.Errorf("rows left (-want +got):\n%s", diff)
		}

		// Nothing more to do; a later cut-off takes the published rows only.
		if n, err := event.Prune(ctx, d, cut); err != nil || n != 0 {
			t.Errorf("second Prune = %d, %v", n, err)
		}
		if n, err := event.Prune(ctx, d, cut.Add(24*time.Hour)); err != nil || n != 2 {
			t.Errorf("Prune a day later = %d, %v; want 2", n, err)
		}
		want = []int64{oldUnpublished[0], newUnpublished[0]}
		if diff := cmp.Diff(want, ids(list(t, d, 0, 2000, "", ""))); diff != "" {
			t.Errorf("rows left (-want +got):\n%s", diff)
		}
	})
}
