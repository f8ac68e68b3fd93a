package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/control"
)

// The health-check scenario (issue 12's bench row): xvs-nat-checks is
// xvs-nat's daemon, services and trials plus a second virtual server, on
// another VIP that no traffic is sent to, whose real servers are all checked
// by HTTP_GET every second. The checked "real servers" are one HTTP server
// (the __checkd child) on real server 1's address, listening on one port
// per checked server from checkPortBase; the sink passes TCP to those ports
// to the stack (xdpprog.go) and counts and drops everything else, so the
// checked servers take none of the forwarded load and the forwarded load
// none of the checks. The daemon reads that configuration as keepalived.conf
// (xvs run auto-detects the format), the grammar operators write checks in.

// checksSuffix marks the xvs scenario that also runs the health checks.
const checksSuffix = "-checks"

// ScXVSNATChecks is xvs-nat plus checkedReals HTTP checks every second.
const ScXVSNATChecks = ScXVSNAT + checksSuffix

// Ports of the checked servers: checkPortBase up to checkPortBase+
// maxCheckedReals-1 on real server 1's address. They lie below the lab
// namespaces' ephemeral range (32768 and up), away from every forwarded
// service's port.
const (
	checkPortBase   = 20000
	maxCheckedReals = 4096
)

// checksVIP is the checked virtual server's address: no interface holds it
// and the generator never sends to it.
var checksVIP = netip.MustParseAddr("198.18.0.11")

// Check timing of the checked virtual server, keepalived's keywords: a
// probe every second, a connect timeout well above the lab's round trip
// under load, one retry a second later.
const (
	checkDelayLoop      = time.Second
	checkConnectTimeout = 2 * time.Second
	checkRetry          = 1
	checkRetryDelay     = time.Second
)

// isChecks reports whether a scenario runs the health checks.
func isChecks(s string) bool { return isXVS(s) && strings.HasSuffix(s, checksSuffix) }

// checksHost is the address the checked servers listen on: real server 1's.
func checksHost(lab *Lab) netip.Addr { return lab.Reals[0].Addr }

// keepalivedConfig writes the checks scenario's keepalived.conf: the same
// three forwarding services as xvsConfig (no checkers, so their real
// servers are always in), and checked HTTP_GET real servers on host ports
// checkPortBase.. behind checksVIP:80.
func keepalivedConfig(vip netip.Addr, reals []netip.Addr, method string, host netip.Addr, checked int) string {
	var b strings.Builder
	b.WriteString("# xvs-bench: the xvs-nat services, plus a checked virtual server no traffic goes to\n")
	kind := strings.ToUpper(method)
	for _, s := range []struct {
		proto string
		port  int
	}{{"UDP", bulkPort}, {"UDP", probePort}, {"TCP", synPort}} {
		fmt.Fprintf(&b, "virtual_server %s %d {\n    lb_algo rr\n    lb_kind %s\n    protocol %s\n", vip, s.port, kind, s.proto)
		for _, a := range reals {
			fmt.Fprintf(&b, "    real_server %s %d {\n        weight 1\n    }\n", a, s.port)
		}
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "virtual_server %s 80 {\n    delay_loop %d\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
		checksVIP, int(checkDelayLoop/time.Second))
	for i := range checked {
		fmt.Fprintf(&b, "    real_server %s %d {\n        weight 1\n        HTTP_GET {\n            url {\n                path /\n                status_code 200\n            }\n"+
			"            connect_timeout %d\n            retry %d\n            delay_before_retry %d\n        }\n    }\n",
			host, checkPortBase+i, int(checkConnectTimeout/time.Second), checkRetry, int(checkRetryDelay/time.Second))
	}
	b.WriteString("}\n")
	return b.String()
}

// CheckCounts sums the daemon's checkers (control.Client.Checks) at one
// moment, or the runs and failures between two such moments (Sub).
type CheckCounts struct {
	// Checkers is how many checkers the daemon runs, Up how many of them are
	// up (Sub keeps the later snapshot's).
	Checkers, Up int
	// Runs and Failures count probes and failed probes.
	Runs, Failures uint64
	// At is when the snapshot was taken; after Sub, Window is the time
	// between the two.
	At     time.Time     `json:"-"`
	Window time.Duration `json:",omitempty"`
}

