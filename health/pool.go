package health

import (
	"fmt"
	"log/slog"
)

// The pool decision, keepalived's ipwrapper.c re-told: which real servers are in a service's
// pool and at what weight, given which are alive, the quorum and the sorry server. Every
// function here runs with Engine.mu held.

type svcState struct {
	cfg      *Service
	quorumUp bool
	reals    []*realState
	sorry    *realState
}

type realState struct {
	cfg     *Real
	svc     *svcState
	inhibit bool
	alive   bool // ISALIVE: counted in the weight sum and, quorum permitting, in the pool
	set     bool // present in the pool (at some weight) as far as Actions were told
	failed  int  // num_failed_checkers
	delta   int  // Σ of dynamic checkers' weight offsets from the configured weight
	checks  []*checkState
	lim     limiter
}

// weight is the effective weight clamped as IPVS would (real_weight).
func (r *realState) weight() int { return max(r.cfg.Weight+r.delta, 0) }

func (e *Engine) act(what string, s *svcState, r *realState, err error) {
	if err != nil {
		e.log.Warn("health: action failed", "action", what, "service", s.cfg.Name, "real", r.cfg.Name, "err", err)
	}
}

// add is ipvs_cmd(ADD_DEST): an inhibited server already in the pool gets its weight back; a
// new one joins, at weight 0 if it is inhibited with failed checkers (start-up).
func (e *Engine) add(s *svcState, r *realState) {
	switch {
	case r.inhibit && r.set:
		e.act("set-weight", s, r, e.actions.SetWeight(s.cfg.Key, r.cfg.Key, r.weight()))
	case !r.set:
		r.set = true
		w := r.weight()
		if r.inhibit && r.failed > 0 {
			w = 0
		}
		e.act("add", s, r, e.actions.AddReal(s.cfg.Key, r.cfg.Key, w))
	}
}

// del is ipvs_cmd(DEL_DEST): an inhibited server stays at weight 0, another leaves.
func (e *Engine) del(s *svcState, r *realState) {
	switch {
	case r.inhibit:
		e.act("set-weight", s, r, e.actions.SetWeight(s.cfg.Key, r.cfg.Key, 0))
	case r.set:
		r.set = false
		e.act("remove", s, r, e.actions.RemoveReal(s.cfg.Key, r.cfg.Key))
	}
}

func (s *svcState) liveWeight() int {
	sum := 0
	for _, r := range s.reals {
		if r.alive {
			sum += r.weight()
		}
	}
	return sum
}

// poolOpen says changes of real servers reach the pool: quorum holds, or no sorry server
// stands in for them.
func (s *svcState) poolOpen() bool { return s.quorumUp || s.sorry == nil || !s.sorry.alive }

// swapAlive adds (or removes) every alive real server: perform_quorum_state.
func (e *Engine) swapAlive(s *svcState, add bool) {
	if add {
		e.log.Info("health: adding alive servers to the pool", "service", s.cfg.Name)
	} else {
		e.log.Info("health: removing alive servers from the pool", "service", s.cfg.Name)
	}
	for _, r := range s.reals {
		if !r.alive {
			continue
		}
		if add {
			e.add(s, r)
		} else {
			e.del(s, r)
		}
	}
}

// updateQuorum is update_quorum_state: gain quorum at weight ≥ quorum+hysteresis, lose it at
// weight 0 or weight < quorum−hysteresis, swapping the sorry server in and out. At start-up
// (init) a service without quorum that has a sorry server gets it at once.
func (e *Engine) updateQuorum(s *svcState, init bool) {
	w := s.liveWeight()
	q, h := s.cfg.Quorum, s.cfg.Hysteresis
	threshold := q + h
	if s.quorumUp {
		threshold = q - h
	}
	switch {
	case !s.quorumUp && w >= threshold:
		s.quorumUp = true
		e.log.Info(fmt.Sprintf("health: gained quorum %d+%d=%d <= %d", q, h, threshold, w), "service", s.cfg.Name)
		if s.sorry != nil && s.sorry.alive {
			verb := "removing"
			if s.sorry.inhibit {
				verb = "disabling"
			}
			e.log.Info("health: "+verb+" sorry server", "service", s.cfg.Name, "real", s.sorry.cfg.Name)
			e.del(s, s.sorry)
			s.sorry.alive = false
			e.swapAlive(s, true)
		}
		e.notify(s.cfg.QuorumUp)
	case (s.quorumUp && (w == 0 || w < threshold)) || (init && !s.quorumUp && s.sorry != nil && !s.sorry.alive):
		s.quorumUp = false
		what := "lost quorum"
		if init {
			what = "starting with quorum down"
		}
		e.log.Info(fmt.Sprintf("health: %s %d-%d=%d > %d", what, q, h, threshold, w), "service", s.cfg.Name)
		if s.sorry != nil && !s.sorry.alive {
			verb := "adding"
			if s.sorry.inhibit {
				verb = "enabling"
			}
			e.log.Info("health: "+verb+" sorry server", "service", s.cfg.Name, "real", s.sorry.cfg.Name)
			e.swapAlive(s, false)
			e.add(s, s.sorry)
			s.sorry.alive = true
		}
		e.notify(s.cfg.QuorumDown)
	}
}

