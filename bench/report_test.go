package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func sum(med, lo, hi float64, n int) Summary { return Summary{Median: med, Min: lo, Max: hi, N: n} }

func TestFormatSummary(t *testing.T) {
	for _, tt := range []struct {
		s     Summary
		scale float64
		prec  int
		want  string
	}{
		{sum(1.5e6, 1.2e6, 1.75e6, 3), 1e-6, 3, "1.500 [1.200–1.750]"},
		{sum(2e6, 2e6, 2e6, 1), 1e-6, 2, "2.00"},
		{sum(380, 350, 420, 3), 1, 0, "380 [350–420]"},
		{Summarize(nil), 1, 0, "—"},
	} {
		if got := FormatSummary(tt.s, tt.scale, tt.prec); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.s, got, tt.want)
		}
	}
}

// testRows is a run where xvs NAT is 2x nft at 10 k flows, 0.9x at 1 M, and
// 96 % of the bounce.
func testRows() []Row {
	r := func(s string, l Load, pps, ns float64) Row {
		return Row{Scenario: s, Load: l, Arms: scenarioArms(s), PPS: sum(pps, pps*0.9, pps*1.1, 3),
			Loss: sum(0.01, 0, 0.02, 3), GenCPU: sum(0.9, 0.8, 1, 3), DirCPU: sum(1, 0.9, 1.1, 3), Busy: sum(0.2, 0.1, 0.3, 3),
			NsPerPkt: sum(ns, ns, ns, 3)}
	}
	return []Row{
		r(ScXVSNAT, load64x10k, 2e6, 300), r(ScNftDNAT, load64x10k, 1e6, 600), r(ScBounce2, load64x10k, 2.08e6, 250),
		r(ScXVSNAT, load64x1M, 0.9e6, 700), r(ScNftDNAT, load64x1M, 1e6, 650), r(ScBounce2, load64x1M, 0.9e6, 600),
		{Scenario: ScXVSDR, Load: load64x10k, Arms: 1, Errors: []string{"xvs unavailable: no bin/xvs"}},
	}
}

