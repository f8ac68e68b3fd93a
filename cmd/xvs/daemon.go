package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/forwarder"
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/health/pathprobe"
	"github.com/xvs-project/xvs/service"
)

// daemon is one `xvs run`: the engine and everything the control plane
// runs beside it. start builds it in order and, on a failure, takes down
// what it had built (undo); serve runs it until a signal, then stops it in
// the order a handover needs.
type daemon struct {
	f    *runFlags
	log  *slog.Logger
	file *control.File

	ifindexes []int
	vlans     []forwarder.VLAN
	queues    int // the backend's receive queues, one worker each

	eng     *forwarder.Engine
	syncd   *control.SyncDaemons
	journal *forwarder.Journal
	prober  *pathprobe.Prober
	health  *control.HealthMetrics
	sup     *control.Supervisor
	roles   *control.Roles
	bgp     *bgpAnnouncer // nil without a bgp: block

	// undo holds the cleanups of what start built, last first.
	undo []func()
}

// push records a cleanup for a failed start.
func (d *daemon) push(fn func()) { d.undo = append(d.undo, fn) }

// unwind runs the cleanups, last first.
func (d *daemon) unwind() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
	d.undo = nil
}

// startDaemon validates everything it can before touching any interface,
// so a bad flag, interface or config leaves nothing attached; a later
// failure takes down what was built.
func startDaemon(f *runFlags, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{f: f, log: log, file: &control.File{Services: &service.Config{}}}
	if f.config != "" {
		if d.file, err = control.ReadFile(f.config, f.format); err != nil {
			return nil, err
		}
	}
	names := strings.Split(f.ifaces, ",")
	for _, n := range names {
		l, err := netlink.LinkByName(n)
		if err != nil {
			return nil, fmt.Errorf("interface %q: no such interface", n)
		}
		d.ifindexes = append(d.ifindexes, l.Attrs().Index)
	}
	if d.vlans, err = servedVLANs(f, d.ifindexes); err != nil {
		return nil, err
	}
	control, err := placeThreads(f, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.unwind()
		}
	}()
	if err = d.startEngine(names); err != nil {
		return nil, err
	}
	if len(f.workerCPUs) > 0 || len(f.controlCPUs) > 0 {
		sizeProcs(control, d.queues, log)
	}
	if err = d.startControlPlane(); err != nil {
		return nil, err
	}
	return d, nil
}

// startEngine opens the backend and builds the engine, its workers writing
// through the sync daemons' switches (so a master can start and stop while
// it runs) and into the journal (so the next daemon finds the table after
// a crash).
func (d *daemon) startEngine(names []string) error {
	// The router also knows routes through the VLAN devices: a next hop
	// there leaves the parent tagged.
	routed := slices.Clone(d.ifindexes)
	for _, v := range d.vlans {
		if v.Ifindex > 0 {
			routed = append(routed, v.Ifindex)
		}
	}
	backend, err := openBackend(d.f, names, d.log)
	if err != nil {
		return err
	}
	router, err := forwarder.NewNetlinkRouter(routed, d.log)
	if err != nil {
		backend.Close()
		return err
	}
	d.queues = len(backend.Queues())
	d.syncd = control.NewSyncDaemons(d.queues, control.SyncOptions{Logger: d.log})
	d.push(func() { d.syncd.Close() })
	d.journal = openJournal(d.f.stateDir, len(backend.Queues()), d.log)
	d.push(func() { d.journal.Close(false) }) // a failed start keeps the predecessor's files
	sm := syncMaster(d.syncd)
	if d.journal != nil {
		sw := sm.Writer
		sm.Writer = func(i int) forwarder.SyncWriter { return forwarder.TeeSync(sw(i), d.journal.Writer(i)) }
	}
	d.eng, err = forwarder.New(forwarder.Options{
		Backend: backend, Router: router,
		TableCapacity: d.f.capacity, Sloppy: d.f.sloppy, ECMP: d.ecmp(), ConnReuse: d.f.reuse, Logger: d.log, VLANs: d.vlans,
		Sync: sm, WorkerCPUs: d.f.workerCPUs, WorkerSpin: d.f.workerSpin,
	})
	if err != nil {
		backend.Close()
		return err
	}
	d.push(func() { d.eng.Close() })
	d.syncd.Attach(syncEngine{d.eng})
	return nil
}

