package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScenarioBackends(t *testing.T) {
	for _, tt := range []struct {
		s             string
		xvs, afp, tun bool
		mode, backend string
		arms          int
	}{
		{ScXVSNAT, true, false, false, "nat", "xdp", 2},
		{ScXVSNATAFP, true, true, false, "nat", "afpacket", 2},
		{ScXVSNATChecks, true, false, false, "nat", "xdp", 2},
		{ScXVSDR, true, false, false, "dr", "xdp", 1},
		{ScXVSDRAFP, true, true, false, "dr", "afpacket", 1},
		{ScXVSTUN, true, false, true, "tun", "xdp", 1},
		{ScXVSTUNAFP, true, true, true, "tun", "afpacket", 1},
		{ScXVSNATSpin, true, false, false, "nat", "xdp", 2},
		{ScXVSDRSpin, true, false, false, "dr", "xdp", 1},
		{ScXVSTUNSpin, true, false, true, "tun", "xdp", 1},
		{ScNftDNAT, false, false, false, "", "", 2},
		{ScBounce1, false, false, false, "", "", 1},
	} {
		if isXVS(tt.s) != tt.xvs || isAFP(tt.s) != tt.afp || isTUN(tt.s) != tt.tun || scenarioArms(tt.s) != tt.arms {
			t.Errorf("%s: xvs %v afp %v tun %v arms %d", tt.s, isXVS(tt.s), isAFP(tt.s), isTUN(tt.s), scenarioArms(tt.s))
		}
		if tt.xvs && (xvsMode(tt.s) != tt.mode || xvsBackend(tt.s) != tt.backend) {
			t.Errorf("%s: mode %q backend %q, want %q %q", tt.s, xvsMode(tt.s), xvsBackend(tt.s), tt.mode, tt.backend)
		}
	}
	// Only the AF_XDP modes have a spinning twin, and kernel forwarding
	// its twin on the director's core.
	for s, twin := range map[string]string{ScXVSNAT: ScXVSNATSpin, ScXVSDR: ScXVSDRSpin, ScXVSTUN: ScXVSTUNSpin,
		ScXVSNATAFP: "", ScXVSNATChecks: "", ScXVSNATSpin: "", ScBounce1: "", ScKernelFwd: ScKernelFwdRPS, ScNftDNAT: "", ScKernelFwdRPS: ""} {
		if got := latencyTwin(s); got != twin {
			t.Errorf("latencyTwin(%s) = %q, want %q", s, got, twin)
		}
	}
	// Every xvs mode has its AF_PACKET twin right after it in the report.
	all := AllScenarios()
	for _, s := range []string{ScXVSNAT, ScXVSDR, ScXVSTUN} {
		i := slices.Index(all, s)
		if i < 0 || i+1 >= len(all) || all[i+1] != s+afpSuffix {
			t.Errorf("%s: twin not next in %v", s, all)
		}
	}
}

