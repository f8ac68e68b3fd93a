package testnet

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxECMPDirectors is the most directors an ECMP lab puts behind its router.
const MaxECMPDirectors = 8

// The ECMP lab's address plan (Options.ECMP; the package doc draws it).
var (
	// The client's segment: the VIP (198.18.0.10) must not be on-link for
	// the client, so it is not 198.18.0.0/24.
	ecmpClient4, ecmpClient6 = netip.MustParseAddr("198.18.2.1"), netip.MustParseAddr("2001:db8:0:2::1")
	ecmpRtrC4, ecmpRtrC6     = netip.MustParseAddr("198.18.2.254"), netip.MustParseAddr("2001:db8:0:2::254")
	ecmpClientNet4           = netip.MustParsePrefix("198.18.2.0/24")
	ecmpClientNet6           = netip.MustParsePrefix("2001:db8:0:2::/64")
	// The router's address on the real servers' segment, their gateway.
	ecmpRtrR4, ecmpRtrR6 = internalAddr4, internalAddr6
)

// ecmpLinkNets returns director i's (1-based) point-to-point segment with
// the router: 198.18.(10+i).0/24 and 2001:db8:0:(10+i)::/64, the router .1,
// the director .2.
func ecmpLinkNets(i int) (net4, net6 netip.Prefix) {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(10 + i), 0}), 24),
		netip.MustParsePrefix("2001:db8:0:" + strconv.Itoa(10+i) + "::/64")
}

// nthAddr is the host n of segment p (IPv4 last octet, IPv6 last group
// written in decimal digits read as hex, as the plan writes them).
func nthAddr(p netip.Prefix, n int) netip.Addr {
	b := p.Addr().As16()
	if p.Addr().Is4() {
		a := p.Addr().As4()
		a[3] = byte(n)
		return netip.AddrFrom4(a)
	}
	v, _ := strconv.ParseUint(strconv.Itoa(n), 16, 16)
	b[14], b[15] = byte(v>>8), byte(v)
	return netip.AddrFrom16(b)
}

// planECMP lays out an ECMP lab: the client on a segment of its own with
// the router; the router with one veth per director, a port on the real
// servers' bridge (it is their gateway: DR answers go straight back through
// it) and the VIP routed over every director; each director with its
// router link (Host.Iface) and a port on the bridge; the real servers
// holding the VIP on lo.
func planECMP(id string, o Options) *Lab {
	l := &Lab{ID: id, Mode: o.Mode, Options: o, VIP4: vip4, VIP6: vip6, labServer: o.LabServer}
	host := func(name string) *Host { return &Host{Name: name, NS: nsName(id, name), lab: l} }
	l.Client, l.Router, l.Switch = host("client"), host("router"), host("switch")
	l.Switch.Iface = ifName(id, "br")
	for i := 1; i <= o.Directors; i++ {
		name := "director"
		if i > 1 {
			name += strconv.Itoa(i)
		}
		l.Directors = append(l.Directors, host(name))
	}
	l.Director = l.Directors[0]
	none := netip.Prefix{}
	connect := func(a *Host, ta string, a4, a6 netip.Prefix, b *Host, tb string, b4, b6 netip.Prefix, mtu int) {
		connectHosts(id, a, ta, a4, a6, b, tb, b4, b6, mtu)
	}
	connect(l.Router, "rc", pfx(ecmpRtrC4, ecmpClientNet4), pfx(ecmpRtrC6, ecmpClientNet6),
		l.Client, "c", pfx(ecmpClient4, ecmpClientNet4), pfx(ecmpClient6, ecmpClientNet6), o.MTU)
	for i, d := range l.Directors {
		n4, n6 := ecmpLinkNets(i + 1)
		sfx := ""
		if i > 0 {
			sfx = strconv.Itoa(i + 1)
		}
		connect(l.Router, "rd"+strconv.Itoa(i+1), pfx(nthAddr(n4, 1), n4), pfx(nthAddr(n6, 1), n6),
			d, "dx"+sfx, pfx(nthAddr(n4, 2), n4), pfx(nthAddr(n6, 2), n6), o.MTU)
	}
	for i, d := range l.Directors {
		sfx := ""
		if i > 0 {
			sfx = strconv.Itoa(i + 1)
		}
		connect(l.Switch, "sdi"+sfx, none, none, d, "di"+sfx,
			pfx(nthAddr(realNet4, 240+i+1), realNet4), pfx(nthAddr(realNet6, 240+i+1), realNet6), o.RealMTU)
	}
	connect(l.Switch, "srtr", none, none, l.Router, "rtr", pfx(ecmpRtrR4, realNet4), pfx(ecmpRtrR6, realNet6), o.RealMTU)
	for i := 1; i <= o.Reals; i++ {
		r := host(realName(i))
		a4, a6 := realAddrs(i)
		connect(l.Switch, "s"+r.Name, none, none, r, r.Name, pfx(a4, realNet4), pfx(a6, realNet6), o.RealMTU)
		l.Reals = append(l.Reals, r)
		l.RealIfaces = append(l.RealIfaces, r.Links[0].Iface)
	}
	for _, h := range append([]*Host{l.Client, l.Router}, append(l.Directors, l.Reals...)...) {
		h.Iface, h.Addr4, h.Addr6 = h.Links[0].Iface, h.Links[0].Addr4.Addr(), h.Links[0].Addr6.Addr()
	}
	for _, k := range l.Director.Links {
		l.DirectorIfaces = append(l.DirectorIfaces, k.Iface)
	}
	l.Gateway4, l.Gateway6 = ecmpRtrR4, ecmpRtrR6
	l.topo = l.ecmpTopology()
	return l
}

