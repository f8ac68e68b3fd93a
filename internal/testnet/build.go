package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// plan lays out the lab's hosts, links and addresses without touching the
// system (see the package doc for the picture).
func plan(id string, o Options) *Lab {
	l := &Lab{ID: id, Mode: o.Mode, Options: o, VIP4: vip4, VIP6: vip6, labServer: o.LabServer}
	host := func(name string) *Host { return &Host{Name: name, NS: nsName(id, name), lab: l} }
	l.Client, l.Director, l.Switch = host("client"), host("director"), host("switch")
	l.Switch.Iface = ifName(id, "br")

	// connect adds a veth pair: end a (tag ta, addresses a4/a6) in host a and
	// the unaddressed end "s"+tb on the switch, or end b in host b.
	connect := func(a *Host, ta string, a4, a6 netip.Prefix, b *Host, tb string, b4, b6 netip.Prefix, mtu int) {
		an, bn := ifName(id, ta), ifName(id, tb)
		a.Links = append(a.Links, Link{Iface: an, Addr4: a4, Addr6: a6, MTU: mtu, PeerNS: b.NS, PeerIface: bn})
		b.Links = append(b.Links, Link{Iface: bn, Addr4: b4, Addr6: b6, MTU: mtu, PeerNS: a.NS, PeerIface: an})
	}
	none := netip.Prefix{}
	seg4, seg6 := flatNet4, flatNet6 // DR/TUN: one segment
	if o.Mode == NAT {
		seg4, seg6 = realNet4, realNet6
		connect(l.Client, "c", pfx(clientAddr4, clientNet4), pfx(clientAddr6, clientNet6),
			l.Director, "dx", pfx(directorAddr4, clientNet4), pfx(directorAddr6, clientNet6), o.MTU)
		connect(l.Director, "di", pfx(internalAddr4, realNet4), pfx(internalAddr6, realNet6),
			l.Switch, "sdi", none, none, o.RealMTU)
		l.Gateway4, l.Gateway6 = internalAddr4, internalAddr6
	} else {
		connect(l.Client, "c", pfx(clientAddr4, flatNet4), pfx(clientAddr6, flatNet6),
			l.Switch, "sc", none, none, o.MTU)
		connect(l.Director, "d", pfx(directorAddr4, flatNet4), pfx(directorAddr6, flatNet6),
			l.Switch, "sd", none, none, o.MTU)
	}
	for i := 1; i <= o.Reals; i++ {
		r := host(realName(i))
		a4, a6 := realAddrs(i)
		connect(r, r.Name, pfx(a4, seg4), pfx(a6, seg6), l.Switch, "s"+r.Name, none, none, o.RealMTU)
		l.Reals = append(l.Reals, r)
		l.RealIfaces = append(l.RealIfaces, r.Links[0].Iface)
	}
	for _, h := range []*Host{l.Client, l.Director} {
		h.Iface, h.Addr4, h.Addr6 = h.Links[0].Iface, h.Links[0].Addr4.Addr(), h.Links[0].Addr6.Addr()
	}
	for _, h := range l.Reals {
		h.Iface, h.Addr4, h.Addr6 = h.Links[0].Iface, h.Links[0].Addr4.Addr(), h.Links[0].Addr6.Addr()
	}
	for _, k := range l.Director.Links {
		l.DirectorIfaces = append(l.DirectorIfaces, k.Iface)
	}
	return l
}

// build creates what plan laid out: namespaces, sysctls, veth pairs, the
// bridge, addresses and routes, offloads, then runs Options.SetupReal.
func (l *Lab) build(ctx context.Context) error {
	hosts := l.Hosts()
	var adds []string
	for _, h := range hosts {
		adds = append(adds, "netns add "+h.NS)
	}
	if err := ipBatch(ctx, "", adds); err != nil {
		return err
	}
	// Namespace-wide sysctls go first: interfaces created later inherit the
	// "default" ones (no DAD, so IPv6 addresses work at once).
	if err := forEach(hosts, func(h *Host) error { return h.sysctls(l.nsSysctls(h)) }); err != nil {
		return err
	}
	// Veth pairs are created in one end's namespace with the peer placed
	// straight into the other's: nothing ever exists in the root namespace.
	if err := forEach(hosts, func(h *Host) error { return h.ip(ctx, l.vethLines(h)) }); err != nil {
		return err
	}
	if err := forEach(hosts, func(h *Host) error { return h.ip(ctx, l.configLines(h)) }); err != nil {
		return err
	}
	if err := forEach(hosts, l.finishHost); err != nil {
		return err
	}
	if err := l.waitReady(ctx); err != nil {
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

// forEach runs fn for every host concurrently and joins the errors.
func forEach(hosts []*Host, fn func(*Host) error) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(h) }()
	}
	wg.Wait()
	return errors.Join(errs...)
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

