package capture_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/testkit"
)

func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := testkit.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
		s, err := capture.NewStore(capture.StoreOptions{DB: d, Now: clock.Now, MaxAge: 24 * time.Hour, MaxMessages: 5})
		if err != nil {
			t.Fatal(err)
		}
		add := func(acct, id, from, to, subject string) *capture.Message {
			t.Helper()
			m := &capture.Message{AccountID: acct, MessageID: id, MailFrom: id + "@mail.a.example", From: from, Recipients: []string{to}, Subject: subject,
				Verdicts: capture.Verdicts{DKIM: "pass", SPF: "pass", DMARC: "fail", DKIMDomains: []string{"a.example"}}, Raw: []byte("Subject: " + subject + "\r\n\r\nbody\r\n")}
			if err := s.Add(ctx, m); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			return m
		}
		m1 := add("111111111111", "m1", "App <app@a.example>", "x@rcpt.example", "first")
		add("111111111111", "m2", "news@a.example", "Y@Rcpt.example", "second")
		other := add("222222222222", "m3", "app@b.example", "x@rcpt.example", "theirs")

		got, err := s.Get(ctx, "111111111111", m1.ID)
		if err != nil || string(got.Raw) != string(m1.Raw) || got.Verdicts.DKIMDomains[0] != "a.example" || got.Subject != "first" || !got.ReceivedAt.Equal(m1.ReceivedAt) {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		// Each account sees only its own.
		if _, err := s.Get(ctx, "111111111111", other.ID); !errors.Is(err, capture.ErrNotFound) {
			t.Errorf("Get of another account's message: %v", err)
		}
		list, next, err := s.List(ctx, "111111111111", capture.Filter{})
		if err != nil || len(list) != 2 || next != 0 || list[0].MessageID != "m2" || list[0].Raw != nil {
			t.Fatalf("List: %v %d %v", list, next, err)
		}
		for _, c := range []struct {
			f    capture.Filter
			want string
		}{
			{capture.Filter{MessageID: "m1"}, "m1"},
			{capture.Filter{MessageID: "m3"}, ""},
			{capture.Filter{Recipient: "y@rcpt"}, "m2"},
			{capture.Filter{Sender: "APP@"}, "m1"},
			{capture.Filter{Sender: "%"}, ""},
			{capture.Filter{Sender: "m1@mail"}, "m1"},
		} {
			l, _, err := s.List(ctx, "111111111111", c.f)
			var ids string
			for _, m := range l {
				ids += m.MessageID
			}
			if err != nil || ids != c.want {
				t.Errorf("List(%+v) = %q, %v; want %q", c.f, ids, err, c.want)
			}
		}
		// Paging, newest first.
		page, next, err := s.List(ctx, "111111111111", capture.Filter{Limit: 1})
		if err != nil || len(page) != 1 || page[0].MessageID != "m2" || next == 0 {
			t.Fatalf("page 1: %v %d %v", page, next, err)
		}
		page, next, err = s.List(ctx, "111111111111", capture.Filter{Limit: 1, Before: next})
		if err != nil || len(page) != 1 || page[0].MessageID != "m1" || next != 0 {
			t.Fatalf("page 2: %v %d %v", page, next, err)
		}

		// Prune: by count (5 kept), then by age (24 hours).
		for k := range 4 {
			add("111111111111", fmt.Sprintf("n%d", k), "a@a.example", "z@rcpt.example", "more")
		}
		if n, err := s.Prune(ctx); err != nil || n != 2 {
			t.Fatalf("Prune by count: %d, %v", n, err)
		}
		if _, err := s.Get(ctx, "111111111111", m1.ID); !errors.Is(err, capture.ErrNotFound) {
			t.Errorf("the oldest survived the count: %v", err)
		}
		clock.Advance(24*time.Hour - 3*time.Minute) // m3 and n0 are older than a day
		if n, err := s.Prune(ctx); err != nil || n != 2 {
			t.Fatalf("Prune by age: %d, %v", n, err)
		}
		l, _, _ := s.List(ctx, "111111111111", capture.Filter{})
		if len(l) != 3 {
			t.Errorf("after pruning %d messages left, want 3", len(l))
		}
	})
}
