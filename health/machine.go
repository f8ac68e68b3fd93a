package health

import "time"

// machine is one checker's state, keepalived's is_up / has_run / retry_it, stepped by each
// probe's outcome. It is a pure function of its inputs so the tests can walk it exactly.
type machine struct {
	up      bool // is_up: the checker counts as passing
	hasRun  bool // has_run: a result has been applied at least once
	retryIt int  // retry_it: forgiven failures so far
}

// verdict is what one step says to the real server.
type verdict uint8

const (
	noChange  verdict = iota
	wentUp            // the checker passes again (or for the first time under alpha)
	wentDown          // the checker failed for good
	firstSame         // the first result agrees with the starting state (keepalived notifies then)
)

// newMachine starts a checker up, or down under alpha. keepalived also starts every checker
// with its retries spent ("one failure is enough initially"), so a server that is dead at
// start-up leaves the pool after its first probe.
func newMachine(alpha bool, retry int) machine {
	return machine{up: !alpha, retryIt: retry}
}

// step applies one probe's outcome and returns the verdict and the wait before the next probe
// (tcp_epilog in check_tcp.c; the UDP, HTTP, DNS and MISC epilogues have the same shape).
func (m *machine) step(ok bool, t Timing) (verdict, time.Duration) {
	next := t.DelayLoop
	v := noChange
	if ok || ((m.up || !m.hasRun) && m.retryIt >= t.Retry) {
		m.retryIt = 0
		switch {
		case ok && (!m.up || !m.hasRun):
			v = m.report(true)
		case !ok && (m.up || !m.hasRun):
			v = m.report(false)
		}
	} else if m.up {
		next = t.DelayBeforeRetry
		m.retryIt++
	}
	return v, next
}

// report is update_svr_checker_state's view of the checker: a change flips is_up, a first
// result that agrees with the start only marks has_run.
func (m *machine) report(alive bool) verdict {
	if m.up == alive {
		if !m.hasRun {
			m.hasRun = true
			return firstSame
		}
		return noChange
	}
	m.hasRun = true
	m.up = alive
	if alive {
		return wentUp
	}
	return wentDown
}
