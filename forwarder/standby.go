package forwarder

import (
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/flow"
)

// The standby gate: a director whose VRRP instance holding a service's VIP
// is not MASTER makes no new connection for that service. Packets of the
// connections already in its table (synchronised from the master, or its
// own from before it stepped down) still forward: after a failover, or a
// split brain that healed, the client's neighbour entry may point at this
// director for a moment, and sending a known flow on to its real server
// keeps it alive, while a new flow made here would be unknown to the
// master. A service whose VIP no VRRP instance holds is never gated, and
// without VRRP nothing is.
//
// The gate is a per-service flag in the published snapshot (gated, indexed
// by service id), so the packet path reads it with the snapshot it loaded
// for the batch: no lock, no allocation, no extra atomic. SetStandby
// publishes a copy of the running snapshot with new flags; every service
// switches in that one store. install recomputes the flags for a new
// configuration before publishing it.

// SetStandby gates the services on vips: from now on no new connection is
// made for a service whose VIP (for a service group, one of its matches)
// is one of vips, and the packets that would have made one are dropped
// and counted as DropStandby. The daemon passes the virtual addresses of
// its VRRP instances that are not MASTER, on every transition; nil gates
// nothing. Connections in the table are not touched.
func (e *Engine) SetStandby(vips []netip.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.standby = make([][16]byte, 0, len(vips))
	for _, a := range vips {
		e.standby = append(e.standby, flow.Addr16(a))
	}
	old := e.snap.Load()
	next := *old // shallow: everything but the flags is shared, and immutable
	next.gated = gatedServices(&next, e.standby)
	e.snap.Store(&next)
}

// gatedServices returns the flags of s's services for the standby
// addresses vips, indexed by service id; nil when none is gated.
func gatedServices(s *snapshot, vips [][16]byte) []bool {
	if len(vips) == 0 {
		return nil
	}
	var gated []bool
	mark := func(id uint32) {
		if int(id) >= len(gated) {
			gated = append(gated, make([]bool, int(id)+1-len(gated))...)
		}
		gated[id] = true
	}
	for _, svc := range s.services {
		if svc.key.Group == "" && slices.Contains(vips, svc.vip) {
			mark(svc.id)
		}
	}
	for i := range s.groups {
		g := &s.groups[i]
		for j := range vips {
			if inRange(&vips[j], &g.lo, &g.hi) {
				mark(g.svc.id)
				break
			}
		}
	}
	return gated
}

// standby reports whether svc makes no new connections (see SetStandby).
func (s *snapshot) standby(svc *serviceState) bool {
	return int(svc.id) < len(s.gated) && s.gated[svc.id]
}
