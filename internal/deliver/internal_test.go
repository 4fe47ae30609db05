package deliver

import (
	"fmt"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/smtpcode"
)

func TestReplyDelayType(t *testing.T) {
	for _, tt := range []struct{ reply, want string }{
		{"452 4.2.2 Mailbox full", DelayMailboxFull},
		{"450 4.2.0 Recipient is over quota", DelayMailboxFull},
		{"421 4.7.0 Message rejected as possible spam", DelaySpam},
		{"451 4.7.1 Greylisted, try again in 5 minutes", DelayGeneral},
		{"421 4.7.28 Unusual rate of unsolicited mail from your IP", DelaySpam},
		{"421 4.7.0 Our system has detected an unusual rate from your IP address", DelayIP},
		{"450 4.7.1 Client host blocked using zen.spamhaus.org", DelayIP},
		{"454 4.7.1 Service unavailable; client host [192.0.2.1] blocked by bl.spamcop.net", DelayIP},
		{"450 4.7.1 Client host rejected: listed on a DNSBL", DelayIP},
		{"421 4.7.0 Too many connections, slow down", DelayIP},
		{"451 4.3.0 Temporary local problem", DelayServer},
		{"421 Service not available", DelayServer},
		{"452 4.3.1 Insufficient system storage", DelayServer},
		{"450 4.2.0 Mailbox busy", DelayGeneral},
		{"450 Requested mail action not taken", DelayGeneral},
	} {
		r, err := smtpcode.Parse(tt.reply)
		if err != nil {
			t.Fatal(err)
		}
		if got := replyDelayType(r); got != tt.want {
			t.Errorf("replyDelayType(%q) = %s; want %s", tt.reply, got, tt.want)
		}
	}
	if got := (result{comm: true, reply: smtpcode.New(421, [3]int{4, 4, 2}, "EOF")}).delayType(); got != DelayCommunication {
		t.Errorf("broken connection: %s", got)
	}
	if got := (result{local: true, reply: smtpcode.New(451, [3]int{4, 4, 3}, "SERVFAIL")}).delayType(); got != DelayUndetermined {
		t.Errorf("DNS failure: %s", got)
	}
}

func TestSplit(t *testing.T) {
	msgs := func(n int) []*message {
		out := make([]*message, n)
		for i := range out {
			out[i] = &message{id: fmt.Sprint(i)}
		}
		return out
	}
	for _, tt := range []struct {
		n, perDomain int
		want         []int
	}{
		{1, 4, []int{1}},
		{2, 4, []int{2}},
		{5, 4, []int{5}},
		{6, 4, []int{6}},
		{9, 4, []int{9}},
		{10, 4, []int{5, 5}},
		{12, 4, []int{6, 6}},
		{16, 4, []int{5, 5, 6}},
		{100, 4, []int{25, 25, 25, 25}},
		{100, 1, []int{100}},
		{11, 2, []int{5, 6}},
	} {
		chunks := split(msgs(tt.n), tt.perDomain)
		var sizes []int
		next := 0
		for _, c := range chunks {
			sizes = append(sizes, len(c))
			for _, m := range c {
				if m.id != fmt.Sprint(next) {
					t.Fatalf("split(%d, %d) reorders messages", tt.n, tt.perDomain)
				}
				next++
			}
		}
		if fmt.Sprint(sizes) != fmt.Sprint(tt.want) {
			t.Errorf("split(%d, %d) = %v; want %v", tt.n, tt.perDomain, sizes, tt.want)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	for attempt, base := range map[int]time.Duration{
		0: time.Minute, 1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 32 * time.Minute,
		7: time.Hour, 8: time.Hour, 100: time.Hour,
	} {
		for range 50 {
			d := DefaultBackoff(attempt)
			if d < base-base/10 || d > base+base/10 {
				t.Fatalf("DefaultBackoff(%d) = %v; want %v ±10%%", attempt, d, base)
			}
		}
	}
}

func TestSimulatorOf(t *testing.T) {
	for addr, want := range map[string]simulator{
		"success@simulator.amazonses.com":           simSuccess,
		"Success+Run-1@simulator.amazonses.com":     simSuccess,
		"bounce+abc@simulator.amazonses.com":        simBounce,
		"BOUNCE@simulator.example":                  simBounce,
		"ooto@simulator.amazonses.com":              simAutoReply,
		"complaint+a+b@simulator.amazonses.com":     simComplaint,
		"suppressionlist@simulator.amazonses.com":   simSuppression,
		"suppressionlist+x@simulator.amazonses.com": simSuppression,
		"blackhole@simulator.amazonses.com":         simUnknown,
		"successful@simulator.amazonses.com":        simUnknown,
		"+success@simulator.amazonses.com":          simUnknown,
		"\"success\"@simulator.amazonses.com":       simUnknown,
		"success@":                                  simSuccess,
		"not-an-address":                            simUnknown,
	} {
		if got := simulatorOf(addr); got != want {
			t.Errorf("simulatorOf(%q) = %d; want %d", addr, got, want)
		}
	}
}
