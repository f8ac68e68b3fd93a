package pathprobe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// A path's numbers. Marks and tables are only ever used inside the probe
// namespace, which is ours; the base makes them easy to recognise in
// `ip rule` ("xv") should one show up in a capture or a tc filter of the
// served interface (macvlan hands the packet to it with its mark).
const (
	markBase     = 0x78760000
	tableBase    = 0x78760000
	rulePriority = 1000
	maxPaths     = 0xffff
)

// macPrefix starts the MAC address of a TUN path's neighbour on the TAP
// device: locally administered, "xv", then 0 and the path index.
var macPrefix = [4]byte{0x02, 0x78, 0x76, 0x00}

// pathKey is one way to a real server: its address and how packets reach it.
type pathKey struct {
	addr   netip.Addr
	method service.Method
	tunnel service.Tunnel
}

// path is a routed pathKey: a mark, a table with one route per VIP, and for
// TUN a neighbour on the TAP device.
type path struct {
	key  pathKey
	idx  uint32
	vips map[netip.Addr]int // probes per VIP route
}

func (pa *path) mark() uint32 { return markBase | pa.idx }
func (pa *path) table() int   { return tableBase + int(pa.idx) }

// nexthop is a TUN path's next hop on the TAP device: 169.254.H.L or
// fe80::7876:0:0:HHLL, H and L the bytes of the path index.
func (pa *path) nexthop() netip.Addr {
	hi, lo := byte(pa.idx>>8), byte(pa.idx)
	if pa.key.addr.Is4() {
		return netip.AddrFrom4([4]byte{169, 254, hi, lo})
	}
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: 0x78, 9: 0x76, 14: hi, 15: lo})
}

func pathMAC(idx uint32) net.HardwareAddr {
	return net.HardwareAddr{macPrefix[0], macPrefix[1], macPrefix[2], macPrefix[3], byte(idx >> 8), byte(idx)}
}

// probeKey is one routed probe: a VIP:port over a path.
type probeKey struct {
	vip  netip.AddrPort
	path pathKey
}

// Probe is one checker to route: the probe of Real (of a DR or TUN service)
// is sent to VIP through Net.
type Probe struct {
	VIP  netip.AddrPort
	Real service.Real
	Net  *health.Net
}

