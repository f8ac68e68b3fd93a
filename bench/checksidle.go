package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

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