// ecmp reports whether the engine runs in ECMP mode: --ecmp says, and
// without it a file with a bgp: block (a director announcing its VIPs to
// routers that spread flows over several) turns it on.
func (d *daemon) ecmp() bool {
	if d.f.ecmpSet {
		return d.f.ecmp
	}
	return d.file.BGP != nil
}

// startControlPlane installs the file: the Supervisor puts in the real
// servers its checks let in (routing path-true probes first) and keeps
// them there as the checks decide; then the journaled table is restored,
// and the sync daemons and VRRP instances start.
func (d *daemon) startControlPlane() (err error) {
	if len(d.f.probeAddrs) > 0 {
		d.prober, err = pathprobe.Open(pathprobe.Options{Interface: d.f.probeIface, Addresses: d.f.probeAddrs, Logger: d.log})
		if err != nil {
			return err
		}
		d.push(func() { d.prober.Close() })
	}
	d.health = control.NewHealthMetrics(nil)
	d.sup = control.NewSupervisor(d.eng, control.SupervisorOptions{Health: health.Options{Logger: d.log, Observe: d.health.Observe},
		Route: probeRouter(d.prober, d.log)})
	d.health.SetStatus(d.sup.Status)
	if err := d.sup.Install(d.file); err != nil {
		return err
	}
	d.push(d.stopChecks)
	restoreJournal(d.journal, d.eng, d.log) // the services are in, the workers not yet running
	if err := d.syncd.StartFile(d.file.Sync, len(d.file.VRRP) > 0); err != nil {
		return err
	}
	// A backup makes no new connection for its instances' VIPs (the
	// standby gate), and a followed sync master that hears a director
	// turn backup has the master instances announce their addresses
	// again.
	d.roles, err = control.StartRoles(d.file.VRRP, control.RolesOptions{Logger: d.log, OnState: d.syncd.OnVRRPState,
		Standby: d.eng.SetStandby})
	if err != nil {
		return err
	}
	d.push(d.roles.Stop)
	d.syncd.SetAnnounce(func(string) { d.roles.Announce() })
	return d.startBGP()
}

// stopChecks ends the Supervisor's checks of a daemon that never served.
func (d *daemon) stopChecks() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.sup.Run(ctx)
}

// reloader reloads the file on SIGHUP and the socket's request: whole or
// not at all, the served VLANs relearnt on the way (a VLAN device added
// since start is served); VRRP and sync changes wait for a restart.
func (d *daemon) reloader() *control.Reloader {
	return &control.Reloader{Path: d.f.config, Format: d.f.format, Engine: d.eng, Supervisor: d.sup, Logger: d.log,
		Installed: func(nf *control.File) {
			if !control.SameVRRP(d.file.VRRP, nf.VRRP) {
				d.log.Warn("vrrp_instance changes take effect when xvs restarts; the running instances are unchanged")
			}
			if !control.SameSync(d.file.Sync, nf.Sync) {
				d.log.Warn("sync daemon changes in the file take effect when xvs restarts (or use xvsadm --start-daemon/--stop-daemon)")
			}
			if d.bgp != nil {
				d.bgp.reloaded(nf)
			} else if nf.BGP != nil {
				d.log.Warn("a bgp: block added to the file takes effect when xvs restarts (restart needed)")
			}
		},
		Prepare: func() {
			if vs, err := servedVLANs(d.f, d.ifindexes); err != nil {
				d.log.Error("relearning VLANs; served VLANs unchanged", "err", err)
			} else if err := d.eng.SetVLANs(vs); err != nil {
				d.log.Error("served VLANs unchanged", "err", err)
			}
		}}
}

