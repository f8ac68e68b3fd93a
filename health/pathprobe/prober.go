package pathprobe

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/netns"
)

// Names of the devices inside the probe namespace; the namespace is ours,
// so fixed names cannot collide.
const (
	probeIfName = "xvsprobe" // the macvlan on the served interface
	tapIfName   = "xvstun"   // the TAP device of the encapsulating hop
)

// Prober is one probe namespace on one served interface. Its methods are
// safe for concurrent use.
type Prober struct {
	iface  string
	log    *slog.Logger
	v4, v6 netip.Prefix

	nsfd   int    // the probe namespace; it lives as long as this descriptor
	nsPath string // /proc/PID/fd/N, for health.InNetns
	nl     *netlink.Handle
	mv     int // the macvlan's index in the probe namespace
	tap    *tunnelHop

	mu     sync.Mutex // guards paths, probes, free, next, closed
	paths  map[pathKey]*path
	probes map[probeKey]struct{}
	free   []uint32
	next   uint32
	closed bool

	// tunnels is the reader's view of the TUN paths, indexed by path
	// index, replaced whole under mu.
	tunnels atomic.Pointer[[]*tunnelPath]
}

// Open makes the probe namespace on o.Interface. On failure nothing of it
// is left, and the error (an *Error) names the interface and the step.
func Open(o Options) (*Prober, error) {
	v4, v6, err := o.validate()
	if err != nil {
		return nil, &Error{o.Interface, "options", err}
	}
	p := &Prober{iface: o.Interface, log: o.Logger, v4: v4, v6: v6, nsfd: -1,
		paths: map[pathKey]*path{}, probes: map[probeKey]struct{}{}, next: 1}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := p.open(o.Netns); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

func (p *Prober) open(home string) error {
	fail := func(step string, err error) error { return &Error{p.iface, step, err} }
	if home == "" {
		home = "/proc/thread-self/ns/net"
	}
	homefd, err := unix.Open(home, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open the interface's namespace "+home, err)
	}
	defer unix.Close(homefd)
	hh, err := netlink.NewHandleAt(vnetns.NsHandle(homefd), unix.NETLINK_ROUTE)
	if err != nil {
		return fail("netlink in "+home, err)
	}
	defer hh.Close()
	parent, err := hh.LinkByName(p.iface)
	if err != nil {
		return fail("find the interface", err)
	}

	if p.nsfd, err = newNetns(); err != nil {
		return fail("create the probe namespace", err)
	}
	p.nsPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), p.nsfd)
	if p.nl, err = netlink.NewHandleAt(vnetns.NsHandle(p.nsfd), unix.NETLINK_ROUTE); err != nil {
		return fail("netlink in the probe namespace", err)
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: probeIfName, ParentIndex: parent.Attrs().Index, Namespace: netlink.NsFd(p.nsfd)},
		Mode:      netlink.MACVLAN_MODE_BRIDGE,
	}
	if err := hh.LinkAdd(mv); err != nil {
		return fail("add a macvlan", err)
	}
	link, err := p.nl.LinkByName(probeIfName)
	if err != nil {
		return fail("find the macvlan", err)
	}
	p.mv = link.Attrs().Index
	if err := p.setupProbeLink(link); err != nil {
		return fail("set up the macvlan", err)
	}
	p.copyRoutes(hh, parent)
	if p.tap, err = p.openTunnelHop(link.Attrs().MTU); err != nil {
		return fail("set up the tunnel hop", err)
	}
	return nil
}

// newNetns returns a descriptor of a new, anonymous network namespace. The
// thread that makes it goes back to its own namespace afterwards rather
// than being retired: a child process started from a thread (with
// Pdeathsig, as exec checks and test helpers start them) dies with it. Only
// a thread that cannot go back stays locked, for the runtime to retire.
func newNetns() (int, error) {
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			c <- result{-1, err}
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			c <- result{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			c <- result{fd, err} // the thread stays locked and is retired
			return
		}
		runtime.UnlockOSThread()
		c <- result{fd, err}
	}()
	r := <-c
	return r.fd, r.err
}

