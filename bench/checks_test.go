package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/keepalived"
	"github.com/xvs-project/xvs/service"
)

// TestKeepalivedConfigParses: the keepalived.conf of xvs-nat-checks is read
// by the project's keepalived reader without a warning, says the same three
// forwarding services as xvs-nat's YAML, and one more virtual server whose
// real servers each have one HTTP_GET checker with the bench's timing.
func TestKeepalivedConfigParses(t *testing.T) {
	// TestMeasureTable measures this process's resident memory: the
	// megabytes of garbage a thousand real servers leave, returned to the
	// OS while it measures, would cancel the table's growth.
	t.Cleanup(debug.FreeOSMemory)
	reals := []netip.Addr{realAddr(1), realAddr(2), realAddr(3)}
	src := keepalivedConfig(labVIP, reals, "nat", realAddr(1), 1000)
	cfg, err := keepalived.Parse("xvs-nat-checks.conf", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src[:min(len(src), 2000)])
	}
	for _, w := range cfg.Warnings {
		t.Errorf("warning: %s", w)
	}
	if len(cfg.VirtualServers) != 4 {
		t.Fatalf("%d virtual servers, want 4", len(cfg.VirtualServers))
	}
	yaml, err := control.ParseConfig("xvs-nat.yaml", []byte(xvsConfig(labVIP, reals, "nat")))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range yaml.Services {
		v := cfg.VirtualServers[i]
		proto := map[service.Proto]string{service.TCP: "TCP", service.UDP: "UDP"}[s.Proto]
		if v.Addr != s.Addr || v.Port != s.Port || v.Protocol != proto || v.Method != "NAT" || v.Scheduler != "rr" {
			t.Errorf("virtual server %d: %s %s %d %s %s, want the YAML's %v", i, v.Protocol, v.Addr, v.Port, v.Method, v.Scheduler, s.Key())
		}
		if len(v.Reals) != len(s.Reals) {
			t.Fatalf("virtual server %d: %d reals, want %d", i, len(v.Reals), len(s.Reals))
		}
		for j, r := range v.Reals {
			if r.Addr != s.Reals[j].Addr || r.Port != s.Reals[j].Port || r.Weight != 1 || len(r.Checks) != 0 {
				t.Errorf("virtual server %d real %d: %v weight %d, %d checks", i, j, r.AddrPort(), r.Weight, len(r.Checks))
			}
		}
	}
	v := cfg.VirtualServers[3]
	if v.Addr != checksVIP || v.Addr == labVIP || v.Port != 80 || v.Protocol != "TCP" || len(v.Reals) != 1000 {
		t.Fatalf("checked virtual server %s %s:%d with %d reals", v.Protocol, v.Addr, v.Port, len(v.Reals))
	}
	want := health.Timing{DelayLoop: time.Second, Timeout: 2 * time.Second, Retry: 1, DelayBeforeRetry: time.Second}
	ports := map[uint16]bool{}
	for _, r := range v.Reals {
		ports[r.Port] = true
		if r.Addr != realAddr(1) || r.Port < checkPortBase || r.Port >= checkPortBase+1000 {
			t.Errorf("checked real %v outside %s:%d..", r.AddrPort(), realAddr(1), checkPortBase)
		}
		if len(r.Checks) != 1 || r.Checks[0].Kind != health.KindHTTP {
			t.Fatalf("checked real %v: checks %+v, want one HTTP_GET", r.AddrPort(), r.Checks)
		}
		got := r.Checks[0].Timing
		got.Warmup = 0 // keepalived's default, the first probes spread over delay_loop
		if got != want {
			t.Errorf("checked real %v: timing %+v, want %+v", r.AddrPort(), got, want)
		}
	}
	if len(ports) != 1000 {
		t.Errorf("%d distinct ports, want 1000", len(ports))
	}

	// The daemon's own reader (xvs run --config, format auto-detected):
	// xvs-nat's three services exactly as the YAML gives them, and the
	// checked one, whose thousand real servers the health engine runs.
	if f := control.DetectFormat([]byte(src)); f != control.FormatKeepalived {
		t.Fatalf("detected as %q", f)
	}
	path := filepath.Join(t.TempDir(), "xvs-nat-checks.conf")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := control.ReadFile(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Warnings) != 0 || len(file.Services.Services) != 4 {
		t.Fatalf("%d services, warnings %q", len(file.Services.Services), file.Warnings)
	}
	if !reflect.DeepEqual(file.Services.Services[:3], yaml.Services) {
		t.Errorf("services\n%+v\nwant the YAML's\n%+v", file.Services.Services[:3], yaml.Services)
	}
	if len(file.Health) != 1 || len(file.Health[0].Reals) != 1000 || file.Health[0].Key != file.Services.Services[3].Key() {
		t.Errorf("health: %d services, want the checked one with 1000 real servers", len(file.Health))
	}
}

