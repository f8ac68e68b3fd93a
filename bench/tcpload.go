package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"
)

// The TCP-load phase (issue 14's "real HTTP load and iperf3" rows): real
// TCP hosts in internal/testnet's labs, whose real servers each have a
// namespace and a TCP stack of their own, run Debian's nginx and iperf3
// and are reached through the VIP by ab and iperf3 from the client:
//
//	NAT lab: client ─veth─ director (dx | di) ─veth─ bridge ─ r1 .. rN   (nginx :80 each, iperf3 -s :5201 on r1)
//	DR lab:  client, director and r1 .. rN on one bridge; the real servers hold the VIP on lo
//
// The bench's own labs (topo.go) do not fit: their real servers share one
// namespace behind an XDP sink that drops TCP. A bridge hop is on the path
// here, the same for xvs and its baseline.
//
// In each lab xvs runs against the kernel doing the same job, trial by
// trial in the same rounds: on NAT xvs-nat against nftables DNAT (the
// nft-dnat baseline's table with this phase's two services), on DR xvs-dr
// against kernel-ecmp, the director's kernel forwarding the VIP over a
// multipath route to the real servers (which hold the VIP on lo, as for
// xvs-dr): the kernel doing DR's job.
//
// Loads: http is ab, a fixed concurrency with keep-alive off (a new
// connection per request), against a small static file on every real
// server in turn; bulk is one iperf3 TCP stream to one real server, r1:
// iperf3's control and data connections must meet the same server, and
// one stream takes one path whatever the balancing.

// ScKernelECMP is the DR lab's baseline: kernel forwarding over a
// multipath route of the VIP.
const ScKernelECMP = "kernel-ecmp"

// TCP loads of the phase.
const (
	LoadHTTP = "http"
	LoadBulk = "bulk"
)

// Ports of the phase's services on the VIP and the real servers.
const (
	httpPort  = 80
	iperfPort = 5201
)

// httpFile is what nginx serves, httpFileSize its size.
const (
	httpFile     = "index.html"
	httpFileSize = 1024
)

// TCPTrial is one trial of the phase: a scenario under a load in a round.
type TCPTrial struct {
	Round    int
	Lab      string // nat or dr
	Load     string // http or bulk
	Scenario string
	// HTTP is ab's report (http), Bulk iperf3's (bulk).
	HTTP *ABResult    `json:",omitempty"`
	Bulk *IperfResult `json:",omitempty"`
	// DaemonCPU is the xvs daemon's own CPU time over the load, for xvs
	// scenarios.
	DaemonCPU time.Duration `json:",omitempty"`
	// Window is the client tool's run, start to exit; LabCPU what the
	// lab's processes (client tool, servers, xvs) and the packet kernel
	// threads used in it (procscan.go): the kernel baselines' forwarding
	// runs in softirq and is charged to the processes that send.
	Window, LabCPU time.Duration `json:",omitempty"`
	// Busy is the machine's busy time in that window, all cores and all
	// jobs (/proc/stat): on a shared machine, how much of it the lab had.
	Busy time.Duration `json:",omitempty"`
	Err  string        `json:",omitempty"`
	// Skipped says Err is xvs being unavailable, not a failure.
	Skipped bool `json:",omitempty"`
}

// Value is the trial's figure: requests/s (http) or Gbit/s (bulk), NaN
// without one.
func (t TCPTrial) Value() float64 {
	switch {
	case t.Err != "":
	case t.HTTP != nil:
		return t.HTTP.RPS
	case t.Bulk != nil:
		return t.Bulk.Gbps()
	}
	return math.NaN()
}

// tcpLoads are the phase's loads in trial order.
var tcpLoads = []string{LoadHTTP, LoadBulk}

