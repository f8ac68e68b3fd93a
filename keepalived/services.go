package keepalived

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/service"
)

// Forwarded returns the virtual servers xvs forwards, in file order: all but those of a
// firewall mark (virtual_server fwmark N, or a group with only fwmark entries). Marks are set
// by netfilter, which xvs's XDP path never sees, so such a virtual server is neither forwarded
// nor checked. Services returns one service per element, in this order, and the caller runs
// Health on these only.
func (c *Config) Forwarded() []*VirtualServer {
	var out []*VirtualServer
	for _, v := range c.VirtualServers {
		if c.forwards(v) {
			out = append(out, v)
		}
	}
	return out
}

func (c *Config) forwards(v *VirtualServer) bool {
	if v.FWMark != 0 {
		return false
	}
	if v.Group != "" {
		g := c.Groups[v.Group]
		return g != nil && g.hasAddrs()
	}
	return true
}

// Services maps the file's virtual servers onto xvs's service model: one service.Service per
// element of Forwarded, in that order, each normalized and validated as the YAML reader does.
// A virtual_server IP PORT is an address service; a virtual_server group is a service group
// whose matches are the group's address ranges (see nameGroups for its name). Every real
// server is in its service at its configured weight, in file order, so Services()[i].Reals[j]
// is Forwarded()[i].Reals[j]; the sorry server is not (see SorryReal).
//
// The warnings are Services' own (c.Warnings are the parser's): firewall marks left out, and
// every value read that does not change forwarding. An error is an *Error at the virtual
// server's or the field's file:line; the whole configuration is refused with it.
func (c *Config) Services() (*service.Config, []Warning, error) {
	c.nameGroups()
	var warns []Warning
	warn := func(p Pos, msg string) { warns = append(warns, Warning{p, msg}) }
	out := &service.Config{}
	first := map[service.Key]*VirtualServer{}
	used, warned := map[string]bool{}, map[string]bool{}
	for _, v := range c.VirtualServers {
		if v.FWMark != 0 {
			warn(v.Pos, where(v)+" is left out, with its checks: firewall marks are set by netfilter, which xvs's "+
				"XDP path never sees; list the marked addresses and ports in a virtual_server_group and write "+
				"virtual_server group NAME instead")
			continue
		}
		if v.Group != "" {
			g := c.Groups[v.Group]
			if g == nil {
				return nil, nil, &Error{Pos: v.Pos, Where: where(v), Msg: "no virtual_server_group of that name"}
			}
			used[g.Name] = true
			if !warned[g.Name] {
				warned[g.Name] = true
				for _, e := range g.Entries {
					if e.FWMark != 0 {
						warn(e.Pos, "fwmark "+strconv.FormatUint(uint64(e.FWMark), 10)+" in virtual_server_group "+g.Name+
							" is left out: firewall marks are set by netfilter, which xvs's XDP path never sees; "+
							"list the marked addresses and ports in the group instead")
					}
				}
			}
			if !g.hasAddrs() {
				warn(v.Pos, where(v)+" is left out, with its checks: its group has only firewall marks")
				continue
			}
		}
		s, w, err := c.service(v)
		if err != nil {
			return nil, nil, err
		}
		warns = append(warns, w...)
		if p := first[s.Key()]; p != nil {
			return nil, nil, &Error{Pos: v.Pos, Where: where(v), Msg: "protocol " + v.Protocol + ": defined twice (first at " + p.Pos.String() + ")"}
		}
		first[s.Key()] = v
		out.Services = append(out.Services, s)
	}
	for _, g := range c.groupsInOrder() {
		if !used[g.Name] {
			warn(g.Pos, "virtual_server_group "+g.Name+" is used by no virtual_server; ignored")
		}
	}
	if err := out.Validate(); err != nil {
		// Each service was checked on its own above; this is the last gate, kept so nothing
		// the service package refuses gets through.
		return nil, nil, &Error{Pos: c.VirtualServers[0].Pos, Msg: err.Error()}
	}
	return out, warns, nil
}