// checkStatus is one checker's status in a test report.
func checkStatus(up bool, runs, failures uint64) health.CheckStatus {
	return health.CheckStatus{Up: up, Runs: runs, Failures: failures}
}

func TestCheckCounts(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
	a := countChecks(control.ChecksReport{Checks: []health.CheckStatus{
		checkStatus(true, 3, 0), checkStatus(false, 0, 0), checkStatus(false, 4, 2),
	}}, t0)
	if a.Checkers != 3 || a.Up != 1 || a.Runs != 7 || a.Failures != 2 {
		t.Errorf("counts %+v", a)
	}
	b := countChecks(control.ChecksReport{Checks: []health.CheckStatus{
		checkStatus(true, 5, 0), checkStatus(true, 2, 0), checkStatus(true, 7, 2),
	}}, t0.Add(2*time.Second))
	d := b.Sub(a)
	if d.Checkers != 3 || d.Up != 3 || d.Runs != 7 || d.Failures != 0 || d.Window != 2*time.Second {
		t.Errorf("delta %+v", d)
	}
	if d.PerSecond() != 3.5 {
		t.Errorf("%v probes/s, want 3.5", d.PerSecond())
	}
	if !math.IsNaN(a.PerSecond()) {
		t.Errorf("a snapshot without a window has a rate")
	}
}

// checksResults: xvs-nat and xvs-nat-checks in two rounds at two loads
// (the checks at 0.98 and 0.96 of xvs-nat at 64B/10k), and the idle pairs.
func checksResults() *Results {
	tr := func(s string, round int, l Load, delivered uint64, daemonMs int) TrialResult {
		t := TrialResult{Trial: Trial{Round: round, Load: l, Scenario: s}, Sent: 2e6, Delivered: delivered,
			Elapsed: time.Second, DaemonCPU: time.Duration(daemonMs) * time.Millisecond}
		if isChecks(s) {
			t.Checks = &CheckCounts{Checkers: 1000, Up: 1000 - round, Runs: 1100, Failures: uint64(round), Window: 1100 * time.Millisecond}
		}
		return t
	}
	ts := []TrialResult{
		tr(ScXVSNAT, 0, load64x10k, 1e6, 900), tr(ScXVSNATChecks, 0, load64x10k, 0.98e6, 950),
		tr(ScXVSNAT, 1, load64x10k, 1.5e6, 910), tr(ScXVSNATChecks, 1, load64x10k, 1.44e6, 960),
		tr(ScXVSNAT, 0, load64x1M, 0.8e6, 900), tr(ScXVSNATChecks, 0, load64x1M, 0.8e6, 930),
		tr(ScNftDNAT, 0, load64x10k, 0.5e6, 0),
	}
	idle := func(s string, round int, daemonMs int) IdleResult {
		ir := IdleResult{Scenario: s, Round: round, Window: 2 * time.Second, DaemonCPU: time.Duration(daemonMs) * time.Millisecond}
		if isChecks(s) {
			ir.CheckdCPU, ir.Requests = 60*time.Millisecond, 2000
			ir.Checks = &CheckCounts{Checkers: 1000, Up: 1000, Runs: 2000, Window: 2 * time.Second}
		}
		return ir
	}
	res := &Results{Trials: ts, Options: OptionsSummary{Rounds: 2, CheckedReals: 1000, CheckIdle: 2 * time.Second},
		ChecksIdle: []IdleResult{idle(ScXVSNAT, 0, 20), idle(ScXVSNATChecks, 0, 120), idle(ScXVSNATChecks, 1, 140), idle(ScXVSNAT, 1, 20)}}
	res.Rows = Aggregate(res.Trials)
	return res
}