// tcpTrials are one lab's trials: per round and load, xvs and the
// baseline, the order swapped every round.
func tcpTrials(method, xvs, base string, rounds int) []TCPTrial {
	var out []TCPTrial
	for r := range rounds {
		for _, l := range tcpLoads {
			pair := []string{xvs, base}
			if r%2 == 1 {
				pair[0], pair[1] = pair[1], pair[0]
			}
			for _, s := range pair {
				out = append(out, TCPTrial{Round: r, Lab: method, Load: l, Scenario: s})
			}
		}
	}
	return out
}

// tcpLoadPhase runs the phase: the NAT lab, then the DR lab, each built,
// measured and removed; then the rows are assembled into res.TCPLoad.
func (r *runner) tcpLoadPhase(ctx context.Context) {
	o := r.opts
	r.res.Options.TCPLoadTime, r.res.Options.HTTPRequests, r.res.Options.HTTPConcurrency = o.TCPLoadTime, o.HTTPRequests, o.HTTPConcurrency
	r.res.Options.TCPLoadRPS = o.TCPLoadRPS && r.dirCPU() >= 0
	defer func() { r.res.TCPLoad = TCPLoadRows(r.res.TCPTrials) }()
	if miss := missingTCPTools(); len(miss) > 0 {
		r.fail(fmt.Errorf("tcpload: %s not installed (bash scripts/deps.sh installs them)", strings.Join(miss, ", ")))
		return
	}
	www := filepath.Join(r.tmp, "tcpload", "www")
	if err := writeWWW(www); err != nil {
		r.fail(fmt.Errorf("tcpload: %w", err))
		return
	}
	for _, method := range []string{"nat", "dr"} {
		if err := ctx.Err(); err != nil {
			return
		}
		if err := r.tcpLoadLab(ctx, method, www); err != nil {
			r.fail(fmt.Errorf("tcpload %s lab: %w", method, err))
		}
	}
}

// tcpLoadLab builds one lab of the phase and runs its trials.
func (r *runner) tcpLoadLab(ctx context.Context, method, www string) (err error) {
	r.progress("tcpload: building the %s lab (%d real servers, nginx and iperf3)", method, r.opts.Reals)
	tl, err := newTCPLab(ctx, method, r.opts.Reals, r.genCPU(), www, filepath.Join(r.tmp, "tcpload", method))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := tl.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("remove lab: %w", cerr)
		}
	}()
	trials := tcpTrials(method, tl.xvsScenario(), tl.baseScenario(), r.opts.Rounds)
	for i, t := range trials {
		if err := ctx.Err(); err != nil {
			return err
		}
		t = r.tcpTrial(ctx, tl, t)
		r.res.TCPTrials = append(r.res.TCPTrials, t)
		prefix := fmt.Sprintf("tcpload %s [%d/%d] %-11s %-4s round %d", method, i+1, len(trials), t.Scenario, t.Load, t.Round+1)
		switch {
		case t.Skipped:
			r.progress("%s: skipped: %s", prefix, t.Err)
		case t.Err != "" && ctx.Err() != nil:
			r.progress("%s: interrupted", prefix)
		case t.Err != "":
			r.fail(fmt.Errorf("%s: %s", prefix, t.Err))
		case t.HTTP != nil:
			r.progress("%s: %8.0f requests/s (%d complete, %d failed, %d non-2xx in %v)", prefix, t.HTTP.RPS,
				t.HTTP.Complete, t.HTTP.Failed, t.HTTP.Non2xx, t.HTTP.Taken.Round(time.Millisecond))
		case t.Bulk != nil:
			r.progress("%s: %8.3f Gbit/s (%d retransmits)", prefix, t.Bulk.Gbps(), t.Bulk.Retransmits)
		}
	}
	return nil
}

