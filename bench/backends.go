package bench

import (
	"fmt"
	"math"
	"strings"
)

// BackendRatio compares bin/xvs's two backends, AF_XDP (the default) and
// AF_PACKET (--backend afpacket), in one forwarding mode under one load.
// Both ran in the same lab and rounds, interleaved with the baselines.
type BackendRatio struct {
	// Mode is the forwarding method: nat, dr or tun.
	Mode string
	Load Load
	// XDP and AFP are the delivered frames per second of the AF_XDP and
	// the AF_PACKET scenario, over rounds.
	XDP, AFP Summary
	// Ratio is AF_PACKET's median delivered pps over AF_XDP's (NaN
	// without figures for both). PerRound pairs the two trial by trial
	// instead: the ratio in each round in which both delivered (they ran
	// minutes apart at most, so a slow drift of the shared machine
	// cancels), median [min–max] over those rounds; its spread says how far
	// Ratio can be trusted.
	Ratio    float64
	PerRound Summary
	// XDPNs and AFPNs are the director's CPU nanoseconds per delivered
	// frame (see attributeCPU), over rounds.
	XDPNs, AFPNs Summary
}

// BackendRatios pairs every AF_XDP xvs row with its AF_PACKET twin, in the
// report's order (by load, then nat, dr, tun). A mode whose AF_PACKET
// scenario did not run has no entry; one that ran but failed has an entry
// with N == 0 figures.
func BackendRatios(trials []TrialResult, rows []Row) []BackendRatio {
	type key struct {
		s string
		l Load
	}
	byRound := map[key]map[int]float64{}
	for _, t := range trials {
		if t.Err != "" || !isXVS(t.Scenario) {
			continue
		}
		k := key{t.Scenario, t.Load}
		if byRound[k] == nil {
			byRound[k] = map[int]float64{}
		}
		byRound[k][t.Round] = t.PPS()
	}
	var out []BackendRatio
	sorted := sortRows(rows)
	for _, x := range sorted {
		if !isXVS(x.Scenario) || isAFP(x.Scenario) {
			continue
		}
		twin := x.Scenario + afpSuffix
		i := indexRow(sorted, twin, x.Load)
		if i < 0 {
			continue
		}
		a := sorted[i]
		var q []float64
		xs, as := byRound[key{x.Scenario, x.Load}], byRound[key{twin, x.Load}]
		for round, xp := range xs {
			if ap, ok := as[round]; ok && xp > 0 {
				q = append(q, ap/xp)
			}
		}
		ratio := math.NaN()
		if x.PPS.N > 0 && a.PPS.N > 0 && x.PPS.Median > 0 {
			ratio = a.PPS.Median / x.PPS.Median
		}
		out = append(out, BackendRatio{
			Mode: xvsMode(x.Scenario), Load: x.Load,
			XDP: x.PPS, AFP: a.PPS, Ratio: ratio, PerRound: Summarize(q),
			XDPNs: x.NsPerPkt, AFPNs: a.NsPerPkt,
		})
	}
	return out
}

func indexRow(rows []Row, scenario string, l Load) int {
	for i, r := range rows {
		if r.Scenario == scenario && r.Load == l {
			return i
		}
	}
	return -1
}

// BackendTable renders the AF_PACKET/AF_XDP comparison as a Markdown
// table, one line per load and mode.
func BackendTable(brs []BackendRatio) string {
	if len(brs) == 0 {
		return "Not measured (no AF_PACKET scenario ran).\n"
	}
	var b strings.Builder
	b.WriteString("| load | mode | AF_XDP Mpps | AF_PACKET Mpps | AF_PACKET / AF_XDP | same-round ratios, median [min–max] | AF_XDP director ns/packet | AF_PACKET director ns/packet |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, br := range brs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", br.Load, br.Mode,
			formatNum(br.XDP.Median/1e6, 3), formatNum(br.AFP.Median/1e6, 3), formatTimes(br.Ratio), formatRatio(br.PerRound),
			formatNum(br.XDPNs.Median, 0), formatNum(br.AFPNs.Median, 0))
	}
	return b.String()
}

// formatTimes writes a ratio as "0.45×", or "—" for NaN.
func formatTimes(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return formatNum(v, 2) + "×"
}

// formatRatio writes a ratio summary as "0.45× [0.41–0.52]".
func formatRatio(s Summary) string {
	if s.N <= 1 {
		return formatTimes(s.Median)
	}
	return fmt.Sprintf("%s× [%s–%s]", formatNum(s.Median, 2), formatNum(s.Min, 2), formatNum(s.Max, 2))
}

// BackendSummary says the AF_PACKET/AF_XDP ratio in one line per mode: the
// figures at 64 B / 10 k flows (the load the targets are stated at, or the
// first measured one), then the range of the ratio over all loads.
func BackendSummary(brs []BackendRatio) []string {
	var modes []string
	by := map[string][]BackendRatio{}
	for _, br := range brs {
		if _, ok := by[br.Mode]; !ok {
			modes = append(modes, br.Mode)
		}
		by[br.Mode] = append(by[br.Mode], br)
	}
	var out []string
	for _, m := range modes {
		var head *BackendRatio
		lo, hi, n := math.Inf(1), math.Inf(-1), 0
		for i, br := range by[m] {
			if math.IsNaN(br.Ratio) {
				continue
			}
			if head == nil || br.Load == load64x10k {
				head = &by[m][i]
			}
			lo, hi, n = min(lo, br.Ratio), max(hi, br.Ratio), n+1
		}
		if head == nil {
			out = append(out, fmt.Sprintf("AF_PACKET/AF_XDP %s: no data", m))
			continue
		}
		line := fmt.Sprintf("AF_PACKET/AF_XDP %s: %s at %s (%s vs %s Mpps, same-round ratios %s; director %s vs %s ns/packet)", m,
			formatTimes(head.Ratio), head.Load, formatNum(head.AFP.Median/1e6, 3), formatNum(head.XDP.Median/1e6, 3),
			formatRatio(head.PerRound), formatNum(head.AFPNs.Median, 0), formatNum(head.XDPNs.Median, 0))
		if n > 1 {
			line += fmt.Sprintf("; %s–%s× over %d loads", formatNum(lo, 2), formatNum(hi, 2), n)
		}
		out = append(out, line)
	}
	return out
}
