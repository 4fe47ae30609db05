package stage

import (
	"testing"
	"time"
)

func TestTimer(t *testing.T) {
	var tm Timer
	t0 := tm.Start()
	t1 := tm.Since(Signing, t0.Add(-time.Second))
	if got := tm.Seconds(Signing); got < 1 || got > 60 {
		t.Errorf("Signing: %v s, want about 1", got)
	}
	if t1.Before(t0) {
		t.Errorf("Since returned %v, before the start %v", t1, t0)
	}
	for _, s := range Stages {
		if s != Signing && tm.Seconds(s) != 0 {
			t.Errorf("%v: %v s, want 0", s, tm.Seconds(s))
		}
	}
	if Outcome.String() != "outcome" || Stage(200).String() != "unknown" {
		t.Errorf("names: %q %q", Outcome, Stage(200))
	}
}

func TestNilTimer(t *testing.T) {
	var tm *Timer
	if !tm.Start().IsZero() || !tm.Since(Admission, time.Now()).IsZero() || tm.Seconds(Admission) != 0 {
		t.Error("a nil Timer counted")
	}
}

func TestNoAllocation(t *testing.T) {
	var tm Timer
	if n := testing.AllocsPerRun(100, func() { tm.Since(Enqueue, tm.Start()) }); n != 0 {
		t.Errorf("%v allocations per boundary, want 0", n)
	}
}