// setupProbeLink brings lo and the macvlan up with the probe addresses. The
// reverse-path filter is off: replies come from the VIP, for which the
// probe namespace has no route of its own but the marked ones.
func (p *Prober) setupProbeLink(link netlink.Link) error {
	lo, err := p.nl.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := p.nl.LinkSetUp(lo); err != nil {
		return err
	}
	if err := p.sysctls(map[string]string{
		"ipv4/conf/all/rp_filter":                 "0",
		"ipv4/conf/default/rp_filter":             "0",
		"ipv4/conf/" + probeIfName + "/rp_filter": "0",
	}); err != nil {
		return err
	}
	for _, a := range []netip.Prefix{p.v4, p.v6} {
		if !a.IsValid() {
			continue
		}
		na := &netlink.Addr{IPNet: ipNet(a)}
		if a.Addr().Is6() {
			// The operator gives an address of their own; waiting a second
			// for duplicate detection would only fail the first probes.
			na.Flags = unix.IFA_F_NODAD
		}
		if err := p.nl.AddrAdd(link, na); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	return p.nl.LinkSetUp(link)
}

// sysctls writes /proc/sys/net/KEY = value inside the probe namespace.
func (p *Prober) sysctls(kv map[string]string) error {
	return p.enter(func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/net/"+k, []byte(v), 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyRoutes copies the main-table routes through the served interface
// into the probe namespace, through the macvlan, so a TUN real server behind
// a gateway is reached as from the director. A route that does not fit
// (its gateway is outside the probe address's subnet) is logged and left.
func (p *Prober) copyRoutes(hh *netlink.Handle, parent netlink.Link) {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		if (fam == netlink.FAMILY_V4 && !p.v4.IsValid()) || (fam == netlink.FAMILY_V6 && !p.v6.IsValid()) {
			continue
		}
		rs, err := hh.RouteListFiltered(fam, &netlink.Route{LinkIndex: parent.Attrs().Index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			p.log.Warn("path-true probes: cannot list the interface's routes", "interface", p.iface, "err", err)
			continue
		}
		for _, r := range rs {
			if r.Type != unix.RTN_UNICAST || len(r.MultiPath) > 0 || skipRoute(r) {
				continue
			}
			c := &netlink.Route{Dst: r.Dst, Gw: r.Gw, LinkIndex: p.mv, Priority: r.Priority, Scope: r.Scope,
				Table: unix.RT_TABLE_MAIN, Family: fam, Flags: r.Flags & int(netlink.FLAG_ONLINK)}
			if err := p.nl.RouteAdd(c); err != nil && !errors.Is(err, unix.EEXIST) {
				p.log.Warn("path-true probes: route not copied into the probe namespace",
					"interface", p.iface, "route", r.String(), "err", err)
			}
		}
	}
}

// skipRoute leaves out what the probe namespace makes itself: IPv6
// link-local and multicast prefixes.
func skipRoute(r netlink.Route) bool {
	if r.Dst == nil {
		return false
	}
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	return ok && (a.IsLinkLocalUnicast() || a.IsMulticast())
}

// enter runs fn on a thread inside the probe namespace.
func (p *Prober) enter(fn func() error) error { return netns.Do(p.nsPath, fn) }

// Close removes the probe namespace: the devices at once (the probe
// addresses leave the wire), then the namespace with its rules and routes.
// Routed Nets fail from then on. Calling it again does nothing.
func (p *Prober) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	var errs []error
	if p.tap != nil {
		errs = append(errs, p.tap.close())
	}
	if p.nl != nil {
		for _, name := range []string{tapIfName, probeIfName} {
			if l, err := p.nl.LinkByName(name); err == nil {
				if err := p.nl.LinkDel(l); err != nil {
					errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
				}
			}
		}
		p.nl.Close()
	}
	if p.nsfd >= 0 {
		errs = append(errs, unix.Close(p.nsfd))
		p.nsfd = -1
	}
	if err := errors.Join(errs...); err != nil {
		return &Error{p.iface, "close", err}
	}
	return nil
}
