package health

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/xvs-project/xvs/internal/notify"
)

// Options are the engine's collaborators; every field may be left zero.
type Options struct {
	// Clock defaults to SystemClock.
	Clock Clock
	// Logger gets one line per transition (rate-limited per real server); nil discards.
	Logger *slog.Logger
	// Notify runs a notify or quorum script; nil runs it with notify.Run.
	Notify func(argv []string)
	// Jitter returns a random duration in [0, max] for the warmup; nil uses math/rand.
	Jitter func(max time.Duration) time.Duration
	// Observe is called after every probe with the checker's new status and the probe's
	// duration, outside the engine's lock: the place for metrics.
	Observe func(st CheckStatus, took time.Duration)
	// LogBurst transition lines per LogWindow are logged for one real server, the rest are
	// counted and the count is shown on the next line let through. Defaults: 5 per minute.
	LogBurst  int
	LogWindow time.Duration
}

// Engine runs the checkers of a set of services and applies keepalived's decisions through
// Actions. It is safe for concurrent use.
type Engine struct {
	actions Actions
	clock   Clock
	log     *slog.Logger
	opts    Options

	mu       sync.Mutex // guards everything below and all svcState/realState/checkState
	services []*svcState
	started  bool
	stopped  bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type checkState struct {
	cfg   *Check
	real  *realState
	m     machine
	delta int // this dynamic checker's weight offset
	timer Timer
	dead  bool // dropped by a Reload: a probe in flight is not applied
	st    CheckStatus
}

// New validates the services and builds an engine; nothing runs until Start.
func New(services []Service, actions Actions, opts Options) (*Engine, error) {
	e := &Engine{actions: actions, opts: opts, clock: opts.Clock, log: opts.Logger}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.opts.LogBurst <= 0 {
		e.opts.LogBurst = 5
	}
	if e.opts.LogWindow <= 0 {
		e.opts.LogWindow = time.Minute
	}
	svcs, err := build(services)
	if err != nil {
		return nil, err
	}
	e.services = svcs
	return e, nil
}

// build validates services and makes their fresh state: every checker at its start (up, or
// down under alpha), nothing in the pool yet.
func build(services []Service) ([]*svcState, error) {
	var out []*svcState
	for i := range services {
		cfg := services[i] // a copy: the caller may reuse its slice
		if err := cfg.validate(); err != nil {
			return nil, err
		}
		s := &svcState{cfg: &cfg}
		for j := range cfg.Reals {
			r := &realState{cfg: &cfg.Reals[j], svc: s, inhibit: cfg.Reals[j].Inhibit}
			for k := range r.cfg.Checks {
				c := &r.cfg.Checks[k]
				cs := &checkState{cfg: c, real: r, m: newMachine(c.Alpha, c.Timing.Retry)}
				if c.Alpha {
					r.failed++
				}
				kind, target := c.Checker.Describe()
				if via := netOf(c.Checker).viaOrZero(); via.IsValid() {
					target += " via " + via.String()
				}
				cs.st = CheckStatus{Service: cfg.Name, Real: r.cfg.Name, Kind: kind, Target: target, Up: cs.m.up}
				r.checks = append(r.checks, cs)
			}
			s.reals = append(s.reals, r)
		}
		if cfg.Sorry != nil {
			s.sorry = &realState{cfg: cfg.Sorry, svc: s, inhibit: cfg.SorryInhibit}
		}
		out = append(out, s)
	}
	return out, nil
}

// Start puts the initial pool in place through Actions (servers without alpha checkers join
// at once, as in keepalived) and schedules each checker's first probe after keepalived's
// bootstrap second plus a random part of its warmup.
func (e *Engine) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return
	}
	e.started = true
	e.ctx, e.cancel = context.WithCancel(context.Background())
	now := e.clock.Now()
	for _, s := range e.services {
		e.initService(s)
		for _, r := range s.reals {
			for _, c := range r.checks {
				c.st.LastChange = now
				e.schedule(c, BootstrapDelay+e.jitter(c.cfg.Timing.Warmup))
			}
		}
	}
}