func TestThroughputTable(t *testing.T) {
	tab := ThroughputTable(testRows())
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 2+7 {
		t.Fatalf("%d lines:\n%s", len(lines), tab)
	}
	for _, want := range []string{
		"| 64B/10k | xvs-nat | 2.000 [1.800–2.200] | 2.00 | 0.96 | 1.0 % | 0.90 | 1.00 | 0.20 | 300 |",
		"| 64B/10k | nft-dnat | 1.000 [0.900–1.100] | — | 0.48 |",
		"| 64B/1M | xvs-nat | 0.900 [0.810–0.990] | 0.90 | 1.00 |",
		"| 64B/10k | xvs-dr | xvs unavailable: no bin/xvs |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	// Rows are grouped by load, baselines before xvs.
	if i, j := strings.Index(tab, "| 64B/10k | nft-dnat"), strings.Index(tab, "| 64B/10k | xvs-nat"); i > j {
		t.Errorf("nft-dnat after xvs-nat:\n%s", tab)
	}
	if i, j := strings.Index(tab, "| 64B/10k | xvs-dr"), strings.Index(tab, "| 64B/1M"); i > j {
		t.Errorf("loads not grouped:\n%s", tab)
	}
}

func TestEvaluateTargets(t *testing.T) {
	res := &Results{Rows: testRows(), Latency: []LatencyResult{
		{Scenario: ScKernelFwd, LoadPPS: 1, P99: 100 * time.Microsecond, Samples: 10},
		{Scenario: ScXVSNAT, LoadPPS: 1, P99: 130 * time.Microsecond, Samples: 10},
		{Scenario: ScXVSNAT, LoadPPS: 0, P99: 900 * time.Microsecond, Samples: 10}, // idle: not counted
		{Scenario: ScXVSNATSpin, LoadPPS: 1, P99: 200 * time.Microsecond, Samples: 10},
	}}
	got := EvaluateTargets(res)
	// No AF_PACKET, checks or sync scenario, SYN load or TCP-load rows in
	// testRows.
	want := []string{Met, NotMet, Met, Met, Met, Met, NotMet, NA, NA, NA, NA, NA, NA, NA}
	if len(got) != len(want) {
		t.Fatalf("%d targets: %+v", len(got), got)
	}
	for i, tc := range got {
		if tc.Status != want[i] {
			t.Errorf("%s: %s (%s), want %s", tc.Target, tc.Status, tc.Measured, want[i])
		}
	}
	if !strings.Contains(got[0].Measured, "2.00×") || !strings.Contains(got[2].Measured, "96 %") ||
		got[3].Measured != "100 % (xvs-nat 64B/1M)" || !strings.Contains(got[5].Measured, "30µs") ||
		got[6].Measured != "100µs (xvs-nat-spin)" {
		t.Errorf("measured: %+v", got)
	}
	// AF_PACKET's idle p50: the worst mode's median over rounds.
	res.Latency = append(res.Latency,
		LatencyResult{Scenario: ScXVSNATAFP, P50: 150 * time.Microsecond, Samples: 10},
		LatencyResult{Scenario: ScXVSDRAFP, P50: 180 * time.Microsecond, Samples: 10},
		LatencyResult{Scenario: ScXVSDRAFP, Round: 1, P50: 240 * time.Microsecond, Samples: 10},
		LatencyResult{Scenario: ScXVSTUNAFP, LoadPPS: 1, P50: 900 * time.Microsecond, Samples: 10}) // loaded: not counted
	if tc := EvaluateTargets(res)[7]; tc.Status != NotMet || tc.Measured != "210µs (xvs-dr-afp)" {
		t.Errorf("AF_PACKET idle p50 target: %+v", tc)
	}
	res.Latency[len(res.Latency)-2].P50 = 200 * time.Microsecond
	if tc := EvaluateTargets(res)[7]; tc.Status != Met || tc.Measured != "190µs (xvs-dr-afp)" {
		t.Errorf("AF_PACKET idle p50 target: %+v", tc)
	}
	// At a million flows the bar is 85 %: 0.75 of the bounce misses it,
	// and the 10 k bar is untouched.
	rows := testRows()
	rows[3].PPS.Median = 0.675e6
	res.Rows = rows
	got = EvaluateTargets(res)
	if got[2].Status != Met || got[3].Status != NotMet || got[3].Measured != "75 % (xvs-nat 64B/1M)" {
		t.Errorf("at 75 %% of the bounce, 1 M flows: %+v / %+v", got[2], got[3])
	}
	// Without xvs every target is n/a, none is met by default.
	empty := EvaluateTargets(&Results{Rows: testRows()[1:3]})
	for _, tc := range empty {
		if tc.Status != NA {
			t.Errorf("no xvs data: %s is %s", tc.Target, tc.Status)
		}
	}
}

func TestChartIsSVG(t *testing.T) {
	svg := Chart(testRows())
	d := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// Background + 6 bars + 3 legend swatches (the row without data has none).
	if rects != 1+6+3 {
		t.Errorf("%d rects", rects)
	}
	if !strings.Contains(svg, "64B/1M") || !strings.Contains(svg, "xvs-nat 64B/10k: 2.000 Mpps") {
		t.Errorf("labels missing:\n%s", svg)
	}
	if empty := Chart(nil); !strings.Contains(empty, "no data") {
		t.Errorf("empty chart: %s", empty)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0.05, 0.1}, {0.37, 0.4}, {1.2, 1.5}, {2.53, 3}, {5, 5}, {7, 8}, {9, 10}, {math.NaN(), 0.1}} {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	res := &Results{
		Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Rows: testRows(), XVS: "ok",
		Host:    HostInfo{Kernel: "6.18", Cores: 2, PinnedGen: "CPU 0", PinnedDirector: "CPU 1"},
		Options: OptionsSummary{Rounds: 3, Trial: time.Second, ProbeCount: 10},
		Latency: []LatencyResult{{Scenario: ScKernelFwd, P50: 40 * time.Microsecond, P99: 90 * time.Microsecond, Samples: 10}},
		Table:   []TableMemResult{{Entries: 1_000_000, BytesPerEntry: 140.4, HeapBytes: 140 << 20, LookupNs: 55}},
		GoBench: []GoBench{{Pkg: "./conntrack/", Name: "Lookup/1M", Iterations: 10, Metrics: map[string]float64{"ns/op": 50, "B/op": 0, "allocs/op": 0}, Units: []string{"ns/op", "B/op", "allocs/op"}}},
	}
	res.Finished = res.Started.Add(5 * time.Minute)
	res.Targets = EvaluateTargets(res)
	var b bytes.Buffer
	if err := Markdown(&b, res); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# xvs benchmark report", "share this machine's 2 cores", "## Targets", "✅ met", "❌ not met",
		"![delivered packets per second](chart.svg)", "| 1M | 140 | 140.0 MiB |", "| ./conntrack/ | Lookup/1M | 10 | 50 |",
		"| kernel-fwd | 40.0 µs | 90.0 µs |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestCheckDelivery(t *testing.T) {
	for _, tt := range []struct {
		name     string
		scenario string
		t        TrialResult
		ok       bool
	}{
		{"fine", ScXVSNAT, TrialResult{Sent: 100, Delivered: 90}, true},
		{"nothing sent", ScNftDNAT, TrialResult{}, false},
		{"nothing delivered", ScNftDNAT, TrialResult{Sent: 100}, false},
		{"tun encapsulated", ScXVSTUN, TrialResult{Sent: 100, Delivered: 90, Encap: 90}, true},
		{"tun plain", ScXVSTUN, TrialResult{Sent: 100, Delivered: 90, Encap: 0}, false},
		{"nat encapsulated", ScXVSNAT, TrialResult{Sent: 100, Delivered: 90, Encap: 90}, false},
		{"wrong mac", ScXVSDR, TrialResult{Sent: 100, Delivered: 90, Unknown: 50}, false},
	} {
		if got := checkDelivery(tt.scenario, tt.t); (got == "") != tt.ok {
			t.Errorf("%s: %q", tt.name, got)
		}
	}
}

func TestAggregate(t *testing.T) {
	l := load64x10k
	trials := []TrialResult{
		{Trial: Trial{Scenario: "a", Load: l}, Sent: 200, Delivered: 100, Elapsed: time.Second, GenCPU: time.Second, DirCPU: 500 * time.Millisecond},
		{Trial: Trial{Scenario: "b", Load: l}, Err: "boom"},
		{Trial: Trial{Scenario: "a", Load: l}, Sent: 300, Delivered: 300, Elapsed: time.Second, DirCPU: 300 * time.Millisecond},
		{Trial: Trial{Scenario: "a", Load: l}, Sent: 200, Delivered: 200, Elapsed: 2 * time.Second, DirCPU: 200 * time.Millisecond},
	}
	rows := Aggregate(trials)
	if len(rows) != 2 || rows[0].Scenario != "a" || rows[1].Scenario != "b" {
		t.Fatalf("rows %+v", rows)
	}
	a := rows[0]
	if a.PPS != sum(100, 100, 300, 3) {
		t.Errorf("pps %+v", a.PPS)
	}
	if a.NsPerPkt.Median != 1e6 || a.NsPerPkt.Max != 5e6 {
		t.Errorf("ns/pkt %+v", a.NsPerPkt)
	}
	if a.Loss.Max != 0.5 || a.Loss.Min != 0 {
		t.Errorf("loss %+v", a.Loss)
	}
	if rows[1].PPS.N != 0 || len(rows[1].Errors) != 1 {
		t.Errorf("error row %+v", rows[1])
	}
}

func TestAttributeCPU(t *testing.T) {
	l := load64x10k
	ms := time.Millisecond
	trials := []TrialResult{
		// Calibration: 1000 ns of machine time per frame sent, two rounds.
		{Trial: Trial{Scenario: ScGenOnly, Load: l}, Sent: 1000, LabCPU: ms, Busy: 3 * ms},
		{Trial: Trial{Scenario: ScGenOnly, Load: l}, Sent: 2000, LabCPU: 2 * ms},
		// 1000 sent: the generator is 1 ms, the director the remaining 3 ms.
		{Trial: Trial{Scenario: ScXVSNAT, Load: l}, Sent: 1000, Delivered: 500, LabCPU: 4 * ms, Busy: 9 * ms, GenCPU: 4 * ms},
		// Other lab: no calibration, the figures stay.
		{Trial: Trial{Scenario: ScXVSDR, Load: l}, Sent: 1000, Busy: 5 * ms, GenCPU: 2 * ms, DirCPU: 3 * ms},
		// Other load: no calibration either.
		{Trial: Trial{Scenario: ScXVSNAT, Load: load64x1M}, Sent: 1000, Busy: 5 * ms, GenCPU: 2 * ms, DirCPU: 3 * ms},
	}
	attributeCPU(trials)
	if x := trials[2]; x.GenCPU != ms || x.DirCPU != 3*ms || x.DirNsPerPacket() != 6000 {
		t.Errorf("xvs-nat: gen %v dir %v (%v ns/pkt)", x.GenCPU, x.DirCPU, x.DirNsPerPacket())
	}
	for _, i := range []int{3, 4} {
		if x := trials[i]; x.GenCPU != 2*ms || x.DirCPU != 3*ms {
			t.Errorf("trial %d changed without a calibration: %+v", i, x)
		}
	}
	if x := trials[0]; x.DirCPU != 0 {
		t.Errorf("gen-only keeps director CPU %v", x.DirCPU)
	}
}

// TestLatencyTableVsCore: xvs rows are also held against kernel forwarding
// on the director's core; baselines have no such figure.
func TestLatencyTableVsCore(t *testing.T) {
	tab := LatencyTable([]LatencyResult{
		{Scenario: ScKernelFwd, LoadPPS: 1, P50: 40 * time.Microsecond, P99: 100 * time.Microsecond, Samples: 10},
		{Scenario: ScKernelFwdRPS, LoadPPS: 1, P50: 90 * time.Microsecond, P99: 300 * time.Microsecond, Samples: 10},
		{Scenario: ScXVSNAT, LoadPPS: 1, P50: 120 * time.Microsecond, P99: 350 * time.Microsecond, Samples: 10},
	})
	for _, want := range []string{
		"| kernel-fwd | ", "| 100.0 µs | — | — | 0 of 10 |",
		"| kernel-fwd-rps | ", "| 300.0 µs | 200.0 µs | — | 0 of 10 |",
		"| xvs-nat | ", "| 350.0 µs | 250.0 µs | 50.0 µs | 0 of 10 |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if i, j := strings.Index(tab, "| kernel-fwd-rps |"), strings.Index(tab, "| xvs-nat |"); i < 0 || i > j {
		t.Errorf("kernel-fwd-rps not before xvs-nat:\n%s", tab)
	}
}

func TestWakeTable(t *testing.T) {
	tab := WakeTable([]WakeResult{
		{From: 0, To: 1, P50: 51_200 * time.Nanosecond, P99: 145_000 * time.Nanosecond, Samples: 1000},
		{From: 0, To: 1, PeerSpins: true, Err: "wake: pin to CPU 1: a|b"},
	})
	for _, want := range []string{"| 0 → 1 | sleeps | 51.2 µs | 145.0 µs | 1000 |", `| 0 → 1 | polls | error: wake: pin to CPU 1: a\|b | | |`} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}
