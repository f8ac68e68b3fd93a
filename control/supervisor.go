package control

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// Supervisor installs configuration files on an Engine and keeps in it the
// real servers its health checks have judged fit, with the weights they
// gave them: the daemon's health.Actions.
//
// The health engine decides under its own lock and must not wait for the
// forwarder, so its decisions are queued and applied by Run in batches, one
// Engine.Apply per batch. A decision says what a real server's state is
// (in at weight w, or out), not what changed, so replaying the queue after
// a whole file has been installed gives the same pool as the health
// engine's: that is what keeps Install and Run from needing a common lock
// with the health engine.
type Supervisor struct {
	engine Engine
	log    *slog.Logger
	opts   SupervisorOptions

	// mu makes installs one at a time and guards health.
	mu     sync.Mutex
	health *health.Engine

	// desired is the installed File with the set of services under checks,
	// read by the batches Run applies.
	desired atomic.Pointer[desired]

	qmu   sync.Mutex
	queue []decision
	wake  chan struct{}
	// queued and applied count decisions, for Settle.
	queued, applied atomic.Uint64
}

type desired struct {
	file    *File
	checked map[service.Key]bool
}

// decision is one health verdict: real of svc is in the pool at weight, or
// out of it.
type decision struct {
	svc    service.Key
	real   service.RealKey
	weight int
	out    bool
}

// SupervisorOptions configure a Supervisor; every field may be left zero.
type SupervisorOptions struct {
	// Health are the health engine's options (Logger, Observe, Notify,
	// ...); a nil Health.Logger logs to slog's default.
	Health health.Options
	// Route, if set, runs on every file before its checks start: the
	// daemon routes the file's path-true probes there (File.Probes). An
	// error refuses the file.
	Route func(*File) error
}

// NewSupervisor returns a Supervisor for engine.
func NewSupervisor(engine Engine, opts SupervisorOptions) *Supervisor {
	if opts.Health.Logger == nil {
		opts.Health.Logger = slog.Default()
	}
	return &Supervisor{engine: engine, log: opts.Health.Logger, opts: opts, wake: make(chan struct{}, 1)}
}

// Install makes f the running configuration: its services are installed on
// the engine with the real servers the checks let in, and its checks
// replace the running ones, keeping the state of every checker that is
// still there (health.Engine.Reload). On error nothing changed: neither the
// engine's configuration nor the checks.
func (s *Supervisor) Install(f *File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.desired.Load()
	if s.opts.Route != nil {
		if err := s.opts.Route(f); err != nil {
			return err
		}
	}
	first := s.health == nil
	if first {
		h, err := health.New(f.Health, actions{s}, s.opts.Health)
		if err != nil {
			return err
		}
		s.health = h
	} else if err := s.health.Reload(f.Health); err != nil {
		return err
	}
	d := newDesired(f)
	s.desired.Store(d)
	if first {
		s.health.Start()
	}
	err := s.engine.Apply(func(c *service.Config) error {
		*c = *s.render(d)
		return nil
	})
	if err == nil {
		for _, w := range f.Warnings {
			s.log.Warn("configuration: " + w)
		}
		return nil
	}
	// The engine refused what the file says: the checks go back to the
	// previous file's, so they keep judging what the engine runs.
	if first {
		s.health.Stop()
		s.health = nil
		s.desired.Store(nil)
	} else {
		s.desired.Store(prev)
		if rerr := s.health.Reload(prev.file.Health); rerr != nil {
			s.log.Error("restoring the previous checks", "err", rerr)
		}
	}
	return err
}

func newDesired(f *File) *desired {
	d := &desired{file: f, checked: make(map[service.Key]bool, len(f.Health))}
	for _, h := range f.Health {
		d.checked[h.Key.(service.Key)] = true
	}
	return d
}

// render is d's file with the health engine's pool in place of the real
// servers of every checked service.
func (s *Supervisor) render(d *desired) *service.Config {
	f := d.file
	out := &service.Config{Services: make([]service.Service, len(f.Services.Services))}
	for i, svc := range f.Services.Services {
		svc.Reals = slices.Clone(svc.Reals)
		key := svc.Key()
		if d.checked[key] {
			var reals []service.Real
			for _, m := range s.health.Pool(key) {
				if r, ok := lookupReal(f, key, m.Real.(service.RealKey)); ok {
					r.Weight = int32(m.Weight)
					reals = append(reals, r)
				}
			}
			svc.Reals = reals
		}
		out.Services[i] = svc
	}
	return out
}