// Sub returns the probes run and failed since prev, with c's checker
// counts.
func (c CheckCounts) Sub(prev CheckCounts) CheckCounts {
	return CheckCounts{Checkers: c.Checkers, Up: c.Up, Runs: c.Runs - prev.Runs,
		Failures: c.Failures - prev.Failures, Window: c.At.Sub(prev.At)}
}

// PerSecond returns probes per second over the window (NaN without one).
func (c CheckCounts) PerSecond() float64 { return rate(c.Runs, c.Window) }

// countChecks sums a checks report.
func countChecks(rep control.ChecksReport, at time.Time) CheckCounts {
	c := CheckCounts{Checkers: len(rep.Checks), At: at}
	for _, st := range rep.Checks {
		if st.State() == "up" {
			c.Up++
		}
		c.Runs += st.Runs
		c.Failures += st.Failures
	}
	return c
}

// Checks asks the daemon for its checkers' state and sums it.
func (d *xvsDirector) Checks() (CheckCounts, error) {
	c, err := control.Dial(d.sock)
	if err != nil {
		return CheckCounts{}, err
	}
	defer c.Close()
	rep, err := c.Checks()
	if err != nil {
		return CheckCounts{}, fmt.Errorf("checks: %w", err)
	}
	return countChecks(rep, time.Now()), nil
}

// waitChecksUp waits until the daemon runs want checkers and every one of
// them has probed and is up: only then is a checks trial measured.
func (d *xvsDirector) waitChecksUp(ctx context.Context, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last CheckCounts
	var lastErr error
	for {
		last, lastErr = d.Checks()
		if lastErr == nil && last.Checkers == want && last.Up == want {
			return nil
		}
		if d.p.exited() {
			return fmt.Errorf("bin/xvs exited while its checks started: %v: %s", d.p.err, lastLines(d.p.stderr.String(), 3))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if lastErr != nil {
				return fmt.Errorf("checkers not up after %v: %w", within, lastErr)
			}
			return fmt.Errorf("checkers not up after %v: %d of %d configured, %d up", within, last.Checkers, want, last.Up)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pidTicks returns a process's utime+stime (all its threads) in clock
// ticks.
func pidTicks(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrProcStat, err)
	}
	_, t, err := ParsePidStat(string(b))
	return t, err
}

func ticksDuration(t uint64) time.Duration { return time.Duration(t) * (time.Second / userHz) }

// childCheckd is the checked servers' HTTP server.
const childCheckd = "__checkd"

// CheckdConfig is the checked servers' HTTP server: Ports ports from
// checkPortBase on Addr.
type CheckdConfig struct {
	Addr  netip.Addr
	Ports int
}

// CheckdReport is the HTTP server's answer to any request line: the
// requests it has answered so far.
type CheckdReport struct {
	Requests uint64
}

// RunCheckd serves "200 OK" on every port until stdin closes (or SIGTERM),
// answering each line read from in with a CheckdReport.
func RunCheckd(cfg CheckdConfig, in io.Reader, out io.Writer) error {
	if cfg.Ports < 1 || cfg.Ports > maxCheckedReals {
		return fmt.Errorf("checkd: %d ports not in 1..%d", cfg.Ports, maxCheckedReals)
	}
	var served atomic.Uint64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	defer srv.Close()
	for i := range cfg.Ports {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(cfg.Addr, uint16(checkPortBase+i)).String())
		if err != nil {
			return fmt.Errorf("checkd: %w", err)
		}
		go func() { _ = srv.Serve(ln) }()
	}
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		if err := enc.Encode(CheckdReport{Requests: served.Load()}); err != nil {
			return err
		}
	}
	return sc.Err()
}

// IdleResult is one measurement of an idle daemon (no traffic): its CPU
// over Window, with or without the checks.
type IdleResult struct {
	Scenario string
	Round    int
	Window   time.Duration
	// DaemonCPU is the daemon's CPU time over the window; CheckdCPU the
	// checked servers' HTTP server's (lab cost, not the director's).
	DaemonCPU, CheckdCPU time.Duration
	// Requests the HTTP server answered in the window.
	Requests uint64
	// Checks over the window (checks scenario only).
	Checks *CheckCounts `json:",omitempty"`
	Err    string       `json:",omitempty"`
}

