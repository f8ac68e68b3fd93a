package bench

import (
	"math"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
)

// TestTCPLoadConfigParses: the phase's YAML is what the daemon's loader
// accepts: HTTP over every real server, iperf3's port to the bulk one.
func TestTCPLoadConfigParses(t *testing.T) {
	reals := []netip.Addr{realAddr(1), realAddr(2), realAddr(3)}
	for _, m := range []string{"nat", "dr"} {
		text := tcpLoadConfig(labVIP, reals, reals[0], m)
		cfg, err := control.ParseConfig("tcpload-"+m+".yaml", []byte(text))
		if err != nil {
			t.Fatalf("%s: %v\n%s", m, err, text)
		}
		if len(cfg.Services) != 2 {
			t.Fatalf("%s: %d services", m, len(cfg.Services))
		}
		byPort := map[uint16]int{}
		for _, s := range cfg.Services {
			byPort[s.Port] = len(s.Reals)
		}
		if byPort[httpPort] != 3 || byPort[iperfPort] != 1 {
			t.Errorf("%s: reals by port %v, want %d: 3, %d: 1", m, byPort, httpPort, iperfPort)
		}
	}
}

// TestTCPNftRulesetChecks runs `nft -c` on the phase's ruleset in a
// throwaway network namespace, when nft is installed.
func TestTCPNftRulesetChecks(t *testing.T) {
	needRoot(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (bench/deps.sh installs it)")
	}
	rs := tcpNftRuleset(labVIP, []netip.Addr{realAddr(1), realAddr(2)}, realAddr(1))
	for _, want := range []string{"tcp dport 80 dnat to numgen inc mod 2 map { 0 : 198.18.1.1, 1 : 198.18.1.2 }", "tcp dport 5201 dnat to 198.18.1.1"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	cmd := exec.Command("unshare", "--net", nft, "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(rs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -c: %v: %s\n%s", err, out, rs)
	}
}

func TestECMPRoute(t *testing.T) {
	got := strings.Join(ecmpRoute(labVIP, []netip.Addr{realAddr(1), realAddr(2)}, "x-d"), " ")
	if want := "route replace 198.18.0.10/32 nexthop via 198.18.1.1 dev x-d nexthop via 198.18.1.2 dev x-d"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = strings.Join(ecmpRoute(labVIP, []netip.Addr{realAddr(1)}, "x-d"), " ")
	if want := "route replace 198.18.0.10/32 via 198.18.1.1 dev x-d"; got != want {
		t.Errorf("one real: got %q, want %q", got, want)
	}
}