func TestHealthChecks(t *testing.T) {
	if HealthChecks(&Results{Rows: testRows()}) != nil {
		t.Errorf("a run without the checks scenario has a checks row")
	}
	res := checksResults()
	cr := HealthChecks(res)
	res.Checks = cr
	if cr == nil || cr.Checked != 1000 || cr.DelayLoop != time.Second {
		t.Fatalf("checks result %+v", cr)
	}
	// Idle: 0.01 cores without, 0.06 and 0.07 with: +0.05 and +0.06.
	if cr.IdleWithout.Median != 0.01 || math.Abs(cr.IdleWith.Median-0.065) > 1e-9 || math.Abs(cr.IdleAdded.Median-0.055) > 1e-9 {
		t.Errorf("idle: without %+v with %+v added %+v", cr.IdleWithout, cr.IdleWith, cr.IdleAdded)
	}
	if cr.IdleProbesPerSec.Median != 1000 || math.Abs(cr.PerProbe()-55) > 1e-6 || cr.IdleMinUp != 1000 || cr.CheckdCPU.Median != 0.03 {
		t.Errorf("idle probes %+v, %v µs per probe, min up %d, checkd %+v", cr.IdleProbesPerSec, cr.PerProbe(), cr.IdleMinUp, cr.CheckdCPU)
	}
	if len(cr.Loads) != 2 || cr.Loads[0].Load != load64x10k || cr.Loads[1].Load != load64x1M {
		t.Fatalf("loads %+v", cr.Loads)
	}
	l := cr.Loads[0]
	// Medians 1.21 vs 1.25 Mpps; same-round ratios 0.98 and 0.96.
	if math.Abs(l.Ratio()-1.21/1.25) > 1e-9 || l.PerRound.N != 2 || math.Abs(l.PerRound.Min-0.96) > 1e-9 || math.Abs(l.PerRound.Max-0.98) > 1e-9 {
		t.Errorf("64B/10k: ratio %v, same-round %+v", l.Ratio(), l.PerRound)
	}
	if math.Abs(l.DaemonWith.Median-0.955) > 1e-9 || math.Abs(l.DaemonWithout.Median-0.905) > 1e-9 {
		t.Errorf("daemon cores: with %+v without %+v", l.DaemonWith, l.DaemonWithout)
	}
	if l.Failures != 1 || l.MinUp != 999 || math.Abs(l.ProbesPerSec.Median-1000) > 1e-6 {
		t.Errorf("probes under load: %d failed, min up %d, %+v per second", l.Failures, l.MinUp, l.ProbesPerSec)
	}
	tc := checksTarget(res)
	if tc.Status != Met || !strings.Contains(tc.Target, "1000 HTTP checks every 1s") || !strings.HasPrefix(tc.Measured, "0.97× [0.96–0.98]") {
		t.Errorf("target %+v", tc)
	}
	res.Trials[3].Delivered = 1.2e6 // round 2 at 0.80: median 0.89
	res.Rows = Aggregate(res.Trials)
	res.Checks = HealthChecks(res)
	if tc := checksTarget(res); tc.Status != NotMet {
		t.Errorf("target at a 0.89 same-round median: %+v", tc)
	}
	// A pinned run is judged on the workers' capacity, not on the delivered
	// rate the generator set: here the checks halve what the generator
	// offers (and so what is delivered) while the workers' CPU per frame
	// is 600 ns with and 610 ns without in round 1, 620 and 600 in round 2.
	for i, ns := range []float64{610, 600, 600, 620} { // trials 0..3: without, with, without, with
		res.Trials[i].WorkerCPU = time.Duration(ns * float64(res.Trials[i].Delivered))
	}
	res.Trials[1].Delivered, res.Trials[3].Delivered = 0.5e6, 0.7e6
	res.Trials[1].WorkerCPU, res.Trials[3].WorkerCPU = time.Duration(600*0.5e6), time.Duration(620*0.7e6)
	res.Rows = Aggregate(res.Trials)
	res.Checks = HealthChecks(res)
	l = res.Checks.Loads[0]
	if math.Abs(l.Capacity.Min-600.0/620) > 1e-9 || math.Abs(l.Capacity.Max-610.0/600) > 1e-9 || l.WorkerWith.N != 2 || l.WorkerWithout.N != 2 {
		t.Errorf("capacity %+v, worker with %+v without %+v", l.Capacity, l.WorkerWith, l.WorkerWithout)
	}
	if tc := checksTarget(res); tc.Status != Met || !strings.Contains(tc.Target, "the pinned workers' capacity") ||
		!strings.HasPrefix(tc.Measured, "0.99× [0.97–1.02] same-round (610 vs 605 worker ns/frame); delivered 0.48× [0.47–0.50]") {
		t.Errorf("target on the workers' capacity: %+v", tc)
	}
	res.Trials[3].WorkerCPU = time.Duration(700 * 0.7e6) // round 2's capacity 600/700: median 0.93
	res.Checks = HealthChecks(res)
	if tc := checksTarget(res); tc.Status != NotMet {
		t.Errorf("target at a 0.93 capacity median: %+v", tc)
	}
	// Figures missing: the row's target is n/a, not met nor failed.
	if tc := checksTarget(&Results{}); tc.Status != NA {
		t.Errorf("target without the scenario: %+v", tc)
	}
}

