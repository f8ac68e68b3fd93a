package testnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// plan lays out the lab's hosts, links and addresses without touching the
// system (see the package doc for the picture).
func plan(id string, o Options) *Lab {
	if o.ECMP {
		return planECMP(id, o)
	}
	l := &Lab{ID: id, Mode: o.Mode, Options: o, VIP4: vip4, VIP6: vip6, labServer: o.LabServer}
	host := func(name string) *Host { return &Host{Name: name, NS: nsName(id, name), lab: l} }
	l.Client, l.Director, l.Switch = host("client"), host("director"), host("switch")
	l.Directors = []*Host{l.Director}
	if o.Directors > 1 {
		l.Directors = append(l.Directors, host("director2"))
	}
	l.Switch.Iface = ifName(id, "br")

	connect := func(a *Host, ta string, a4, a6 netip.Prefix, b *Host, tb string, b4, b6 netip.Prefix, mtu int) {
		connectHosts(id, a, ta, a4, a6, b, tb, b4, b6, mtu)
	}
	none := netip.Prefix{}
	seg4, seg6 := flatNet4, flatNet6 // DR/TUN: one segment
	switch {
	case o.Mode == NAT && o.Directors > 1:
		// A pair: the client side is bridged too, and the real servers'
		// gateway is an address VRRP moves between the directors.
		seg4, seg6 = realNet4, realNet6
		l.ClientSwitch = host("cswitch")
		l.ClientSwitch.Iface = ifName(id, "cbr")
		connect(l.Client, "c", pfx(clientAddr4, clientNet4), pfx(clientAddr6, clientNet6),
			l.ClientSwitch, "sc", none, none, o.MTU)
		for i, d := range l.Directors {
			sfx := ""
			if i > 0 {
				sfx = strconv.Itoa(i + 1)
			}
			connect(d, "dx"+sfx, pfx(pairExt4[i], clientNet4), pfx(pairExt6[i], clientNet6),
				l.ClientSwitch, "sdx"+sfx, none, none, o.MTU)
			connect(d, "di"+sfx, pfx(pairInt4[i], realNet4), pfx(pairInt6[i], realNet6),
				l.Switch, "sdi"+sfx, none, none, o.RealMTU)
		}
		l.Gateway4, l.Gateway6 = internalAddr4, internalAddr6
	case o.Mode == NAT:
		seg4, seg6 = realNet4, realNet6
		connect(l.Client, "c", pfx(clientAddr4, clientNet4), pfx(clientAddr6, clientNet6),
			l.Director, "dx", pfx(directorAddr4, clientNet4), pfx(directorAddr6, clientNet6), o.MTU)
		connect(l.Director, "di", pfx(internalAddr4, realNet4), pfx(internalAddr6, realNet6),
			l.Switch, "sdi", none, none, o.RealMTU)
		l.Gateway4, l.Gateway6 = internalAddr4, internalAddr6
	default:
		connect(l.Client, "c", pfx(clientAddr4, flatNet4), pfx(clientAddr6, flatNet6),
			l.Switch, "sc", none, none, o.MTU)
		connect(l.Director, "d", pfx(directorAddr4, flatNet4), pfx(directorAddr6, flatNet6),
			l.Switch, "sd", none, none, o.MTU)
		if o.Directors > 1 {
			connect(l.Directors[1], "d2", pfx(director2Addr4, flatNet4), pfx(director2Addr6, flatNet6),
				l.Switch, "sd2", none, none, o.MTU)
		}
	}
	for i := 1; i <= o.Reals; i++ {
		r := host(realName(i))
		a4, a6 := realAddrs(i)
		connect(r, r.Name, pfx(a4, seg4), pfx(a6, seg6), l.Switch, "s"+r.Name, none, none, o.RealMTU)
		l.Reals = append(l.Reals, r)
		l.RealIfaces = append(l.RealIfaces, r.Links[0].Iface)
	}
	for _, h := range append([]*Host{l.Client}, l.Directors...) {
		h.Iface, h.Addr4, h.Addr6 = h.Links[0].Iface, h.Links[0].Addr4.Addr(), h.Links[0].Addr6.Addr()
	}
	for _, h := range l.Reals {
		h.Iface, h.Addr4, h.Addr6 = h.Links[0].Iface, h.Links[0].Addr4.Addr(), h.Links[0].Addr6.Addr()
	}
	for _, k := range l.Director.Links {
		l.DirectorIfaces = append(l.DirectorIfaces, k.Iface)
	}
	l.topo = l.topology()
	return l
}