// TestTCPTrialsOrder: every round runs both loads, each with xvs and the
// baseline, the pair's order swapped every round.
func TestTCPTrialsOrder(t *testing.T) {
	var got []string
	for _, tr := range tcpTrials("nat", ScXVSNAT, ScNftDNAT, 2) {
		got = append(got, tr.Load+":"+tr.Scenario)
	}
	want := "http:xvs-nat http:nft-dnat bulk:xvs-nat bulk:nft-dnat http:nft-dnat http:xvs-nat bulk:nft-dnat bulk:xvs-nat"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func httpTrial(lab, s string, round int, rps float64, failed int) TCPTrial {
	return TCPTrial{Round: round, Lab: lab, Load: LoadHTTP, Scenario: s,
		HTTP: &ABResult{Complete: int(rps), Failed: failed, Taken: time.Second, RPS: rps}, DaemonCPU: 500 * time.Millisecond, LabCPU: time.Second}
}

func bulkTrial(lab, s string, round int, gbps float64) TCPTrial {
	return TCPTrial{Round: round, Lab: lab, Load: LoadBulk, Scenario: s, Bulk: &IperfResult{Seconds: 2, BitsPerSecond: gbps * 1e9, Bytes: 1, Retransmits: 3}}
}

// TestTCPLoadRowsAndTargets: rows pair xvs with the kernel round by
// round, leave failed and skipped trials out (listing the failures), and
// the targets judge both labs.
func TestTCPLoadRowsAndTargets(t *testing.T) {
	if TCPLoadRows(nil) != nil {
		t.Error("rows without trials")
	}
	trials := []TCPTrial{
		httpTrial("nat", ScXVSNAT, 0, 9000, 1), httpTrial("nat", ScNftDNAT, 0, 6000, 0),
		httpTrial("nat", ScXVSNAT, 1, 8000, 0), httpTrial("nat", ScNftDNAT, 1, 10000, 2),
		bulkTrial("nat", ScXVSNAT, 0, 1.5), bulkTrial("nat", ScNftDNAT, 0, 6),
		httpTrial("dr", ScXVSDR, 0, 5000, 0), httpTrial("dr", ScKernelECMP, 0, 4000, 0),
		{Round: 1, Lab: "dr", Load: LoadHTTP, Scenario: ScXVSDR, Err: "boom"},
		{Round: 0, Lab: "dr", Load: LoadBulk, Scenario: ScXVSDR, Err: "xvs unavailable", Skipped: true},
		bulkTrial("dr", ScKernelECMP, 0, 7),
	}
	res := &Results{TCPTrials: trials}
	res.TCPLoad = TCPLoadRows(trials)
	if n := len(res.TCPLoad.Rows); n != 4 {
		t.Fatalf("%d rows", n)
	}
	nat := res.TCPLoad.Row("nat", LoadHTTP)
	if nat.XVS != ScXVSNAT || nat.Base != ScNftDNAT || nat.XVSValue.Median != 8500 || nat.BaseValue.Median != 8000 ||
		nat.PerRound.N != 2 || nat.PerRound.Min != 0.8 || nat.PerRound.Max != 1.5 || nat.XVSFailed != 1 || nat.BaseFailed != 2 {
		t.Errorf("nat http row %+v", nat)
	}
	if nat.Daemon.Median != 0.5 {
		t.Errorf("daemon cores %+v", nat.Daemon)
	}
	// A second of lab CPU for 8000 and 9000 requests: 125 and 111 µs each.
	if nat.XVSCost.N != 2 || math.Abs(nat.XVSCost.Min-1e6/9000.0) > 1e-6 || nat.XVSCost.Max != 125 {
		t.Errorf("xvs cost %+v", nat.XVSCost)
	}
	if r := nat.Ratio(); math.Abs(r-8500.0/8000) > 1e-9 {
		t.Errorf("ratio %v", r)
	}
	dr := res.TCPLoad.Row("dr", LoadHTTP)
	if dr.XVSValue.N != 1 || len(dr.Errors) != 1 || !strings.Contains(dr.Errors[0], "boom") {
		t.Errorf("dr http row %+v", dr)
	}
	drBulk := res.TCPLoad.Row("dr", LoadBulk)
	if drBulk.XVS != ScXVSDR || drBulk.XVSValue.N != 0 || len(drBulk.Errors) != 0 || !math.IsNaN(drBulk.Ratio()) {
		t.Errorf("dr bulk row (xvs skipped) %+v", drBulk)
	}
	if res.TCPLoad.Row("tun", LoadHTTP) != nil {
		t.Error("a row for a lab that did not run")
	}

	h := tcpLoadTarget(res, LoadHTTP, "HTTP req/s")
	if h.Status != Met || !strings.Contains(h.Measured, "NAT 1.06×") || !strings.Contains(h.Measured, "DR 1.25×") {
		t.Errorf("http target %+v", h)
	}
	b := tcpLoadTarget(res, LoadBulk, "bulk TCP")
	if b.Status != NotMet || !strings.Contains(b.Measured, "NAT 0.25×") || strings.Contains(b.Measured, "DR") {
		t.Errorf("bulk target %+v", b)
	}
	if n := tcpLoadTarget(&Results{}, LoadHTTP, "HTTP req/s"); n.Status != NA {
		t.Errorf("no data: %+v", n)
	}

	table := TCPLoadTable(res.TCPLoad)
	for _, want := range []string{"| NAT | http | requests/s | xvs-nat | 8500 [8000–9000] | nft-dnat | 8000 [6000–10000] | 1.06× |",
		"| DR | bulk | Gbit/s | xvs-dr | — | kernel-ecmp | 7.000 |", "| 118 / 133 µs/request |", "- error: DR http: xvs-dr round 2: boom"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if s := TCPLoadSummary(res.TCPLoad); len(s) != 3 {
		t.Errorf("summary %q", s)
	}
}

func TestSynConnTarget(t *testing.T) {
	rows := []Row{
		{Scenario: ScXVSNAT, Load: synLoad, PPS: Summarize([]float64{300_000})},
		{Scenario: ScNftDNAT, Load: synLoad, PPS: Summarize([]float64{100_000})},
	}
	tc := synConnTarget(rows)
	if tc.Status != Met || tc.Measured != "3.00× (300000 vs 100000 new connections/s)" {
		t.Errorf("%+v", tc)
	}
	rows[0].PPS = Summarize([]float64{150_000})
	if tc := synConnTarget(rows); tc.Status != NotMet {
		t.Errorf("1.5×: %+v", tc)
	}
	if tc := synConnTarget(rows[:1]); tc.Status != NA {
		t.Errorf("no baseline: %+v", tc)
	}
}
