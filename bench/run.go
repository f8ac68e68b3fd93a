package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// ErrNoTraffic says a scenario delivered nothing (or the wrong thing): the
// bench fails rather than report a zero.
var ErrNoTraffic = errors.New("no traffic delivered")

// runner carries one run's state.
type runner struct {
	opts      Options
	tmp       string
	res       *Results
	xvsErr    error // set once xvs proved unavailable
	xvsWorked bool
	trialSeq  int
	start     time.Time // of the run: progress lines say the time since
	total     int
	portSink  *Sink // gen-only: the counter on the director's port
	checkd    *proc // the checked servers' HTTP server, during the phase that has them
	flows     int   // the flows of the trial whose director is starting (xvsCapacity)
	fatal     error // first error that must fail the run
}

// Run executes a bench run and writes its report. It returns the results
// even when it also returns an error, so a caller can still print them.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the bench needs root (network namespaces, XDP)")
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	if err := ensureDeps(opts); err != nil {
		return nil, err
	}
	if err := testnet.CleanupStale(); err != nil {
		return nil, fmt.Errorf("remove stale labs: %w", err)
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "xvs-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	r := &runner{opts: opts, tmp: tmp, start: time.Now(), res: &Results{
		Started: time.Now(), Smoke: opts.Smoke, Host: hostInfo(opts),
		Options: OptionsSummary{Rounds: opts.Rounds, Trial: opts.Trial, Warmup: opts.Warmup, Settle: opts.Settle, PrefillRate: opts.PrefillRate,
			Reals: opts.Reals, CheckedReals: opts.CheckedReals, CheckIdle: opts.CheckIdle, SyncInstall: opts.SyncInstall, SyncRates: opts.SyncRates, ProbeCount: opts.ProbeCount, ProbeInterval: opts.ProbeInterval},
		XVSStat: map[string]string{}, Profile: map[string]string{}, ProfileSummary: map[string]ProfileSummary{},
	}}
	if opts.XVSMode == "off" {
		r.xvsErr = fmt.Errorf("%w: disabled with -xvs=off", ErrXVSUnavailable)
	}
	r.total = r.countTrials()
	err = r.run(ctx)
	r.res.Finished = time.Now()
	r.res.Host.LoadAvgEnd = loadAvg()
	switch {
	case r.xvsErr != nil:
		r.res.XVS = r.xvsErr.Error()
	case r.xvsWorked:
		r.res.XVS = "ok"
	default:
		r.res.XVS = "not run"
	}
	attributeCPU(r.res.Trials)
	r.res.Rows = Aggregate(r.res.Trials)
	r.res.Backends = BackendRatios(r.res.Trials, r.res.Rows)
	r.res.Checks = HealthChecks(r.res)
	r.res.Sync = ConnSync(r.res)
	r.res.Targets = EvaluateTargets(r.res)
	r.res.Notes = append(r.res.Notes, runNotes(r.res)...)
	if werr := WriteReport(opts.Out, r.res); werr != nil && err == nil {
		err = werr
	}
	if err == nil {
		err = r.fatal
	}
	return r.res, err
}