// ecmpTopology turns an ECMP lab's hosts into its Topology: the router and
// the switch create the links; the router forwards with an L4 multipath
// hash and routes the VIPs over every director; real servers hold the VIPs
// on lo with the LVS recipe and route through the router.
func (l *Lab) ecmpTopology() *Topology {
	tp := &Topology{ID: l.ID, Name: l.Options.Name, finish: l.finishNode}
	def4, def6 := netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	for _, h := range l.Hosts() {
		n := &Node{Name: h.Name, NS: h.NS, Sysctls: l.nsSysctls(h)}
		if h == l.Switch {
			n.Bridge = h.Iface
		}
		n.Ifaces = linkIfaces(h, n.Bridge)
		for _, k := range h.Links {
			// The switch creates its ports (the router's one too), the
			// router its links to the client and the directors.
			if h == l.Switch || (h == l.Router && k.PeerNS != l.Switch.NS) {
				tp.Veths = append(tp.Veths, Veth{A: End{NS: h.NS, Name: k.Iface}, B: End{NS: k.PeerNS, Name: k.PeerIface}})
			}
		}
		switch {
		case h == l.Client:
			n.Routes = []Route{{Dst: def4, Via: ecmpRtrC4}, {Dst: def6, Via: ecmpRtrC6}}
		case h == l.Router:
			// The router's own configuration, as an operator sets it
			// up: it forwards, and hashes flows by their 5-tuple.
			n.Sysctls = append(n.Sysctls,
				[2]string{"net.ipv4.ip_forward", "1"},
				[2]string{"net.ipv6.conf.all.forwarding", "1"},
				[2]string{"net.ipv4.fib_multipath_hash_policy", "1"},
				[2]string{"net.ipv6.fib_multipath_hash_policy", "1"})
			if !l.Options.NoStaticECMP {
				n.Routes = []Route{{Dst: host32(l.VIP4), Multipath: l.nexthops(4, l.Directors)},
					{Dst: host32(l.VIP6), Multipath: l.nexthops(6, l.Directors)}}
			}
		case l.isDirector(h):
			gw := h.Links[0]
			n.Routes = []Route{{Dst: def4, Via: l.routerAddr(gw, 4)}, {Dst: def6, Via: l.routerAddr(gw, 6)}}
		case l.isReal(h):
			vips := []Addr{AddrOf(l.VIP4), {Prefix: host32(l.VIP6), Deprecated: true}}
			n.Ifaces = append(n.Ifaces, Iface{Name: "lo", Addrs: vips})
			pre := "net.ipv4.conf." + h.Iface + "."
			n.IfSysctls = [][2]string{{pre + "arp_ignore", "1"}, {pre + "arp_announce", "2"}, {pre + "rp_filter", "0"}}
			n.Routes = []Route{{Dst: def4, Via: ecmpRtrR4}, {Dst: def6, Via: ecmpRtrR6}}
		}
		tp.Nodes = append(tp.Nodes, n)
	}
	return tp
}

