package push_test

import (
	"errors"
	"math"
	"strings"
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

func TestParsePolicy(t *testing.T) {
	ok := []struct {
		name, doc string
		want      push.Policy
	}{
		{"empty", "", push.DefaultPolicy},
		{"subscription form",
			`{"healthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":60,"numRetries":20,"numNoDelayRetries":1,"numMinDelayRetries":2,"numMaxDelayRetries":3,"backoffFunction":"Exponential"},"throttlePolicy":{"maxReceivesPerSecond":10},"requestPolicy":{"headerContentType":"application/json"}}`,
			push.Policy{MinDelay: 5 * time.Second, MaxDelay: time.Minute, NumRetries: 20, NumNoDelayRetries: 1, NumMinDelayRetries: 2, NumMaxDelayRetries: 3, Backoff: "exponential", MaxReceivesPerSecond: 10}},
		{"topic form",
			`{"http":{"defaultHealthyRetryPolicy":{"numRetries":5},"disableSubscriptionOverrides":false,"defaultThrottlePolicy":{"maxReceivesPerSecond":"3"}}}`,
			push.Policy{MinDelay: 20 * time.Second, MaxDelay: 20 * time.Second, NumRetries: 5, Backoff: "linear", MaxReceivesPerSecond: 3}},
		{"throttle only keeps Sesame's retries", `{"throttlePolicy":{"maxReceivesPerSecond":1}}`,
			func() push.Policy { p := push.DefaultPolicy; p.MaxReceivesPerSecond = 1; return p }()},
		{"SNS's effective policy round trip", `{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"guaranteed":false}`,
			push.Policy{MinDelay: 20 * time.Second, MaxDelay: 20 * time.Second, NumRetries: 3, Backoff: "linear"}},
		{"zero retries", `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":0}}`,
			push.Policy{MinDelay: time.Second, MaxDelay: time.Second, Backoff: "linear"}},
		{"the most SNS allows", `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":3600,"numRetries":100,"numNoDelayRetries":99}}`,
			push.Policy{MinDelay: time.Second, MaxDelay: time.Hour, NumRetries: 100, NumNoDelayRetries: 99, Backoff: "linear"}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := push.ParsePolicy(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	bad := []struct{ doc, field string }{
		{`[]`, "must be a JSON object"},
		{`{"healthyRetryPolicy":{"minDelayTarget":0,"maxDelayTarget":0,"numRetries":0}}`, "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1"},
		{`{"healthyRetryPolicy":{"minDelayTarget":30,"maxDelayTarget":20,"numRetries":1}}`, "healthyRetryPolicy.minDelayTarget must be less than or equal to maxDelayTarget"},
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":3601,"numRetries":1}}`, "healthyRetryPolicy.maxDelayTarget must be less than or equal to 3600"},
		{`{"healthyRetryPolicy":{"numRetries":101}}`, "healthyRetryPolicy.numRetries must be between 0 and 100"},
		{`{"healthyRetryPolicy":{"numRetries":-1}}`, "healthyRetryPolicy.numRetries must be between 0 and 100"},
		{`{"healthyRetryPolicy":{"numRetries":3,"numNoDelayRetries":-1}}`, "healthyRetryPolicy.numNoDelayRetries must be greater than or equal to 0"},
		{`{"healthyRetryPolicy":{"numRetries":3,"numMaxDelayRetries":4}}`, "healthyRetryPolicy.numMaxDelayRetries must be less than or equal to numRetries"},
		{`{"healthyRetryPolicy":{"numRetries":3,"numMaxDelayRetries":2,"numMinDelayRetries":2}}`, "healthyRetryPolicy.numRetries must be at least"},
		{`{"healthyRetryPolicy":{"numRetries":3,"backoffFunction":"cubic"}}`, "healthyRetryPolicy.backoffFunction must be one of"},
		{`{"healthyRetryPolicy":{"numRetries":2.5}}`, "healthyRetryPolicy.numRetries must be an integer"},
		{`{"healthyRetryPolicy":{"numRetries":"many"}}`, "healthyRetryPolicy.numRetries must be an integer"},
		{`{"healthyRetryPolicy":{"minDelayTarget":60,"maxDelayTarget":60,"numRetries":61}}`, "healthyRetryPolicy retries would take 3660 seconds in all; the limit is 3600"},
		{`{"healthyRetryPolicy":{"numRetrys":3}}`, "healthyRetryPolicy.numRetrys is not a field"},
		{`{"throttlePolicy":{"maxReceivesPerSecond":0}}`, "throttlePolicy.maxReceivesPerSecond must be greater than or equal to 1"},
		{`{"requestPolicy":{"headerContentType":"image/png"}}`, "requestPolicy.headerContentType must be one of"},
		{`{"http":{"defaultHealthyRetryPolicy":{"numRetries":200}}}`, "http.defaultHealthyRetryPolicy.numRetries must be between 0 and 100"},
		{`{"http":{"defaultThrottlePolicy":{"maxReceivesPerSecond":-2}}}`, "http.defaultThrottlePolicy.maxReceivesPerSecond must be"},
		{`{"http":{},"healthyRetryPolicy":{}}`, "must have only the field http"},
		{`{"http":{"healthyRetryPolicy":{}}}`, "http.healthyRetryPolicy is not a field"},
		{`{"healthyRetryPolicy":[1]}`, "healthyRetryPolicy must be a JSON object"},
		{`{"healthyRetryPolicy":{}} x`, "must be a JSON object"},
	}
	for _, tt := range bad {
		_, err := push.ParsePolicy(tt.doc)
		if !errors.Is(err, push.ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("ParsePolicy(%s) = %v; want an ErrInvalidPolicy naming %q", tt.doc, err, tt.field)
		}
	}
}

func TestDeliveryPolicyJSON(t *testing.T) {
	doc := `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":2,"maxDelayTarget":30,"numRetries":8,"numNoDelayRetries":1,"backoffFunction":"geometric"},"disableSubscriptionOverrides":true,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=utf-8"}}}`
	d, err := push.ParseDeliveryPolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !d.DisableSubscriptionOverrides || d.HeaderContentType != "text/plain; charset=UTF-8" || d.Retry == nil {
		t.Fatalf("parsed %+v", d)
	}
	again, err := push.ParseDeliveryPolicy(d.JSON())
	if err != nil {
		t.Fatalf("JSON() %s does not parse: %v", d.JSON(), err)
	}
	if *again.Retry != *d.Retry || again.HeaderContentType != d.HeaderContentType {
		t.Errorf("round trip: %+v, want %+v", again, d)
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"healthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":60,"numRetries":20,"numNoDelayRetries":1,"numMinDelayRetries":2,"numMaxDelayRetries":3,"backoffFunction":"exponential"}}`,
		`{"http":{"defaultHealthyRetryPolicy":{"numRetries":5},"defaultThrottlePolicy":{"maxReceivesPerSecond":3}}}`,
		`{"throttlePolicy":{"maxReceivesPerSecond":"7"},"requestPolicy":{"headerContentType":"application/json"}}`,
		`{"healthyRetryPolicy":{"numRetries":1e2,"minDelayTarget":1,"maxDelayTarget":1}}`, `null`, `{"http":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := push.ParseDeliveryPolicy(s)
		if err != nil {
			if !errors.Is(err, push.ErrInvalidPolicy) {
				t.Fatalf("error %v is not ErrInvalidPolicy", err)
			}
			return
		}
		p := d.Effective()
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted a policy the queue cannot follow: %+v: %v", p, err)
		}
		if d.Retry != nil {
			r := *d.Retry
			if r.NumRetries > 100 || r.MinDelay < time.Second || r.MaxDelay > time.Hour || r.Total() > time.Hour {
				t.Fatalf("accepted a policy beyond SNS's bounds: %+v", r)
			}
			for i := 1; i <= r.NumRetries; i++ {
				if dl := r.Delay(i); dl < 0 || dl > r.MaxDelay {
					t.Fatalf("retry %d delay %s outside [0, %s]", i, dl, r.MaxDelay)
				}
			}
		}
		again, err := push.ParseDeliveryPolicy(d.JSON())
		if err != nil {
			t.Fatalf("JSON() of an accepted policy does not parse: %s: %v", d.JSON(), err)
		}
		if again.Effective() != p {
			t.Fatalf("round trip changed the policy: %+v, want %+v", again.Effective(), p)
		}
	})
}