// serve runs the daemon until SIGINT or SIGTERM (or a server fails), then
// stops it: the BGP announcer withdraws every VIP (and waits until that
// is sent), VRRP masters hand over (priority 0) while the engine still
// forwards, the checks stop (omega scripts run), the sync master's last
// messages go out, the engine detaches, and a clean stop removes the
// journal.
//
// SIGUSR2 stops it the same way for a successor (an upgrade): the steering
// links stay pinned and hold the VIP traffic, and the journal stays, so the
// next xvs run adopts both as it does after a crash and no established
// connection is lost.
func (d *daemon) serve() (err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handover := d.watchStop(cancel)
	ln, err := control.Listen(d.f.socket)
	if err != nil {
		d.unwind()
		return err
	}
	d.undo = nil // from here on, the stop below takes everything down
	rl := d.reloader()
	errc := make(chan error, 3)
	supDone := make(chan struct{})
	go func() { d.sup.Run(ctx); close(supDone) }()
	opts := []control.Option{control.WithReload(rl.Reload), control.WithChecks(d.sup.Report),
		control.WithVRRP(d.roles.Status), control.WithSync(d.syncd), control.WithLogger(d.log)}
	collectors := []control.MetricsOption{control.WithCollector(d.health), control.WithCollector(control.NewSyncMetrics(d.syncd.Status)),
		control.WithCollector(control.NewVRRPMetrics(d.roles.Status))}
	if d.bgp != nil {
		opts = append(opts, control.WithBGP(d.bgp))
		collectors = append(collectors, control.WithCollector(control.NewBGPMetrics(d.bgp.BGPStatus)))
	}
	srv := control.NewServer(d.eng, opts...)
	go func() { errc <- srv.ServeListener(ctx, ln) }()
	if d.f.metrics != "" {
		go func() {
			errc <- control.ServeMetrics(ctx, d.f.metrics, d.eng, append(collectors, control.WithMetricsLogger(d.log))...)
		}()
	}
	// SIGHUP is watched until serve returns, after the engine has closed,
	// so one that comes while xvs shuts down cannot end it half-way.
	hupCtx, stopHup := context.WithCancel(context.Background())
	defer stopHup()
	rl.Watch(hupCtx, syscall.SIGHUP)
	d.log.Info("xvs running", "interfaces", d.f.ifaces, "backend", d.f.backend, "services", len(d.file.Services.Services),
		"checked", len(d.file.Health), "socket", d.f.socket, "vlans", vlanList(d.vlans), "ecmp", d.ecmp())
	engDone := make(chan struct{}) // closed when Run has returned
	// With BGP the engine forwards until the withdrawals are out: the
	// routers send the VIPs' traffic here until they have them.
	engCtx, stopEngine := ctx, context.CancelFunc(func() {})
	if d.bgp != nil {
		engCtx, stopEngine = context.WithCancel(context.Background())
	}
	defer stopEngine()
	go func() { errc <- d.eng.Run(engCtx); close(engDone) }()
	if d.journal != nil {
		d.journal.Start(ctx, d.eng)
	}
	bgpDone := make(chan struct{})
	if d.bgp != nil {
		go func() { d.bgp.run(ctx); close(bgpDone) }()
	} else {
		close(bgpDone)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	// The routers move the VIPs away first, while the engine still
	// forwards what they sent before.
	<-bgpDone
	if d.bgp != nil {
		d.bgp.stop()
	}
	stopEngine()
	d.roles.Stop()
	<-supDone
	d.syncd.Close()
	if cerr := d.eng.Close(); cerr != nil && err == nil {
		err = cerr
	}
	// Run closes the engine itself when ctx ends, and a second Close
	// returns at once while the first is still detaching: wait for it,
	// or the process exits with its steering links still pinned.
	<-engDone
	if d.prober != nil {
		d.prober.Close()
	}
	if handover.Load() {
		if jerr := d.journal.Close(false); jerr != nil {
			d.log.Warn("closing the connection journal", "err", jerr)
		}
		d.log.Info("xvs stopped for a successor: steering links and connection journal kept", "pin_dir", d.f.pinDir, "state_dir", d.f.stateDir)
		return err
	}
	if jerr := d.journal.Close(true); jerr != nil { // a clean stop leaves no state behind
		d.log.Warn("removing the connection journal", "err", jerr)
	}
	d.log.Info("xvs stopped")
	return err
}

// watchStop cancels the daemon on SIGINT, SIGTERM or SIGUSR2 and reports
// whether the stop is a handover (SIGUSR2). The engine is told before
// anything stops, since its Run closes it as soon as the context ends.
func (d *daemon) watchStop(cancel context.CancelFunc) *atomic.Bool {
	var handover atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR2)
	go func() {
		sig := <-sigs
		signal.Stop(sigs)
		if sig == syscall.SIGUSR2 {
			switch {
			case d.f.pinDir == "" || d.f.stateDir == "":
				d.log.Warn("SIGUSR2: a handover needs --pin-dir and --state-dir; stopping as for SIGTERM")
			case !d.eng.HandOver():
				d.log.Warn("SIGUSR2: this backend cannot hand over (AF_XDP can); stopping as for SIGTERM")
			default:
				handover.Store(true)
				d.log.Info("stopping for a successor (SIGUSR2)")
			}
		}
		cancel()
	}()
	return &handover
}