// startTCPDirector sets the director up for scenario under load.
func (r *runner) startTCPDirector(ctx context.Context, tl *tcpLab, scenario, load string) (Director, error) {
	switch scenario {
	case ScXVSNAT, ScXVSDR:
		if r.xvsErr != nil {
			return nil, r.xvsErr
		}
		cfg := tcpLoadConfig(tl.lab.VIP4, tl.reals(), tl.bulkReal(), tl.method)
		path := filepath.Join(r.tmp, "xvs-tcpload-"+tl.method+".yaml")
		return r.xvsStarted(r.execXVS(ctx, tl.dir, "xvs tcpload "+tl.method, path, cfg, backendXDP))
	case ScNftDNAT:
		return startNftRules(ctx, tl.dir, r.opts.NftPath, tcpNftRuleset(tl.lab.VIP4, tl.reals(), tl.bulkReal()))
	case ScKernelECMP:
		return startKernelECMP(ctx, tl, load)
	}
	return nil, fmt.Errorf("tcpload: unknown scenario %q", scenario)
}

// tcpTrial runs one trial: the director set up from scratch, the load's
// client on the client host, the director torn down.
func (r *runner) tcpTrial(ctx context.Context, tl *tcpLab, t TCPTrial) TCPTrial {
	if !isXVS(t.Scenario) && r.res.Options.TCPLoadRPS {
		if err := tl.dir.SteerRPS(ctx, 1<<r.dirCPU()); err != nil {
			t.Err = err.Error()
			return t
		}
		defer func() {
			if err := tl.dir.SteerRPS(context.Background(), 0); err != nil && t.Err == "" {
				t.Err = err.Error()
			}
		}()
	}
	dir, err := r.startTCPDirector(ctx, tl, t.Scenario, t.Load)
	if err != nil {
		t.Err, t.Skipped = err.Error(), errors.Is(err, ErrXVSUnavailable)
		return t
	}
	xd, _ := dir.(*xvsDirector)
	var d0 uint64
	if xd != nil {
		d0, _ = pidTicks(xd.Pid())
	}
	client := tl.lab.Client.NS
	vip := tl.lab.VIP4.String()
	labNS := tl.nsInodes()
	o0, w0 := scanCPU(labNS), time.Now()
	m0, merr := ReadCPUTimes()
	switch t.Load {
	case LoadHTTP:
		var res ABResult
		res, err = runAB(ctx, client, r.genCPU(), ABRun{URL: "http://" + vip + "/" + httpFile,
			Concurrency: r.opts.HTTPConcurrency, Requests: r.opts.HTTPRequests, Time: r.opts.TCPLoadTime})
		if err == nil {
			t.HTTP = &res
			err = checkHTTP(res)
		}
	case LoadBulk:
		var res IperfResult
		res, err = runIperf3(ctx, client, r.genCPU(), IperfRun{Host: vip, Port: iperfPort, Time: r.opts.TCPLoadTime})
		if err == nil {
			t.Bulk = &res
			if res.Bytes == 0 {
				err = fmt.Errorf("%w: iperf3 moved no data", ErrNoTraffic)
			}
		}
	}
	t.Window, t.LabCPU = time.Since(w0), scanCPU(labNS).lab.Sub(o0.lab)
	if m1, err := ReadCPUTimes(); err == nil && merr == nil {
		t.Busy = m1.Sub(m0).BusyDuration()
	}
	if xd != nil {
		if d1, derr := pidTicks(xd.Pid()); derr == nil && d1 >= d0 {
			t.DaemonCPU = ticksDuration(d1 - d0)
		}
	}
	if serr := dir.Stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		t.Err = err.Error()
	}
	return t
}

// checkHTTP turns an ab run that did not work into an error: none
// complete, error answers, or more than one request in a hundred failed
// (a request cut off at ab's time limit may count as failed).
func checkHTTP(res ABResult) error {
	switch {
	case res.Complete == 0:
		return fmt.Errorf("%w: ab completed no request (%d failed)", ErrNoTraffic, res.Failed)
	case res.Non2xx > 0:
		return fmt.Errorf("%d of %d answers were not 2xx", res.Non2xx, res.Complete)
	case res.Failed > res.Complete/100:
		return fmt.Errorf("%d of %d requests failed", res.Failed, res.Complete)
	}
	return nil
}
