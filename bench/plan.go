package bench

import (
	"fmt"
	"strconv"
)

// Load is one traffic pattern: frame size, number of distinct flows and
// protocol. For SYN loads Flows is 0: every frame is a new connection.
type Load struct {
	Proto Proto
	Size  int
	Flows int
	// NewEvery, if positive, makes every NewEvery-th frame one of a new
	// flow, never sent before, beside the Flows cycled ones: new
	// connections at a fixed share of the rate (the sync load, sync.go).
	NewEvery int `json:",omitempty"`
}

// String names a load the way the report does: "64B/10k", "syn".
func (l Load) String() string {
	if l.Proto == SYN {
		return "syn/" + strconv.Itoa(l.Size) + "B"
	}
	s := strconv.Itoa(l.Size) + "B/" + countName(l.Flows)
	if l.NewEvery > 0 {
		s += "+new/" + strconv.Itoa(l.NewEvery)
	}
	return s
}

// countName writes 1, 10k, 1M.
func countName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// Trial is one measurement: a scenario under a load in a round.
type Trial struct {
	Round    int
	Load     Load
	Scenario string
	// Rate caps the generator in frames per second for the warm-up and the
	// measured window (0: as fast as it can). Only the paced twin of a
	// checks trial sets it (ScXVSNATPaced).
	Rate float64 `json:",omitempty"`
}

func (t Trial) String() string {
	if t.Rate > 0 {
		return fmt.Sprintf("round %d %s %s at %.0f frames/s", t.Round+1, t.Scenario, t.Load, t.Rate)
	}
	return fmt.Sprintf("round %d %s %s", t.Round+1, t.Scenario, t.Load)
}

// Interleave orders one round's scenarios so that xvs and baseline trials
// alternate (x0 b0 x1 b1 ...; the longer list's remainder at the end), and
// rotates the result by round so that no scenario always runs first, right
// after a mode switch or next to the same neighbour.
func Interleave(xvs, base []string, round int) []string {
	out := make([]string, 0, len(xvs)+len(base))
	for i := 0; i < max(len(xvs), len(base)); i++ {
		if i < len(xvs) {
			out = append(out, xvs[i])
		}
		if i < len(base) {
			out = append(out, base[i])
		}
	}
	if len(out) == 0 {
		return out
	}
	// Rotate by two so that the xvs/baseline alternation survives.
	k := (2 * round) % len(out)
	return append(out[k:], out[:k]...)
}

// Schedule returns every trial of a phase: for each round, for each load, the
// interleaved scenarios. Loads vary inside a round so that a slow drift of the
// machine spreads over all of them.
func Schedule(rounds int, loads []Load, xvs, base []string) []Trial {
	var out []Trial
	for r := range rounds {
		for _, l := range loads {
			for _, s := range Interleave(xvs, base, r) {
				out = append(out, Trial{Round: r, Load: l, Scenario: s})
			}
		}
	}
	return out
}
