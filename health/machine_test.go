package health

import (
	"testing"
	"time"
)

func TestMachineTranscripts(t *testing.T) {
	tm := Timing{DelayLoop: 10 * time.Second, Timeout: time.Second, Retry: 2, DelayBeforeRetry: 3 * time.Second}
	const dl, dbr = 10 * time.Second, 3 * time.Second
	type step struct {
		ok   bool
		v    verdict
		next time.Duration
	}
	cases := []struct {
		name  string
		alpha bool
		steps []step
	}{
		{"dead at start: one failure is enough", false, []step{{false, wentDown, dl}, {false, noChange, dl}, {true, wentUp, dl}}},
		{"alive at start, then retry+1 failures", false, []step{
			{true, firstSame, dl}, {false, noChange, dbr}, {false, noChange, dbr}, {false, wentDown, dl},
			{false, noChange, dl}, {true, wentUp, dl}}},
		{"a pass between failures resets the retries", false, []step{
			{true, firstSame, dl}, {false, noChange, dbr}, {true, noChange, dl}, {false, noChange, dbr},
			{false, noChange, dbr}, {false, wentDown, dl}}},
		{"alpha: down until the first pass", true, []step{
			{false, firstSame, dl}, {false, noChange, dl}, {true, wentUp, dl}, {false, noChange, dbr}}},
		{"alpha: first pass", true, []step{{true, wentUp, dl}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(tc.alpha, tm.Retry)
			for i, s := range tc.steps {
				v, next := m.step(s.ok, tm)
				if v != s.v || next != s.next {
					t.Fatalf("step %d (ok=%v): verdict %d next %v, want %d %v", i, s.ok, v, next, s.v, s.next)
				}
			}
		})
	}
}

// TestMachineRetryZero: with retry 0 (MISC_CHECK's default) one failure takes a checker down.
func TestMachineRetryZero(t *testing.T) {
	tm := Timing{DelayLoop: 5 * time.Second, Timeout: time.Second, Retry: 0, DelayBeforeRetry: time.Second}
	m := newMachine(false, 0)
	if v, _ := m.step(true, tm); v != firstSame {
		t.Fatal(v)
	}
	if v, next := m.step(false, tm); v != wentDown || next != 5*time.Second {
		t.Fatal(v, next)
	}
}