// ensureDeps runs bench/deps.sh when a tool the bench needs is missing:
// nft for the nftables baseline and taskset for pinning.
func ensureDeps(opts Options) error {
	if opts.TCPLoad {
		if err := installTCPTools(opts.ModuleDir); err != nil {
			return err
		}
	}
	var missing []string
	for _, tool := range []string{"nft", "taskset", "ip"} {
		if _, err := exec.LookPath(tool); err != nil && (tool != "nft" || opts.NftPath == "") {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	script := filepath.Join(opts.ModuleDir, "bench", "deps.sh")
	fmt.Fprintf(opts.Progress, "xvs-bench: %s missing: running %s\n", strings.Join(missing, ", "), script)
	cmd := exec.Command("bash", script)
	cmd.Stdout, cmd.Stderr = opts.Progress, opts.Progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s (needed for %s): %w", script, strings.Join(missing, ", "), err)
	}
	return nil
}

// phases: which scenarios run in which lab. Each xvs mode's AF_PACKET twin
// follows it, so the two backends run in the same rounds under the same
// loads, interleaved with the baselines like any xvs scenario; so does
// xvs-nat-checks, xvs-nat with health checks running (CheckedReals 0 leaves
// it out).
func (r *runner) phaseScenarios(arms int) (xvs, base []string) {
	all := map[int][2][]string{
		2: {{ScXVSNAT, ScXVSNATChecks, ScXVSNATAFP}, {ScNftDNAT, ScBounce2, ScKernelFwd, ScGenOnly}},
		1: {{ScXVSDR, ScXVSDRAFP, ScXVSTUN, ScXVSTUNAFP}, {ScBounce1, ScGenOnly1}},
	}[arms]
	keep := func(in []string) []string {
		var out []string
		for _, s := range in {
			if !r.opts.Skip[s] && (s != ScXVSNATChecks || r.opts.CheckedReals > 0) {
				out = append(out, s)
			}
		}
		return out
	}
	return keep(all[0]), keep(all[1])
}

// synScenarios are the scenarios that take the SYN load: the ones that
// track connections, plus plain forwarding as the reference.
func synCapable(s string) bool { return s != ScBounce1 && s != ScBounce2 }

// takesSYN says whether scenario s runs the SYN load in this run: the smoke
// run leaves xvs-nat-checks out of it, whose every trial waits about two
// seconds for keepalived's first-check delays (see keepalivedConfig).
func (r *runner) takesSYN(s string) bool { return synCapable(s) && !(r.opts.Smoke && isChecks(s)) }

// bigScenarios are those of ss that run the big loads.
func (r *runner) bigScenarios(ss []string) []string {
	var out []string
	for _, s := range ss {
		if slices.Contains(r.opts.BigScenarios, s) {
			out = append(out, s)
		}
	}
	return out
}

func (r *runner) arms() []int {
	if r.opts.OneArmed {
		return []int{2, 1}
	}
	return []int{2}
}

func (r *runner) countTrials() int {
	n := 0
	for _, a := range r.arms() {
		x, b := r.phaseScenarios(a)
		for _, s := range append(x, b...) {
			per := 1
			if isChecks(s) && !r.opts.Skip[ScXVSNATPaced] {
				per = 2 // and its paced twin
			}
			n += per * r.opts.Rounds * len(r.opts.Loads)
			if r.opts.SYN && r.takesSYN(s) {
				n += per * r.opts.Rounds
			}
		}
		if a == 2 {
			n += r.opts.Rounds * len(r.opts.BigLoads) * (len(r.bigScenarios(x)) + len(r.bigScenarios(b)))
		}
		if a == 2 && r.runsSync() {
			n += 2 * r.opts.Rounds
			if !r.opts.Skip[ScXVSNATPaced] {
				n += r.opts.Rounds // the sync trials' paced twins
			}
		}
	}
	return n
}

func (r *runner) run(ctx context.Context) error {
	for _, arms := range r.arms() {
		if err := r.phase(ctx, arms); err != nil {
			return err
		}
	}
	if r.opts.TCPLoad {
		r.tcpLoadPhase(ctx)
	}
	if len(r.opts.TableSizes) > 0 {
		r.progress("connection table memory and lookup cost at %v entries", r.opts.TableSizes)
		tm, err := tableMemory(ctx, r.opts.TableSizes)
		r.res.Table = tm
		if err != nil {
			r.fail(fmt.Errorf("conntrack table measurement: %w", err))
		}
		for _, t := range tm {
			r.progress("conntrack %9d entries: %.0f bytes/entry, lookup %.0f ns, filled in %v", t.Entries, t.BytesPerEntry, t.LookupNs, t.FillTime.Round(time.Millisecond))
		}
	}
	for _, spec := range r.opts.GoBench {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.progress("go test -bench %s %s (benchtime %s)", spec.Bench, spec.Pkg, spec.BenchTime)
		bs, err := RunGoBench(ctx, r.opts.ModuleDir, spec)
		if err != nil {
			r.res.GoBenchErrors = append(r.res.GoBenchErrors, err.Error())
			r.fail(err)
			continue
		}
		if len(bs) == 0 {
			r.res.GoBenchErrors = append(r.res.GoBenchErrors, fmt.Sprintf("%s: no benchmark matched %q", spec.Pkg, spec.Bench))
		}
		r.res.GoBench = append(r.res.GoBench, bs...)
	}
	return nil
}

// fail records the first error that must fail the run without stopping it.
func (r *runner) fail(err error) {
	r.progress("ERROR: %v", err)
	if r.fatal == nil {
		r.fatal = err
	}
}

// phase builds one lab, runs its throughput trials, the latency probes and,
// if xvs misses a target there, a profile; then removes the lab.
func (r *runner) phase(ctx context.Context, arms int) (err error) {
	r.progress("building the %d-armed lab (%d real servers)", arms, r.opts.Reals)
	lab, err := NewLab(ctx, arms, r.opts.Reals, probePort)
	if err != nil {
		return fmt.Errorf("build lab: %w", err)
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("remove lab: %w", cerr)
		}
	}()
	if arms == 2 && r.res.Host.ConntrackMax == "" {
		r.res.Host.ConntrackMax = conntrackMax(lab.DirNS)
	}
	listen := []netip.AddrPort{}
	for _, a := range lab.RealAddrs() {
		listen = append(listen, netip.AddrPortFrom(a, probePort))
	}
	if arms == 1 {
		listen = append(listen, netip.AddrPortFrom(lab.VIP, probePort))
	}
	// The echo server stands for the real servers, other machines: on the
	// generator's core, not the director's (see the latency report).
	echo, err := startChild(ctx, lab.RealNS, r.genCPU(), childEcho, EchoConfig{Listen: listen})
	if err != nil {
		return err
	}
	defer func() { _ = echo.stop(time.Second) }()
	if arms == 1 {
		if err := r.startDecap(ctx, lab); err != nil {
			r.progress("note: %v", err)
		}
	}

	xvs, base := r.phaseScenarios(arms)
	checks := slices.Contains(xvs, ScXVSNATChecks)
	if checks {
		// One HTTP server for all checked servers, up for the whole phase
		// so that it is there (and idle) in the xvs-nat trials too. It
		// shares the generator's core: real servers are other machines,
		// and on the director's core its answers (a fifth of a core for a
		// thousand a second) would be charged to the checks' effect on
		// forwarding.
		checkd, err := startChild(ctx, lab.RealNS, r.genCPU(), childCheckd, CheckdConfig{Addr: checksHost(lab), Ports: r.opts.CheckedReals})
		if err != nil {
			return err
		}
		r.checkd = checkd
		defer func() { _ = checkd.stop(time.Second); r.checkd = nil }()
	}
	trials := Schedule(r.opts.Rounds, r.opts.Loads, xvs, base)
	if arms == 2 {
		trials = append(trials, Schedule(r.opts.Rounds, r.opts.BigLoads, r.bigScenarios(xvs), r.bigScenarios(base))...)
	}
	if r.opts.SYN {
		var sx, sb []string
		for _, s := range xvs {
			if r.takesSYN(s) {
				sx = append(sx, s)
			}
		}
		for _, s := range base {
			if r.takesSYN(s) {
				sb = append(sb, s)
			}
		}
		trials = append(trials, Schedule(r.opts.Rounds, []Load{{Proto: SYN, Size: 64, Flows: 0}}, sx, sb)...)
	}
	if arms == 2 && r.runsSync() {
		trials = append(trials, syncTrials(r.opts.Rounds)...)
	}
	for _, t := range trials {
		if err := ctx.Err(); err != nil {
			return err
		}
		res := r.trial(ctx, lab, t)
		r.res.Trials = append(r.res.Trials, res)
		if twin, ok := pacedTwin(t, res); ok && !r.opts.Skip[ScXVSNATPaced] {
			r.res.Trials = append(r.res.Trials, r.trial(ctx, lab, twin))
		}
	}
	if arms == 2 && r.opts.SyncInstall > 0 && len(r.opts.SyncRates) > 0 && !r.opts.Skip[ScXVSNATSync] {
		r.syncInstallPhase(ctx, lab)
	}
	if checks {
		r.checksIdlePhase(ctx, lab)
	}
	// The checks scenario is measured for throughput and CPU only: its
	// forwarding is xvs-nat's.
	xvs = slices.DeleteFunc(xvs, isChecks)
	if r.opts.Latency {
		r.latencyPhase(ctx, lab, append(xvs, base...))
	}
	if r.opts.Profile {
		r.maybeProfile(ctx, lab, xvs, base)
	}
	return nil
}