// TestPhasesRunBothBackends: every lab runs each xvs mode on both backends
// in the same schedule, in smoke mode too (xvs-nat-afp at 64B/10k), and the
// trial count the progress lines use matches what the phases schedule.
func TestPhasesRunBothBackends(t *testing.T) {
	for _, smoke := range []bool{false, true} {
		r := &runner{opts: DefaultOptions(smoke)}
		var got []string
		trials := 0
		for _, arms := range r.arms() {
			x, b := r.phaseScenarios(arms)
			got = append(got, x...)
			trials += len(Schedule(r.opts.Rounds, r.opts.Loads, x, b))
			for _, s := range append(x, b...) {
				if r.takesSYN(s) {
					trials += r.opts.Rounds
				}
				if isChecks(s) { // the paced twins
					trials += r.opts.Rounds * len(r.opts.Loads)
					if r.takesSYN(s) {
						trials += r.opts.Rounds
					}
				}
			}
			if arms == 2 {
				trials += len(syncTrials(r.opts.Rounds)) + r.opts.Rounds // the sync rows' pairs, the paced twins
				big := Schedule(r.opts.Rounds, r.opts.BigLoads, r.bigScenarios(x), r.bigScenarios(b))
				trials += len(big)
				if want := map[bool]int{false: 2 * r.opts.Rounds, true: 0}[smoke]; len(big) != want {
					t.Errorf("smoke %v: %d trials of the big loads, want %d", smoke, len(big), want)
				}
			}
		}
		want := []string{ScXVSNAT, ScXVSNATChecks, ScXVSNATAFP, ScXVSDR, ScXVSDRAFP, ScXVSTUN, ScXVSTUNAFP}
		if smoke {
			want = want[:3]
			if !slices.Contains(r.opts.Loads, load64x10k) {
				t.Errorf("smoke loads %v lack 64B/10k", r.opts.Loads)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("smoke %v: xvs scenarios %v, want %v", smoke, got, want)
		}
		if n := r.countTrials(); n != trials {
			t.Errorf("smoke %v: countTrials %d, schedule %d", smoke, n, trials)
		}
	}
	r := &runner{opts: DefaultOptions(false)}
	r.opts.Skip = map[string]bool{ScXVSNATAFP: true}
	if x, _ := r.phaseScenarios(2); !slices.Equal(x, []string{ScXVSNAT, ScXVSNATChecks}) {
		t.Errorf("-skip %s: %v", ScXVSNATAFP, x)
	}
	r.opts.CheckedReals = 0
	if x, _ := r.phaseScenarios(2); !slices.Equal(x, []string{ScXVSNAT}) {
		t.Errorf("no checked real servers: %v", x)
	}
}

// backendTrials: three rounds of NAT on both backends at 64B/10k (AF_PACKET
// at 0.5, 0.4 and 0.6 of AF_XDP, while AF_XDP drifts), DR with an AF_PACKET
// round lost, and TUN without an AF_PACKET scenario.
func backendTrials() []TrialResult {
	tr := func(s string, round int, l Load, delivered uint64, dirMs int) TrialResult {
		return TrialResult{Trial: Trial{Round: round, Load: l, Scenario: s}, Sent: 2e6, Delivered: delivered,
			Elapsed: time.Second, DirCPU: time.Duration(dirMs) * time.Millisecond}
	}
	ts := []TrialResult{
		tr(ScXVSNAT, 0, load64x10k, 2e6, 600), tr(ScXVSNATAFP, 0, load64x10k, 1e6, 900),
		tr(ScXVSNAT, 1, load64x10k, 1.5e6, 600), tr(ScXVSNATAFP, 1, load64x10k, 0.6e6, 900),
		tr(ScXVSNAT, 2, load64x10k, 1e6, 600), tr(ScXVSNATAFP, 2, load64x10k, 0.6e6, 900),
		tr(ScXVSNAT, 0, load64x1M, 1e6, 500), tr(ScXVSNATAFP, 0, load64x1M, 0.2e6, 500),
		tr(ScXVSDR, 0, load64x10k, 2e6, 400), tr(ScXVSDRAFP, 0, load64x10k, 0.5e6, 500),
		tr(ScXVSDR, 1, load64x10k, 2e6, 400),
		tr(ScXVSTUN, 0, load64x10k, 2e6, 400),
		tr(ScNftDNAT, 0, load64x10k, 1e6, 700),
	}
	lost := tr(ScXVSDRAFP, 1, load64x10k, 0, 0)
	lost.Err = "no traffic delivered"
	return append(ts, lost)
}

func TestBackendRatios(t *testing.T) {
	trials := backendTrials()
	brs := BackendRatios(trials, Aggregate(trials))
	type got struct {
		mode string
		load Load
	}
	var keys []got
	for _, br := range brs {
		keys = append(keys, got{br.Mode, br.Load})
	}
	want := []got{{"nat", load64x10k}, {"dr", load64x10k}, {"nat", load64x1M}}
	if !slices.Equal(keys, want) {
		t.Fatalf("entries %v, want %v (by load, then mode; no tun: it has no twin)", keys, want)
	}
	nat := brs[0]
	// The headline is the ratio of the medians, 0.6/1.5; paired by round
	// the ratios are 0.5, 0.4 and 0.6.
	if math.Abs(nat.Ratio-0.4) > 1e-9 {
		t.Errorf("nat ratio %v, want 0.4", nat.Ratio)
	}
	if pr := nat.PerRound; pr.N != 3 || math.Abs(pr.Median-0.5) > 1e-9 || math.Abs(pr.Min-0.4) > 1e-9 || math.Abs(pr.Max-0.6) > 1e-9 {
		t.Errorf("nat same-round ratios %+v", pr)
	}
	if nat.XDPNs.Median != 400 || nat.AFPNs.Median != 1500 {
		t.Errorf("nat ns/packet %v vs %v, want 400 vs 1500", nat.XDPNs.Median, nat.AFPNs.Median)
	}
	if dr := brs[1]; dr.Ratio != 0.25 || dr.PerRound.N != 1 || dr.PerRound.Median != 0.25 {
		t.Errorf("dr: the failed round must not pair: %v %+v", dr.Ratio, dr.PerRound)
	}
	tab := BackendTable(brs)
	for _, w := range []string{
		"| 64B/10k | nat | 1.500 | 0.600 | 0.40× | 0.50× [0.40–0.60] | 400 | 1500 |",
		"| 64B/10k | dr | 2.000 | 0.500 | 0.25× | 0.25× | 200 | 1000 |",
		"| 64B/1M | nat | 1.000 | 0.200 | 0.20× | 0.20× | 500 | 2500 |",
	} {
		if !strings.Contains(tab, w) {
			t.Errorf("table lacks %q:\n%s", w, tab)
		}
	}
	if !strings.Contains(BackendTable(nil), "Not measured") {
		t.Error("empty backend table")
	}
	sum := BackendSummary(brs)
	if len(sum) != 2 {
		t.Fatalf("summary %q", sum)
	}
	if want := "AF_PACKET/AF_XDP nat: 0.40× at 64B/10k (0.600 vs 1.500 Mpps, same-round ratios 0.50× [0.40–0.60]; director 1500 vs 400 ns/packet); 0.20–0.40× over 2 loads"; sum[0] != want {
		t.Errorf("summary\n %q\nwant\n %q", sum[0], want)
	}
	if !strings.HasPrefix(sum[1], "AF_PACKET/AF_XDP dr: 0.25× at 64B/10k") || strings.Contains(sum[1], "over") {
		t.Errorf("dr summary %q", sum[1])
	}
	// An AF_PACKET scenario that never delivered still says so.
	failed := []TrialResult{trials[0], trials[len(trials)-1]}
	failed[1].Scenario = ScXVSNATAFP
	if s := BackendSummary(BackendRatios(failed, Aggregate(failed))); len(s) != 1 || s[0] != "AF_PACKET/AF_XDP nat: no data" {
		t.Errorf("failed twin: %q", s)
	}
}

// TestTargetsIgnoreAFPacket: the targets are AF_XDP's; a slow AF_PACKET row
// does not decide the bounce target.
func TestTargetsIgnoreAFPacket(t *testing.T) {
	rows := testRows()
	slow := rows[0]
	slow.Scenario, slow.PPS = ScXVSNATAFP, sum(0.5e6, 0.5e6, 0.5e6, 3)
	got := EvaluateTargets(&Results{Rows: append(rows, slow)})
	if got[2].Status != Met || strings.Contains(got[2].Measured, ScXVSNATAFP) {
		t.Errorf("bounce target %+v", got[2])
	}
}

func TestReportHasBackendSection(t *testing.T) {
	trials := backendTrials()
	res := &Results{Trials: trials, Rows: Aggregate(trials), XVS: "ok"}
	res.Backends = BackendRatios(res.Trials, res.Rows)
	var b strings.Builder
	if err := Markdown(&b, res); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, w := range []string{"## AF_PACKET backend vs AF_XDP", "- AF_PACKET/AF_XDP nat: 0.40× at 64B/10k", "| 64B/10k | nat | 1.500 | 0.600 | 0.40× | 0.50× [0.40–0.60] |"} {
		if !strings.Contains(md, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	// In the throughput table each AF_PACKET row follows its AF_XDP twin.
	tab := ThroughputTable(res.Rows)
	if i, j := strings.Index(tab, "| 64B/10k | xvs-nat |"), strings.Index(tab, "| 64B/10k | xvs-nat-afp |"); i < 0 || j < i {
		t.Errorf("xvs-nat-afp not after xvs-nat:\n%s", tab)
	}
}
