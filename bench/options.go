package bench

import (
	"io"
	"os"
	"time"
)

// Options configure a bench run. DefaultOptions gives the full and the smoke
// configurations; the command's flags override single fields.
type Options struct {
	Smoke bool
	// Out is the results directory (report.md, chart.svg, results.json).
	Out string
	// Rounds of interleaved trials (medians over rounds).
	Rounds int
	// Trial is the measured length of one trial, Warmup the unmeasured
	// run before it (flows established, tables warm), Settle the wait for
	// in-flight frames after it.
	Trial, Warmup, Settle time.Duration
	// PrefillRate paces the frames that establish every flow of a big load
	// before its trials (prefill.go), in frames per second; 0 turns it off.
	PrefillRate float64
	// Reals is the number of real servers.
	Reals int
	// Loads are the UDP loads; SYN adds the new-connection load.
	Loads []Load
	SYN   bool
	// BigLoads are loads too costly for every scenario (64 B / 10 M
	// established flows: each stateful trial is prefilled, 50 s at 200 k
	// frames/s), run in the two-armed lab by BigScenarios only. nftables is
	// left out: its conntrack holds nf_conntrack_max entries (262144 on
	// these machines), a global sysctl the bench leaves alone.
	BigLoads     []Load
	BigScenarios []string
	// OneArmed runs the one-armed lab (DR, TUN, one-armed bounce).
	OneArmed bool
	// Skip names scenarios not to run.
	Skip map[string]bool
	// XVS and XVSAdm are the binaries; XVSMode is "auto" (a start failure
	// marks xvs unavailable), "require" (it fails the run) or "off".
	XVS, XVSAdm string
	XVSMode     string
	XVSCapacity int
	// NftPath is the nft binary ("" looks it up in PATH).
	NftPath string
	// Pin puts the generator on CPU 0 and the director's user-space
	// process (xvs, bounce) on CPU 1.
	Pin bool
	// Probe count and spacing for each latency measurement.
	ProbeCount    int
	ProbeInterval time.Duration
	// Latency enables the latency phase.
	Latency bool
	// TableSizes are the connection-table sizes whose memory per entry and
	// lookup cost the bench measures itself (conntrack's benchmarks report
	// time, not memory).
	TableSizes []int
	// GoBench are the Go benchmarks to run; ModuleDir is where.
	GoBench   []GoBenchSpec
	ModuleDir string
	// CheckedReals is how many real servers xvs-nat-checks checks by
	// HTTP every second (0 leaves the scenario out); CheckIdle is how
	// long the idle daemon's CPU is measured with and without them.
	CheckedReals int
	CheckIdle    time.Duration
	// Sync runs xvs-nat-sync (xvs-nat with a sync master) against xvs-nat
	// under the sync load. SyncInstall is how many entries the bench
	// sends a backup daemon at each offered rate (0 leaves the install
	// measurement out); SyncRates are the offered rates in entries per
	// second, 0 unpaced (as fast as the sending socket takes them).
	Sync        bool
	SyncInstall int
	SyncRates   []float64
	// TCPLoad runs the TCP-load phase (tcpload.go): HTTP requests/s (ab
	// against nginx) and bulk TCP (iperf3) through the VIP, xvs NAT
	// against nftables DNAT and xvs DR against kernel multipath routing.
	// TCPLoadTime bounds each ab and iperf3 run (whole seconds);
	// HTTPRequests bounds ab's requests, HTTPConcurrency is its -c.
	TCPLoad         bool
	TCPLoadTime     time.Duration
	HTTPRequests    int
	HTTPConcurrency int
	// TCPLoadRPS steers the kernel baselines' receive processing on the
	// director to the director's core (RPS, rps_cpus on its interfaces)
	// in their trials, where xvs's worker runs; off, the kernel's
	// default, their forwarding runs on the sending core.
	TCPLoadRPS bool
	// Profile takes a CPU profile of xvs when it misses a target.
	Profile bool
	// Progress receives one line per trial (stderr by default).
	Progress io.Writer
}