// setAlive is perform_svr_state: a real server became alive or dead.
func (e *Engine) setAlive(r *realState, alive bool) {
	if r.alive == alive {
		return
	}
	s := r.svc
	if e.logAllowed(&r.lim) {
		verb := map[[2]bool]string{{true, false}: "adding", {true, true}: "enabling", {false, false}: "removing", {false, true}: "disabling"}[[2]bool{alive, r.inhibit}]
		e.log.Info("health: "+verb+" real server", "service", s.cfg.Name, "real", r.cfg.Name, suppressedAttr(&r.lim))
	}
	if s.poolOpen() {
		if alive {
			e.add(s, r)
		} else {
			e.del(s, r)
		}
	}
	r.alive = alive
	e.notifyReal(r)
	e.updateQuorum(s, false)
}

func (e *Engine) notifyReal(r *realState) {
	if r.alive {
		e.notify(r.cfg.NotifyUp)
	} else {
		e.notify(r.cfg.NotifyDown)
	}
}

// checkerChanged is update_svr_checker_state: a checker went up or down; the real server
// follows when it was the last failing checker, or the first to fail.
func (e *Engine) checkerChanged(c *checkState, v verdict) {
	r := c.real
	switch v {
	case firstSame:
		if c.cfg.Alpha || !c.m.up {
			e.notifyReal(r)
		}
	case wentUp:
		if r.failed <= 1 {
			e.setAlive(r, true)
		}
		if r.failed > 0 {
			r.failed--
		}
	case wentDown:
		if r.failed == 0 {
			e.setAlive(r, false)
		}
		r.failed++
	}
}

// setDelta is update_svr_wgt: a dynamic checker changed the server's weight; it reaches the
// pool at once only when the server is in it, alive and the pool open.
func (e *Engine) setDelta(c *checkState, delta int) {
	r := c.real
	old := r.weight()
	r.delta += delta - c.delta
	c.delta = delta
	if r.weight() == old {
		return
	}
	e.log.Info("health: changing weight", "service", r.svc.cfg.Name, "real", r.cfg.Name, "from", old, "to", r.weight(), "alive", r.alive)
	if r.set && r.alive && r.svc.poolOpen() {
		e.act("set-weight", r.svc, r, e.actions.SetWeight(r.svc.cfg.Key, r.cfg.Key, r.weight()))
	}
	e.updateQuorum(r.svc, false)
}

// initService is init_service_vs: put every server without failed checkers into the pool
// (inhibited ones in any case, at weight 0 when failed), settle the quorum, and give an
// inhibited sorry server its place at weight 0.
func (e *Engine) initService(s *svcState) {
	for _, r := range s.reals {
		if (r.failed == 0 && !r.alive) || (r.inhibit && !r.set) {
			e.add(s, r)
			if r.failed == 0 {
				r.alive = true
			}
		}
	}
	e.updateQuorum(s, true)
	if s.sorry != nil && s.sorry.inhibit && !s.sorry.set {
		s.sorry.set = true
		e.act("add", s, s.sorry, e.actions.AddReal(s.cfg.Key, s.sorry.cfg.Key, 0))
	}
}

// suppressedAttr reports how many lines the limiter swallowed since the last one it let by.
func suppressedAttr(l *limiter) slog.Attr {
	return slog.Int("suppressed", l.takeSuppressed())
}
