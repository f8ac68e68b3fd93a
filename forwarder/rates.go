package forwarder

import (
	"context"
	"time"

	"github.com/xvs-project/xvs/internal/rate"
	"github.com/xvs-project/xvs/service"
)

// estimators hold IPVS-style smoothed rates per real server (by id and
// generation) and per service (by id). Guarded by Engine.mu.
type estimators struct {
	reals    map[uint32]*realEstimator
	services map[uint32]*rate.Estimator
}

type realEstimator struct {
	gen uint32
	est rate.Estimator
}

// runEstimator ticks every rate.Interval, as the kernel's estimator does.
func (e *Engine) runEstimator(ctx context.Context) {
	t := time.NewTicker(rate.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.stop:
			return
		case now := <-t.C:
			e.estimate(now)
		}
	}
}

// estimate feeds every estimator the current counters.
func (e *Engine) estimate(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.est.reals == nil {
		e.est.reals = make(map[uint32]*realEstimator)
		e.est.services = make(map[uint32]*rate.Estimator)
	}
	snap := e.snap.Load()
	liveReals := make(map[uint32]bool)
	liveSvcs := make(map[uint32]bool)
	for _, svc := range snap.services {
		var sum service.Counters
		for _, r := range svc.reals {
			c := e.realCounters(r.id)
			addTo(&sum, sub(c, e.base[r.id]))
			liveReals[r.id] = true
			re := e.est.reals[r.id]
			if re == nil || re.gen != r.gen {
				re = &realEstimator{gen: r.gen}
				e.est.reals[r.id] = re
			}
			re.est.Update(now, c)
		}
		addTo(&sum, e.folded[svc.id])
		liveSvcs[svc.id] = true
		se := e.est.services[svc.id]
		if se == nil {
			se = &rate.Estimator{}
			e.est.services[svc.id] = se
		}
		se.Update(now, sum)
	}
	for id := range e.est.reals {
		if !liveReals[id] {
			delete(e.est.reals, id)
		}
	}
	for id := range e.est.services {
		if !liveSvcs[id] {
			delete(e.est.services, id)
		}
	}
}

// realRates and serviceRates read the estimates; callers hold e.mu.
func (e *Engine) realRates(r *realState) service.Rates {
	if re := e.est.reals[r.id]; re != nil && re.gen == r.gen {
		return re.est.Rates()
	}
	return service.Rates{}
}

func (e *Engine) serviceRates(id uint32) service.Rates {
	if se := e.est.services[id]; se != nil {
		return se.Rates()
	}
	return service.Rates{}
}
