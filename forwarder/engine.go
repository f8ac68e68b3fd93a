package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/internal/cpuset"
	"github.com/xvs-project/xvs/internal/pollwait"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/service"
)

// Options configure an Engine.
type Options struct {
	// Backend moves the frames: afxdp.Open, afpacket.Open (or either by
	// name, backends.Open) or linktest.NewMemBackend.
	Backend link.Backend
	// Router resolves next hops; nil means NewNetlinkRouter over the
	// backend's interfaces (the kernel's routes and neighbours).
	Router Router
	// Services is the initial configuration (may be empty).
	Services *service.Config
	// TableCapacity bounds the connection table (0: 1 Mi entries).
	TableCapacity int
	// Timeouts overrides the connection table's defaults (zero fields keep them).
	Timeouts service.Timeouts
	// Sloppy creates TCP state from a mid-flow packet, so a standby director
	// (or a changed mh table) picks up established connections.
	Sloppy bool
	// ECMP is the mode of several active directors behind an ECMP router
	// (xvs run --ecmp): a TCP packet of a connection this director has
	// never seen (neither SYN nor RST: the router moved the flow here) is
	// scheduled and tracked when its service uses mh, whose table every
	// director builds alike, so the flow keeps its real server. Services
	// of other schedulers keep IPVS's rule (a SYN only, unless Sloppy).
	ECMP bool
	// ConnReuse is IPVS's conn_reuse_mode; the zero value is the kernel's
	// default (mode 1).
	ConnReuse ConnReuse
	// Clock is the table's monotonic clock in nanoseconds (nil: the real one).
	Clock func() int64
	// Logger receives the engine's (rare) log lines; nil: slog.Default().
	Logger *slog.Logger
	// VLANs are the VLANs served on tagged frames (see VLAN; LearnVLANs
	// finds the director's own). None: tagged frames are dropped.
	VLANs []VLAN
	// Sync, if set, makes the engine a connection-sync master (see
	// SyncMaster); a backup needs nothing here (see InstallSync).
	Sync *SyncMaster
	// WorkerCPUs, if set, pins the worker of queue i to CPU
	// WorkerCPUs[i % len] (each on a locked thread of its own), so a
	// busy-polling worker has its core and the rest of the process stays
	// off it (see internal/cpuset). Empty: the Go scheduler places them.
	WorkerCPUs []int
	// WorkerSpin is how long a pinned worker thread keeps looking at its
	// rings after its last frame before it sleeps (at most
	// pollwait.MaxSpin; 0, the default: it sleeps at once). A frame that
	// finds it spinning is not delayed by a wake-up, for the CPU time of
	// the spin after every burst. Only grouped workers spin (see
	// groupWorkers); unpinned ones never do.
	WorkerSpin time.Duration
}

// Engine is the forwarding engine: workers per queue, the connection table,
// the running configuration. It implements control.Engine.
type Engine struct {
	opts    Options
	log     *slog.Logger
	backend link.Backend
	router  Router
	table   *conntrack.Table
	snap    atomic.Pointer[snapshot]
	vlans   atomic.Pointer[vlanTable] // never nil after New
	workers []*worker

	mu   sync.Mutex // serialises configuration changes; guards reg, base
	reg  *registry
	base []service.Counters // per real id: figures at creation or last ZeroStats
	est  estimators

	// folded keeps, per service id, the figures of its deleted real
	// servers, so a service's totals do not drop when one goes (IPVS
	// counts services apart from their destinations). Guarded by mu.
	folded map[uint32]service.Counters
	// standby is what SetStandby was last told, for install to gate a new
	// configuration's services alike. Guarded by mu.
	standby [][16]byte

	runOnce sync.Once
	stop    chan struct{}
	done    sync.WaitGroup
	closed  atomic.Bool
	// handover makes Close release the backend for a successor (HandOver).
	handover atomic.Bool

	syncCtr syncCounters // see SyncStats
}

