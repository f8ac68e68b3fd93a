package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// blockerResults is a run that misses every target with a blocker: xvs
// behind its bounce, above nftables' CPU, slow at p99, short of 2× on
// SYNs, far under the kernel on bulk TCP and over 100 ns in memory.
func blockerResults() *Results {
	r := func(s string, l Load, pps, lo, hi, ns float64) Row {
		return Row{Scenario: s, Load: l, Arms: scenarioArms(s), PPS: Summary{Median: pps, Min: lo, Max: hi, N: 3}, NsPerPkt: Summary{Median: ns, Min: ns, Max: ns, N: 3}}
	}
	gb := func(pkg, name string, cpuNs, allocs float64) GoBench {
		return GoBench{Pkg: pkg, Name: name, Metrics: map[string]float64{"ns/op": cpuNs + 1, "cpu-ns/op": cpuNs, "allocs/op": allocs}}
	}
	return &Results{
		Rows: []Row{
			r(ScXVSNAT, load64x10k, 0.40e6, 0.38e6, 0.42e6, 3000), r(ScBounce2, load64x10k, 0.44e6, 0.41e6, 0.46e6, 2800),
			r(ScNftDNAT, load64x10k, 0.20e6, 0.19e6, 0.21e6, 2500),
			r(ScXVSDR, load64x10k, 0.30e6, 0.29e6, 0.31e6, 3500), r(ScBounce1, load64x10k, 0.45e6, 0.44e6, 0.46e6, 2400),
			r(ScXVSNAT, synLoad, 0.30e6, 0.25e6, 0.35e6, 3300), r(ScNftDNAT, synLoad, 0.20e6, 0.2e6, 0.2e6, 5000),
			r(ScXVSNAT, Load{Proto: UDP, Size: 1400, Flows: 1}, 0.25e6, 0.25e6, 0.25e6, 3000),
		},
		Latency: []LatencyResult{
			{Scenario: ScKernelFwd, LoadPPS: 1, P99: 150 * time.Microsecond, Samples: 10},
			{Scenario: ScKernelFwdRPS, LoadPPS: 1, P99: 900 * time.Microsecond, Samples: 10},
			{Scenario: ScXVSNAT, LoadPPS: 1, P99: 1000 * time.Microsecond, Samples: 10},
		},
		Wake: []WakeResult{{From: 0, To: 0, P50: 9 * time.Microsecond}, {From: 0, To: 1, P50: 80 * time.Microsecond, P99: 400 * time.Microsecond}},
		GoBench: []GoBench{
			gb(pkgForwarder, "Pipeline/Masq/1M-flows", 230, 0), gb(pkgForwarder, "Pipeline/Route/1M-flows", 160, 0),
			gb(pkgForwarder, "Pipeline/Masq/1k-flows", 150, 0), gb(pkgConntrack, "LookupBatch/1M", 77, 0),
			gb(pkgForwarder, "PipelineNewConns", 700, 0),
		},
		TCPLoad: &TCPLoadResult{Rows: []TCPLoadRow{
			{Lab: "nat", Load: LoadBulk, XVSValue: Summary{Median: 1.8, N: 1}, BaseValue: Summary{Median: 12, N: 1}},
			{Lab: "dr", Load: LoadHTTP, XVSValue: Summary{Median: 1e4, N: 1}, BaseValue: Summary{Median: 9e3, N: 1}},
		}},
		Profile:        map[string]string{ScXVSDR: "profile-xvs-dr.txt"},
		ProfileSummary: map[string]ProfileSummary{ScXVSDR: {KernelPct: 81, Top: []string{"[k] veth_xmit 4.26%"}}},
	}
}