// routerAddr is the router's address of family fam on a director's router
// link k.
func (l *Lab) routerAddr(k Link, fam int) netip.Addr {
	for _, rk := range l.Router.Links {
		if rk.Iface == k.PeerIface {
			if fam == 6 {
				return rk.Addr6.Addr()
			}
			return rk.Addr4.Addr()
		}
	}
	panic("testnet: no router link " + k.PeerIface)
}

// RouterAddr returns the router's addresses on director d's link: d's BGP
// neighbour in an ECMP lab. It panics for a host that is no ECMP director.
func (l *Lab) RouterAddr(d *Host) (netip.Addr, netip.Addr) {
	if l.Router == nil || !l.isDirector(d) {
		panic("testnet: RouterAddr of " + d.Name + ": not a director of an ECMP lab")
	}
	return l.routerAddr(d.Links[0], 4), l.routerAddr(d.Links[0], 6)
}

// nexthops returns the router-link addresses of family fam of directors.
func (l *Lab) nexthops(fam int, directors []*Host) []netip.Addr {
	var out []netip.Addr
	for _, d := range directors {
		if fam == 6 {
			out = append(out, d.Addr6)
		} else {
			out = append(out, d.Addr4)
		}
	}
	return out
}

// multipathLine is ip's "route VERB DST nexthop via A nexthop via B ...".
func multipathLine(verb string, dst netip.Prefix, via []netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "route %s %s", verb, dst)
	for _, a := range via {
		fmt.Fprintf(&b, " nexthop via %s", a)
	}
	return b.String()
}

// DropNexthop removes director d from the router's multipath routes to the
// VIPs, as a router does when d's BGP session goes: the flows it carried
// are rehashed over the others. The lab's static route only: a lab built
// with NoStaticECMP has none to change.
func (l *Lab) DropNexthop(ctx context.Context, d *Host) error {
	return l.setNexthop(ctx, d, false)
}

// RestoreNexthop puts director d back into the router's multipath routes.
func (l *Lab) RestoreNexthop(ctx context.Context, d *Host) error {
	return l.setNexthop(ctx, d, true)
}

func (l *Lab) setNexthop(ctx context.Context, d *Host, up bool) error {
	if l.Router == nil || !l.isDirector(d) {
		return fmt.Errorf("%w: %s is not a director of an ECMP lab", ErrOptions, d.Name)
	}
	if l.Options.NoStaticECMP {
		return fmt.Errorf("%w: the lab has no static ECMP route (NoStaticECMP)", ErrOptions)
	}
	if err := l.checkOpen(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ecmpDown == nil {
		l.ecmpDown = map[*Host]bool{}
	}
	l.ecmpDown[d] = !up
	var live []*Host
	for _, h := range l.Directors {
		if !l.ecmpDown[h] {
			live = append(live, h)
		}
	}
	var lines []string
	for _, fam := range []int{4, 6} {
		vip := host32(l.VIP4)
		if fam == 6 {
			vip = host32(l.VIP6)
		}
		if len(live) == 0 {
			lines = append(lines, "route del "+vip.String())
			continue
		}
		lines = append(lines, multipathLine("replace", vip, l.nexthops(fam, live)))
	}
	return ipBatch(ctx, l.Router.NS, lines)
}

// Nexthops returns the router's current route to the VIP of family fam
// (4 or 6) as `ip route show` prints it, for logs and tests.
func (l *Lab) Nexthops(ctx context.Context, fam int) (string, error) {
	if l.Router == nil {
		return "", fmt.Errorf("%w: not an ECMP lab", ErrOptions)
	}
	vip := l.VIP4
	if fam == 6 {
		vip = l.VIP6
	}
	out, err := l.Router.Run(ctx, "ip", "-"+strconv.Itoa(fam), "route", "show", host32(vip).String())
	return strings.TrimSpace(string(out)), err
}