// New builds an engine over a backend with an initial configuration. It
// validates the configuration and refuses to start with a bad one.
func New(opts Options) (*Engine, error) {
	if opts.Backend == nil {
		return nil, errors.New("forwarder: no backend")
	}
	if opts.Services == nil {
		opts.Services = &service.Config{}
	}
	if opts.TableCapacity == 0 {
		opts.TableCapacity = 1 << 20
	}
	e := &Engine{opts: opts, backend: opts.Backend, router: opts.Router, reg: newRegistry(), stop: make(chan struct{})}
	e.log = opts.Logger
	if e.log == nil {
		e.log = slog.Default()
	}
	table, err := conntrack.New(conntrack.Config{
		Capacity: opts.TableCapacity,
		Clock:    opts.Clock,
		Sloppy:   opts.Sloppy,
		Hooks: conntrack.Hooks{
			Bound:    e.connBound,
			Activity: e.connActivity,
			Unbound:  e.connUnbound,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connection table: %w", err)
	}
	e.table = table
	if t := opts.Timeouts; t != (service.Timeouts{}) {
		table.SetTimeouts(t.TCP, t.TCPFin, t.UDP)
	}
	if e.router == nil {
		return nil, errors.New("forwarder: no router")
	}
	if err := cpuset.Set(opts.WorkerCPUs).CheckAllowed(); err != nil {
		return nil, fmt.Errorf("worker CPUs: %w", err)
	}
	if opts.WorkerSpin < 0 || opts.WorkerSpin > pollwait.MaxSpin {
		return nil, fmt.Errorf("worker spin %v: want 0 to %v", opts.WorkerSpin, pollwait.MaxSpin)
	}
	if err := e.SetVLANs(opts.VLANs); err != nil {
		return nil, err
	}
	cfg := opts.Services.Clone()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := e.install(cfg); err != nil {
		return nil, err
	}
	for i, q := range e.backend.Queues() {
		w := newWorker(q, e)
		w.p.sync = e.newSyncWorker(i)
		e.workers = append(e.workers, w)
	}
	return e, nil
}

// Run starts the workers and the table's expiry and blocks until ctx is done
// or Close is called. It returns nil on a clean stop.
func (e *Engine) Run(ctx context.Context) error {
	started := false
	e.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("forwarder: engine already ran")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.startWorkers()
	go e.table.Run(ctx)
	go e.runEstimator(ctx)
	go e.router.Run(ctx)
	select {
	case <-ctx.Done():
	case <-e.stop:
	}
	return e.Close()
}

// startWorkers starts the workers' threads. With Options.WorkerCPUs, one
// per worker CPU serves every queue pinned there (group.go) when all of
// them can be waited on together, else each queue's worker has a thread
// pinned to its CPU in turn; unpinned, each has a thread of its own.
func (e *Engine) startWorkers() {
	cpus := e.opts.WorkerCPUs
	pin := func(cpu int, who ...any) {
		if err := cpuset.PinThread(cpuset.Set{cpu}); err != nil {
			e.log.Error("worker runs unpinned", append(who, "cpu", cpu, "err", err)...)
		}
	}
	if groups, ok := groupWorkers(e.workers, cpus, e.opts.WorkerSpin); ok {
		for i := range groups {
			e.done.Add(1)
			go func(g *workerGroup) {
				defer e.done.Done()
				pin(cpus[i], "queues", len(g.workers))
				g.run(e.stop)
			}(&groups[i])
		}
		return
	}
	for i, w := range e.workers {
		e.done.Add(1)
		go func(w *worker) {
			defer e.done.Done()
			if len(cpus) > 0 {
				pin(cpus[i%len(cpus)], "queue", i)
			}
			w.run(e.stop)
		}(w)
	}
}

// Close stops the workers and releases the backend (detaching from the
// interfaces, unless HandOver came first). It is safe to call more than
// once.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(e.stop)
	e.done.Wait()
	if r, ok := e.backend.(link.Releaser); ok && e.handover.Load() {
		return r.Release()
	}
	return e.backend.Close()
}

// HandOver makes the coming Close leave the backend's hold on the
// interfaces in place for a successor (link.Releaser) instead of detaching:
// the stop of an upgrade. It reports whether the backend can; one that
// cannot detaches as usual.
func (e *Engine) HandOver() bool {
	_, ok := e.backend.(link.Releaser)
	e.handover.Store(ok)
	return ok
}

// install compiles cfg, publishes it and updates steering. It returns (and
// logs) warnings about what the new configuration cannot do. Callers hold
// e.mu (or are New).
func (e *Engine) install(cfg *service.Config) ([]string, error) {
	snap, commit, err := e.reg.compile(cfg)
	if err != nil {
		return nil, err
	}
	rules := link.Rules{Rules: snap.steerRules(), Local: e.router.LocalAddrs()}
	if err := e.backend.Steer(rules); err != nil {
		return nil, fmt.Errorf("steering: %w", err)
	}
	for len(e.base) < len(snap.reals) {
		e.base = append(e.base, service.Counters{})
	}
	old := e.snap.Load()
	e.foldGone(old, snap)
	for _, r := range snap.reals {
		if r != nil && (old == nil || old.real(r.id, r.gen) == nil) {
			// A new real server (maybe on a reused id) starts from zero.
			e.base[r.id] = e.realCounters(r.id)
		}
	}
	snap.gated = gatedServices(snap, e.standby)
	// From here on the change happens: weights and scheduler lists first,
	// then the snapshot the workers read.
	if err := commit(); err != nil {
		e.log.Error("applying a validated configuration", "err", err)
	}
	e.snap.Store(snap)
	if old != nil {
		e.expireGone(old, snap)
	}
	var addrs [][16]byte
	for _, r := range snap.reals {
		if r != nil {
			addrs = append(addrs, r.addr)
		}
	}
	e.router.Prefetch(addrs)
	return e.routeWarnings(old, snap), nil
}

// expireGone flushes UDP connections of real servers that were deleted (TCP
// ones expire on their next packet), as users asked IPVS to do. It walks the
// table in the background, page by page, never stopping the workers.
func (e *Engine) expireGone(old, cur *snapshot) {
	gone := false
	for _, r := range old.reals {
		if r != nil && cur.real(r.id, r.gen) == nil {
			gone = true
			break
		}
	}
	if !gone {
		return
	}
	go func() {
		var stale []conntrack.Key
		cursor := conntrack.Cursor(0)
		for {
			next, done := e.table.Walk(cursor, 4096, func(ci conntrack.ConnInfo) bool {
				if ci.Key.Proto == flow.UDP && cur.real(ci.Dest, ci.DestGen) == nil {
					stale = append(stale, ci.Key)
				}
				return true
			})
			for i := range stale {
				if c := e.table.Lookup(&stale[i]); c != nil && e.snap.Load().real(c.Dest(), c.DestGen()) == nil {
					e.table.Expire(c)
				}
			}
			stale = stale[:0]
			if done {
				return
			}
			cursor = next
		}
	}()
}

// Apply implements control.Engine: fn runs on a clone of the configuration,
// which is validated and installed atomically; on error nothing changes.
func (e *Engine) Apply(fn func(*service.Config) error) error {
	_, err := e.ApplyWarn(fn)
	return err
}

// ApplyWarn is Apply that also returns warnings about the installed
// configuration (a real server no served interface routes to); they are
// logged too. It implements control.Warner.
func (e *Engine) ApplyWarn(fn func(*service.Config) error) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.snap.Load().cfg.Clone()
	if err := fn(cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return e.install(cfg)
}

// Config implements control.Engine.
func (e *Engine) Config() *service.Config { return e.snap.Load().cfg.Clone() }

// Timeouts implements control.Engine.
func (e *Engine) Timeouts() service.Timeouts {
	tcp, fin, udp := e.table.Timeouts()
	return service.Timeouts{TCP: tcp, TCPFin: fin, UDP: udp}
}

// SetTimeouts implements control.Engine; zero fields keep their value.
func (e *Engine) SetTimeouts(t service.Timeouts) error {
	if err := t.Validate(); err != nil {
		return err
	}
	e.table.SetTimeouts(t.TCP, t.TCPFin, t.UDP)
	return nil
}

// SetCapacity implements control.Engine: the connection table's capacity
// changes at once, without a rebuild; below the live count it is refused.
func (e *Engine) SetCapacity(n int) error {
	if err := e.table.SetCapacity(n); err != nil {
		if errors.Is(err, conntrack.ErrCapacityBelowLive) {
			return fmt.Errorf("capacity %d is below the %d entries in the connection table: %w", n, e.table.Len(), err)
		}
		return err
	}
	return nil
}
