package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
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

// ScXVSNATChecks is xvs-nat plus Options.CheckedReals HTTP checks every
// second.
const ScXVSNATChecks = ScXVSNAT + checksSuffix

// ScXVSNATPaced is xvs-nat, without checks or sync, with the generator held
// to the rate it offered in the same round's xvs-nat-checks (or
// xvs-nat-sync) trial: the checks share the generator's core, so the
// checks trial is offered less, and a worker's CPU per frame depends on
// how loaded it is (smaller batches under a lighter load). The paced twin
// is the fair "without" for the workers' cost and for the delivered rate:
// the same daemon as xvs-nat under the variant's own offered load. It runs
// right after each such trial (runner.phase) and is not a scenario of the
// schedule.
const ScXVSNATPaced = ScXVSNAT + pacedSuffix

// pacedSuffix marks the paced twin.
const pacedSuffix = "-paced"

// hasPacedTwin reports whether a scenario's trials are followed by a
// paced twin.
func hasPacedTwin(s string) bool { return isChecks(s) || isSync(s) }

// isPaced reports whether a scenario is the paced twin of a checks trial.
func isPaced(s string) bool { return isXVS(s) && strings.HasSuffix(s, pacedSuffix) }

// pacedTwin is the trial that follows checks or sync trial t, at the rate
// res says its generator sent; ok is false when t is neither or failed.
func pacedTwin(t Trial, res TrialResult) (twin Trial, ok bool) {
	if rt := res.SentPPS(); !hasPacedTwin(t.Scenario) || res.Err != "" || !(rt > 0) { // NaN without a window
		return Trial{}, false
	}
	return Trial{Round: t.Round, Load: t.Load, Scenario: ScXVSNATPaced, Rate: res.SentPPS()}, true
}

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
