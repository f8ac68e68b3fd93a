package health

import (
	"sort"
	"time"
)

// CheckStatus is one checker's line in `xvsadm --checks`.
type CheckStatus struct {
	Service, Real string
	Kind          Kind
	// Target is what the checker probes ("198.18.1.2:80/health"), with
	// " via VIP:port" when a path-true probe is routed through the VIP.
	Target string
	// Up is the checker's state; RealAlive the real server's (all its checkers up).
	Up, RealAlive bool
	// Weight is the real server's weight in the pool now (0 when out or inhibited).
	Weight int
	// LastOK and LastReason are the last probe's outcome; LastRun when it ended, LastDuration
	// how long it took; LastChange the time of the last transition (or of Start).
	LastOK       bool
	LastReason   string
	LastRun      time.Time
	LastDuration time.Duration
	LastChange   time.Time
	// Runs, Failures and Transitions count probes, failed probes and up/down changes.
	Runs, Failures, Transitions uint64
}

// State is "up", "down", or "starting" before the first probe.
func (s CheckStatus) State() string {
	switch {
	case s.Runs == 0:
		return "starting"
	case s.Up:
		return "up"
	}
	return "down"
}

// ServiceStatus is a service's quorum view.
type ServiceStatus struct {
	Name string
	// QuorumUp says the live weight meets the quorum; LiveWeight is that weight.
	QuorumUp   bool
	LiveWeight int
	// SorryActive says the sorry server stands in for the real servers.
	SorryActive bool
}

// Status returns every checker's status, in configuration order.
func (e *Engine) Status() []CheckStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []CheckStatus
	for _, s := range e.services {
		for _, r := range s.reals {
			for _, c := range r.checks {
				out = append(out, c.status())
			}
		}
	}
	return out
}

// status is the checker's line with its real server's present state; e.mu must be held.
func (c *checkState) status() CheckStatus {
	r := c.real
	st := c.st
	st.Up, st.RealAlive = c.m.up, r.alive
	if r.set && r.alive && r.svc.poolOpen() {
		st.Weight = r.weight()
	}
	return st
}

// Services returns each service's quorum state, sorted by name.
func (e *Engine) Services() []ServiceStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ServiceStatus, 0, len(e.services))
	for _, s := range e.services {
		out = append(out, ServiceStatus{Name: s.cfg.Name, QuorumUp: s.quorumUp, LiveWeight: s.liveWeight(),
			SorryActive: s.sorry != nil && s.sorry.alive})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