// build creates what plan laid out (the lab's Topology), with the offload
// settings, then runs Options.SetupReal.
func (l *Lab) build(ctx context.Context) error {
	if err := l.topo.build(ctx); err != nil {
		return err
	}
	if l.Options.SetupReal != nil {
		for _, r := range l.Reals {
			if err := l.Options.SetupReal(r); err != nil {
				return fmt.Errorf("setup %s: %w", r.Name, err)
			}
		}
	}
	return nil
}

// topology turns the lab's hosts and links into the Topology that builds
// them: the switch creates its ports, the NAT client its link to the
// director; the switch holds the bridge, the director and (DR/TUN) the real
// servers' lo the VIPs.
func (l *Lab) topology() *Topology {
	tp := &Topology{ID: l.ID, Name: l.Options.Name, finish: l.finishNode}
	for _, h := range l.Hosts() {
		n := &Node{Name: h.Name, NS: h.NS, Sysctls: l.nsSysctls(h)}
		if l.isSwitch(h) {
			n.Bridge = h.Iface
		}
		n.Ifaces = linkIfaces(h, n.Bridge)
		for _, k := range h.Links {
			// Bridges create their ports; NAT's lone director's client link
			// is the client's.
			if l.isSwitch(h) || (l.Mode == NAT && h == l.Client && l.ClientSwitch == nil) {
				tp.Veths = append(tp.Veths, Veth{A: End{NS: h.NS, Name: k.Iface}, B: End{NS: k.PeerNS, Name: k.PeerIface}})
			}
		}
		// The IPv6 VIP is deprecated (preferred_lft 0): it still takes
		// traffic but is never picked as the source of the host's own
		// packets, which IPv6 source selection would otherwise do for the
		// real-server segment.
		vips := []Addr{AddrOf(l.VIP4), {Prefix: host32(l.VIP6), Deprecated: true}}
		switch {
		case h == l.Director && len(l.Directors) > 1:
			// A pair's VIP belongs to whichever director VRRP makes master.
		case h == l.Director:
			n.Ifaces[0].Addrs = append(n.Ifaces[0].Addrs, vips...)
		case h == l.Client && l.Mode == NAT && len(l.Directors) > 1:
			// Through whichever director holds the VIP.
			n.Routes = []Route{{Dst: realNet4, Via: l.VIP4}, {Dst: realNet6, Via: l.VIP6}}
		case h == l.Client && l.Mode == NAT:
			n.Routes = []Route{{Dst: realNet4, Via: directorAddr4}, {Dst: realNet6, Via: directorAddr6}}
		case l.isReal(h) && l.Mode == NAT:
			n.Routes = []Route{
				{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Via: l.Gateway4},
				{Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Via: l.Gateway6},
			}
		case l.isReal(h):
			n.Ifaces = append(n.Ifaces, Iface{Name: "lo", Addrs: vips})
			// The LVS real-server recipe on the interface as well.
			pre := "net.ipv4.conf." + h.Iface + "."
			n.IfSysctls = [][2]string{{pre + "arp_ignore", "1"}, {pre + "arp_announce", "2"}, {pre + "rp_filter", "0"}}
		}
		tp.Nodes = append(tp.Nodes, n)
	}
	return tp
}

// connectHosts adds a veth pair of lab id to the plan: end a (tag ta,
// addresses a4/a6, unaddressed when invalid) in host a, end b in host b.
func connectHosts(id string, a *Host, ta string, a4, a6 netip.Prefix, b *Host, tb string, b4, b6 netip.Prefix, mtu int) {
	an, bn := ifName(id, ta), ifName(id, tb)
	a.Links = append(a.Links, Link{Iface: an, Addr4: a4, Addr6: a6, MTU: mtu, PeerNS: b.NS, PeerIface: bn})
	b.Links = append(b.Links, Link{Iface: bn, Addr4: b4, Addr6: b6, MTU: mtu, PeerNS: a.NS, PeerIface: an})
}

