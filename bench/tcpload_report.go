package bench

import (
	"fmt"
	"math"
	"strings"
)

// TCPLoadRow compares xvs with the kernel under one TCP load in one lab.
type TCPLoadRow struct {
	Lab, Load string
	// XVS and Base name the two scenarios; XVSValue and BaseValue are
	// their figures over rounds (requests/s for http, Gbit/s for bulk),
	// PerRound their ratio in each round both ran.
	XVS, Base           string
	XVSValue, BaseValue Summary
	PerRound            Summary
	// Failed requests (http) summed over rounds; Retransmits (bulk) per
	// run, over rounds.
	XVSFailed, BaseFailed           int
	XVSRetransmits, BaseRetransmits Summary
	// Daemon is the xvs daemon's own CPU in cores over the load.
	Daemon Summary
	// XVSCost and BaseCost are the lab's CPU (TCPTrial.LabCPU) per unit
	// of work: µs per request (http), ms per GB received (bulk).
	XVSCost, BaseCost Summary
	// Busy is the machine's busy cores (all jobs) over both sides' runs.
	Busy   Summary
	Errors []string `json:",omitempty"`
}

// Ratio is xvs's median over the kernel's, NaN without both.
func (r TCPLoadRow) Ratio() float64 {
	if r.XVSValue.N == 0 || r.BaseValue.N == 0 || r.BaseValue.Median <= 0 {
		return math.NaN()
	}
	return r.XVSValue.Median / r.BaseValue.Median
}

// unit is the row's figure's unit.
func (r TCPLoadRow) unit() string {
	if r.Load == LoadBulk {
		return "Gbit/s"
	}
	return "requests/s"
}

// prec is how many decimals the row's figures are written with.
func (r TCPLoadRow) prec() int {
	if r.Load == LoadBulk {
		return 3
	}
	return 0
}

// TCPLoadResult is the TCP-load phase's rows: NAT then DR, http then bulk.
type TCPLoadResult struct {
	Rows []TCPLoadRow
}

// Row returns the row of lab and load, nil if none.
func (t *TCPLoadResult) Row(lab, load string) *TCPLoadRow {
	if t == nil {
		return nil
	}
	for i := range t.Rows {
		if t.Rows[i].Lab == lab && t.Rows[i].Load == load {
			return &t.Rows[i]
		}
	}
	return nil
}

// TCPLoadRows assembles the rows from the phase's trials; nil when none
// ran.
func TCPLoadRows(trials []TCPTrial) *TCPLoadResult {
	if len(trials) == 0 {
		return nil
	}
	res := &TCPLoadResult{}
	type key struct{ lab, load string }
	idx := map[key]int{}
	type round map[int]TCPTrial
	var xvs, base []round
	for _, t := range trials {
		k := key{t.Lab, t.Load}
		i, ok := idx[k]
		if !ok {
			i = len(res.Rows)
			idx[k] = i
			res.Rows = append(res.Rows, TCPLoadRow{Lab: t.Lab, Load: t.Load})
			xvs, base = append(xvs, round{}), append(base, round{})
		}
		row := &res.Rows[i]
		if isXVS(t.Scenario) {
			row.XVS = t.Scenario
		} else {
			row.Base = t.Scenario
		}
		if t.Err != "" {
			if !t.Skipped {
				row.Errors = append(row.Errors, fmt.Sprintf("%s round %d: %s", t.Scenario, t.Round+1, t.Err))
			}
			continue
		}
		if isXVS(t.Scenario) {
			xvs[i][t.Round] = t
		} else {
			base[i][t.Round] = t
		}
	}
	for i := range res.Rows {
		row := &res.Rows[i]
		var xv, bv, q, xr, br, dc, xc, bc, busy []float64
		for rd, t := range xvs[i] {
			xv = append(xv, t.Value())
			xc, busy = appendCost(xc, t), appendBusy(busy, t)
			if b, ok := base[i][rd]; ok && b.Value() > 0 {
				q = append(q, t.Value()/b.Value())
			}
			if t.HTTP != nil {
				row.XVSFailed += t.HTTP.Failed
				dc = append(dc, t.DaemonCPU.Seconds()/t.HTTP.Taken.Seconds())
			}
			if t.Bulk != nil {
				xr = append(xr, float64(t.Bulk.Retransmits))
				dc = append(dc, t.DaemonCPU.Seconds()/t.Bulk.Seconds)
			}
		}
		for _, t := range base[i] {
			bv = append(bv, t.Value())
			bc, busy = appendCost(bc, t), appendBusy(busy, t)
			if t.HTTP != nil {
				row.BaseFailed += t.HTTP.Failed
			}
			if t.Bulk != nil {
				br = append(br, float64(t.Bulk.Retransmits))
			}
		}
		row.XVSValue, row.BaseValue, row.PerRound = Summarize(xv), Summarize(bv), Summarize(q)
		row.XVSRetransmits, row.BaseRetransmits, row.Daemon = Summarize(xr), Summarize(br), Summarize(dc)
		row.XVSCost, row.BaseCost, row.Busy = Summarize(xc), Summarize(bc), Summarize(busy)
	}
	return res
}

