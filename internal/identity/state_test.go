package identity

import (
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := 72 * time.Hour
	cases := []struct {
		name    string
		cur     Status
		age     time.Duration
		obs     Observation
		want    Status
		changed bool
	}{
		{"pending found", Pending, time.Minute, Present, Success, true},
		{"pending absent early", Pending, time.Hour, Absent, Pending, false},
		{"pending absent at window", Pending, w, Absent, Failed, true},
		{"pending lookup failed after window", Pending, 2 * w, NoEvidence, Pending, false},
		{"success still there", Success, w, Present, Success, false},
		{"success gone", Success, time.Hour, Absent, TemporaryFailure, true},
		{"success servfail", Success, time.Hour, NoEvidence, Success, false},
		{"tempfail restored", TemporaryFailure, time.Hour, Present, Success, true},
		{"tempfail absent early", TemporaryFailure, w - time.Millisecond, Absent, TemporaryFailure, false},
		{"tempfail absent at window", TemporaryFailure, w, Absent, Failed, true},
		{"tempfail lookup failed", TemporaryFailure, 3 * w, NoEvidence, TemporaryFailure, false},
		{"failed is final", Failed, time.Hour, Present, Failed, false},
		{"not started stays", NotStarted, time.Hour, Present, NotStarted, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reason, changed := Step(c.cur, t0, c.obs, "detail", t0.Add(c.age), w)
			if got != c.want || changed != c.changed {
				t.Fatalf("Step(%s, +%s, %s) = %s, %v; want %s, %v", c.cur, c.age, c.obs, got, changed, c.want, c.changed)
			}
			if changed && reason == "" {
				t.Fatal("a change has no reason")
			}
		})
	}
}