// lookupReal finds real server rk of service svc as f writes it: one of its
// reals or its sorry server.
func lookupReal(f *File, svc service.Key, rk service.RealKey) (service.Real, bool) {
	for _, s := range f.Services.Services {
		if s.Key() != svc {
			continue
		}
		for _, r := range s.Reals {
			if r.Key() == rk {
				return r, true
			}
		}
	}
	if r, ok := f.Sorry[svc]; ok && r.Key() == rk {
		return r, true
	}
	return service.Real{}, false
}

// Run applies the health engine's decisions until ctx is done, then stops
// the checks (with keepalived's omega scripts where asked for).
func (s *Supervisor) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			if s.health != nil {
				s.health.Stop()
			}
			s.mu.Unlock()
			return
		case <-s.wake:
			s.applyQueued()
		}
	}
}

// applyQueued installs every queued decision in one Apply. A decision about
// a service the installed file does not check (a reload removed its
// checks, or the service) is dropped: the file's own reals stand.
//
// It holds mu, so a batch and an Install never interleave: a batch taken
// before an Install's render may land after it, but every decision made
// since is queued behind it and lands later still.
func (s *Supervisor) applyQueued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.qmu.Lock()
	batch := s.queue
	s.queue = nil
	s.qmu.Unlock()
	defer s.applied.Add(uint64(len(batch)))
	d := s.desired.Load()
	if len(batch) == 0 || d == nil {
		return
	}
	err := s.engine.Apply(func(c *service.Config) error {
		for _, dec := range batch {
			if d.checked[dec.svc] {
				applyDecision(c, d.file, dec)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("health: the engine refused a pool change", "err", err, "changes", len(batch))
	}
}

func applyDecision(c *service.Config, f *File, dec decision) {
	i := slices.IndexFunc(c.Services, func(s service.Service) bool { return s.Key() == dec.svc })
	if i < 0 {
		return
	}
	svc := &c.Services[i]
	j := slices.IndexFunc(svc.Reals, func(r service.Real) bool { return r.Key() == dec.real })
	switch {
	case dec.out && j >= 0:
		svc.Reals = slices.Delete(svc.Reals, j, j+1)
	case dec.out:
	case j >= 0:
		svc.Reals[j].Weight = int32(dec.weight)
	default:
		if r, ok := lookupReal(f, dec.svc, dec.real); ok {
			r.Weight = int32(dec.weight)
			svc.Reals = append(svc.Reals, r)
		}
	}
}

// Status returns every checker's status (xvsadm --checks); empty before the
// first Install.
func (s *Supervisor) Status() []health.CheckStatus {
	s.mu.Lock()
	h := s.health
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	return h.Status()
}

// Services returns every checked service's quorum view.
func (s *Supervisor) Services() []health.ServiceStatus {
	s.mu.Lock()
	h := s.health
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	return h.Services()
}

// Report is Status and Services together, for the checks request.
func (s *Supervisor) Report() ChecksReport {
	return ChecksReport{Checks: s.Status(), Services: s.Services()}
}

// Settle waits until the queued decisions have been applied or timeout has
// passed, and says which: a library program (or a test) that must see the
// pool the checks decided in its engine before it goes on.
func (s *Supervisor) Settle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if s.applied.Load() >= s.queued.Load() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// actions is the Supervisor as the health engine's health.Actions: each call
// queues a decision and wakes Run, so the health engine never waits for the
// forwarder.
type actions struct{ s *Supervisor }

var errBadKey = errors.New("health: key is not a service key")

func (a actions) push(svc, real any, weight int, out bool) error {
	sk, ok1 := svc.(service.Key)
	rk, ok2 := real.(service.RealKey)
	if !ok1 || !ok2 {
		return errBadKey
	}
	a.s.qmu.Lock()
	a.s.queue = append(a.s.queue, decision{svc: sk, real: rk, weight: weight, out: out})
	a.s.queued.Add(1)
	a.s.qmu.Unlock()
	select {
	case a.s.wake <- struct{}{}:
	default:
	}
	return nil
}

func (a actions) AddReal(svc, real any, weight int) error   { return a.push(svc, real, weight, false) }
func (a actions) RemoveReal(svc, real any) error            { return a.push(svc, real, 0, true) }
func (a actions) SetWeight(svc, real any, weight int) error { return a.push(svc, real, weight, false) }
