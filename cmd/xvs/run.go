package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/forwarder"
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/health/pathprobe"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/afxdp"
	"github.com/xvs-project/xvs/link/backends"
	"github.com/xvs-project/xvs/service"
)

type runFlags struct {
	ifaces   string
	config   string
	format   string // --config-format: yaml, keepalived, or "" to tell from the file
	backend  string
	xdpMode  string
	pinDir   string // --pin-dir: where the steering links outlive the process; "" for nowhere
	stateDir string // --state-dir: where the connection journal outlives the process; "" for nowhere
	socket   string
	metrics  string
	capacity int
	sloppy   bool
	reuse    forwarder.ConnReuse
	vlans    []uint16 // --vlan: served on every interface, beside the learnt ones
	// probeAddrs and probeIface are where path-true DR/TUN checks come
	// from (--probe-address, --probe-interface).
	probeAddrs []netip.Prefix
	probeIface string
}

func parseRunFlags(args []string) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.ifaces, "i", "", "interfaces to serve, comma separated")
	fs.StringVar(&f.config, "config", "", "configuration file (YAML or keepalived.conf)")
	fs.StringVar(&f.format, "config-format", "", "yaml or keepalived (default: told from the file)")
	fs.StringVar(&f.backend, "backend", "xdp", "xdp, afpacket or auto")
	fs.StringVar(&f.xdpMode, "xdp-mode", "auto", "auto, native or generic")
	fs.StringVar(&f.pinDir, "pin-dir", afxdp.DefaultPinDir, "bpffs directory where the XDP steering stays pinned across a crash or restart (empty: it goes with the process)")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir, "directory (tmpfs) where the connection table is journaled for the next daemon after a crash (empty: none)")
	fs.StringVar(&f.socket, "socket", control.SocketPath(), "control socket path")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9100)")
	fs.IntVar(&f.capacity, "capacity", 0, "connection table capacity (default 1048576)")
	fs.BoolVar(&f.sloppy, "sloppy", false, "create TCP state from mid-flow packets")
	reuseMode := fs.Int("conn-reuse-mode", 1, "IPVS's net.ipv4.vs.conn_reuse_mode: 0, 1 or 2")
	probeAddrs := fs.String("probe-address", "", "addresses on the director's subnet for path-true DR/TUN checks, comma separated (one per family)")
	fs.StringVar(&f.probeIface, "probe-interface", "", "interface path-true checks leave by (default: the first of -i)")
	vlans := fs.String("vlan", "", "VLAN IDs to serve on every interface, comma separated (VLAN devices of the interfaces are served anyway)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
	}
	if f.ifaces == "" {
		return nil, errors.New("run: -i IFACE is required")
	}
	switch f.backend {
	case backends.XDP, backends.AFPacket, backends.Auto:
	default:
		return nil, fmt.Errorf("run: unknown backend %q (want xdp, afpacket or auto)", f.backend)
	}
	switch f.format {
	case "", control.FormatYAML, control.FormatKeepalived:
	default:
		return nil, fmt.Errorf("run: unknown config format %q (want %s or %s)", f.format, control.FormatYAML, control.FormatKeepalived)
	}
	if f.capacity < 0 {
		return nil, fmt.Errorf("run: capacity %d is negative", f.capacity)
	}
	reuse, err := forwarder.ParseConnReuse(*reuseMode)
	if err != nil {
		return nil, fmt.Errorf("run: --conn-reuse-mode %d: want 0, 1 or 2", *reuseMode)
	}
	f.reuse = reuse
	if f.probeAddrs, err = parseProbeAddrs(*probeAddrs); err != nil {
		return nil, err
	}
	if f.probeIface == "" {
		f.probeIface, _, _ = strings.Cut(f.ifaces, ",")
	}
	if *vlans != "" {
		for _, v := range strings.Split(*vlans, ",") {
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
			if err != nil || id < 1 || id > 4094 {
				return nil, fmt.Errorf("run: bad VLAN ID %q (want 1..4094)", v)
			}
			f.vlans = append(f.vlans, uint16(id))
		}
	}
	return f, nil
}

// servedVLANs is what the engine serves on tagged frames: the VLAN devices
// on top of the served interfaces as the kernel has them now, and the
// --vlan IDs on every served interface. It runs at start and on every
// reload, so a VLAN device added later is served after a SIGHUP (routes
// through a device added later need a restart: the router's interfaces are
// fixed at start).
func servedVLANs(f *runFlags, ifindexes []int) ([]forwarder.VLAN, error) {
	vs, err := forwarder.LearnVLANs(ifindexes)
	if err != nil {
		return nil, err
	}
	for _, id := range f.vlans {
		for _, p := range ifindexes {
			vs = append(vs, forwarder.VLAN{Parent: p, ID: id})
		}
	}
	return vs, nil
}