func TestBlockers(t *testing.T) {
	targets := EvaluateTargets(blockerResults())
	for _, tc := range targets {
		if tc.Status == Met && tc.Blocker != "" {
			t.Errorf("%s: met, yet blocked by %q", tc.Target, tc.Blocker)
		}
	}
	got := func(prefix string) (TargetCheck, bool) {
		for _, tc := range targets {
			if strings.HasPrefix(tc.Target, prefix) {
				return tc, true
			}
		}
		return TargetCheck{}, false
	}
	for prefix, wants := range map[string][]string{
		"every xvs mode ≥ 95 ": {"xvs-dr's director CPU is 3500 ns a frame against the bounce's 2400 (+1100 ns)",
			"delivered 0.300 [0.290–0.310] against the bounce's 0.450 [0.440–0.460] Mpps", "81 % of the daemon's samples in the kernel", "[k] veth_xmit 4.26%"},
		"director CPU per pac": {"costs 2800 ns a frame, 1.12× nftables' 2500", "xvs NAT adds +200 ns"},
		"p99 latency added un": {"the kernel itself adds 750µs at p99", "takes 80µs at p50, 400µs at p99"},
		"new connections/s ≥ ": {"3300 ns a SYN for xvs NAT, 5000 for nftables", "in memory is 700 ns", "ranged 0.300 [0.250–0.350] M/s"},
		"bulk TCP through the": {"NAT: 1.800 Gbit/s is 0.150 M full-size frames/s", "one 1400 B UDP flow through xvs-nat ran at 0.250 Mpps"},
		"in-memory pipeline ≤": {"at 1 k flows, whose table stays in cache, takes 150 ns", "takes 77 ns a key"},
	} {
		tc, ok := got(prefix)
		if !ok {
			t.Errorf("no target %q…", prefix)
			continue
		}
		if tc.Status != NotMet {
			t.Errorf("%s: %s, want not met", tc.Target, tc.Status)
		}
		for _, w := range wants {
			if !strings.Contains(tc.Blocker, w) {
				t.Errorf("%s: blocker lacks %q:\n%s", tc.Target, w, tc.Blocker)
			}
		}
	}
	if tc, _ := got("in-memory pipeline ≤"); tc.Measured != "230 ns (Masq), 0 allocations" {
		t.Errorf("pipeline measured %q", tc.Measured)
	}
	// The blockers reach the report's targets table.
	res := blockerResults()
	res.Targets = EvaluateTargets(res)
	var b strings.Builder
	if err := Markdown(&b, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| what stands in the way (this run's figures) |") || !strings.Contains(b.String(), "takes 77 ns a key") {
		t.Errorf("report lacks the blockers:\n%s", b.String()[:min(2000, b.Len())])
	}
}

func TestPipelineTargetMet(t *testing.T) {
	tc := pipelineTarget([]GoBench{{Pkg: pkgForwarder, Name: "Pipeline/Tunnel/1M-flows", Metrics: map[string]float64{"ns/op": 90, "allocs/op": 0}}})
	if tc.Status != Met || tc.Blocker != "" || tc.Measured != "90 ns (Tunnel), 0 allocations" {
		t.Errorf("%+v", tc)
	}
	tc = pipelineTarget([]GoBench{{Pkg: pkgForwarder, Name: "Pipeline/Tunnel/1M-flows", Metrics: map[string]float64{"ns/op": 90, "allocs/op": 1}}})
	if tc.Status != NotMet {
		t.Errorf("an allocation per packet: %+v", tc)
	}
	if v := goBenchMetric(nil, pkgForwarder, "x", "ns"); !math.IsNaN(v) {
		t.Errorf("missing benchmark: %v", v)
	}
}

func TestProfileParsing(t *testing.T) {
	dso := "# Overhead  Shared Object\n# ........\n#\n    78.25%  [kernel.kallsyms]\n    20.50%  xvs\n     1.25%  [vdso]\n"
	if k, ok := kernelShare(dso); !ok || k != 78.25 {
		t.Errorf("kernelShare = %v, %v", k, ok)
	}
	if _, ok := kernelShare("# nothing\n"); ok {
		t.Error("kernelShare of no samples: ok")
	}
	sym := "# Overhead  Symbol\n#\n     5.47%  [.] github.com/xvs-project/xvs/conntrack.(*probe).match          -      -\n     4.59%  [k] __xsk_generic_xmit  -  -\n     4.26%  [k] veth_xmit\n"
	got := topSymbols(sym, 2)
	if len(got) != 2 || got[0] != "[.] conntrack.(*probe).match 5.47%" || got[1] != "[k] __xsk_generic_xmit 4.59%" {
		t.Errorf("topSymbols = %q", got)
	}
}
