package bench

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// scenarioColor gives every scenario a fixed colour: baselines grey/blue,
// xvs modes warm, each AF_PACKET twin a paler shade of its AF_XDP mode.
var scenarioColor = map[string]string{
	ScGenOnly: "#d0d0d0", ScGenOnly1: "#c4d8c8", ScKernelFwd: "#9e9e9e", ScNftDNAT: "#5b7fb5", ScBounce2: "#2e4a70",
	ScXVSNAT: "#e07b24", ScBounce1: "#3f6e4e", ScXVSDR: "#d9a420", ScXVSTUN: "#b8432f",
	ScXVSNATAFP: "#f2b98a", ScXVSNATChecks: "#a8521a", ScXVSNATPaced: "#c98a5e", ScXVSNATSync: "#7a3a12", ScXVSDRAFP: "#eed48a", ScXVSTUNAFP: "#dc9488",
}

// Chart renders delivered pps per scenario and load as a grouped bar chart
// in SVG: bars at the median, whiskers from min to max.
func Chart(rows []Row) string {
	rows = sortRows(rows)
	var loads []Load
	var scen []string
	top := 0.0
	for _, r := range rows {
		if r.PPS.N == 0 {
			continue
		}
		if !slices.Contains(loads, r.Load) {
			loads = append(loads, r.Load)
		}
		if !slices.Contains(scen, r.Scenario) {
			scen = append(scen, r.Scenario)
		}
		top = max(top, r.PPS.Max)
	}
	slices.SortStableFunc(scen, func(a, b string) int { return scenarioRank(a) - scenarioRank(b) })
	const (
		barW, gap, left, right, topM, plotH, bottom = 14.0, 22.0, 60.0, 150.0, 40.0, 300.0, 50.0
	)
	groupW := float64(max(len(scen), 1))*barW + gap
	width := left + float64(max(len(loads), 1))*groupW + right
	height := topM + plotH + bottom
	ymax := niceCeil(top / 1e6)
	y := func(mpps float64) float64 { return topM + plotH - plotH*mpps/ymax }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">Delivered packets per second (Mpps, median; whiskers min–max)</text>`+"\n", left)
	if len(loads) == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">no data</text>`+"\n</svg>\n", left, topM+plotH/2)
		return b.String()
	}
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, width-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, trimFloat(v))
	}
	for gi, l := range loads {
		x0 := left + float64(gi)*groupW + gap/2
		for si, s := range scen {
			var r *Row
			for i := range rows {
				if rows[i].Scenario == s && rows[i].Load == l && rows[i].PPS.N > 0 {
					r = &rows[i]
				}
			}
			if r == nil {
				continue
			}
			x := x0 + float64(si)*barW
			m, lo, hi := r.PPS.Median/1e6, r.PPS.Min/1e6, r.PPS.Max/1e6
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.3f Mpps</title></rect>`+"\n",
				x, y(m), barW-2, y(0)-y(m), colorOf(s), html.EscapeString(s), l, m)
			cx := x + (barW-2)/2
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, cx, y(lo), y(hi))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n",
			x0+float64(len(scen))*barW/2, topM+plotH+18, html.EscapeString(l.String()))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, width-right, y(0), y(0))
	for i, s := range scen {
		ly := topM + float64(i)*18
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			width-right+14, ly, colorOf(s), width-right+32, ly+10, html.EscapeString(s))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func colorOf(s string) string {
	if c, ok := scenarioColor[s]; ok {
		return c
	}
	return "#777"
}

// niceCeil rounds v up to a round step (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times
// a power of ten; at least 0.1).
func niceCeil(v float64) float64 {
	if v <= 0.1 || math.IsNaN(v) {
		return 0.1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