// appendCost appends t's lab CPU per unit of work (see TCPLoadRow) when
// it was measured.
func appendCost(v []float64, t TCPTrial) []float64 {
	switch {
	case t.LabCPU <= 0:
	case t.HTTP != nil && t.HTTP.Complete > 0:
		return append(v, float64(t.LabCPU.Microseconds())/float64(t.HTTP.Complete))
	case t.Bulk != nil && t.Bulk.Bytes > 0:
		return append(v, float64(t.LabCPU.Milliseconds())/(float64(t.Bulk.Bytes)/1e9))
	}
	return v
}

// appendBusy appends t's machine-wide busy cores when measured.
func appendBusy(v []float64, t TCPTrial) []float64 {
	if t.Busy <= 0 || t.Window <= 0 {
		return v
	}
	return append(v, t.Busy.Seconds()/t.Window.Seconds())
}

// costUnit is the unit of the row's CPU cost.
func (r TCPLoadRow) costUnit() string {
	if r.Load == LoadBulk {
		return "ms/GB"
	}
	return "µs/request"
}

// baselineName says what a scenario of the phase is, for the report.
func baselineName(s string) string {
	switch s {
	case ScNftDNAT:
		return "nftables DNAT"
	case ScKernelECMP:
		return "kernel multipath routing"
	}
	return s
}

// tcpLoadTarget is issue 14's bar for load: xvs at least the kernel's
// figure in both labs, on the ratio of the medians (each pair ran in the
// same rounds, interleaved; the same-round ratios are shown beside it).
func tcpLoadTarget(res *Results, load, what string) TargetCheck {
	tc := TargetCheck{Target: what + " through the VIP ≥ 1× the kernel's (NAT: nft DNAT, DR: multipath routing)", Status: NA, Measured: "no data"}
	var parts []string
	ok, measured := true, false
	for _, lab := range []string{"nat", "dr"} {
		row := res.TCPLoad.Row(lab, load)
		if row == nil || math.IsNaN(row.Ratio()) {
			continue
		}
		measured = true
		ok = ok && row.Ratio() >= 1
		parts = append(parts, fmt.Sprintf("%s %s (%s vs %s %s, same-round %s)", strings.ToUpper(lab), formatTimes(row.Ratio()),
			formatNum(row.XVSValue.Median, row.prec()), formatNum(row.BaseValue.Median, row.prec()), row.unit(), formatRatio(row.PerRound)))
	}
	if measured {
		tc.Measured, tc.Status = strings.Join(parts, "; "), status(ok)
	}
	return tc
}

// synLoad is the main phase's new-connection load.
var synLoad = Load{Proto: SYN, Size: 64}

// synConnTarget is issue 14's bar for new connections: xvs NAT at least
// twice nftables DNAT's rate under the SYN load (a new source per SYN, so
// every frame is a new connection).
func synConnTarget(rows []Row) TargetCheck {
	tc := TargetCheck{Target: "new connections/s ≥ 2× nftables DNAT for NAT (" + synLoad.String() + " load)", Status: NA, Measured: "no data"}
	x, y := medianPPS(rows, ScXVSNAT, synLoad), medianPPS(rows, ScNftDNAT, synLoad)
	if !math.IsNaN(x) && !math.IsNaN(y) && y > 0 {
		tc.Measured = fmt.Sprintf("%.2f× (%.0f vs %.0f new connections/s)", x/y, x, y)
		tc.Status = status(x/y >= 2)
	}
	return tc
}

// TCPLoadSummary says the phase's rows in a line each.
func TCPLoadSummary(t *TCPLoadResult) []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, r := range t.Rows {
		if math.IsNaN(r.Ratio()) {
			continue
		}
		what := "HTTP requests/s"
		if r.Load == LoadBulk {
			what = "bulk TCP"
		}
		out = append(out, fmt.Sprintf("tcpload: %s through the VIP, %s ÷ %s %s (%s vs %s %s, same-round ratios %s)",
			what, r.XVS, baselineName(r.Base), formatTimes(r.Ratio()), formatNum(r.XVSValue.Median, r.prec()),
			formatNum(r.BaseValue.Median, r.prec()), r.unit(), formatRatio(r.PerRound)))
	}
	return out
}