// linkIfaces is the configuration of h's links: MTU, the bridge they are
// ports of (none when empty), their addresses.
func linkIfaces(h *Host, bridge string) []Iface {
	var out []Iface
	for _, k := range h.Links {
		ifc := Iface{Name: k.Iface, MTU: k.MTU, Master: bridge}
		for _, p := range []netip.Prefix{k.Addr4, k.Addr6} {
			if p.IsValid() {
				ifc.Addrs = append(ifc.Addrs, Addr{Prefix: p})
			}
		}
		out = append(out, ifc)
	}
	return out
}

// onOff renders a bool as a sysctl value.
func onOff(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// isReal reports whether h is one of the lab's real servers.
func (l *Lab) isReal(h *Host) bool {
	for _, r := range l.Reals {
		if r == h {
			return true
		}
	}
	return false
}

// isSwitch reports whether h is one of the lab's bridges: Switch, or a NAT
// pair's ClientSwitch.
func (l *Lab) isSwitch(h *Host) bool {
	return h == l.Switch || (l.ClientSwitch != nil && h == l.ClientSwitch)
}

// isDirector reports whether h is one of the lab's directors.
func (l *Lab) isDirector(h *Host) bool {
	for _, d := range l.Directors {
		if d == h {
			return true
		}
	}
	return false
}

// nsSysctls are the namespace-wide settings of h, written explicitly because
// a new namespace's IPv4 settings are copied from the root namespace's.
func (l *Lab) nsSysctls(h *Host) [][2]string {
	vipOnLo := l.Mode != NAT && l.isReal(h)
	fwd := onOff(l.isDirector(h) && l.Options.Forwarding)
	arpIgnore, arpAnnounce := "0", "0"
	if vipOnLo {
		// The LVS real-server recipe: never answer ARP for the VIP held on
		// lo, never use it as an ARP source.
		arpIgnore, arpAnnounce = "1", "2"
	}
	kv := [][2]string{
		{"net.ipv4.ip_forward", fwd},
		{"net.ipv6.conf.all.forwarding", fwd},
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.conf.all.arp_ignore", arpIgnore},
		{"net.ipv4.conf.default.arp_ignore", arpIgnore},
		{"net.ipv4.conf.all.arp_announce", arpAnnounce},
		{"net.ipv4.conf.default.arp_announce", arpAnnounce},
	}
	if l.isSwitch(h) {
		// A pure L2 box: no addresses, no ND of its own.
		kv = append(kv,
			[2]string{"net.ipv6.conf.all.disable_ipv6", "1"},
			[2]string{"net.ipv6.conf.default.disable_ipv6", "1"})
	}
	return kv
}

// finishNode applies the offload settings once the node's links exist.
func (l *Lab) finishNode(n *Node) error {
	if !l.Options.TxChecksumOff {
		return nil
	}
	h := l.Host(n.Name)
	// Full checksums on everything a veth sends (see the package doc).
	return h.Do(func() error {
		for _, k := range h.Links {
			off := uint32(0)
			if err := ethtool(k.Iface, ethtoolCmds[TxChecksum].set, &off); err != nil {
				return fmt.Errorf("%s: %w", h.NS, err)
			}
		}
		return nil
	})
}

// SetMTU sets the MTU of h's interface iface and of its veth peer (Link.MTU
// keeps the value the lab was built with; MTU reads the live one).
func (h *Host) SetMTU(ctx context.Context, iface string, mtu int) error {
	if err := h.lab.checkOpen(); err != nil {
		return err
	}
	if mtu < MinMTU || mtu > MaxMTU {
		return fmt.Errorf("%w: mtu %d not in %d..%d", ErrOptions, mtu, MinMTU, MaxMTU)
	}
	for _, k := range h.Links {
		if k.Iface != iface {
			continue
		}
		m := strconv.Itoa(mtu)
		if err := ipBatch(ctx, h.NS, []string{"link set " + iface + " mtu " + m}); err != nil {
			return err
		}
		return ipBatch(ctx, k.PeerNS, []string{"link set " + k.PeerIface + " mtu " + m})
	}
	return fmt.Errorf("%w: %s has no link %s", ErrOptions, h.Name, iface)
}

// MTU returns the current MTU of iface in h's namespace.
func (h *Host) MTU(iface string) (int, error) {
	var mtu int
	err := h.Do(func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		mtu = ifc.MTU
		return nil
	})
	return mtu, err
}