func TestChecksReport(t *testing.T) {
	res := checksResults()
	res.Checks = HealthChecks(res)
	res.Targets = EvaluateTargets(res)
	var b bytes.Buffer
	if err := Markdown(&b, res); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## Health checks", "1000 real servers checked by HTTP_GET every 1s",
		"| 1000 (HTTP_GET every 1s) | 0.010 [0.010–0.010] | 0.065 [0.060–0.070] | +0.055 [+0.050–+0.060] | 55.0 | 1000 [1000–1000] | 0 | 1000 of 1000 | 0.030 [0.030–0.030] |",
		"| 64B/10k | 1.250 [1.000–1.500] | 1.210 [0.980–1.440] | 0.97× | 0.97× [0.96–0.98] | — | — | — | 0.905 [0.900–0.910] | 0.955 [0.950–0.960] | 1000 | 1 | 999 of 1000 |",
		"| 64B/1M | 0.800 | 0.800 | 1.00× | 1.00× | — | — | — | 0.900 | 0.930 | 1000 | 0 | 1000 of 1000 |",
		"| 1000 HTTP checks every 1s do not lower xvs NAT forwarding: with ≥ 95 % of without, 64 B / 10 k flows | 0.97× [0.96–0.98] same-round (1.210 vs 1.250 Mpps) | ✅ met |",
		"| 64B/10k | xvs-nat-checks | 1.210 [0.980–1.440] |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The AF_XDP-vs-bounce target leaves the checks scenario out: it is
	// xvs-nat's forwarding, held to its own target.
	for _, tc := range res.Targets {
		if strings.Contains(tc.Measured, ScXVSNATChecks) {
			t.Errorf("target %q measured on %s", tc.Target, tc.Measured)
		}
	}
	lines := ChecksSummary(res.Checks)
	if len(lines) != 2 || !strings.Contains(lines[0], "added +0.055 [+0.050–+0.060] cores, 55.0 µs per probe at 1000 probes/s, 0 failed") ||
		!strings.Contains(lines[1], "0.97× at 64B/10k (1.210 vs 1.250 Mpps, same-round ratios 0.97× [0.96–0.98]); 0.97–1.00× over 2 loads") {
		t.Errorf("summary %q", lines)
	}
	if s := ChecksTable(nil); !strings.Contains(s, "Not measured") {
		t.Errorf("table without the scenario: %q", s)
	}
}

// TestRunCheckd: the checked servers' HTTP server answers 200 on every
// port from checkPortBase and counts the requests it answered, on loopback.
func TestRunCheckd(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- RunCheckd(CheckdConfig{Addr: netip.MustParseAddr("127.0.0.1"), Ports: 3}, inR, outW) }()
	lines := bufio.NewScanner(outR)
	if !lines.Scan() || lines.Text() != genReady {
		select {
		case err := <-done:
			t.Skipf("checkd did not start on 127.0.0.1:%d..: %v", checkPortBase, err)
		default:
			t.Fatalf("first line %q, want %q", lines.Text(), genReady)
		}
	}
	for i := range 3 {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", checkPortBase+i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Errorf("port %d: %d %q", checkPortBase+i, resp.StatusCode, body)
		}
	}
	if _, err := io.WriteString(inW, "{}\n"); err != nil {
		t.Fatal(err)
	}
	var rep CheckdReport
	if !lines.Scan() {
		t.Fatal("no report")
	}
	if err := json.Unmarshal(lines.Bytes(), &rep); err != nil || rep.Requests != 3 {
		t.Errorf("report %s (%v), want 3 requests", lines.Bytes(), err)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Errorf("exit: %v", err)
	}
	if err := RunCheckd(CheckdConfig{Addr: netip.MustParseAddr("127.0.0.1"), Ports: 0}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("zero ports accepted")
	}
}

