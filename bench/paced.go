package bench

import (
	"fmt"
	"strings"
)

// PacedPair compares a variant of xvs-nat (health checks on, a sync
// master on) with its paced twins (ScXVSNATPaced): xvs-nat with the
// generator held to the rate the variant's generator sent, trial by trial.
// The variant shares the generator's core with its own work, so it is
// offered less than plain xvs-nat; at the same offered load the two
// deliver and cost the workers what they would on a dedicated director.
type PacedPair struct {
	// Offered is the rate the variant's generator sent (frames per second
	// over rounds); Paced the twins' delivered rate.
	Offered, Paced Summary
	// Variant and WorkerVariant are the variant's delivered rate and its
	// workers' ns per delivered frame; WorkerPaced the twins'.
	Variant, WorkerVariant, WorkerPaced Summary
	// PerRound is the variant's delivered rate over its twin's and
	// Capacity the workers' capacity with the variant over without (the
	// twin's ns per frame over the variant's), round by round.
	PerRound, Capacity Summary
}

// pacePair pairs a variant's trials with their twins by round; variant
// and paced are the two rows' delivered rates.
func pacePair(with, paced map[int]TrialResult, variant, pacedRow Summary) PacedPair {
	var off, q, wv, wp, c []float64
	for round, t := range with {
		off = append(off, t.SentPPS())
		if ns := t.workerNs(); ns > 0 {
			wv = append(wv, ns)
		}
		p, ok := paced[round]
		if !ok {
			continue
		}
		if p.PPS() > 0 {
			q = append(q, t.PPS()/p.PPS())
		}
		if ns := p.workerNs(); ns > 0 {
			wp = append(wp, ns)
			if w := t.workerNs(); w > 0 {
				c = append(c, ns/w)
			}
		}
	}
	return PacedPair{Offered: Summarize(off), Paced: pacedRow, Variant: variant, WorkerVariant: Summarize(wv),
		WorkerPaced: Summarize(wp), PerRound: Summarize(q), Capacity: Summarize(c)}
}

// ok reports whether the pair has both same-round figures.
func (p PacedPair) ok() bool { return p.PerRound.N > 0 && p.Capacity.N > 0 }

// met reports whether the variant delivers and costs within the run's
// noise floor of its twins (sameRoundBar).
func (p PacedPair) met() bool {
	return p.Capacity.Median >= sameRoundBar && p.PerRound.Median >= sameRoundBar
}

// measured says the pair for a target: delivered and capacity, then the
// same against unpaced xvs-nat (its delivered rate and same-round
// ratios), which is what the variant's generator could not match.
func (p PacedPair) measured(unpaced, unpacedPerRound Summary) string {
	return fmt.Sprintf("delivered %s same-round (%s vs %s Mpps, both offered %s Mpps); capacity %s same-round (%s vs %s worker ns/frame); against unpaced xvs-nat (%s Mpps): delivered %s",
		formatRatio(p.PerRound), formatNum(p.Variant.Median/1e6, 3), formatNum(p.Paced.Median/1e6, 3), formatNum(p.Offered.Median/1e6, 3),
		formatRatio(p.Capacity), formatNum(p.WorkerVariant.Median, 0), formatNum(p.WorkerPaced.Median, 0),
		formatNum(unpaced.Median/1e6, 3), formatRatio(unpacedPerRound))
}

// pacedTableHead starts a table of pairs whose variant is named variant.
func pacedTableHead(b *strings.Builder, variant string) {
	fmt.Fprintf(b, "| load | offered Mpps (%s) | xvs-nat-paced Mpps | %s Mpps | %s ÷ paced, same-round | worker ns/frame paced | worker ns/frame %s | workers' capacity %s ÷ paced, same-round |\n",
		variant, variant, variant, variant, variant)
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
}

// pacedTableRow writes one load's pair.
func pacedTableRow(b *strings.Builder, l Load, p PacedPair) {
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", l,
		FormatSummary(p.Offered, 1e-6, 3), FormatSummary(p.Paced, 1e-6, 3), FormatSummary(p.Variant, 1e-6, 3), formatRatio(p.PerRound),
		FormatSummary(p.WorkerPaced, 1, 0), FormatSummary(p.WorkerVariant, 1, 0), formatRatio(p.Capacity))
}
