package forwarder

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
)

// NetlinkRouter resolves next hops from the kernel's main routing table and
// neighbour cache, restricted to the interfaces xvs serves. It keeps an
// immutable copy that workers read without locks and rebuilds it when the
// kernel announces a change (and every few seconds regardless). A missing
// neighbour is resolved by the kernel itself: xvs adds a "managed" neighbour
// entry (the kernel keeps it resolved) or, on kernels without them, sends one
// empty UDP datagram to the discard port to make the kernel ask.
type NetlinkRouter struct {
	ifaces map[int]bool
	log    *slog.Logger
	tab    atomic.Pointer[routeTable]
	want   chan hopKey // next hops to resolve; full: dropped, asked again later

	mu      sync.Mutex // guards asked
	asked   map[hopKey]time.Time
	refresh chan struct{}
}

type hopKey struct {
	ifindex int
	addr    [16]byte
}

type routeEntry struct {
	lo, hi  [16]byte
	bits    int
	ifindex int
	gw      [16]byte
	hasGW   bool
	// pending is the hop returned while the neighbour is unresolved:
	// interface, MACs and MTU known, DstMAC zero.
	pending *link.Hop
}

type routeTable struct {
	routes []routeEntry // longest prefix first
	hops   map[hopKey]*link.Hop
	local  []netip.Addr
}

// NewNetlinkRouter returns a router over the given interfaces, with a first
// table already loaded.
func NewNetlinkRouter(ifindexes []int, log *slog.Logger) (*NetlinkRouter, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &NetlinkRouter{
		ifaces:  make(map[int]bool),
		log:     log,
		want:    make(chan hopKey, 1024),
		asked:   make(map[hopKey]time.Time),
		refresh: make(chan struct{}, 1),
	}
	for _, i := range ifindexes {
		r.ifaces[i] = true
	}
	if err := r.rebuild(); err != nil {
		return nil, err
	}
	return r, nil
}

// Route implements Router.
func (r *NetlinkRouter) Route(dst *[16]byte) *link.Hop {
	t := r.tab.Load()
	for i := range t.routes {
		re := &t.routes[i]
		if !inRange(dst, &re.lo, &re.hi) {
			continue
		}
		k := hopKey{ifindex: re.ifindex, addr: *dst}
		if re.hasGW {
			k.addr = re.gw
		}
		if h := t.hops[k]; h != nil {
			return h
		}
		select {
		case r.want <- k:
		default:
		}
		return re.pending
	}
	return nil
}

// LocalAddrs returns the director's own addresses.
func (r *NetlinkRouter) LocalAddrs() []netip.Addr { return r.tab.Load().local }

// Prefetch asks for the next hops of addrs to be resolved now, so that the
// first packet toward a new real server is not dropped.
func (r *NetlinkRouter) Prefetch(addrs [][16]byte) {
	for i := range addrs {
		r.Route(&addrs[i])
	}
}

// Run keeps the table current until ctx is done.
func (r *NetlinkRouter) Run(ctx context.Context) {
	done := make(chan struct{})
	defer close(done)
	neighs := make(chan netlink.NeighUpdate, 256)
	routes := make(chan netlink.RouteUpdate, 256)
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	// Subscriptions are best effort: the periodic rebuild covers failures.
	_ = netlink.NeighSubscribe(neighs, done)
	_ = netlink.RouteSubscribe(routes, done)
	_ = netlink.LinkSubscribe(links, done)
	_ = netlink.AddrSubscribe(addrs, done)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	debounce := time.NewTimer(time.Hour)
	defer debounce.Stop()
	// soon schedules one rebuild shortly; further events before it runs do
	// not postpone it (a stream of them must not starve the rebuild).
	pending := false
	soon := func() {
		if !pending {
			pending = true
			debounce.Reset(20 * time.Millisecond)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-r.want:
			if r.resolve(k) {
				soon()
			}
		case <-neighs:
			soon()
		case <-routes:
			soon()
		case <-links:
			soon()
		case <-addrs:
			soon()
		case <-r.refresh:
			soon()
		case <-tick.C:
			soon()
		case <-debounce.C:
			pending = false
			if err := r.rebuild(); err != nil {
				r.log.Warn("reading routes and neighbours", "err", err)
			}
		}
	}
}

