package keepalived

import (
	"net/netip"
	"strings"

	"github.com/xvs-project/xvs/service"
)

// A virtual_server_group becomes a service group (service.Service.Group with Matches). keepalived
// lets several virtual servers use one group, typically its TCP and its UDP side; in xvs a
// group's name is its service's identity, so each use needs a name of its own. The first
// virtual server (in file order) that uses group NAME gets NAME, a later one of another
// protocol NAME/udp or NAME/tcp; two of one protocol are the same services twice, which
// keepalived cannot install either, and Services refuses them.

// nameGroups gives every forwarded group virtual server its service group's name, and marks
// the virtual servers Forwarded leaves out.
func (c *Config) nameGroups() {
	names := map[string]map[string]string{} // by group and protocol, the name given
	for _, v := range c.VirtualServers {
		v.leftOut = !c.forwards(v)
		if v.Group == "" || v.leftOut {
			continue
		}
		byProto := names[v.Group]
		if byProto == nil {
			byProto = map[string]string{}
			names[v.Group] = byProto
		}
		name, dup := byProto[v.Protocol] // a duplicate takes its twin's name, for Services to refuse
		switch {
		case dup:
		case len(byProto) == 0:
			name = v.Group
		default:
			name = v.Group + "/" + strings.ToLower(v.Protocol)
		}
		byProto[v.Protocol] = name
		v.svcGroup = name
	}
}

// serviceGroup is the service group's name: the one nameGroups gave, or the group's own for a
// virtual server built by hand.
func (v *VirtualServer) serviceGroup() string {
	if v.svcGroup != "" {
		return v.svcGroup
	}
	return v.Group
}

// hasAddrs says the group has an address entry, which is what xvs can forward.
func (g *Group) hasAddrs() bool {
	for _, e := range g.Entries {
		if e.FWMark == 0 {
			return true
		}
	}
	return false
}

// matches turns the group's address entries into service matches of protocol p: each range as
// the fewest prefixes that cover exactly it, at the entry's port (0: every port, as keepalived
// means a group entry's port 0). Firewall marks are left out; Services warns about them.
func (g *Group) matches(p service.Proto) []service.Match {
	var out []service.Match
	for _, e := range g.Entries {
		if e.FWMark != 0 {
			continue
		}
		for _, pf := range cover(e.First, e.Last) {
			out = append(out, service.Match{Proto: p, Prefix: pf, PortLo: e.Port, PortHi: e.Port})
		}
	}
	return out
}

// cover returns the fewest prefixes whose union is exactly first..last, in address order.
// Each step takes the largest aligned block that starts at first and ends at or before last,
// which is how a range splits into CIDR blocks with none to spare. Both addresses must be of
// one family, first <= last.
func cover(first, last netip.Addr) []netip.Prefix {
	if !first.IsValid() || first.BitLen() != last.BitLen() || last.Less(first) {
		return nil
	}
	var out []netip.Prefix
	for {
		bits := first.BitLen()
		for bits > 0 {
			wider := netip.PrefixFrom(first, bits-1)
			if wider.Masked().Addr() != first || last.Less(lastAddr(wider)) {
				break
			}
			bits--
		}
		pf := netip.PrefixFrom(first, bits)
		out = append(out, pf)
		end := lastAddr(pf)
		if end == last {
			return out
		}
		first = end.Next()
	}
}

// lastAddr is the prefix's highest address: its host bits all set.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	host := 128 - p.Bits()
	if p.Addr().Is4() {
		host = 32 - p.Bits()
	}
	for i := 15; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}