// TestChecksResultJSON: results.json takes the checks row when the scenario
// failed everywhere (no figures, NaN medians) as well as when it ran.
func TestChecksResultJSON(t *testing.T) {
	failed := &Results{Options: OptionsSummary{CheckedReals: 100},
		Trials:     []TrialResult{{Trial: Trial{Scenario: ScXVSNATChecks, Load: load64x10k}, Err: "bin/xvs exited at start"}},
		ChecksIdle: []IdleResult{{Scenario: ScXVSNATChecks, Err: "bin/xvs exited at start"}}}
	failed.Rows = Aggregate(failed.Trials)
	for _, res := range []*Results{failed, checksResults()} {
		res.Checks = HealthChecks(res)
		if res.Checks == nil {
			t.Fatal("no checks row")
		}
		if _, err := json.Marshal(res); err != nil {
			t.Errorf("marshal: %v", err)
		}
	}
	if len(failed.Checks.Errors) != 1 || !strings.Contains(ChecksIdleTable(failed.Checks), "error: xvs-nat-checks round 1: bin/xvs exited at start") {
		t.Errorf("idle table of a failed run: %q", ChecksIdleTable(failed.Checks))
	}
}

func TestTrimChecksStats(t *testing.T) {
	st := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
		"  -> RemoteAddress:Port\n" +
		"TCP  198.18.0.10:80                      5        5        0      300        0\n" +
		"  -> 198.18.1.1:80                       5        5        0      300        0\n" +
		"TCP  198.18.0.11:80                      0        0        0        0        0\n" +
		"  -> 198.18.1.1:20000                    0        0        0        0        0\n" +
		"  -> 198.18.1.1:20001                    0        0        0        0        0\n" +
		"UDP  198.18.0.10:5001                    9        9        0      540        0\n" +
		"  -> 198.18.1.2:5001                     9        9        0      540        0\n"
	got := trimChecksStats(st)
	want := strings.Replace(st, "TCP  198.18.0.11:80                      0        0        0        0        0\n"+
		"  -> 198.18.1.1:20000                    0        0        0        0        0\n"+
		"  -> 198.18.1.1:20001                    0        0        0        0        0\n", "", 1) +
		"(the checked virtual server 198.18.0.11:80 and its 2 real servers left out)\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if plain := "TCP  198.18.0.10:80 rr\n  -> 198.18.1.1:80\n"; trimChecksStats(plain) != plain {
		t.Errorf("a listing without the checked server changed: %q", trimChecksStats(plain))
	}
}

// TestChecksSchedule: xvs-nat-checks runs next to xvs-nat in the two-armed
// lab, under every load of the full run and under the smoke run's UDP load
// only (its SYN trial would add another daemon start-up's first-check delay).
func TestChecksSchedule(t *testing.T) {
	for _, smoke := range []bool{false, true} {
		r := &runner{opts: DefaultOptions(smoke)}
		x, _ := r.phaseScenarios(2)
		if len(x) < 2 || x[0] != ScXVSNAT || x[1] != ScXVSNATChecks {
			t.Errorf("smoke %v: xvs scenarios %v", smoke, x)
		}
		if got := r.takesSYN(ScXVSNATChecks); got == smoke {
			t.Errorf("smoke %v: checks take the SYN load: %v", smoke, got)
		}
		if !r.takesSYN(ScXVSNAT) {
			t.Errorf("smoke %v: xvs-nat without the SYN load", smoke)
		}
		if want := map[bool]int{false: 1000, true: 100}[smoke]; r.opts.CheckedReals != want {
			t.Errorf("smoke %v: %d checked real servers, want %d", smoke, r.opts.CheckedReals, want)
		}
	}
}

