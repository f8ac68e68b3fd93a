package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/forwarder"
	"github.com/xvs-project/xvs/internal/cpuset"
	"github.com/xvs-project/xvs/internal/pollwait"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/afxdp"
	"github.com/xvs-project/xvs/link/backends"
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
	ecmp     bool // --ecmp: one of several active directors behind an ECMP router
	ecmpSet  bool // --ecmp given (true or false); else a bgp: block turns it on
	reuse    forwarder.ConnReuse
	vlans    []uint16 // --vlan: served on every interface, beside the learnt ones
	// probeAddrs and probeIface are where path-true DR/TUN checks come
	// from (--probe-address, --probe-interface).
	probeAddrs []netip.Prefix
	probeIface string
	// workerCPUs and controlCPUs place the daemon's threads (--worker-cpus,
	// --control-cpus; see placeThreads).
	workerCPUs  cpuset.Set
	controlCPUs cpuset.Set
	// workerSpin is how long a pinned worker spins before it sleeps
	// (--worker-spin; forwarder.Options.WorkerSpin).
	workerSpin time.Duration
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
	fs.BoolVar(&f.ecmp, "ecmp", false, "one of several active directors behind an ECMP router: mh services create TCP state from mid-flow packets (the others only with --sloppy)")
	reuseMode := fs.Int("conn-reuse-mode", 1, "IPVS's net.ipv4.vs.conn_reuse_mode: 0, 1 or 2")
	probeAddrs := fs.String("probe-address", "", "addresses on the director's subnet for path-true DR/TUN checks, comma separated (one per family)")
	fs.StringVar(&f.probeIface, "probe-interface", "", "interface path-true checks leave by (default: the first of -i)")
	workerCPUs := fs.String("worker-cpus", "", "CPUs the queues' workers are pinned to, one each in turn (e.g. 1-3; empty: unpinned)")
	controlCPUs := fs.String("control-cpus", "", "CPUs for everything else: checks, VRRP, sync, metrics, the Go runtime (default with --worker-cpus: the other CPUs)")
	fs.DurationVar(&f.workerSpin, "worker-spin", 0, "how long a pinned worker keeps polling its rings after its last frame before it sleeps, trading CPU time for latency (e.g. 50us; at most "+pollwait.MaxSpin.String()+"; needs --worker-cpus)")
	vlans := fs.String("vlan", "", "VLAN IDs to serve on every interface, comma separated (VLAN devices of the interfaces are served anyway)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	fs.Visit(func(fl *flag.Flag) { f.ecmpSet = f.ecmpSet || fl.Name == "ecmp" })
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
	if f.workerCPUs, err = parseCPUFlag("--worker-cpus", *workerCPUs); err != nil {
		return nil, err
	}
	if f.controlCPUs, err = parseCPUFlag("--control-cpus", *controlCPUs); err != nil {
		return nil, err
	}
	switch {
	case f.workerSpin < 0 || f.workerSpin > pollwait.MaxSpin:
		return nil, fmt.Errorf("run: --worker-spin %v: want 0 to %v", f.workerSpin, pollwait.MaxSpin)
	case f.workerSpin > 0 && len(f.workerCPUs) == 0:
		return nil, errors.New("run: --worker-spin needs --worker-cpus (an unpinned worker shares its CPU and never spins)")
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

// runCmd runs `xvs run` until SIGINT or SIGTERM (see daemon).
func runCmd(args []string) error {
	f, err := parseRunFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	raiseFileLimit(log)
	d, err := startDaemon(f, log)
	if err != nil {
		return err
	}
	return d.serve()
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
