package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report files written into the results directory.
const (
	ReportFile  = "report.md"
	ChartFile   = "chart.svg"
	ResultsFile = "results.json"
)

// WriteReport writes report.md, chart.svg and results.json into dir.
func WriteReport(dir string, res *Results) error {
	if err := writeJSON(filepath.Join(dir, ResultsFile), res); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ChartFile), []byte(Chart(res.Rows)), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, ReportFile))
	if err != nil {
		return err
	}
	if err := Markdown(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Markdown renders the report.
func Markdown(w io.Writer, res *Results) error {
	var b strings.Builder
	mode := "full"
	if res.Smoke {
		mode = "smoke (one short round: figures are indicative only)"
	}
	fmt.Fprintf(&b, "# xvs benchmark report\n\n")
	fmt.Fprintf(&b, "Run %s, %s, %s mode, checkout %s. Kernel %s, %d cores; load average %s at the start, %s at the end.\n\n",
		res.Started.Format("2006-01-02 15:04 MST"), res.Finished.Sub(res.Started).Round(time.Second), mode,
		res.Host.Commit, res.Host.Kernel, res.Host.Cores, res.Host.LoadAvgStart, res.Host.LoadAvgEnd)
	fmt.Fprintf(&b, "**The generator and the director share this machine's %d cores** (generator %s, director user space %s). "+
		"veth runs the receive half of every hop (NAPI, XDP, the copy into an AF_XDP UMEM, kernel forwarding and nftables) "+
		"in softirq on the *sending* core, so part of the director's work lands on the generator's core and competes with it. "+
		"Other jobs on the machine also take CPU: compare scenarios within this run (trials are interleaved), not across runs.\n\n",
		res.Host.Cores, res.Host.PinnedGen, res.Host.PinnedDirector)
	fmt.Fprintf(&b, "xvs: %s.\n\n", res.XVS)

	b.WriteString("## Targets\n\n| target | measured | status | what stands in the way (this run's figures) |\n|---|---|---|---|\n")
	for _, t := range res.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Target, t.Measured, statusMark(t.Status), escapePipes(t.Blocker))
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "## Throughput\n\n![delivered packets per second](%s)\n\n", ChartFile)
	fmt.Fprintf(&b, "Delivered = frames counted by the XDP sink on the real servers' link (median [min–max] over %d round(s) of %v each, after a %v warm-up). "+
		"Drops = frames the generator sent that no real server received. gen-only = the generator alone: frames dropped by XDP at the director's port (its \"delivered\" counts frames reaching that port). "+
		"CPU in cores (CPU-seconds per second). CPU machine = all cores' busy time from /proc/stat, which on this shared machine includes other people's jobs. "+
		"Generator and director split the lab's own CPU: the processes in the lab's namespaces (generator, xvs or the bounce) and the packet kernel threads (ksoftirqd, NAPI), from /proc/PID/stat; "+
		"generator = frames sent × the generator's own cost per frame, calibrated by the gen-only trials of the same lab and load; director = the rest. "+
		"The generator process's time alone cannot be used: this kernel has no IRQ time accounting, and veth runs the director port's receive half (NAPI, XDP, the AF_XDP copy, kernel forwarding, nftables) in softirq inside the generator's sendto calls, so it is charged to the generator. "+
		"The SYN load sends TCP SYNs from a new source each, so its rate is new connections per second.\n\n",
		res.Options.Rounds, res.Options.Trial, res.Options.Warmup)
	b.WriteString(ThroughputTable(res.Rows))
	b.WriteString("\n")

	b.WriteString("## AF_PACKET backend vs AF_XDP\n\n")
	b.WriteString("xvs-*-afp = the same daemon, configuration and trials with `--backend afpacket` (packet sockets with TPACKET_V3 rings, a socket filter and an nftables netdev table), run in the same rounds as the AF_XDP rows above. " +
		"AF_PACKET / AF_XDP = the ratio of the two median delivered rates; same-round ratios = the two scenarios paired in each round (they ran minutes apart at most), median [min–max] over rounds, which shows how far that ratio can be trusted on this shared machine; ns/packet = the director's CPU per delivered frame, median over rounds. " +
		"The project's targets are the AF_XDP backend's; AF_PACKET rows are not held to them.\n\n")
	for _, l := range BackendSummary(res.Backends) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if len(res.Backends) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(BackendTable(res.Backends))
	b.WriteString("\n")

	b.WriteString("## Health checks\n\n")
	b.WriteString(checksText(res))
	for _, l := range ChecksSummary(res.Checks) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if res.Checks != nil {
		b.WriteString("\nIdle (no traffic):\n\n")
		b.WriteString(ChecksIdleTable(res.Checks))
		b.WriteString("\nUnder load:\n\n")
	}
	b.WriteString(ChecksTable(res.Checks))
	if t := ChecksPacedTable(res.Checks); t != "" {
		b.WriteString("\nUnder the checks trial's own offered load (xvs-nat-paced):\n\n")
		b.WriteString(t)
	}
	b.WriteString("\n")

	b.WriteString("## Connection sync\n\n")
	b.WriteString(syncText(res))
	for _, l := range SyncSummary(res.Sync) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if res.Sync != nil {
		b.WriteString("\n")
	}
	b.WriteString(SyncTable(res.Sync))
	if t := SyncPacedTable(res.Sync); t != "" {
		b.WriteString("\nUnder the sync trial's own offered load (xvs-nat-paced):\n\n")
		b.WriteString(t)
	}
	b.WriteString("\nThe backup's install rate:\n\n")
	b.WriteString(SyncInstallTable(res.Sync))
	b.WriteString("\n")

	b.WriteString("## HTTP and bulk TCP through the VIP\n\n")
	b.WriteString(tcpLoadText(res))
	for _, l := range TCPLoadSummary(res.TCPLoad) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if res.TCPLoad != nil {
		b.WriteString("\n")
	}
	b.WriteString(TCPLoadTable(res.TCPLoad))
	b.WriteString("\n")

	b.WriteString("## Latency\n\n")
	fmt.Fprintf(&b, "UDP echo through the director to the real servers, one request at a time (%d per series, %v apart), idle and under half of the scenario's own 64 B / 10 k-flow rate; median over rounds. "+
		"Added = p99 under half load minus kernel forwarding's p99 under half load. "+
		"Placement, when pinned: the probe client and the echo server run on the generator's core, CPU 0 (they stand for the client and the real servers, other machines; unpinned, they landed on the director's core beside xvs's worker and not beside the kernel's forwarding, which runs on CPU 0), and the background load runs there at SCHED_IDLE, so anything that wakes on CPU 0 (the probe, the echo server, the director's control threads) runs at once instead of waiting out the generator's scheduler slice. "+
		"Rows ending -spin run the same daemon with --worker-spin %v (its worker keeps polling its rings that long after its last frame before it sleeps), under the default's half load; every other row, throughput and CPU ones included, runs the default, which does not spin. "+
		"kernel-fwd-rps is kernel forwarding with RPS steering the director's receive processing to the director's core, where xvs's worker runs, under kernel-fwd's half load. "+
		"veth forwards in the sending process's softirq, so a kernel-fwd probe never leaves the generator's core; an xvs probe crosses to the director's core and back, NAT four times a round trip (into the worker, out to the echo server, into the worker, out to the probe), DR and TUN twice (the reply goes to the client straight), and so does a kernel-fwd-rps probe, four times. "+
		"The wake table measures what two such crossings cost on this machine with nothing else in the way.\n\n", res.Options.ProbeCount, res.Options.ProbeInterval, spinTime)
	for _, l := range LatencySummary(res.Latency, res.Wake) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	b.WriteString("\n")
	b.WriteString(LatencyTable(res.Latency))
	if len(res.Wake) > 0 {
		fmt.Fprintf(&b, "\nWake-ups between cores (wake.go): a thread hands a token to another through an eventfd and times the answer, %d times %v apart, so both cores go idle in between as they do between probes. "+
			"The peer either sleeps in read, as an idle worker sleeps in its wait, or polls, as a spinning worker does (then only the wake back is paid).\n\n", res.Options.ProbeCount, res.Options.ProbeInterval)
		b.WriteString(WakeTable(res.Wake))
	}
	b.WriteString("\n")

	b.WriteString("## Connection table\n\n")
	b.WriteString("Measured by the bench through conntrack's API in a process of its own: resident memory gained while inserting n NAT connections (forward and reply keys) divided by n (resident, since the table keeps its slabs outside the Go heap), and the mean of 2^20 random lookups (single goroutine).\n\n")
	b.WriteString(TableMemTable(res.Table))
	b.WriteString("\n### Go benchmarks (conntrack, forwarder pipeline)\n\n")
	b.WriteString(GoBenchTable(res.GoBench))
	for _, e := range res.GoBenchErrors {
		fmt.Fprintf(&b, "\n- %s\n", e)
	}
	b.WriteString("\n")

	if len(res.Profile) > 0 {
		b.WriteString("## Profiles\n\n")
		for _, k := range sortedKeys(res.Profile) {
			fmt.Fprintf(&b, "- %s: %s\n", k, res.Profile[k])
		}
		b.WriteString("\n")
	}
	if len(res.XVSStat) > 0 {
		b.WriteString("## xvs counters (`xvsadm -Ln --stats` after the last trial of each mode)\n\n")
		for _, k := range sortedKeys(res.XVSStat) {
			fmt.Fprintf(&b, "%s:\n\n```\n%s\n```\n\n", k, strings.TrimRight(res.XVSStat[k], "\n"))
		}
	}
	b.WriteString("## Method\n\n")
	b.WriteString(methodText(res))
	if errs := trialErrors(res); len(errs) > 0 {
		b.WriteString("\n## Errors\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	if len(res.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func statusMark(s string) string {
	switch s {
	case Met:
		return "✅ met"
	case NotMet:
		return "❌ not met"
	}
	return "— n/a"
}

// scenarioOrder is the table and chart order.
// Each AF_PACKET row sits right under its AF_XDP twin and the spinning
// one under the pair; xvs-nat-checks follows, its paced twin under it.
var scenarioOrder = []string{ScGenOnly, ScKernelFwd, ScKernelFwdRPS, ScNftDNAT, ScBounce2, ScXVSNAT, ScXVSNATAFP, ScXVSNATSpin, ScXVSNATChecks, ScXVSNATPaced, ScXVSNATSync,
	ScGenOnly1, ScBounce1, ScXVSDR, ScXVSDRAFP, ScXVSDRSpin, ScXVSTUN, ScXVSTUNAFP, ScXVSTUNSpin}

func scenarioRank(s string) int {
	if i := slices.Index(scenarioOrder, s); i >= 0 {
		return i
	}
	return len(scenarioOrder)
}

// sortRows orders rows by load (as first seen) and then by scenario.
func sortRows(rows []Row) []Row {
	loads := []Load{}
	for _, r := range rows {
		if !slices.Contains(loads, r.Load) {
			loads = append(loads, r.Load)
		}
	}
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b Row) int {
		if d := slices.Index(loads, a.Load) - slices.Index(loads, b.Load); d != 0 {
			return d
		}
		return scenarioRank(a.Scenario) - scenarioRank(b.Scenario)
	})
	return out
}