// Route makes the checker that dials through n probe r the forwarded
// packets' way: n's Enter becomes the probe namespace, Mark the path's
// mark, Via vip, Source the probe address of vip's family, and Device is
// cleared (the director's devices are not in the probe namespace); Port and
// Control stay. The route, rule (and for TUN neighbour) are installed
// first; on error n is unchanged. Call it before the checker runs: n is
// not locked.
func (p *Prober) Route(vip netip.AddrPort, r service.Real, n *health.Net) error {
	key, src, err := p.keyOf(vip, r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.routeLocked(probeKey{vip, key}, src, n)
}

// Forget removes the probe of r through vip; a route, rule or neighbour no
// other probe uses goes with it.
func (p *Prober) Forget(vip netip.AddrPort, r service.Real) error {
	key, _, err := p.keyOf(vip, r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.probes[probeKey{vip, key}]; !ok {
		return nil
	}
	return p.forgetLocked(probeKey{vip, key})
}

// Sync makes set the routed probes, for a reload: probes not in set are
// forgotten, the others routed (a path that stays keeps its mark, so a
// checker the health engine keeps from before stays valid). It goes on
// after an error and returns them all; a probe that failed keeps its Net
// unchanged, which the caller must not run as if it were path-true.
func (p *Prober) Sync(set []Probe) error {
	var errs []error
	type item struct {
		pk  probeKey
		src netip.Addr
		n   *health.Net
	}
	items := make([]item, 0, len(set))
	want := make(map[probeKey]bool, len(set))
	for _, pr := range set {
		if pr.Net == nil {
			errs = append(errs, fmt.Errorf("path-true probe of %s through %s: no Net", pr.Real.Addr, pr.VIP))
			continue
		}
		key, src, err := p.keyOf(pr.VIP, pr.Real)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pk := probeKey{pr.VIP, key}
		items = append(items, item{pk, src, pr.Net})
		want[pk] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for pk := range p.probes {
		if !want[pk] {
			errs = append(errs, p.forgetLocked(pk))
		}
	}
	for _, it := range items {
		errs = append(errs, p.routeLocked(it.pk, it.src, it.n))
	}
	return errors.Join(errs...)
}

// keyOf checks a probe's addresses and returns its path and source.
func (p *Prober) keyOf(vip netip.AddrPort, r service.Real) (pathKey, netip.Addr, error) {
	fail := func(err error) (pathKey, netip.Addr, error) {
		return pathKey{}, netip.Addr{}, fmt.Errorf("path-true probe of %s through %s: %w", r.Addr, vip, err)
	}
	if r.Method != service.MethodDR && r.Method != service.MethodTUN {
		return fail(ErrMethod)
	}
	va, ra := vip.Addr().Unmap(), r.Addr.Unmap()
	if !va.IsValid() || !ra.IsValid() || va.Is4() != ra.Is4() {
		return fail(fmt.Errorf("%w (real server and VIP differ)", ErrFamily))
	}
	src := p.v6
	if va.Is4() {
		src = p.v4
	}
	if !src.IsValid() {
		return fail(ErrFamily)
	}
	key := pathKey{addr: ra, method: r.Method}
	if r.Method == service.MethodTUN {
		key.tunnel = r.Tunnel
	}
	return key, src.Addr(), nil
}

func (p *Prober) routeLocked(pk probeKey, src netip.Addr, n *health.Net) error {
	if p.closed {
		return ErrClosed
	}
	fail := func(err error) error {
		return fmt.Errorf("path-true probe of %s through %s: %w", pk.path.addr, pk.vip, err)
	}
	pa := p.paths[pk.path]
	if _, ok := p.probes[pk]; !ok {
		fresh := pa == nil
		if fresh {
			var err error
			if pa, err = p.addPath(pk.path); err != nil {
				return fail(err)
			}
		}
		vip := pk.vip.Addr().Unmap()
		if pa.vips[vip] == 0 {
			if err := p.nl.RouteReplace(p.vipRoute(pa, vip)); err != nil {
				if fresh {
					p.delPath(pa)
				}
				return fail(&Error{p.iface, "add route " + vip.String() + " via " + pk.path.addr.String(), err})
			}
		}
		pa.vips[vip]++
		p.probes[pk] = struct{}{}
	}
	n.Enter = health.InNetns(p.nsPath)
	n.Mark = pa.mark()
	n.Via = pk.vip
	n.Source = src
	n.Device = ""
	return nil
}

func (p *Prober) forgetLocked(pk probeKey) error {
	delete(p.probes, pk)
	pa := p.paths[pk.path]
	vip := pk.vip.Addr().Unmap()
	var err error
	if pa.vips[vip]--; pa.vips[vip] <= 0 {
		delete(pa.vips, vip)
		if e := p.nl.RouteDel(p.vipRoute(pa, vip)); e != nil && !errors.Is(e, unix.ESRCH) {
			err = &Error{p.iface, "delete route " + vip.String() + " via " + pk.path.addr.String(), e}
		}
	}
	if len(pa.vips) == 0 {
		err = errors.Join(err, p.delPath(pa))
	}
	return err
}

// addPath allocates a path's number and installs its rule (and neighbour).
func (p *Prober) addPath(k pathKey) (*path, error) {
	var idx uint32
	switch {
	case len(p.free) > 0:
		idx, p.free = p.free[len(p.free)-1], p.free[:len(p.free)-1]
	case p.next <= maxPaths:
		idx = p.next
		p.next++
	default:
		return nil, ErrFull
	}
	pa := &path{key: k, idx: idx, vips: map[netip.Addr]int{}}
	if err := p.nl.RuleAdd(p.rule(pa)); err != nil && !errors.Is(err, unix.EEXIST) {
		p.free = append(p.free, idx)
		return nil, &Error{p.iface, "add rule", err}
	}
	if k.method == service.MethodTUN {
		if err := p.nl.NeighSet(p.neigh(pa)); err != nil {
			p.nl.RuleDel(p.rule(pa))
			p.free = append(p.free, idx)
			return nil, &Error{p.iface, "add neighbour", err}
		}
	}
	p.paths[k] = pa
	p.publishTunnels()
	return pa, nil
}

// delPath removes a path whose last VIP route is gone.
func (p *Prober) delPath(pa *path) error {
	delete(p.paths, pa.key)
	p.publishTunnels()
	var errs []error
	if err := p.nl.RuleDel(p.rule(pa)); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, &Error{p.iface, "delete rule", err})
	}
	if pa.key.method == service.MethodTUN {
		if err := p.nl.NeighDel(p.neigh(pa)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &Error{p.iface, "delete neighbour", err})
		}
	}
	p.free = append(p.free, pa.idx)
	return errors.Join(errs...)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func (p *Prober) rule(pa *path) *netlink.Rule {
	r := netlink.NewRule()
	r.Priority = rulePriority
	r.Family = family(pa.key.addr)
	r.Table = pa.table()
	r.Mark = pa.mark()
	return r
}

// vipRoute is "VIP via RIP dev xvsprobe onlink table T" for DR (the
// kernel resolves RIP's MAC as the forwarder does) and "VIP via NH dev
// xvstun onlink table T" for TUN, where NH is the path's own link-local
// next hop, whose neighbour entry names the path. Not RIP: IPv6 refuses an
// onlink gateway that the main table routes through another device (RIP
// is on the macvlan's subnet), and two tunnels to one RIP would need one
// neighbour entry each.
func (p *Prober) vipRoute(pa *path, vip netip.Addr) *netlink.Route {
	dev, gw := p.mv, pa.key.addr
	if pa.key.method == service.MethodTUN {
		dev, gw = p.tap.index, pa.nexthop()
	}
	return &netlink.Route{
		Dst:       ipNet(netip.PrefixFrom(vip, vip.BitLen())),
		Gw:        gw.AsSlice(),
		LinkIndex: dev,
		Table:     pa.table(),
		Flags:     int(netlink.FLAG_ONLINK),
		Family:    family(vip),
	}
}

func (p *Prober) neigh(pa *path) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    p.tap.index,
		Family:       family(pa.key.addr),
		State:        netlink.NUD_PERMANENT,
		IP:           pa.nexthop().AsSlice(),
		HardwareAddr: pathMAC(pa.idx),
	}
}

func ipNet(a netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}
}