// TestChecksPacedTwin: a checks trial's paced twin runs xvs-nat at the rate
// the checks trial sent, and the target is judged on the pair: delivered
// and the workers' capacity at that same offered load.
func TestChecksPacedTwin(t *testing.T) {
	ck := Trial{Round: 1, Load: load64x10k, Scenario: ScXVSNATChecks}
	res := TrialResult{Trial: ck, Sent: 6e5, Delivered: 6e5, Elapsed: 2 * time.Second}
	twin, ok := pacedTwin(ck, res)
	if !ok || twin != (Trial{Round: 1, Load: load64x10k, Scenario: ScXVSNATPaced, Rate: 3e5}) {
		t.Errorf("paced twin %+v %v", twin, ok)
	}
	if xvsMode(twin.Scenario) != "nat" || !isPaced(twin.Scenario) || isChecks(twin.Scenario) {
		t.Errorf("the twin %q: mode %q", twin.Scenario, xvsMode(twin.Scenario))
	}
	for _, c := range []struct {
		t   Trial
		res TrialResult
	}{
		{Trial{Load: load64x10k, Scenario: ScXVSNAT}, res},
		{ck, TrialResult{Trial: ck, Err: "generator: broke"}},
		{ck, TrialResult{Trial: ck}},
	} {
		if tw, ok := pacedTwin(c.t, c.res); ok {
			t.Errorf("%v (%q): twin %+v", c.t, c.res.Err, tw)
		}
	}

	// Two rounds: the checks trial offered 0.5 and 0.7 Mpps (xvs-nat took
	// 1.0 and 1.5), its paced twin delivered all of it; the workers spend
	// 600 and 620 ns per frame with the checks, 610 and 600 paced.
	r := checksResults()
	with := []int{1, 3} // r.Trials' checks trials at 64B/10k, rounds 0 and 1
	for i, p := range []struct{ pps, withNs, pacedNs float64 }{{0.5e6, 600, 610}, {0.7e6, 620, 600}} {
		ct := &r.Trials[with[i]]
		ct.Sent, ct.Delivered, ct.WorkerCPU = uint64(p.pps), uint64(p.pps), time.Duration(p.withNs*p.pps)
		twin, _ := pacedTwin(ct.Trial, *ct)
		r.Trials = append(r.Trials, TrialResult{Trial: twin, Sent: uint64(p.pps), Delivered: uint64(p.pps), Elapsed: time.Second,
			WorkerCPU: time.Duration(p.pacedNs * p.pps)})
	}
	r.Rows = Aggregate(r.Trials)
	r.Checks = HealthChecks(r)
	l := r.Checks.Loads[0]
	if p := l.Paced; p.Offered.Median != 0.6e6 || p.Paced.Median != 0.6e6 || p.PerRound.Median != 1 ||
		math.Abs(p.Capacity.Min-600.0/620) > 1e-9 || math.Abs(p.Capacity.Max-610.0/600) > 1e-9 {
		t.Errorf("paced figures: %+v", p)
	}
	tc := checksTarget(r)
	if tc.Status != Met || !strings.Contains(tc.Target, "at the checks trial's offered load") ||
		!strings.HasPrefix(tc.Measured, "delivered 1.00× [1.00–1.00] same-round (0.600 vs 0.600 Mpps, both offered 0.600 Mpps); capacity 0.99× [0.97–1.02]") {
		t.Errorf("target %+v", tc)
	}
	// The paced twin lost nothing, the checks trial a tenth: not met.
	r.Trials[with[0]].Delivered, r.Trials[with[1]].Delivered = 0.45e6, 0.63e6
	r.Rows = Aggregate(r.Trials)
	r.Checks = HealthChecks(r)
	if tc := checksTarget(r); tc.Status != NotMet {
		t.Errorf("target with a tenth lost: %+v", tc)
	}
	var b bytes.Buffer
	r.Targets = EvaluateTargets(r)
	if err := Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if want := "| 64B/10k | 0.600 [0.500–0.700] | 0.600 [0.500–0.700] | 0.540 [0.450–0.630] | 0.90× [0.90–0.90] |"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks the paced table row %q", want)
	}
	for _, tc := range r.Targets {
		if strings.Contains(tc.Measured, ScXVSNATPaced) {
			t.Errorf("target %q measured on the paced twin: %s", tc.Target, tc.Measured)
		}
	}
}

// TestXVSCapacity: the daemon's table holds the starting trial's flows with
// a quarter to spare, never less than the configured capacity.
func TestXVSCapacity(t *testing.T) {
	r := &runner{opts: DefaultOptions(false)}
	for _, c := range []struct{ flows, want int }{
		{0, 4 << 20}, {1_000_000, 4 << 20}, {3_400_000, 8 << 20}, {10_000_000, 16 << 20},
	} {
		r.flows = c.flows
		if got := r.xvsCapacity(); got != c.want {
			t.Errorf("%d flows: capacity %d, want %d", c.flows, got, c.want)
		}
	}
	r.opts.XVSCapacity, r.flows = 0, 10_000_000
	if got := r.xvsCapacity(); got != 0 {
		t.Errorf("no configured capacity: %d, want 0 (the daemon's default)", got)
	}
}