// nsSysctls are the namespace-wide settings of h, written explicitly because
// a new namespace's IPv4 settings are copied from the root namespace's.
func (l *Lab) nsSysctls(h *Host) [][2]string {
	vipOnLo := l.Mode != NAT && l.isReal(h)
	fwd := onOff(h == l.Director && l.Options.Forwarding)
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
	if h == l.Switch {
		// A pure L2 box: no addresses, no ND of its own.
		kv = append(kv,
			[2]string{"net.ipv6.conf.all.disable_ipv6", "1"},
			[2]string{"net.ipv6.conf.default.disable_ipv6", "1"})
	}
	return kv
}

// firstCreatorIndex is the ifindex of the first veth end a namespace creates.
const firstCreatorIndex = 100

// vethLines creates the veth pairs h is the creating end of: the switch
// creates its ports, the NAT client its link to the director.
func (l *Lab) vethLines(h *Host) []string {
	if h != l.Switch && !(l.Mode == NAT && h == l.Client) {
		return nil
	}
	var lines []string
	for i, k := range h.Links {
		// The creating end gets an ifindex from 100 up, so it never equals
		// its peer's (2, 3 ... in the peer's namespace). With equal
		// indexes the kernel's link watcher treats the carrier change as
		// not urgent and applies it up to a second later.
		lines = append(lines, fmt.Sprintf("link add %s index %d type veth peer name %s netns %s",
			k.Iface, firstCreatorIndex+i, k.PeerIface, k.PeerNS))
	}
	return lines
}

// configLines sets h's links up with their MTU and addresses, the bridge,
// the VIPs and the routes.
func (l *Lab) configLines(h *Host) []string {
	lines := []string{"link set lo up"}
	if h == l.Switch {
		lines = append(lines, fmt.Sprintf("link add %s type bridge mcast_snooping 0 stp_state 0", h.Iface),
			"link set "+h.Iface+" up")
		for _, k := range h.Links {
			lines = append(lines, fmt.Sprintf("link set %s mtu %d master %s up", k.Iface, k.MTU, h.Iface))
		}
		return lines
	}
	for _, k := range h.Links {
		lines = append(lines,
			fmt.Sprintf("link set %s mtu %d up", k.Iface, k.MTU),
			fmt.Sprintf("addr add %s dev %s", k.Addr4, k.Iface),
			fmt.Sprintf("addr add %s dev %s nodad", k.Addr6, k.Iface))
	}
	// The IPv6 VIP is deprecated (preferred_lft 0): it still takes traffic
	// but is never picked as the source of the host's own packets, which
	// IPv6 source selection would otherwise do for the real-server segment.
	vip := func(dev string) []string {
		return []string{
			fmt.Sprintf("addr add %s dev %s", host32(l.VIP4), dev),
			fmt.Sprintf("addr add %s dev %s nodad preferred_lft 0", host32(l.VIP6), dev),
		}
	}
	switch {
	case h == l.Director:
		lines = append(lines, vip(h.Iface)...)
	case h == l.Client && l.Mode == NAT:
		lines = append(lines,
			fmt.Sprintf("route add %s via %s", realNet4, directorAddr4),
			fmt.Sprintf("route add %s via %s", realNet6, directorAddr6))
	case l.isReal(h) && l.Mode == NAT:
		lines = append(lines,
			fmt.Sprintf("route add 0.0.0.0/0 via %s", l.Gateway4),
			fmt.Sprintf("route add ::/0 via %s", l.Gateway6))
	case l.isReal(h):
		lines = append(lines, vip("lo")...)
	}
	return lines
}

// finishHost applies what needs the interfaces to exist: per-interface
// sysctls of DR/TUN real servers and the offload settings.
func (l *Lab) finishHost(h *Host) error {
	if l.Mode != NAT && l.isReal(h) {
		pre := "net.ipv4.conf." + h.Iface + "."
		if err := h.sysctls([][2]string{
			{pre + "arp_ignore", "1"}, {pre + "arp_announce", "2"}, {pre + "rp_filter", "0"},
		}); err != nil {
			return err
		}
	}
	if !l.Options.TxChecksumOff {
		return nil
	}
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
