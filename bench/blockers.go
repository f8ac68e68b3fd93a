package bench

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// A missed target says what stands in its way, in figures of the same run:
// the costs xvs pays that its bar does not allow for, and the profile or
// baseline that shows each. The words are the bench's reading of those
// figures; a reader checks them against the tables they quote.

// goBenchMetric returns a Go benchmark's figure in unit (cpu-ns/op when
// the thread's CPU time was measured, else ns/op: pass "ns" for that
// choice), or NaN.
func goBenchMetric(bs []GoBench, pkg, name, unit string) float64 {
	for _, b := range bs {
		if b.Pkg != pkg || b.Name != name {
			continue
		}
		if unit == "ns" {
			if v, ok := b.Metrics["cpu-ns/op"]; ok {
				return v
			}
			unit = "ns/op"
		}
		if v, ok := b.Metrics[unit]; ok {
			return v
		}
	}
	return math.NaN()
}

// Go benchmark packages as gobench.go runs them.
const (
	pkgConntrack = "./conntrack/"
	pkgForwarder = "./forwarder/"
)

// pipelineMethods are the pipeline benchmark's names for NAT, DR and TUN.
var pipelineMethods = []string{"Masq", "Route", "Tunnel"}

// pipelineTarget is issue 14's bar for the in-memory pipeline: at most
// 100 ns a packet at a million established flows, without allocating, for
// every method (the worst).
func pipelineTarget(bs []GoBench) TargetCheck {
	tc := TargetCheck{Target: "in-memory pipeline ≤ 100 ns/packet at 1 M established flows, 0 allocations (worst method, BenchmarkPipeline)", Status: NA, Measured: "no data"}
	worst, where, allocs := math.Inf(-1), "", 0.0
	for _, m := range pipelineMethods {
		name := "Pipeline/" + m + "/1M-flows"
		v := goBenchMetric(bs, pkgForwarder, name, "ns")
		if math.IsNaN(v) {
			continue
		}
		if a := goBenchMetric(bs, pkgForwarder, name, "allocs/op"); !math.IsNaN(a) {
			allocs = max(allocs, a)
		}
		if v > worst {
			worst, where = v, m
		}
	}
	if where == "" {
		return tc
	}
	tc.Measured = fmt.Sprintf("%.0f ns (%s), %.0f allocations", worst, where, allocs)
	tc.Status = status(worst <= 100 && allocs == 0)
	if tc.Status == NotMet {
		base := goBenchMetric(bs, pkgForwarder, "Pipeline/"+where+"/1k-flows", "ns")
		lookup := goBenchMetric(bs, pkgConntrack, "LookupBatch/1M", "ns")
		var parts []string
		if !math.IsNaN(base) {
			parts = append(parts, fmt.Sprintf("the same pipeline at 1 k flows, whose table stays in cache, takes %.0f ns: that much is parsing, lookup, state and rewrite before any cache miss", base))
		}
		if !math.IsNaN(lookup) {
			parts = append(parts, fmt.Sprintf("looking a million-entry table up in batches, and nothing else, takes %.0f ns a key (LookupBatch/1M): the index and entries are in DRAM", lookup))
		}
		tc.Blocker = strings.Join(parts, "; ")
	}
	return tc
}

// bounceBlocker says what xvs-s costs at load l beyond its lab's bounce:
// the director's CPU per frame on both, the run's spread on both, and the
// daemon's profile when one was taken.
func bounceBlocker(res *Results, s string, l Load) string {
	xi, bi := indexRow(res.Rows, s, l), indexRow(res.Rows, bounceFor(s), l)
	if xi < 0 || bi < 0 {
		return ""
	}
	x, b := &res.Rows[xi], &res.Rows[bi]
	var parts []string
	if x.NsPerPkt.N > 0 && b.NsPerPkt.N > 0 {
		parts = append(parts, fmt.Sprintf("%s's director CPU is %.0f ns a frame against the bounce's %.0f (%+.0f ns)",
			s, x.NsPerPkt.Median, b.NsPerPkt.Median, x.NsPerPkt.Median-b.NsPerPkt.Median))
	}
	if x.PPS.N > 1 && b.PPS.N > 1 {
		overlap := x.PPS.Max >= b.PPS.Min && b.PPS.Max >= x.PPS.Min
		spread := fmt.Sprintf("delivered %s against the bounce's %s Mpps over rounds", formatRange(x.PPS, 1e6), formatRange(b.PPS, 1e6))
		if overlap {
			spread += ", ranges that overlap: this run cannot tell the two apart"
		}
		parts = append(parts, spread)
	}
	if p, ok := res.ProfileSummary[s]; ok && l == load64x10k {
		parts = append(parts, profileText(res, s, p))
	}
	return strings.Join(parts, "; ")
}

// profileText is a profile in brief for a blocker.
func profileText(res *Results, s string, p ProfileSummary) string {
	t := "perf (" + res.Profile[s] + ")"
	if p.KernelPct >= 0 {
		t += fmt.Sprintf(": %.0f %% of the daemon's samples in the kernel (veth and the AF_XDP copy)", p.KernelPct)
	}
	if len(p.Top) > 0 {
		t += ", top " + strings.Join(p.Top, ", ")
	}
	return t
}

