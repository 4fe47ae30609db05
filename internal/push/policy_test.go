package push_test

import (
	"math"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/push"
)

func secs(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Second))) }

func TestPolicyDelays(t *testing.T) {
	// Two retries at once, two MinDelay apart, four in the backoff phase,
	// two MaxDelay apart.
	phases := func(backoff string) push.Policy {
		return push.Policy{MinDelay: 10 * time.Second, MaxDelay: 100 * time.Second, NumRetries: 10,
			NumNoDelayRetries: 2, NumMinDelayRetries: 2, NumMaxDelayRetries: 2, Backoff: backoff}
	}
	tests := []struct {
		name   string
		p      push.Policy
		delays []time.Duration // for retries 1, 2, ...
	}{
		{"linear", phases("linear"), []time.Duration{0, 0, secs(10), secs(10), secs(10), secs(40), secs(70), secs(100), secs(100), secs(100)}},
		{"arithmetic", phases("arithmetic"), []time.Duration{0, 0, secs(10), secs(10), secs(10), secs(20), secs(50), secs(100), secs(100), secs(100)}},
		{"geometric", phases("geometric"), []time.Duration{0, 0, secs(10), secs(10), secs(10), secs(10 + 90.0/27), secs(10 + 90.0*8/27), secs(100), secs(100), secs(100)}},
		{"exponential", phases("EXPONENTIAL"), []time.Duration{0, 0, secs(10), secs(10), secs(10), secs(10 * math.Cbrt(10)), secs(10 * math.Cbrt(100)), secs(100), secs(100), secs(100)}},
		// SNS's documented example: 3 retries, 20 s to 40 s, linear.
		{"sns example", push.Policy{MinDelay: 20 * time.Second, MaxDelay: 40 * time.Second, NumRetries: 3, Backoff: "linear"}, []time.Duration{secs(20), secs(30), secs(40)}},
		// SNS's default: 3 retries 20 s apart.
		{"sns default", push.Policy{MinDelay: 20 * time.Second, MaxDelay: 20 * time.Second, NumRetries: 3}, []time.Duration{secs(20), secs(20), secs(20)}},
		{"one backoff retry", push.Policy{MinDelay: time.Second, MaxDelay: 9 * time.Second, NumRetries: 2, NumMaxDelayRetries: 1, Backoff: "exponential"}, []time.Duration{secs(1), secs(9)}},
		{"no retries", push.Policy{MinDelay: time.Second, MaxDelay: time.Second}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total time.Duration
			for i, want := range tt.delays {
				got := tt.p.Delay(i + 1)
				if d := got - want; d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("retry %d: delay %s, want %s", i+1, got, want)
				}
				total += got
			}
			if d := tt.p.Total() - total; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("Total %s, want %s", tt.p.Total(), total)
			}
			if err := tt.p.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := push.DefaultPolicy
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// It must outlast a subscriber down for hours: more than 12 hours of
	// retries, the first within seconds, none more than 10 minutes apart.
	if tot := p.Total(); tot < 12*time.Hour || tot > 18*time.Hour {
		t.Errorf("DefaultPolicy retries for %s; want about 15 hours", tot)
	}
	if d := p.Delay(1); d != time.Second {
		t.Errorf("first retry after %s, want 1s", d)
	}
	prev := time.Duration(0)
	for r := 1; r <= p.NumRetries; r++ {
		d := p.Delay(r)
		if d < prev || d > 10*time.Minute {
			t.Fatalf("retry %d after %s (previous %s): delays must grow to at most 10 minutes", r, d, prev)
		}
		prev = d
	}
	if (push.Policy{}).Delay(1) != p.Delay(1) || (push.Policy{}).Total() != p.Total() {
		t.Error("a zero Policy must mean DefaultPolicy")
	}
}
