package stats_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/testkit"
)

// TestDaily: the rows MetricData sums, per day, identity, set and ISP,
// simulator rows included, of the asked account only and from the day of
// since.
func TestDaily(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "daily")
		other := newAccount(t, d, "other")
		day0 := time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC)
		day1, day2 := day0.Add(stats.Day), day0.Add(2*stats.Day)
		s := newStore(t, d, testkit.NewClock(day2.Add(20*time.Hour)), zone(t), nil)
		add(t, d, s,
			ev(t, event.Send, acct, "set1", "example.com", day0.Add(time.Hour), "old@gmail-hosted.test"),
			ev(t, event.Send, acct, "set1", "example.com", day1.Add(time.Hour), "a@gmail-hosted.test", "b@corp.test"),
			ev(t, event.Send, acct, "set1", "example.com", day1.Add(23*time.Hour+50*time.Minute), "c@gmail-hosted.test"),
			ev(t, event.Send, acct, "", "a@example.org", day2.Add(time.Hour), "bounce@simulator.amazonses.com"),
			bounce(t, acct, "set1", "example.com", day2.Add(time.Hour), "Permanent", "General", "b@corp.test"),
			bounce(t, acct, "set1", "example.com", day2.Add(time.Hour), "Transient", "General", "c@gmail-hosted.test"),
			ev(t, event.Complaint, acct, "set1", "example.com", day2.Add(2*time.Hour), "a@gmail-hosted.test"),
			ev(t, event.Send, other, "set1", "example.com", day1.Add(time.Hour), "z@gmail-hosted.test"),
		)
		got, err := s.Daily(context.Background(), acct, day1.Add(5*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].Day = got[i].Day.UTC()
		}
		slices.SortFunc(got, func(a, b stats.DailyRow) int {
			return cmp.Or(a.Day.Compare(b.Day), strings.Compare(a.Identity, b.Identity), strings.Compare(a.ISP, b.ISP))
		})
		want := []stats.DailyRow{
			{Day: day1, Identity: "example.com", Set: "set1", ISP: "Gmail", Sends: 2},
			{Day: day1, Identity: "example.com", Set: "set1", ISP: "mailhost.test", Sends: 1},
			{Day: day2, Identity: "a@example.org", ISP: stats.ISPSimulator, Simulator: true, Sends: 1},
			{Day: day2, Identity: "example.com", Set: "set1", ISP: "Gmail", TransientBounces: 1, Complaints: 1},
			{Day: day2, Identity: "example.com", Set: "set1", ISP: "mailhost.test", PermanentBounces: 1},
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("Daily (-want +got):\n%s", diff)
		}
	})
}