// resolve asks the kernel to resolve a neighbour, at most once a second per
// neighbour. It reports whether it asked.
func (r *NetlinkRouter) resolve(k hopKey) bool {
	r.mu.Lock()
	if t, ok := r.asked[k]; ok && time.Since(t) < time.Second {
		r.mu.Unlock()
		return false
	}
	r.asked[k] = time.Now()
	r.mu.Unlock()
	ip := net.IP(flow.AddrOf(k.addr).AsSlice())
	// NTF_USE makes the kernel start resolving at once, as if a packet were
	// waiting; "managed" makes it keep the entry resolved from then on.
	n := &netlink.Neigh{LinkIndex: k.ifindex, IP: ip, State: netlink.NUD_NONE,
		Flags: netlink.NTF_USE, FlagsExt: netlink.NTF_EXT_MANAGED}
	if ip.To4() != nil {
		n.Family = unix.AF_INET
	} else {
		n.Family = unix.AF_INET6
	}
	if err := netlink.NeighSet(n); err == nil {
		return true
	}
	n.FlagsExt = 0 // a kernel without managed neighbours
	if err := netlink.NeighSet(n); err == nil {
		return true
	}
	// No managed neighbours: make the kernel resolve by sending it a packet.
	a := flow.AddrOf(k.addr)
	if a.Is6() && a.IsLinkLocalUnicast() {
		if l, err := net.InterfaceByIndex(k.ifindex); err == nil {
			a = a.WithZone(l.Name)
		}
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
	if err != nil {
		return true
	}
	_, _ = c.Write(nil)
	c.Close()
	return true
}

// rebuild reads links, routes, neighbours and addresses and publishes a new
// table.
func (r *NetlinkRouter) rebuild() error {
	t := &routeTable{hops: make(map[hopKey]*link.Hop)}
	type linkInfo struct {
		mac  [6]byte
		mtu  int
		src4 [16]byte
		src6 [16]byte
	}
	links := make(map[int]*linkInfo)
	for idx := range r.ifaces {
		l, err := netlink.LinkByIndex(idx)
		if err != nil {
			return fmt.Errorf("interface %d: %w", idx, err)
		}
		li := &linkInfo{mtu: l.Attrs().MTU}
		copy(li.mac[:], l.Attrs().HardwareAddr)
		links[idx] = li
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		t.local = append(t.local, ip)
		li := links[a.LinkIndex]
		if li == nil || ip.IsLinkLocalUnicast() || ip.IsLoopback() {
			continue
		}
		if ip.Is4() && li.src4 == ([16]byte{}) {
			li.src4 = flow.Addr16(ip)
		} else if ip.Is6() && li.src6 == ([16]byte{}) {
			li.src6 = flow.Addr16(ip)
		}
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	for _, rt := range routes {
		if !r.ifaces[rt.LinkIndex] || rt.Type != unix.RTN_UNICAST {
			continue
		}
		var p netip.Prefix
		if rt.Dst == nil {
			if rt.Family == unix.AF_INET6 {
				p = netip.MustParsePrefix("::/0")
			} else {
				p = netip.MustParsePrefix("0.0.0.0/0")
			}
		} else {
			a, _ := netip.AddrFromSlice(rt.Dst.IP)
			ones, _ := rt.Dst.Mask.Size()
			p = netip.PrefixFrom(a.Unmap(), ones)
		}
		e := routeEntry{ifindex: rt.LinkIndex, bits: p.Bits()}
		if p.Addr().Is4() {
			e.bits += 96
		}
		e.lo, e.hi = prefixRange(p)
		if rt.Gw != nil {
			gw, _ := netip.AddrFromSlice(rt.Gw)
			e.gw, e.hasGW = flow.Addr16(gw.Unmap()), true
		}
		if li := links[rt.LinkIndex]; li != nil {
			e.pending = &link.Hop{Ifindex: rt.LinkIndex, SrcMAC: li.mac, MTU: li.mtu, Src: li.src4}
			if p.Addr().Is6() {
				e.pending.Src = li.src6
			}
		}
		t.routes = append(t.routes, e)
	}
	sort.SliceStable(t.routes, func(i, j int) bool { return t.routes[i].bits > t.routes[j].bits })
	for idx, li := range links {
		neighs, err := netlink.NeighList(idx, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("listing neighbours: %w", err)
		}
		for _, n := range neighs {
			const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
				netlink.NUD_PROBE | netlink.NUD_PERMANENT
			if n.State&usable == 0 || len(n.HardwareAddr) != 6 {
				continue
			}
			h := &link.Hop{Ifindex: idx, SrcMAC: li.mac, MTU: li.mtu}
			copy(h.DstMAC[:], n.HardwareAddr)
			if h.DstMAC == ([6]byte{}) {
				continue // never send to a zero MAC
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is4() {
				h.Src = li.src4
			} else {
				h.Src = li.src6
			}
			t.hops[hopKey{ifindex: idx, addr: flow.Addr16(ip)}] = h
		}
	}
	r.tab.Store(t)
	return nil
}
