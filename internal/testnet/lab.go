package testnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// buildTimeout bounds building one lab; a few hundred milliseconds is usual.
const buildTimeout = 30 * time.Second

// Lab is a set of namespaces wired for one forwarding method. Fields are set
// by New and must not be changed.
type Lab struct {
	// ID starts every namespace and interface name of the lab.
	ID      string
	Mode    Mode
	Options Options

	Client, Director *Host
	// Directors are the lab's directors, Director first; a two-director
	// lab (Options.Directors) adds "director2" on the same segment.
	Directors []*Host
	// Switch holds the bridge: NAT's real-server segment, DR/TUN's only one.
	Switch *Host
	// ClientSwitch is a NAT pair's client-side bridge (cswitch), nil in
	// every other lab.
	ClientSwitch *Host
	// Router is an ECMP lab's router between the client and the
	// directors (Options.ECMP), nil in every other lab.
	Router *Host
	Reals  []*Host

	VIP4, VIP6 netip.Addr
	// DirectorIfaces are the interfaces xvs must serve on Director: NAT's
	// external and internal ones, DR/TUN's only one (another director's is
	// its Host.Iface).
	DirectorIfaces []string
	// RealIfaces are the real servers' interfaces, in Reals' order (where a
	// TUN lab runs `xvs decap -i`).
	RealIfaces []string
	// Gateway4 and Gateway6 are the real servers' default gateway: the
	// director's internal addresses on NAT (a NAT pair's VRRP-owned
	// gateway, on neither director when built), invalid on DR/TUN.
	Gateway4, Gateway6 netip.Addr

	// topo is what builds and removes the lab's namespaces.
	topo *Topology

	mu    sync.Mutex // guards procs, closed, labServer, ecmpDown
	procs []*Proc
	// ecmpDown marks the directors whose nexthop an ECMP lab's router has
	// lost (DropNexthop).
	ecmpDown map[*Host]bool
	closed   bool
	// labServer is the labserver binary's path once known.
	labServer string
}

// New builds a lab. It first removes labs left behind by dead processes
// (once per process, CleanupStale). On failure nothing of the lab is left.
func New(opts Options) (*Lab, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if reason := Unavailable(); reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	if err := cleanupStaleOnce(); err != nil {
		return nil, fmt.Errorf("clean up stale labs: %w", err)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	l := plan(id, opts)
	register(l)
	if !opts.NoSignalHandler {
		installSignalHandler()
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("build %s lab %s: %w", opts.Mode, id, err), l.Close())
	}
	return l, nil
}

// Hosts returns every host of the lab: client, an ECMP lab's router,
// directors, switch, a NAT pair's client switch, reals.
func (l *Lab) Hosts() []*Host {
	hs := []*Host{l.Client}
	if l.Router != nil {
		hs = append(hs, l.Router)
	}
	hs = append(hs, l.Directors...)
	hs = append(hs, l.Switch)
	if l.ClientSwitch != nil {
		hs = append(hs, l.ClientSwitch)
	}
	return append(hs, l.Reals...)
}

// Namespaces returns the names of the lab's namespaces.
func (l *Lab) Namespaces() []string {
	var ns []string
	for _, h := range l.Hosts() {
		ns = append(ns, h.NS)
	}
	return ns
}

// Host returns the host called name ("client", "r2", ...), or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts() {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// String describes the lab: one line per host with its interfaces and
// addresses, for logs and the demo.
func (l *Lab) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s: %s, %d real servers", l.ID, l.Mode, len(l.Reals))
	if l.Options.Name != "" {
		fmt.Fprintf(&b, " (%s)", l.Options.Name)
	}
	fmt.Fprintf(&b, ", VIP %s %s\n", l.VIP4, l.VIP6)
	for _, h := range l.Hosts() {
		fmt.Fprintf(&b, "  %-8s ns %s", h.Name, h.NS)
		if l.isSwitch(h) {
			fmt.Fprintf(&b, " bridge %s", h.Iface)
		}
		for _, k := range h.Links {
			if k.Addr4.IsValid() {
				fmt.Fprintf(&b, "  %s %s %s mtu %d", k.Iface, k.Addr4, k.Addr6, k.MTU)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (l *Lab) checkOpen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%s: %w", l.ID, ErrClosed)
	}
	return nil
}

func (l *Lab) addProc(p *Proc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%s: %w", l.ID, ErrClosed)
	}
	l.procs = append(l.procs, p)
	return nil
}

// Close stops the processes started in the lab (SIGTERM, then SIGKILL),
// kills any other process left in its namespaces, and deletes the namespaces
// and the marker (the marker stays if a namespace could not be deleted, so
// CleanupStale retries later). Calling it again does nothing.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()
	defer unregister(l)

	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Stop() }()
	}
	wg.Wait()
	return l.topo.Close()
}

// deleteNamespaces kills every process inside the namespaces, then deletes
// them. Namespaces that do not exist are skipped.
func deleteNamespaces(names []string) error {
	var errs []error
	var lines []string
	for _, ns := range names {
		if _, err := os.Stat(nsPath(ns)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := killNamespacePids(ns); err != nil {
			errs = append(errs, err)
		}
		lines = append(lines, "netns del "+ns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if err := ipBatch(ctx, "", lines); err != nil {
		// One by one, so a namespace another process removed meanwhile does
		// not hide a real failure.
		for _, ns := range names {
			if _, serr := os.Stat(nsPath(ns)); serr == nil {
				if err := ipBatch(ctx, "", []string{"netns del " + ns}); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func nsPath(ns string) string { return netnsDir + "/" + ns }
