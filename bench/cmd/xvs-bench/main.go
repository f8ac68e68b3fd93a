// Command xvs-bench measures xvs against baselines in one run: delivered
// packets per second, new connections per second, latency and CPU per
// packet, and writes results/report.md with a chart.
//
//	xvs-bench [-smoke] [-out DIR] [-rounds N] [-trial D] [-xvs auto|require|off] ...
//
// It needs root: it builds network namespaces and attaches XDP programs, all
// of which it removes again (also on SIGINT/SIGTERM). `make bench` runs the
// full set (under ten minutes), `make bench-smoke` a seconds-long subset.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/bench"
)

func main() {
	// The bench re-executes itself inside lab namespaces for its generator,
	// bounce, echo servers and probe.
	if bench.IsChild(os.Args[1:]) {
		if err := bench.RunChild(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "xvs-bench child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xvs-bench: FAILED:", err)
		os.Exit(1)
	}
}

func run() error {
	smoke := flag.Bool("smoke", false, "seconds-long subset (CI)")
	out := flag.String("out", "", "results directory (default results)")
	rounds := flag.Int("rounds", 0, "rounds of interleaved trials (default 3, smoke 1)")
	trial := flag.Duration("trial", 0, "measured length of one trial (default 700ms, smoke 300ms)")
	warmup := flag.Duration("warmup", -1, "unmeasured warm-up before each trial")
	reals := flag.Int("reals", 0, "real servers (default 3)")
	xvsMode := flag.String("xvs", "auto", "auto: xvs scenarios run if bin/xvs starts; require: fail if not; off: baselines only")
	xvsBin := flag.String("xvs-bin", "bin/xvs", "xvs daemon binary")
	admBin := flag.String("xvsadm-bin", "bin/xvsadm", "xvsadm binary")
	pin := flag.Bool("pin", true, "pin the generator to CPU 0 and the director's user space to CPU 1")
	skip := flag.String("skip", "", "comma-separated scenarios to leave out ("+strings.Join(bench.AllScenarios(), ",")+")")
	probes := flag.Int("probes", 0, "latency probes per series")
	noLatency := flag.Bool("no-latency", false, "skip the latency phase")
	noGoBench := flag.Bool("no-gobench", false, "skip the Go benchmarks (conntrack, forwarder pipeline)")
	oneArmed := flag.Bool("one-armed", true, "run the one-armed lab (DR, TUN) in full mode")
	big := flag.Bool("big", true, "run the 64 B / 10 M established-flow load (bounce, xvs-nat) in full mode")
	checked := flag.Int("checks", -1, "real servers xvs-nat-checks checks by HTTP every second (default 1000, smoke 100; 0 leaves it out)")
	syncRows := flag.Bool("sync", true, "run xvs-nat-sync (xvs-nat with a sync master) against xvs-nat under the sync load")
	syncInstall := flag.Int("sync-install", -1, "entries offered to a backup daemon per rate (default 100000, smoke 10000; 0 leaves it out)")
	tcpLoad := flag.Bool("tcpload", true, "run the TCP-load rows: HTTP requests/s (ab against nginx) and bulk TCP (iperf3) through the VIP, xvs NAT vs nftables DNAT and xvs DR vs kernel multipath routing")
	tcpLoadTime := flag.Duration("tcpload-time", 0, "length of each ab and iperf3 run, whole seconds (default 2s, smoke 1s)")
	tcpLoadRPS := flag.Bool("tcpload-rps", false, "in the TCP-load rows, steer the kernel baselines' receive processing on the director to the director's core (RPS), where xvs's worker runs")
	tcpLoadOnly := flag.Bool("tcpload-only", false, "run the TCP-load rows alone (no packet-rate trials, latency, checks, sync, table or Go benchmarks)")
	flag.Parse()

	o := bench.DefaultOptions(*smoke)
	if *out != "" {
		o.Out = *out
	}
	if *rounds > 0 {
		o.Rounds = *rounds
	}
	if *trial > 0 {
		o.Trial = *trial
	}
	if *warmup >= 0 {
		o.Warmup = *warmup
	}
	if *reals > 0 {
		o.Reals = *reals
	}
	switch *xvsMode {
	case "auto", "require", "off":
		o.XVSMode = *xvsMode
	default:
		return fmt.Errorf("-xvs %q: want auto, require or off", *xvsMode)
	}
	o.XVS, o.XVSAdm, o.Pin = *xvsBin, *admBin, *pin
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Skip[s] = true
		}
	}
	if *probes > 0 {
		o.ProbeCount = *probes
	}
	o.Latency = o.Latency && !*noLatency
	if *noGoBench {
		o.GoBench = nil
	}
	if !*smoke {
		o.OneArmed = *oneArmed
		if !*big {
			o.BigLoads = nil
		}
	}
	if *checked >= 0 {
		o.CheckedReals = *checked
	}
	o.Sync = *syncRows
	if *syncInstall >= 0 {
		o.SyncInstall = *syncInstall
	}
	o.TCPLoad, o.TCPLoadRPS = *tcpLoad || *tcpLoadOnly, *tcpLoadRPS
	if *tcpLoadOnly {
		o.Loads, o.BigLoads, o.SYN, o.OneArmed, o.Latency, o.Profile = nil, nil, false, false, false, false
		o.CheckedReals, o.Sync, o.SyncInstall, o.TableSizes, o.GoBench = 0, false, 0, nil, nil
	}
	if *tcpLoadTime > 0 {
		o.TCPLoadTime = *tcpLoadTime
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := bench.Run(ctx, o)
	if res != nil {
		report, _ := filepath.Abs(filepath.Join(o.Out, bench.ReportFile))
		fmt.Fprintf(os.Stderr, "xvs-bench: %s in %v; report: %s\n", res.XVS, time.Since(start).Round(time.Second), report)
		for _, t := range res.Targets {
			fmt.Fprintf(os.Stderr, "xvs-bench: target %-8s %s: %s\n", t.Status, t.Target, t.Measured)
		}
		for _, l := range bench.BackendSummary(res.Backends) {
			fmt.Fprintf(os.Stderr, "xvs-bench: %s\n", l)
		}
		for _, l := range bench.ChecksSummary(res.Checks) {
			fmt.Fprintf(os.Stderr, "xvs-bench: %s\n", l)
		}
		for _, l := range bench.SyncSummary(res.Sync) {
			fmt.Fprintf(os.Stderr, "xvs-bench: %s\n", l)
		}
		for _, l := range bench.TCPLoadSummary(res.TCPLoad) {
			fmt.Fprintf(os.Stderr, "xvs-bench: %s\n", l)
		}
		if strings.HasPrefix(res.XVS, "xvs unavailable") {
			fmt.Fprintf(os.Stderr, "xvs-bench: WARNING: %s — only the baselines were measured\n", res.XVS)
		}
	}
	return err
}
