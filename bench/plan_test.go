package bench

import (
	"slices"
	"testing"
)

func TestInterleave(t *testing.T) {
	tests := []struct {
		name      string
		xvs, base []string
		round     int
		want      []string
	}{
		{"equal", []string{"x1", "x2"}, []string{"b1", "b2"}, 0, []string{"x1", "b1", "x2", "b2"}},
		{"more baselines", []string{"x1"}, []string{"b1", "b2", "b3"}, 0, []string{"x1", "b1", "b2", "b3"}},
		{"rotated", []string{"x1", "x2"}, []string{"b1", "b2"}, 1, []string{"x2", "b2", "x1", "b1"}},
		{"rotation wraps", []string{"x1", "x2"}, []string{"b1", "b2"}, 2, []string{"x1", "b1", "x2", "b2"}},
		{"only baselines", nil, []string{"b1", "b2"}, 0, []string{"b1", "b2"}},
		{"nothing", nil, nil, 3, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Interleave(tt.xvs, tt.base, tt.round); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestInterleaveAlternates: with as many xvs as baseline scenarios, every
// round alternates xvs and baseline and runs each scenario exactly once.
func TestInterleaveAlternates(t *testing.T) {
	x := []string{"x1", "x2", "x3"}
	b := []string{"b1", "b2", "b3"}
	firsts := map[string]bool{}
	for round := range 6 {
		got := Interleave(x, b, round)
		firsts[got[0]] = true
		if len(got) != 6 {
			t.Fatalf("round %d: %v", round, got)
		}
		for i := 1; i < len(got); i++ {
			if isXVSName(got[i]) == isXVSName(got[i-1]) {
				t.Errorf("round %d: %v does not alternate at %d", round, got, i)
			}
		}
		sorted := slices.Sorted(slices.Values(got))
		if !slices.Equal(sorted, []string{"b1", "b2", "b3", "x1", "x2", "x3"}) {
			t.Errorf("round %d: %v is not each scenario once", round, got)
		}
	}
	if len(firsts) != 3 {
		t.Errorf("rounds start with %v; want every xvs scenario to lead a round", firsts)
	}
}

func isXVSName(s string) bool { return s[0] == 'x' }

func TestSchedule(t *testing.T) {
	loads := []Load{{Proto: UDP, Size: 64, Flows: 1}, {Proto: UDP, Size: 1400, Flows: 1000}}
	got := Schedule(2, loads, []string{"x"}, []string{"a", "b"})
	if len(got) != 2*2*3 {
		t.Fatalf("%d trials, want 12", len(got))
	}
	// Rounds are outermost, then loads, then scenarios.
	for i, tr := range got {
		if tr.Round != i/6 || tr.Load != loads[(i/3)%2] {
			t.Errorf("trial %d = %v", i, tr)
		}
	}
	if got[0].Scenario != "x" || got[1].Scenario != "a" || got[6].Scenario != "b" {
		t.Errorf("order %v", got)
	}
}

func TestLoadString(t *testing.T) {
	for _, tt := range []struct {
		l    Load
		want string
	}{
		{Load{Proto: UDP, Size: 64, Flows: 1}, "64B/1"},
		{Load{Proto: UDP, Size: 64, Flows: 10_000}, "64B/10k"},
		{Load{Proto: UDP, Size: 1400, Flows: 1_000_000}, "1400B/1M"},
		{Load{Proto: UDP, Size: 64, Flows: 1500}, "64B/1500"},
		{Load{Proto: SYN, Size: 64, Flows: 0}, "syn/64B"},
	} {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.l, got, tt.want)
		}
	}
}