// groupsInOrder lists the groups by their place in the file.
func (c *Config) groupsInOrder() []*Group {
	out := make([]*Group, 0, len(c.Groups))
	for _, g := range c.Groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *Group) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), strings.Compare(a.Name, b.Name))
	})
	return out
}

// service maps and checks one forwarded virtual server, with keepalived's words at the lines
// they are about.
func (c *Config) service(v *VirtualServer) (service.Service, []Warning, error) {
	var warns []Warning
	warn := func(p Pos, msg string) { warns = append(warns, Warning{p, msg}) }
	s, bad := v.draft(c.Groups)
	if bad != nil {
		return s, nil, bad
	}
	w := where(v)
	if g := c.Groups[v.Group]; g != nil {
		if err := groupFamily(g, w); err != nil {
			return s, nil, err
		}
	}
	_, _, notes := v.flags()
	for _, n := range notes {
		warn(v.flagPos(n.i), n.msg)
	}
	if s.OnePacket && v.Protocol != "UDP" {
		for i, f := range v.SchedFlags {
			if f == "ops" {
				return s, nil, &Error{Pos: v.flagPos(i), Where: w, Field: "ops",
					Msg: "one-packet scheduling is only for UDP virtual servers (this one is " + v.Protocol + "), as in ipvsadm and keepalived"}
			}
		}
	}
	if v.PersistenceEngine != "" {
		p, _ := v.place("persistence_engine")
		warn(p, "persistence_engine "+v.PersistenceEngine+" is not implemented; persistence is by client address only")
	}
	if v.Granularity != 0 && v.Persistence == 0 {
		p, _ := v.place("persistence_granularity")
		warn(p, "persistence_granularity without persistence_timeout does nothing; ignored")
	}

	// The service without its real servers, then each real server on its own, so an error
	// lands on the line it is about.
	bare := s
	bare.Reals = nil
	if err := bare.Validate(); err != nil {
		return s, nil, v.serviceError(err)
	}
	seen := map[service.RealKey]*RealServer{}
	for i, r := range v.Reals {
		one := bare
		one.Reals = s.Reals[i : i+1]
		if err := one.Validate(); err != nil {
			return s, nil, realError(v, r, err)
		}
		k := s.Reals[i].Key()
		if p := seen[k]; p != nil {
			return s, nil, &Error{Pos: r.Pos, Where: realWhere(r), Msg: "the same real server as " + realWhere(p) +
				" at " + p.Pos.String() + " (both are " + realName(s.Reals[i]) + " to this virtual server)"}
		}
		seen[k] = r
	}
	if v.Sorry != nil {
		sr, err := v.sorryReal()
		one := bare
		one.Reals = []service.Real{sr}
		if err == nil {
			err = one.Validate()
		}
		if err != nil {
			p, key := v.Sorry.Pos, "sorry_server"
			if t, ok := v.at["sorry_server_lvs_method"]; ok && isMethodError(err) {
				p, key = t.pos, t.text
			}
			return s, nil, &Error{Pos: p, Where: w, Field: key, Msg: fieldMsg(err)}
		}
	}
	if err := s.Validate(); err != nil {
		return s, nil, &Error{Pos: v.Pos, Where: w, Msg: err.Error()}
	}
	return s, warns, nil
}

// groupFamily refuses a group of two address families: a service group is of one.
func groupFamily(g *Group, w string) error {
	var first *GroupEntry
	for i := range g.Entries {
		e := &g.Entries[i]
		if e.FWMark != 0 {
			continue
		}
		if first == nil {
			first = e
			continue
		}
		if e.First.Is4() != first.First.Is4() {
			return &Error{Pos: e.Pos, Where: w, Msg: "virtual_server_group " + g.Name + " mixes IPv4 and IPv6 (" +
				first.First.String() + " at " + first.Pos.String() + "); a service group is of one address family: " +
				"split it into two groups"}
		}
	}
	return nil
}
