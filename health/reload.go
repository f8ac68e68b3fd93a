package health

// Reload replaces the services with a new set, keeping what is known, as keepalived does on a
// reload (ipwrapper.c clear_diff_services and migrate_checkers): a service, real server and
// checker that are still there (same Key; a checker at the same place with the same kind and
// target) keep their state, timers and counters, so a reload neither re-adds a failed server nor
// drops a healthy one. Real servers gone from a kept service are removed (also inhibited ones)
// and get their notify_down if they were alive; new ones join as at Start; a changed weight
// reaches the pool. Services gone from the set are forgotten: their caller removes them.
// Service and Real Keys must be comparable. On a validation error nothing changes.
func (e *Engine) Reload(services []Service) error {
	fresh, err := build(services)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	old := map[any]*svcState{}
	for _, s := range e.services {
		old[s.cfg.Key] = s
	}
	var schedule []*checkState
	for _, s := range fresh {
		o := old[s.cfg.Key]
		delete(old, s.cfg.Key)
		if o == nil {
			if e.started {
				e.initService(s)
			}
			for _, r := range s.reals {
				schedule = append(schedule, r.checks...)
			}
			continue
		}
		schedule = append(schedule, e.migrateService(o, s)...)
	}
	for _, o := range old {
		e.drop(o.reals)
	}
	e.services = fresh
	if e.started {
		now := e.clock.Now()
		for _, c := range schedule {
			c.st.LastChange = now
			e.schedule(c, BootstrapDelay+e.jitter(c.cfg.Timing.Warmup))
		}
	}
	return nil
}

// drop stops the checkers of real servers that are gone.
func (e *Engine) drop(reals []*realState) {
	for _, r := range reals {
		for _, c := range r.checks {
			c.dead = true
			if c.timer != nil {
				c.timer.Stop()
			}
		}
	}
}

// migrateService carries o's state into s and returns the checkers that need a first schedule.
func (e *Engine) migrateService(o, s *svcState) []*checkState {
	s.quorumUp = o.quorumUp
	reinstate := false
	if o.sorry != nil {
		if s.sorry != nil && s.sorry.cfg.Key == o.sorry.cfg.Key && s.sorry.inhibit == o.sorry.inhibit {
			s.sorry.alive, s.sorry.set = o.sorry.alive, o.sorry.set
		} else if o.sorry.set || o.sorry.alive {
			// The sorry server changed or went: take the old one out for good.
			reinstate = o.sorry.alive && s.sorry == nil
			o.sorry.inhibit = false
			o.sorry.set = true
			e.del(o, o.sorry)
		}
	}
	oldReals := map[any]*realState{}
	for _, r := range o.reals {
		oldReals[r.cfg.Key] = r
	}
	var schedule []*checkState
	for _, r := range s.reals {
		or := oldReals[r.cfg.Key]
		delete(oldReals, r.cfg.Key)
		if or == nil {
			if e.started {
				if (r.failed == 0 && !r.alive) || (r.inhibit && !r.set) {
					e.add(s, r)
					if r.failed == 0 {
						r.alive = true
					}
				}
			}
			schedule = append(schedule, r.checks...)
			continue
		}
		schedule = append(schedule, e.migrateReal(or, r)...)
	}
	for _, or := range oldReals {
		// Gone: removed even when inhibited, with its notify_down if it was alive.
		or.inhibit = false
		e.del(o, or)
		if or.alive {
			or.alive = false
			e.notifyReal(or)
		}
		e.drop([]*realState{or})
	}
	if reinstate {
		e.swapAlive(s, true)
	}
	if e.started {
		e.updateQuorum(s, true)
		if s.sorry != nil && s.sorry.inhibit && !s.sorry.set {
			s.sorry.set = true
			e.act("add", s, s.sorry, e.actions.AddReal(s.cfg.Key, s.sorry.cfg.Key, 0))
		}
	}
	return schedule
}

// migrateReal is migrate_checkers: kept checkers keep their machine (their retries capped at
// the new retry), new ones start down under alpha if the server is failing, and the pool
// follows the server's resulting state.
func (e *Engine) migrateReal(or, r *realState) []*checkState {
	s := r.svc
	oldWeight := or.weight()
	r.alive, r.set = or.alive, or.set
	var schedule []*checkState
	anyRun := false
	for i, c := range r.checks {
		if i < len(or.checks) && sameTarget(or.checks[i], c) {
			oc := or.checks[i]
			nm := oc.m
			if nm.up && nm.retryIt >= c.cfg.Timing.Retry {
				nm.retryIt = c.cfg.Timing.Retry
			}
			// Keep the old object (its timer points at it) with the new configuration.
			oc.cfg, oc.real, oc.m = c.cfg, r, nm
			oc.st.Service, oc.st.Real = s.cfg.Name, r.cfg.Name
			r.checks[i] = oc
			r.delta += oc.delta
			if oc.m.hasRun {
				anyRun = true
			}
			continue
		}
		c.m = machine{up: true}
		schedule = append(schedule, c)
	}
	for i, oc := range or.checks {
		if i >= len(r.checks) || r.checks[i] != oc {
			oc.dead = true
			if oc.timer != nil {
				oc.timer.Stop()
			}
		}
	}
	r.failed = 0
	for _, c := range r.checks {
		if c.m.hasRun && !c.m.up {
			r.failed++
		}
	}
	if r.failed > 0 || (!r.alive && !anyRun) {
		for _, c := range r.checks {
			if !c.m.hasRun {
				if c.cfg.Alpha && c.m.up {
					c.m.up = false
					r.failed++
				}
				c.m.retryIt = c.cfg.Timing.Retry // one failure is enough
			}
		}
	}
	if !e.started {
		return schedule
	}
	switch {
	case r.failed == 0 && !r.alive:
		e.setAlive(r, true)
	case r.failed > 0 && r.set != r.inhibit:
		if r.inhibit {
			e.add(s, r) // at weight 0: failed checkers
		} else {
			e.del(s, r)
		}
		r.alive = false
	case r.alive && r.set && r.weight() != oldWeight && s.poolOpen():
		e.act("set-weight", s, r, e.actions.SetWeight(s.cfg.Key, r.cfg.Key, r.weight()))
	}
	return schedule
}

func sameTarget(a, b *checkState) bool {
	ak, at := a.cfg.Checker.Describe()
	bk, bt := b.cfg.Checker.Describe()
	return ak == bk && at == bt
}

// PoolMember is one real server the engine has put in a service's pool.
type PoolMember struct {
	Real   any
	Weight int
}

// Pool returns the real servers of service svc that the engine has put in its pool, with the
// weights it gave them (the sorry server included while it serves), so the caller can rebuild
// its own table from it after a reload or a restart of its forwarder.
func (e *Engine) Pool(svc any) []PoolMember {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.services {
		if s.cfg.Key != svc {
			continue
		}
		var out []PoolMember
		for _, r := range s.reals {
			if !r.set {
				continue
			}
			w := 0
			if r.alive && s.poolOpen() {
				w = r.weight()
			}
			out = append(out, PoolMember{r.cfg.Key, w})
		}
		if s.sorry != nil && s.sorry.set {
			w := 0
			if s.sorry.alive {
				w = s.sorry.weight()
			}
			out = append(out, PoolMember{s.sorry.cfg.Key, w})
		}
		return out
	}
	return nil
}