// startDecap attaches xvs's decapsulator to the real servers' interfaces
// for TUN (the kernels here have no ipip driver). Without bin/xvs the TUN
// scenario cannot run anyway.
func (r *runner) startDecap(ctx context.Context, lab *Lab) error {
	bin, err := filepath.Abs(r.opts.XVS)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no %s: TUN real servers cannot decapsulate", r.opts.XVS)
	}
	for _, re := range lab.Reals {
		if out, err := Command(ctx, lab.RealNS, bin, "decap", "-i", re.Iface).CombinedOutput(); err != nil {
			return fmt.Errorf("xvs decap -i %s: %w: %s", re.Iface, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func (r *runner) genCPU() int {
	if r.opts.Pin && runtime.NumCPU() >= 2 {
		return 0
	}
	return -1
}

func (r *runner) dirCPU() int {
	if r.opts.Pin && runtime.NumCPU() >= 2 {
		return 1
	}
	return -1
}

// progress prints one line, stamped with the seconds since the run started
// (which is how the time budget of a full run is checked).
func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, "xvs-bench: %5.1fs "+format+"\n", append([]any{time.Since(r.start).Seconds()}, args...)...)
}

// genConfig is the generator setup for a scenario and load.
func genConfig(lab *Lab, scenario string, l Load, offset uint64) GenConfig {
	c := GenConfig{
		Iface: lab.GenIface, SrcMAC: lab.GenMAC.String(), DstMAC: lab.DirExtMAC.String(),
		SrcBase: flowSrcBase, Dsts: genDsts(lab, scenario), DstPort: bulkPort,
		Proto: l.Proto, Size: l.Size, Flows: uint64(l.Flows), FlowOffset: offset, NewEvery: uint64(l.NewEvery),
	}
	if l.Proto == SYN {
		c.DstPort, c.Flows = synPort, 0
	}
	return c
}

// trial runs one measurement and prints its progress line.
func (r *runner) trial(ctx context.Context, lab *Lab, t Trial) (res TrialResult) {
	r.trialSeq++
	res.Trial = t
	prefix := fmt.Sprintf("[%d/%d] %-11s %-9s round %d", r.trialSeq, r.total, t.Scenario, t.Load, t.Round+1)
	if t.Rate > 0 {
		prefix += fmt.Sprintf(" at %.3f Mpps offered", t.Rate/1e6)
	}
	skipped := false
	defer func() {
		if res.Err != "" && ctx.Err() != nil {
			r.progress("%s: interrupted", prefix)
			return
		}
		if res.Err != "" {
			if skipped {
				r.progress("%s: skipped: %s", prefix, res.Err)
				return
			}
			r.fail(fmt.Errorf("%s: %s", prefix, res.Err))
			return
		}
		secs := res.Elapsed.Seconds()
		r.progress("%s: %6.3f Mpps delivered of %6.3f sent (loss %4.1f%%); cores: lab %.2f (generator process %.2f), machine %.2f, other jobs %.2f",
			prefix, res.PPS()/1e6, res.SentPPS()/1e6, 100*res.Loss(), res.LabCPU.Seconds()/secs, res.GenProcCPU.Seconds()/secs,
			res.Busy.Seconds()/secs, res.Others.Seconds()/secs)
	}()
	if isXVS(t.Scenario) && r.xvsErr != nil {
		res.Err, skipped = r.xvsErr.Error(), true
		return res
	}
	r.flows = t.Load.Flows
	dir, err := r.startDirector(ctx, lab, t.Scenario)
	r.flows = 0
	if err != nil {
		res.Err, skipped = err.Error(), errors.Is(err, ErrXVSUnavailable)
		return res
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = dir.Stop()
		}
	}()
	gen, err := startChild(ctx, lab.GenNS, r.genCPU(), childGen, genConfig(lab, t.Scenario, t.Load, uint64(r.trialSeq)<<20))
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer func() { _ = gen.stop(2 * time.Second) }()
	if err := r.prefill(t, gen, lab.Sink, &res); err != nil {
		res.Err = err.Error()
		return res
	}
	timeout := r.opts.Trial + 10*time.Second
	if r.opts.Warmup > 0 && t.Load.Proto != SYN {
		var w GenResult
		if err := gen.request(GenCommand{Duration: r.opts.Warmup, Rate: t.Rate}, &w, timeout); err != nil || w.Error != "" {
			res.Err = fmt.Sprintf("warm-up: %v %s", err, w.Error)
			return res
		}
	}
	time.Sleep(50 * time.Millisecond)
	sink := lab.Sink
	if isGenOnly(t.Scenario) {
		sink = r.portSink
	}
	xd, _ := dir.(*xvsDirector)
	var endCounts func(*TrialResult) error
	if xd != nil {
		if endCounts, err = xd.windowCounts(t.Scenario); err != nil {
			res.Err = err.Error()
			return res
		}
	}
	s0, err := sink.Read()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	labNS := lab.nsInodes()
	var d0, w0 uint64
	var workers []string
	if xd != nil {
		d0, _ = pidTicks(xd.Pid())
		if cpu := r.dirCPU(); cpu >= 0 {
			workers = workerThreads(xd.Pid(), cpu)
			w0 = threadTicks(xd.Pid(), workers)
		}
	}
	o0 := scanCPU(labNS)
	c0, err := ReadCPUTimes()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	var g GenResult
	if err := gen.request(GenCommand{Duration: r.opts.Trial, Rate: t.Rate}, &g, timeout); err != nil || g.Error != "" {
		res.Err = fmt.Sprintf("generator: %v %s", err, g.Error)
		return res
	}
	time.Sleep(r.opts.Settle)
	s1, err := sink.Read()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	c1, err := ReadCPUTimes()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	o1 := scanCPU(labNS)
	if xd != nil {
		if d1, err := pidTicks(xd.Pid()); err == nil && d1 >= d0 {
			res.DaemonCPU = ticksDuration(d1 - d0)
		}
		if w1 := threadTicks(xd.Pid(), workers); len(workers) > 0 && w1 >= w0 {
			res.WorkerCPU = ticksDuration(w1 - w0)
		}
		if err := endCounts(&res); err != nil {
			res.Err = err.Error()
			return res
		}
		if st, err := xd.Stats(ctx); err == nil {
			if isChecks(t.Scenario) {
				st = trimChecksStats(st)
			}
			r.res.XVSStat[t.Scenario] = st
		}
	}
	stopped = true
	if err := dir.Stop(); err != nil {
		res.Err = err.Error()
		return res
	}
	d := s1.Sub(s0)
	res.Sent, res.Elapsed, res.GenCPU = g.Sent, g.Elapsed, g.CPU
	res.Busy = c1.Sub(c0).BusyDuration()
	res.Others, res.LabCPU = o1.others.Sub(o0.others), o1.lab.Sub(o0.lab)
	res.GenProcCPU = g.CPU
	res.DirCPU = max(res.LabCPU-res.GenCPU, 0) // refined by attributeCPU
	for i := range d.Plain {
		res.Delivered += d.Plain[i] + d.Encap[i]
		res.Encap += d.Encap[i]
	}
	res.Unknown = d.Plain[0] + d.Encap[0]
	if isGenOnly(t.Scenario) {
		res.Unknown = 0 // the director's own MAC: slot 0 by design
	}
	for i := range lab.Reals {
		res.PerReal = append(res.PerReal, d.Plain[i+1]+d.Encap[i+1])
	}
	res.Err = checkDelivery(t.Scenario, res)
	return res
}

// checkDelivery turns a trial that delivered nothing, or frames of the wrong
// shape, into an error: a zero in the report would hide a broken setup.
func checkDelivery(scenario string, t TrialResult) string {
	switch {
	case t.Sent == 0:
		return fmt.Sprintf("%v: the generator sent nothing", ErrNoTraffic)
	case t.Delivered == 0:
		return fmt.Sprintf("%v: %d frames sent, none reached a real server", ErrNoTraffic, t.Sent)
	case isGenOnly(scenario):
		return "" // counted at the director's port, whatever the MAC
	case isTUN(scenario) && t.Encap < t.Delivered/2:
		return fmt.Sprintf("%v: TUN delivered %d frames, only %d IPIP", ErrNoTraffic, t.Delivered, t.Encap)
	case !isTUN(scenario) && t.Encap > t.Delivered/100:
		return fmt.Sprintf("%v: %d of %d frames arrived encapsulated", ErrNoTraffic, t.Encap, t.Delivered)
	case t.Unknown > t.Delivered/100:
		return fmt.Sprintf("%v: %d of %d frames went to no real server's MAC", ErrNoTraffic, t.Unknown, t.Delivered)
	}
	return ""
}

// writeJSON writes v indented to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