// runCmd validates everything it can before touching any interface, so a bad
// flag, interface or config leaves nothing attached.
func runCmd(args []string) error {
	f, err := parseRunFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	raiseFileLimit(log)
	file := &control.File{Services: &service.Config{}}
	if f.config != "" {
		if file, err = control.ReadFile(f.config, f.format); err != nil {
			return err
		}
	}
	names := strings.Split(f.ifaces, ",")
	var ifindexes []int
	for _, n := range names {
		l, err := netlink.LinkByName(n)
		if err != nil {
			return fmt.Errorf("interface %q: no such interface", n)
		}
		ifindexes = append(ifindexes, l.Attrs().Index)
	}

	vlans, err := servedVLANs(f, ifindexes)
	if err != nil {
		return err
	}
	// The router also knows routes through the VLAN devices: a next hop
	// there leaves the parent tagged.
	routed := slices.Clone(ifindexes)
	for _, v := range vlans {
		if v.Ifindex > 0 {
			routed = append(routed, v.Ifindex)
		}
	}

	backend, err := openBackend(f, names, log)
	if err != nil {
		return err
	}
	router, err := forwarder.NewNetlinkRouter(routed, log)
	if err != nil {
		backend.Close()
		return err
	}
	// Connection sync: the engine's workers write through the sync
	// daemons' switches, so a master can start and stop while it runs.
	syncd := control.NewSyncDaemons(len(backend.Queues()), control.SyncOptions{Logger: log})
	defer syncd.Close()
	// The journal gets what the sync switches get, so the next daemon
	// finds the table after a crash.
	journal := openJournal(f.stateDir, len(backend.Queues()), log)
	defer journal.Close(false) // a failed start keeps the predecessor's files
	sm := syncMaster(syncd)
	if journal != nil {
		sw := sm.Writer
		sm.Writer = func(i int) forwarder.SyncWriter { return forwarder.TeeSync(sw(i), journal.Writer(i)) }
	}
	eng, err := forwarder.New(forwarder.Options{
		Backend: backend, Router: router,
		TableCapacity: f.capacity, Sloppy: f.sloppy, ConnReuse: f.reuse, Logger: log, VLANs: vlans,
		Sync: sm,
	})
	if err != nil {
		backend.Close()
		return err
	}
	syncd.Attach(syncEngine{eng})

	// The Supervisor installs the file with the real servers its checks
	// let in, and keeps them there as the checks decide.
	var prober *pathprobe.Prober
	if len(f.probeAddrs) > 0 {
		if prober, err = pathprobe.Open(pathprobe.Options{Interface: f.probeIface, Addresses: f.probeAddrs, Logger: log}); err != nil {
			eng.Close()
			return err
		}
		defer prober.Close()
	}
	hm := control.NewHealthMetrics(nil)
	sup := control.NewSupervisor(eng, control.SupervisorOptions{Health: health.Options{Logger: log, Observe: hm.Observe},
		Route: probeRouter(prober, log)})
	hm.SetStatus(sup.Status)
	if err := sup.Install(file); err != nil {
		eng.Close()
		return err
	}
	restoreJournal(journal, eng, log) // the services are in, the workers not yet running
	if err := syncd.StartFile(file.Sync, len(file.VRRP) > 0); err != nil {
		eng.Close()
		return err
	}
	roles, err := control.StartRoles(file.VRRP, control.RolesOptions{Logger: log, OnState: syncd.OnVRRPState})
	if err != nil {
		syncd.Close()
		eng.Close()
		return err
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	// The socket's reload request and SIGHUP both reload through rl: the
	// file is installed whole or not at all, and the served VLANs are
	// relearnt on the way, so a VLAN device added since start is served.
	rl := &control.Reloader{Path: f.config, Format: f.format, Engine: eng, Supervisor: sup, Logger: log, Installed: func(nf *control.File) {
		if !control.SameVRRP(file.VRRP, nf.VRRP) {
			log.Warn("vrrp_instance changes take effect when xvs restarts; the running instances are unchanged")
		}
		if !control.SameSync(file.Sync, nf.Sync) {
			log.Warn("sync daemon changes in the file take effect when xvs restarts (or use xvsadm --start-daemon/--stop-daemon)")
		}
	}, Prepare: func() {
		if vs, err := servedVLANs(f, ifindexes); err != nil {
			log.Error("relearning VLANs; served VLANs unchanged", "err", err)
		} else if err := eng.SetVLANs(vs); err != nil {
			log.Error("served VLANs unchanged", "err", err)
		}
	}}
	errc := make(chan error, 3)
	supDone := make(chan struct{})
	go func() { sup.Run(ctx); close(supDone) }()
	srv := control.NewServer(eng, control.WithReload(rl.Reload), control.WithChecks(sup.Report),
		control.WithVRRP(roles.Status), control.WithSync(syncd), control.WithLogger(log))
	ln, err := control.Listen(f.socket)
	if err != nil {
		cancel()
		roles.Stop()
		<-supDone
		eng.Close()
		return err
	}
	go func() { errc <- srv.ServeListener(ctx, ln) }()
	if f.metrics != "" {
		go func() {
			errc <- control.ServeMetrics(ctx, f.metrics, eng, control.WithMetricsLogger(log), control.WithCollector(hm),
				control.WithCollector(control.NewSyncMetrics(syncd.Status)), control.WithCollector(control.NewVRRPMetrics(roles.Status)))
		}()
	}
	// SIGHUP is watched until runCmd returns, after the engine has closed,
	// so one that comes while xvs shuts down cannot end it half-way.
	hupCtx, stopHup := context.WithCancel(context.Background())
	defer stopHup()
	rl.Watch(hupCtx, syscall.SIGHUP)
	log.Info("xvs running", "interfaces", f.ifaces, "backend", f.backend, "services", len(file.Services.Services),
		"checked", len(file.Health), "socket", f.socket, "vlans", vlanList(vlans))
	engDone := make(chan struct{}) // closed when Run has returned
	go func() { errc <- eng.Run(ctx); close(engDone) }()
	if journal != nil {
		journal.Start(ctx, eng)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	roles.Stop() // masters hand over (priority 0) while the engine still forwards
	<-supDone    // the checks stop (and omega scripts run) before the engine goes
	// The sync master's last messages go out before the engine stops.
	syncd.Close()
	if cerr := eng.Close(); cerr != nil && err == nil {
		err = cerr
	}
	// Run closes the engine itself when ctx ends, and a second Close
	// returns at once while the first is still detaching: wait for it,
	// or the process exits with its steering links still pinned.
	<-engDone
	if jerr := journal.Close(true); jerr != nil { // a clean stop leaves no state behind
		log.Warn("removing the connection journal", "err", jerr)
	}
	log.Info("xvs stopped")
	return err
}

// openBackend opens the --backend chosen (backends.Open logs what "auto"
// took). A refused AF_XDP says how to go on, unless its error already does.
func openBackend(f *runFlags, names []string, log *slog.Logger) (link.Backend, error) {
	if f.backend == backends.AFPacket && f.pinDir != "" {
		// A crashed AF_XDP run's pinned programs would starve AF_PACKET.
		if err := afxdp.ClearPins(f.pinDir); err != nil {
			log.Warn("clearing pinned steering links", "err", err)
		}
	}
	b, err := backends.Open(f.backend, names, backends.Options{XDP: afxdp.Options{Mode: f.xdpMode, PinDir: f.pinDir}, Logger: log})
	if err != nil && f.backend == backends.XDP && !errors.Is(err, afxdp.ErrMTUTooLarge) {
		return nil, fmt.Errorf("%w (try --backend afpacket)", err)
	}
	return b, err
}

// vlanList is the served VLANs for the log line: "10@eth0 20@eth0".
func vlanList(vs []forwarder.VLAN) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(' ')
		}
		name := strconv.Itoa(v.Parent)
		if l, err := netlink.LinkByIndex(v.Parent); err == nil {
			name = l.Attrs().Name
		}
		fmt.Fprintf(&b, "%d@%s", v.ID, name)
	}
	return b.String()
}

// lowFileLimit is the open-files limit below which the daemon warns: the
// data path's sockets, the control socket's clients and the metrics
// endpoint's connections all take descriptors.
const lowFileLimit = 4096

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit, as daemons
// do, so a burst of clients cannot starve the data path and the control
// socket of descriptors. (Go's runtime already does this at start on Linux;
// doing it here keeps the daemon right however it is built, and says so
// when the hard limit itself is low.)
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-files limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open-files limit", "err", err)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	if lim.Cur < lowFileLimit {
		log.Warn("the open-files limit is low; raise it (LimitNOFILE= in systemd, ulimit -n)", "limit", lim.Cur, "want", lowFileLimit)
	}
}