// ThroughputTable renders the throughput rows as a Markdown table.
func ThroughputTable(rows []Row) string {
	var b strings.Builder
	b.WriteString("| load | scenario | delivered Mpps, median [min–max] | × nft DNAT | × bare bounce | drops | CPU gen | CPU director | CPU machine | director ns/packet |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range sortRows(rows) {
		if r.PPS.N == 0 {
			why := "no data"
			if len(r.Errors) > 0 {
				why = r.Errors[0]
			}
			fmt.Fprintf(&b, "| %s | %s | %s | | | | | | | |\n", r.Load, r.Scenario, escapePipes(why))
			continue
		}
		nft, bounce := "—", "—"
		if r.Scenario != ScNftDNAT && !isGenOnly(r.Scenario) {
			if v := medianPPS(rows, ScNftDNAT, r.Load); !math.IsNaN(v) && v > 0 {
				nft = fmt.Sprintf("%.2f", r.PPS.Median/v)
			}
		}
		if bs := bounceFor(r.Scenario); r.Scenario != bs && r.Load.Proto == UDP && !isGenOnly(r.Scenario) {
			if v := medianPPS(rows, bs, r.Load); !math.IsNaN(v) && v > 0 {
				bounce = fmt.Sprintf("%.2f", r.PPS.Median/v)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Load, r.Scenario, FormatSummary(r.PPS, 1e-6, 3), nft, bounce,
			formatPct(r.Loss.Median), formatNum(r.GenCPU.Median, 2), formatNum(r.DirCPU.Median, 2),
			formatNum(r.Busy.Median, 2), formatNum(r.NsPerPkt.Median, 0))
	}
	return b.String()
}

// FormatSummary writes "median [min–max]" with values scaled and rounded to
// prec decimals; a single trial prints its value alone.
func FormatSummary(s Summary, scale float64, prec int) string {
	if s.N == 0 {
		return "—"
	}
	m := formatNum(s.Median*scale, prec)
	if s.N == 1 {
		return m
	}
	return fmt.Sprintf("%s [%s–%s]", m, formatNum(s.Min*scale, prec), formatNum(s.Max*scale, prec))
}

func formatNum(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func formatPct(frac float64) string {
	if math.IsNaN(frac) {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", 100*max(frac, 0))
}

func escapePipes(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// LatencyTable renders latency results, medians over rounds per scenario.
func LatencyTable(lat []LatencyResult) string {
	type acc struct {
		idle50, idle99, load50, load99, rate []float64
		lost, samples                        int
		errs                                 []string
	}
	by := map[string]*acc{}
	var order []string
	for _, l := range lat {
		a := by[l.Scenario]
		if a == nil {
			a = &acc{}
			by[l.Scenario] = a
			order = append(order, l.Scenario)
		}
		if l.Err != "" {
			a.errs = append(a.errs, l.Err)
			continue
		}
		a.lost += l.Lost
		a.samples += l.Samples
		if l.LoadPPS > 0 {
			a.load50, a.load99 = append(a.load50, float64(l.P50)), append(a.load99, float64(l.P99))
			a.rate = append(a.rate, l.LoadPPS)
		} else {
			a.idle50, a.idle99 = append(a.idle50, float64(l.P50)), append(a.idle99, float64(l.P99))
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return scenarioRank(a) - scenarioRank(b) })
	ref, refCore := math.NaN(), math.NaN()
	if a := by[ScKernelFwd]; a != nil {
		ref = Median(a.load99)
	}
	if a := by[ScKernelFwdRPS]; a != nil {
		refCore = Median(a.load99)
	}
	var b strings.Builder
	b.WriteString("| scenario | idle p50 | idle p99 | background load | loaded p50 | loaded p99 | added p99 | added p99 vs kernel-fwd-rps | lost |\n|---|---|---|---|---|---|---|---|---|\n")
	us := func(ns float64) string { return formatNum(ns/1e3, 1) + " µs" }
	for _, s := range order {
		a := by[s]
		added, addedCore := "—", "—"
		if s != ScKernelFwd && !math.IsNaN(ref) && len(a.load99) > 0 {
			added = us(Median(a.load99) - ref)
		}
		if isXVS(s) && !math.IsNaN(refCore) && len(a.load99) > 0 {
			addedCore = us(Median(a.load99) - refCore)
		}
		rate := "—"
		if len(a.rate) > 0 {
			rate = formatNum(Median(a.rate)/1e6, 3) + " Mpps"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d of %d |\n", s,
			us(Median(a.idle50)), us(Median(a.idle99)), rate, us(Median(a.load50)), us(Median(a.load99)), added, addedCore,
			a.lost, a.lost+a.samples)
		for _, e := range a.errs {
			fmt.Fprintf(&b, "| %s | error: %s | | | | | | | |\n", s, escapePipes(e))
		}
	}
	return b.String()
}

// WakeTable renders the wake series.
func WakeTable(ws []WakeResult) string {
	var b strings.Builder
	b.WriteString("| threads on CPUs | peer | round trip p50 | round trip p99 | samples |\n|---|---|---|---|---|\n")
	for _, w := range ws {
		peer := "sleeps"
		if w.PeerSpins {
			peer = "polls"
		}
		if w.Err != "" {
			fmt.Fprintf(&b, "| %d → %d | %s | error: %s | | |\n", w.From, w.To, peer, escapePipes(w.Err))
			continue
		}
		fmt.Fprintf(&b, "| %d → %d | %s | %s µs | %s µs | %d |\n", w.From, w.To, peer,
			formatNum(float64(w.P50)/1e3, 1), formatNum(float64(w.P99)/1e3, 1), w.Samples)
	}
	return b.String()
}

// TableMemTable renders the connection-table measurements.
func TableMemTable(ts []TableMemResult) string {
	if len(ts) == 0 {
		return "Not measured.\n"
	}
	var b strings.Builder
	b.WriteString("| entries | bytes/entry | resident | fill time | lookup ns |\n|---|---|---|---|---|\n")
	for _, t := range ts {
		if t.Error != "" {
			fmt.Fprintf(&b, "| %s | error: %s | | | |\n", countName(t.Entries), escapePipes(t.Error))
			continue
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.1f MiB | %v | %.0f |\n", countName(t.Entries), t.BytesPerEntry,
			float64(t.HeapBytes)/(1<<20), t.FillTime.Round(time.Millisecond), t.LookupNs)
	}
	return b.String()
}

// GoBenchTable renders Go benchmark results.
func GoBenchTable(bs []GoBench) string {
	if len(bs) == 0 {
		return "No Go benchmark results.\n"
	}
	var b strings.Builder
	b.WriteString("| package | benchmark | iterations | ns/op | B/op | allocs/op | other |\n|---|---|---|---|---|---|---|\n")
	for _, g := range bs {
		var other []string
		for _, u := range g.Units {
			if u == "ns/op" || u == "B/op" || u == "allocs/op" {
				continue
			}
			other = append(other, fmt.Sprintf("%g %s", g.Metrics[u], u))
		}
		get := func(u string) string {
			if v, ok := g.Metrics[u]; ok {
				return fmt.Sprintf("%g", v)
			}
			return "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s |\n", g.Pkg, g.Name, g.Iterations,
			get("ns/op"), get("B/op"), get("allocs/op"), strings.Join(other, ", "))
	}
	return b.String()
}

func trialErrors(res *Results) []string {
	var out []string
	for _, t := range res.Trials {
		if t.Err != "" && !strings.Contains(t.Err, ErrXVSUnavailable.Error()) {
			out = append(out, fmt.Sprintf("%s: %s", t.Trial, t.Err))
		}
	}
	for _, l := range res.Latency {
		if l.Err != "" {
			out = append(out, fmt.Sprintf("latency %s round %d: %s", l.Scenario, l.Round+1, l.Err))
		}
	}
	return out
}

func methodText(res *Results) string {
	return fmt.Sprintf(`- Labs: network namespaces built per run (testnet labs: names xvs<pid><seq>-gen, -dir, -real, with a marker file so a later run removes what a killed one left), addresses in 198.18.0.0/15, removed at the end, on errors and on SIGINT/SIGTERM. Two-armed: generator ─veth─ director ─veth─ real servers' trunk; %d real servers are macvlans on the trunk. One-armed: the generator is one more macvlan on the trunk, so client, director and real servers share a segment (DR, TUN). All neighbour entries are static; no bridge on the path.
- Generator: Go over AF_XDP TX (asavie/xdp, copy mode) in its own namespace, pre-built frames patched per flow (source address/port, checksums), at most 32 frames per sendto; every run bounded by time. Frame sizes count the FCS (RFC 2544): a 64 B frame is 60 bytes on the veth.
- Sink: an XDP program (cilium/ebpf asm) on the trunk counts TCP/UDP/IPIP frames per destination MAC (= per real server) in a per-CPU array and drops them; ARP, ICMP and the probe's UDP port pass to the stack.
- Scenarios: kernel-fwd = kernel IPv4 forwarding to the real servers' addresses (no balancing); nft-dnat = forwarding + an nftables prerouting DNAT of the VIP, numgen round robin, conntrack flushed between trials (nf_conntrack_max %s); bounce = AF_XDP redirect of every IPv4 frame, destination MAC written, sent on (two-armed: one copy between the sockets' UMEMs, one-armed: in place); xvs-* = bin/xvs run with the same services (rr), on its default AF_XDP backend; xvs-*-afp = the same with --backend afpacket, whose nftables table (netdev xvs_afpacket_*) is checked to exist while the daemon runs and to be gone after it stops, so it cannot blackhole the next baseline (the nft-dnat baseline's table is ip xvsbench).
- Trials: for each round and load, the scenarios in interleaved order (xvs, baseline, xvs, ...), rotated each round; each trial starts the scenario from scratch (fresh xvs daemon, fresh conntrack).
- CPU: over the measured window (10 ms ticks), /proc/stat for the machine and /proc/PID/stat for the lab's processes and packet kernel threads; the latter is split between generator (calibrated by gen-only) and director (the rest). Softirq work that interrupts an unrelated process is charged to that process and missed; frames that a full director port drops cost the generator less than the calibration assumes, so under heavy drops the director's share is underestimated. results.json keeps the raw figures (Busy, Others, LabCPU, GenProcCPU).
`, res.Options.Reals, res.Host.ConntrackMax)
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
