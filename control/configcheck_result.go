package control

import (
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/keepalived"
	"github.com/xvs-project/xvs/service"
)

// What the checks built by package keepalived become in a File.

// result re-keys one built virtual server onto its service and adds it to f.
func (c *checkReader) result(f *File, s *service.Service, vs *keepalived.VirtualServer, sorryReal *service.Real, pathTrue [][]bool) error {
	return addChecks(f, s, vs, sorryReal, func(j, ci int) bool { return pathTrue[j][ci] })
}

// addChecks adds the checks package keepalived built for vs, the virtual
// server that service s was made from (their real servers one for one), to
// f: re-keyed onto s in Health, its sorry server in Sorry, its path-true
// candidates in Probes. pathTrue says whether check ci of real server j
// may be path-true.
func addChecks(f *File, s *service.Service, vs *keepalived.VirtualServer, sorryReal *service.Real, pathTrue func(j, ci int) bool) error {
	key := s.Key()
	hs := vs.Health()
	if len(hs.Reals) != len(s.Reals) {
		return fmt.Errorf("%s: checks of %s: %d real servers built from %d", f.Path, key, len(hs.Reals), len(s.Reals))
	}
	// Keys are the service model's, so the daemon's health.Actions find
	// the service and real server in f.Services.
	hs.Key, hs.Name = key, key.String()
	checked := false
	for j := range hs.Reals {
		hs.Reals[j].Key = s.Reals[j].Key()
		checked = checked || len(hs.Reals[j].Checks) > 0
	}
	if hs.Sorry != nil && sorryReal != nil {
		hs.Sorry.Key = sorryReal.Key()
		if f.Sorry == nil {
			f.Sorry = map[service.Key]service.Real{}
		}
		f.Sorry[key] = *sorryReal
	}
	if checked || hs.Sorry != nil || len(hs.QuorumUp) > 0 || len(hs.QuorumDown) > 0 {
		f.Health = append(f.Health, hs)
	}
	probes(f, s, vs, pathTrue)
	return nil
}

// probes lists the checks of s's DR and TUN real servers that can travel
// the forwarded packets' way. The probe goes to the VIP on the port the
// checker would have dialled (the service's port unless connect_port says
// otherwise); a group service has no one VIP to send it to, and a checker
// aimed elsewhere (connect_ip) does not probe the real server at all.
func probes(f *File, s *service.Service, vs *keepalived.VirtualServer, pathTrue func(j, ci int) bool) {
	warned := false
	for j := range s.Reals {
		r := s.Reals[j]
		if r.Method != service.MethodDR && r.Method != service.MethodTUN {
			continue
		}
		for ci, chk := range vs.Reals[j].Checks {
			if chk.Net == nil {
				continue // MISC_CHECK
			}
			on := pathTrue(j, ci)
			target := checkTarget(chk.Checker)
			switch {
			case s.Group != "":
				if on && !warned {
					f.Warnings = append(f.Warnings, fmt.Sprintf("%s: %s: a group service has no single VIP:port, so checks of its DR and TUN real servers are not path-true (they dial the real server's own address)",
						chk.Pos, s.Key()))
					warned = true
				}
				continue
			case !target.IsValid():
				continue
			case target.Addr() != r.Addr:
				if on {
					f.Warnings = append(f.Warnings, fmt.Sprintf("%s: %s real %s: the check dials %s, not the real server, so it is not path-true",
						chk.Pos, s.Key(), netip.AddrPortFrom(r.Addr, r.Port), target))
				}
				on = false
			}
			f.Probes = append(f.Probes, PathProbe{Service: s.Key(), Real: r,
				VIP: netip.AddrPortFrom(s.Addr, target.Port()), Net: chk.Net, Off: !on})
		}
	}
}

// checkTarget is the address a network checker dials.
func checkTarget(c health.Checker) netip.AddrPort {
	switch c := c.(type) {
	case *health.TCP:
		return c.Addr
	case *health.HTTP:
		return c.Addr
	case *health.UDP:
		return c.Addr
	case *health.DNS:
		return c.Addr
	}
	return netip.AddrPort{}
}
