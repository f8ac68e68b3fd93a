package bench

import (
	"strings"
	"testing"
)

// TestPrefillCount: only stateful directors under a big UDP load are
// prefilled, one frame per flow, and a zero rate turns it off.
func TestPrefillCount(t *testing.T) {
	r := &runner{opts: Options{PrefillRate: 200_000}}
	big := Load{Proto: UDP, Size: 64, Flows: 1_000_000}
	for _, tc := range []struct {
		scenario string
		load     Load
		want     uint64
	}{
		{ScXVSNAT, big, 1_000_000},
		{ScXVSDRAFP, big, 1_000_000},
		{ScNftDNAT, Load{Proto: UDP, Size: 1400, Flows: prefillMinFlows}, prefillMinFlows},
		{ScXVSNATChecks, big, 1_000_000},
		{ScBounce2, big, 0},
		{ScKernelFwd, big, 0},
		{ScGenOnly, big, 0},
		{ScXVSNAT, Load{Proto: UDP, Size: 64, Flows: 10_000}, 0},
		{ScXVSNAT, Load{Proto: SYN, Size: 64, Flows: 1_000_000}, 0},
	} {
		if got := r.prefillCount(Trial{Scenario: tc.scenario, Load: tc.load}); got != tc.want {
			t.Errorf("%s %s: prefill %d, want %d", tc.scenario, tc.load, got, tc.want)
		}
	}
	off := &runner{opts: Options{}}
	if got := off.prefillCount(Trial{Scenario: ScXVSNAT, Load: big}); got != 0 {
		t.Errorf("rate 0: prefill %d", got)
	}
}

// TestPrefillNotes: a note per prefilled load with its trial count and the
// worst delivered share, naming that scenario.
func TestPrefillNotes(t *testing.T) {
	big := Load{Proto: UDP, Size: 64, Flows: 1_000_000}
	res := &Results{Options: OptionsSummary{PrefillRate: 200_000}, Trials: []TrialResult{
		{Trial: Trial{Scenario: ScXVSNAT, Load: big}, Prefilled: 1_000_000, PrefillDelivered: 1_000_000},
		{Trial: Trial{Scenario: ScNftDNAT, Load: big}, Prefilled: 1_000_000, PrefillDelivered: 990_000},
		{Trial: Trial{Scenario: ScBounce2, Load: big}},
	}}
	notes := prefillNotes(res)
	if len(notes) != 1 || !strings.Contains(notes[0], "64B/1M: every flow was sent once at 200000 frames/s before each of 2 trials") ||
		!strings.Contains(notes[0], "least: nft-dnat") || !strings.Contains(notes[0], "99.0 %") {
		t.Errorf("notes %q", notes)
	}
}