// checksIdlePhase measures the idle daemon's CPU with and without the
// checks: per round, a fresh xvs-nat and xvs-nat-checks daemon each (order
// swapped every round), CheckIdle long, no traffic.
func (r *runner) checksIdlePhase(ctx context.Context, lab *Lab) {
	for round := range r.opts.Rounds {
		pair := []string{ScXVSNAT, ScXVSNATChecks}
		if round%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0]
		}
		for _, s := range pair {
			if ctx.Err() != nil || r.xvsErr != nil {
				return
			}
			ir := r.idle(ctx, lab, s, round)
			r.res.ChecksIdle = append(r.res.ChecksIdle, ir)
			if ir.Err != "" {
				r.fail(fmt.Errorf("idle %s round %d: %s", s, round+1, ir.Err))
				continue
			}
			secs := ir.Window.Seconds()
			line := fmt.Sprintf("idle %-14s round %d: daemon %.3f cores, HTTP server %.3f cores, %d requests",
				s, round+1, ir.DaemonCPU.Seconds()/secs, ir.CheckdCPU.Seconds()/secs, ir.Requests)
			if ir.Checks != nil {
				line += fmt.Sprintf(", %d of %d checkers up, %.0f probes/s, %d failed", ir.Checks.Up, ir.Checks.Checkers,
					ir.Checks.PerSecond(), ir.Checks.Failures)
			}
			r.progress("%s", line)
		}
	}
}

// idle runs one idle measurement.
func (r *runner) idle(ctx context.Context, lab *Lab, scenario string, round int) (ir IdleResult) {
	ir.Scenario, ir.Round = scenario, round
	dir, err := r.startDirector(ctx, lab, scenario)
	if err != nil {
		ir.Err = err.Error()
		return ir
	}
	xd, ok := dir.(*xvsDirector)
	if !ok {
		_ = dir.Stop()
		ir.Err = "not an xvs scenario"
		return ir
	}
	fail := func(err error) IdleResult {
		_ = dir.Stop()
		ir.Err = err.Error()
		return ir
	}
	// Start-up (the configuration read, the first probes) is not idle.
	time.Sleep(300 * time.Millisecond)
	var k0 CheckCounts
	if isChecks(scenario) {
		if k0, err = xd.Checks(); err != nil {
			return fail(err)
		}
	}
	var q0, q1 CheckdReport
	if err := r.checkd.request(struct{}{}, &q0, 5*time.Second); err != nil {
		return fail(err)
	}
	checkdPid := r.checkd.cmd.Process.Pid
	c0, err0 := pidTicks(checkdPid)
	d0, err1 := pidTicks(xd.Pid())
	t0 := time.Now()
	time.Sleep(r.opts.CheckIdle)
	d1, err2 := pidTicks(xd.Pid())
	c1, err3 := pidTicks(checkdPid)
	ir.Window = time.Since(t0)
	if err := errors.Join(err0, err1, err2, err3); err != nil {
		return fail(err)
	}
	if err := r.checkd.request(struct{}{}, &q1, 5*time.Second); err != nil {
		return fail(err)
	}
	ir.DaemonCPU, ir.CheckdCPU, ir.Requests = ticksDuration(d1-d0), ticksDuration(c1-c0), q1.Requests-q0.Requests
	if isChecks(scenario) {
		k1, err := xd.Checks()
		if err != nil {
			return fail(err)
		}
		k := k1.Sub(k0)
		ir.Checks = &k
	}
	if err := dir.Stop(); err != nil {
		ir.Err = err.Error()
	}
	return ir
}

// trimChecksStats leaves the checked virtual server's block out of an
// `xvsadm -Ln --stats` listing (a thousand idle real servers would bury the
// forwarding services' counters in the report) and says so in one line.
func trimChecksStats(st string) string {
	var b strings.Builder
	in, left := false, 0
	for _, line := range strings.SplitAfter(st, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			in = strings.Contains(line, " "+checksVIP.String()+":")
		}
		if in {
			if strings.HasPrefix(line, "  ->") {
				left++
			}
			continue
		}
		b.WriteString(line)
	}
	if left > 0 {
		fmt.Fprintf(&b, "(the checked virtual server %s:80 and its %d real servers left out)\n", checksVIP, left)
	}
	return b.String()
}