// formatRange is a summary's median [min–max] divided by scale.
func formatRange(s Summary, scale float64) string {
	return fmt.Sprintf("%s [%s–%s]", formatNum(s.Median/scale, 3), formatNum(s.Min/scale, 3), formatNum(s.Max/scale, 3))
}

// cpuBlocker says where xvs NAT's CPU per packet goes against nftables':
// the bare bounce's own cost is the floor of any AF_XDP director on veth.
func cpuBlocker(res *Results) string {
	x, b, n := medianNs(res.Rows, ScXVSNAT, load64x10k), medianNs(res.Rows, ScBounce2, load64x10k), medianNs(res.Rows, ScNftDNAT, load64x10k)
	if math.IsNaN(x) || math.IsNaN(b) || math.IsNaN(n) || n == 0 {
		return ""
	}
	t := fmt.Sprintf("the bare AF_XDP bounce, which only moves frames between the two UMEMs, costs %.0f ns a frame, %.2f× nftables' %.0f", b, b/n, n)
	if b > n {
		t += ": copy-mode AF_XDP on veth (veth has no zero-copy AF_XDP; each frame is copied in by XDP and out by the sendto that transmits it) costs more than the kernel's whole forwarding path before xvs does anything"
	}
	t += fmt.Sprintf("; xvs NAT adds %+.0f ns to it", x-b)
	if p, ok := res.ProfileSummary[ScXVSNAT]; ok {
		t += "; " + profileText(res, ScXVSNAT, p)
	}
	return t
}

// latencyBlocker says what the lab's core crossing costs, which the bar
// against kernel-fwd (which never crosses) does not allow for.
func latencyBlocker(res *Results) string {
	var parts []string
	if added, ok := rpsAddedP99(res.Latency); ok {
		parts = append(parts, fmt.Sprintf("kernel-fwd forwards in the sender's softirq and never leaves the generator's core; moved to the director's core (kernel-fwd-rps) the kernel itself adds %v at p99",
			added.Round(time.Microsecond)))
	}
	if w, ok := sleepingWake(res.Wake, false); ok {
		parts = append(parts, fmt.Sprintf("a bare wake-up round trip between the two cores takes %v at p50, %v at p99 (wake table), and an xvs NAT probe crosses four times, DR and TUN twice",
			w.P50.Round(time.Microsecond), w.P99.Round(time.Microsecond)))
	}
	return strings.Join(parts, "; ")
}

// synBlocker compares the director's CPU per new connection with the
// pipeline's own cost of one.
func synBlocker(res *Results) string {
	x, n := medianNs(res.Rows, ScXVSNAT, synLoad), medianNs(res.Rows, ScNftDNAT, synLoad)
	pipe := goBenchMetric(res.GoBench, pkgForwarder, "PipelineNewConns", "ns")
	var parts []string
	if !math.IsNaN(x) && !math.IsNaN(n) {
		parts = append(parts, fmt.Sprintf("the director's CPU is %.0f ns a SYN for xvs NAT, %.0f for nftables", x, n))
	}
	if !math.IsNaN(pipe) {
		parts = append(parts, fmt.Sprintf("of xvs's, scheduling and inserting the connection in memory is %.0f ns (BenchmarkPipelineNewConns), the rest the AF_XDP path every frame pays", pipe))
	}
	if i := indexRow(res.Rows, ScXVSNAT, synLoad); i >= 0 && res.Rows[i].PPS.N > 1 {
		parts = append(parts, fmt.Sprintf("xvs NAT's rate ranged %s M/s over rounds", formatRange(res.Rows[i].PPS, 1e6)))
	}
	return strings.Join(parts, "; ")
}

// bulkBlocker says why a single TCP stream is slower through xvs than
// through the kernel on veth: segmentation.
func bulkBlocker(res *Results) string {
	var parts []string
	for _, lab := range []string{"nat", "dr"} {
		row := res.TCPLoad.Row(lab, LoadBulk)
		if row == nil || math.IsNaN(row.Ratio()) || row.Ratio() >= 1 {
			continue
		}
		// 1500-byte frames at the stream's rate: what the director forwarded.
		frames := row.XVSValue.Median * 1e9 / 8 / 1500
		part := fmt.Sprintf("%s: %.3f Gbit/s is %.3f M full-size frames/s", strings.ToUpper(lab), row.XVSValue.Median, frames/1e6)
		if udp := medianPPS(res.Rows, "xvs-"+lab, Load{Proto: UDP, Size: 1400, Flows: 1}); !math.IsNaN(udp) {
			part += fmt.Sprintf(", where one 1400 B UDP flow through xvs-%s ran at %.3f Mpps", lab, udp/1e6)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	return "the kernel forwards TSO super-packets whole (up to 64 KB a forwarding decision), while an XDP program on a veth turns TSO off on its peer, so xvs's path takes every MTU-sized frame (" +
		strings.Join(parts, "; ") + "): the stream runs at the director's frame rate, as the UDP rows measure it"
}