// TCPLoadTable renders the phase's rows.
func TCPLoadTable(t *TCPLoadResult) string {
	if t == nil {
		return "Not measured (the TCP-load phase did not run).\n"
	}
	var b strings.Builder
	b.WriteString("| lab | load | unit | xvs | xvs, median [min–max] | kernel | kernel, median [min–max] | xvs ÷ kernel | same-round ratios, median [min–max] | lab CPU per unit, xvs / kernel | failed requests xvs / kernel | retransmits per run xvs / kernel | daemon cores | machine cores busy (all jobs) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range t.Rows {
		failed, retr := "—", "—"
		if r.Load == LoadHTTP {
			failed = fmt.Sprintf("%d / %d", r.XVSFailed, r.BaseFailed)
		} else {
			retr = formatNum(r.XVSRetransmits.Median, 0) + " / " + formatNum(r.BaseRetransmits.Median, 0)
		}
		cost := "—"
		if r.XVSCost.N > 0 || r.BaseCost.N > 0 {
			cost = formatNum(r.XVSCost.Median, 0) + " / " + formatNum(r.BaseCost.Median, 0) + " " + r.costUnit()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", strings.ToUpper(r.Lab), r.Load, r.unit(),
			r.XVS, FormatSummary(r.XVSValue, 1, r.prec()), r.Base, FormatSummary(r.BaseValue, 1, r.prec()),
			formatTimes(r.Ratio()), formatRatio(r.PerRound), cost, failed, retr, FormatSummary(r.Daemon, 1, 2), FormatSummary(r.Busy, 1, 2))
	}
	for _, r := range t.Rows {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "\n- error: %s %s: %s\n", strings.ToUpper(r.Lab), r.Load, escapePipes(e))
		}
	}
	return b.String()
}

// rpsText says where the kernel baselines' forwarding ran.
func rpsText(rps bool) string {
	if rps {
		return "The kernel baselines have no process: in their trials RPS (rps_cpus on the director's interfaces) steers the director's receive processing, and with it the forwarding, to CPU 1, the director's core, where xvs's worker runs in its trials (-tcpload-rps)"
	}
	return "The kernel baselines have no process: veth runs their forwarding in softirq on the sending core, mostly CPU 0 beside the load tools and servers, while xvs's worker has CPU 1 to itself (the kernel's default, RPS off; -tcpload-rps steers the kernel's to CPU 1)"
}

// tcpLoadText explains the TCP-load section.
func tcpLoadText(res *Results) string {
	o := res.Options
	return fmt.Sprintf("Real TCP through the VIP, in internal/testnet's labs (each real server a namespace with its own TCP stack; a bridge between the director and the real servers, the same for both sides; kernel default offloads, TSO and checksum offload on every veth end): "+
		"NAT: client ─ director (two arms) ─ %[1]d real servers, xvs-nat against nftables DNAT (nft-dnat's table with this phase's services, numgen round robin, conntrack flushed between trials); "+
		"DR: client, director and %[1]d real servers on one segment, the real servers holding the VIP on lo, xvs-dr against kernel-ecmp: the director's kernel forwarding the VIP (taken off its interface for those trials) over a multipath route to the real servers, hashing on the five-tuple (fib_multipath_hash_policy 1 for its trials; the kernel's default hashes the addresses only, which sends the one client's every connection to one real server). "+
		"http = ApacheBench (Debian's ab) from the client, -c %[2]d, keep-alive off (a new connection per request), at most %[3]d requests and %[4]v, for a %[5]d-byte static file served by nginx (Debian, one worker) on every real server (xvs and nft: round robin; kernel-ecmp: the hash); requests/s is ab's (complete ÷ time taken); a run with a failed request in a hundred or a non-2xx answer is an error. "+
		"bulk = one iperf3 TCP stream (Debian's iperf3 -c, %[4]v) to one real server, r1, on every side (iperf3's control and data connections must meet one server; one stream takes one path whatever the balancing); Gbit/s is what r1 received. "+
		"Each trial sets its director up from scratch (a fresh `xvs run --worker-cpus 1 --control-cpus 0`, as in every xvs trial, or the kernel's rules) and tears it down after; per round each lab runs http then bulk, xvs and kernel in an order swapped every round. "+
		"Placement: ab and iperf3's client pinned to CPU 0 like the generator, but not niced (the kernel baselines forward in softirq in the context of the process that sends, so a niced client would lower their priority too); nginx and iperf3's server on CPU 0 too (real servers are other machines: on CPU 1 their work would land on the director's core); the xvs daemon's workers on CPU 1, its control plane on CPU 0. "+
		"%[8]s; and the kernel forwards TSO super-packets whole (up to 64 KB per forwarding decision) where xvs's AF_XDP path takes MTU-sized frames (an XDP program on a veth turns TSO off on its peer, so the sender's stack, or the bridge in the DR lab, segments in software before the director; seen with ethtool -k during the trials). "+
		"xvs ÷ kernel = the ratio of the medians over %[6]d round(s); same-round ratios pair the two trials of each round; daemon cores = the xvs process's CPU over the run. "+
		"Lab CPU per unit = the CPU time of every process in the lab's namespaces (client tool, servers, xvs) and of the packet kernel threads over the client tool's run, per request answered (µs) or per GB received (ms), medians over rounds: "+
		"it counts the kernel's forwarding too (charged to the sending processes, this kernel having no IRQ time accounting), so it compares the whole path's cost whatever the placement; other jobs' CPU is not in it. "+
		"Machine cores busy = /proc/stat's busy time over the runs of both sides, every job on the machine: near %[7]d the lab had only the share of the cores other jobs left it, and the rows measure that share as much as the forwarding.\n\n",
		o.Reals, o.HTTPConcurrency, o.HTTPRequests, o.TCPLoadTime, httpFileSize, o.Rounds, res.Host.Cores, rpsText(o.TCPLoadRPS))
}