// DefaultOptions returns the full run (under ten minutes on a two-core
// machine) or, with smoke, a seconds-long subset that still touches every
// piece: both baselines kinds, the bounce, xvs NAT on both backends, the SYN
// load, latency and the Go benchmarks.
func DefaultOptions(smoke bool) Options {
	o := Options{
		Smoke: smoke, Out: "results", Rounds: 3,
		// 700 ms trials after a 200 ms warm-up (were 1 s and 300 ms): the
		// AF_PACKET rows brought the full run from 138 to 246 trials, and
		// at the old lengths it took 9m45s of its ten-minute budget.
		Trial: 700 * time.Millisecond, Warmup: 200 * time.Millisecond, Settle: 100 * time.Millisecond,
		// Below what the slowest stateful director (nftables DNAT at 1 M
		// flows) takes without loss; a million flows take 5 s.
		PrefillRate: 200_000,
		Reals:       3,
		Loads: []Load{
			{Proto: UDP, Size: 64, Flows: 1}, {Proto: UDP, Size: 64, Flows: 10_000}, {Proto: UDP, Size: 64, Flows: 1_000_000},
			{Proto: UDP, Size: 1400, Flows: 1}, {Proto: UDP, Size: 1400, Flows: 10_000}, {Proto: UDP, Size: 1400, Flows: 1_000_000},
		},
		BigLoads:     []Load{{Proto: UDP, Size: 64, Flows: 10_000_000}},
		BigScenarios: []string{ScBounce2, ScXVSNAT},
		SYN:          true, OneArmed: true, Skip: map[string]bool{},
		XVS: "bin/xvs", XVSAdm: "bin/xvsadm", XVSMode: "auto", XVSCapacity: 4 << 20,
		Pin: true, ProbeCount: 1000, ProbeInterval: 200 * time.Microsecond, Latency: true,
		GoBench: []GoBenchSpec{
			// Sizes 1 k, 1 M and 10 M; Fill is left out: the bench measures
			// filling itself (ctmem.go). Names are anchored so that a new
			// benchmark does not join by accident: LookupPages (heap vs
			// huge pages) matched the old unanchored "Lookup" and added a
			// minute to the run.
			{Pkg: "./conntrack/", Bench: "^Benchmark(Observe|LookupMiss)$|^Benchmark(Lookup|LookupParallel|LookupBatch|LookupBatchParallel|InsertExpire)$/^(1k|1M|10M|tcp|udp)$",
				BenchTime: "1s", Timeout: 4 * time.Minute},
			{Pkg: "./forwarder/", Bench: "Pipeline", BenchTime: "1s", Timeout: 2 * time.Minute},
		},
		TableSizes: []int{1000, 1_000_000, 10_000_000},
		ModuleDir:  ".", Profile: true, Progress: os.Stderr,
		// Issue 12's row: a thousand real servers checked every second.
		CheckedReals: 1000, CheckIdle: 2 * time.Second,
		// Issue 13's rows: sync on vs off, and a backup installing 100 k
		// entries offered at 100 k/s, 400 k/s and unpaced.
		Sync: true, SyncInstall: 100_000, SyncRates: []float64{100_000, 400_000, 0},
		// Issue 14's rows: 2 s per ab or iperf3 run, 24 runs in all
		// (about a minute with each trial's set-up).
		TCPLoad: true, TCPLoadTime: 2 * time.Second, HTTPRequests: 200_000, HTTPConcurrency: 50,
	}
	if smoke {
		o.Rounds = 1
		o.Trial, o.Warmup, o.Settle = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
		// 100 k flows: the smallest load that is prefilled, so the smoke
		// run goes through it.
		o.Loads = []Load{{Proto: UDP, Size: 64, Flows: 10_000}, {Proto: UDP, Size: 64, Flows: prefillMinFlows}}
		o.OneArmed = false
		o.BigLoads = nil
		o.ProbeCount = 200
		o.Profile = false
		// The same path with a tenth of the checkers: the scenario's
		// set-up, the keepalived.conf and the all-up wait still run.
		o.CheckedReals, o.CheckIdle = 100, time.Second
		// Both sync rows, the install one with a tenth of the entries
		// and two offers.
		o.SyncInstall, o.SyncRates = 10_000, []float64{200_000, 0}
		// One second per run (ab's and iperf3's least), eight runs.
		o.TCPLoadTime, o.HTTPRequests = time.Second, 20_000
		o.TableSizes = []int{1000, 1_000_000} // 10 M only in full mode
		o.GoBench = []GoBenchSpec{
			{Pkg: "./conntrack/", Bench: "Lookup$/^(1k|1M)$", BenchTime: "10000x", Short: true, Timeout: 2 * time.Minute},
			{Pkg: "./forwarder/", Bench: "Pipeline", BenchTime: "10000x", Short: true, Timeout: time.Minute},
		}
	}
	return o
}
