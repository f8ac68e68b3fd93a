package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/xvs-project/xvs/internal/testnet"
)

// unicastSyncConf is syncConf in YAML with the sync daemon's unicast
// peers (xvs only) in place of multicast: VI_1 on iface (and on NAT
// VI_GW), the services VIP:80/tcp and VIP:53/udp, and a sync daemon that
// follows VI_1 and sends to peer, the other director.
func unicastSyncConf(l *testnet.Lab, iface string, o vrrpOpts, peer netip.Addr) string {
	var b strings.Builder
	instance := func(name string, vrid int, ifc string, addr netip.Prefix) {
		fmt.Fprintf(&b, "  - name: %s\n    state: BACKUP\n    interface: %s\n    virtual_router_id: %d\n"+
			"    priority: %d\n    advert_int: %s\n    version: 3\n    garp_master_repeat: 2\n    garp_master_delay: 1\n"+
			"    virtual_ipaddress: [\"%s dev %s\"]\n", name, ifc, vrid, o.prio, o.advert, addr, ifc)
	}
	b.WriteString("vrrp:\n")
	instance("VI_1", 51, iface, netip.PrefixFrom(l.VIP4, 32))
	if l.Mode == testnet.NAT {
		instance("VI_GW", 52, internalIface(l, iface), netip.PrefixFrom(l.Gateway4, 24))
	}
	b.WriteString("services:\n")
	for _, svc := range []struct {
		proto       string
		port, rport int
	}{{"tcp", 80, realPort(l.Mode)}, {"udp", 53, 53}} {
		fmt.Fprintf(&b, "  - proto: %s\n    vip: %s\n    port: %d\n    scheduler: rr\n    reals:\n", svc.proto, l.VIP4, svc.port)
		for _, r := range l.Reals {
			fmt.Fprintf(&b, "      - {address: %s, port: %d, method: %s}\n", r.Addr4, svc.rport, method(l.Mode))
		}
	}
	fmt.Fprintf(&b, "sync:\n  follow: {vrrp_instance: VI_1, interface: %s, peers: [\"%s\"]}\n", iface, peer)
	return b.String()
}