// Stop cancels running probes, waits for them, and stops scheduling. With omega the services
// run their notify_down (for servers alive) and quorum_down scripts, as keepalived does at
// shutdown. The pool is left as it is: the caller tears its services down itself.
func (e *Engine) Stop() {
	e.mu.Lock()
	if e.stopped || !e.started {
		e.stopped = true
		e.mu.Unlock()
		return
	}
	e.stopped = true
	for _, s := range e.services {
		for _, r := range s.reals {
			for _, c := range r.checks {
				if c.timer != nil {
					c.timer.Stop()
				}
			}
		}
	}
	e.cancel()
	e.mu.Unlock()
	e.wg.Wait()

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.services {
		if !s.cfg.Omega {
			continue
		}
		for _, r := range s.reals {
			if r.alive {
				r.alive = false
				e.notify(r.cfg.NotifyDown)
			}
		}
		s.quorumUp = false
		e.notify(s.cfg.QuorumDown)
	}
}

func (e *Engine) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	if e.opts.Jitter != nil {
		return e.opts.Jitter(max)
	}
	return rand.N(max + 1)
}

func (e *Engine) schedule(c *checkState, d time.Duration) {
	c.timer = e.clock.AfterFunc(d, func() { e.probe(c) })
}

// probe runs one check outside the lock and applies its result under it.
func (e *Engine) probe(c *checkState) {
	e.mu.Lock()
	if e.stopped || c.dead {
		e.mu.Unlock()
		return
	}
	ctx, checker, timeout := e.ctx, c.cfg.Checker, c.cfg.Timing.Timeout // c.cfg changes on Reload
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

	pctx, cancel := context.WithTimeout(ctx, timeout)
	began := time.Now()
	res := checker.Check(pctx)
	took := time.Since(began)
	cancel()

	e.mu.Lock()
	if e.stopped || c.dead {
		e.mu.Unlock()
		return
	}
	next := e.apply(c, res, took)
	e.schedule(c, next)
	st := c.status()
	e.mu.Unlock()
	if e.opts.Observe != nil {
		e.opts.Observe(st, took)
	}
}

// apply feeds one result to the checker's machine and the pool; it returns the wait before
// the next probe.
func (e *Engine) apply(c *checkState, res Result, took time.Duration) time.Duration {
	now := e.clock.Now()
	c.st.Runs++
	if !res.OK {
		c.st.Failures++
	}
	c.st.LastOK, c.st.LastReason, c.st.LastRun, c.st.LastDuration = res.OK, res.Reason, now, took
	if res.OK && res.Dynamic {
		delta := 0
		if res.Weight >= 0 {
			delta = res.Weight - c.real.cfg.Weight
		}
		e.setDelta(c, delta)
	}
	v, next := c.m.step(res.OK, c.cfg.Timing)
	if v == wentDown && c.delta != 0 {
		// A dynamic checker that failed for good gives up its weight offset without an
		// edit of its own, as keepalived's MISC epilogue: the server is leaving anyway.
		c.real.delta -= c.delta
		c.delta = 0
	}
	if v == wentUp || v == wentDown {
		c.st.Transitions++
		c.st.LastChange = now
		if e.logAllowed(&c.real.lim) {
			state := "up"
			if v == wentDown {
				state = "down"
			}
			e.log.Info("health: checker "+state, "service", c.st.Service, "real", c.st.Real,
				"kind", string(c.st.Kind), "target", c.st.Target, "reason", res.Reason, suppressedAttr(&c.real.lim))
		}
	}
	e.checkerChanged(c, v)
	c.st.Up = c.m.up
	return next
}

func (e *Engine) logAllowed(l *limiter) bool {
	return l.allow(e.clock.Now(), e.opts.LogBurst, e.opts.LogWindow)
}

func (e *Engine) notify(argv []string) {
	if len(argv) == 0 {
		return
	}
	if e.opts.Notify != nil {
		e.opts.Notify(argv)
		return
	}
	notify.Run(argv, "health", e.log)
}
