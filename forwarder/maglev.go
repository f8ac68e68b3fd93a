package forwarder

import (
	"net/netip"

	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// MaglevTables describes the lookup table of every mh service, in the
// configuration's order (xvsadm -L --mh): its size, flags, digest and the
// slots each real server owns. Directors behind one ECMP router compare the
// digests. The first call after a change hashes the tables, off the packet
// path. It implements control.MHReporter.
func (e *Engine) MaglevTables() []service.MHTable {
	e.mu.Lock()
	defer e.mu.Unlock()
	snap := e.snap.Load()
	var out []service.MHTable
	for i := range snap.cfg.Services {
		s := &snap.cfg.Services[i]
		rs := e.reg.services[s.Key()]
		if rs == nil {
			continue
		}
		tab, ok := sched.MaglevTable(rs.sched)
		if !ok {
			continue
		}
		mt := service.MHTable{Service: s.Key(), Size: tab.Size, Flags: tab.Flags.Names(), Digest: tab.Digest,
			Reals: make([]service.MHShare, 0, len(tab.Shares))}
		for _, sh := range tab.Shares {
			k := service.RealKey{Addr: netip.AddrFrom16(sh.Addr).Unmap(), Port: sh.Port}
			if r := snap.realOfID(sh.ID); r != nil {
				k = r.key
			}
			mt.Reals = append(mt.Reals, service.MHShare{Key: k, Weight: sh.Weight, Slots: sh.Slots})
		}
		out = append(out, mt)
	}
	return out
}

// realOfID returns the live real server with id, whatever its generation.
func (s *snapshot) realOfID(id uint32) *realState {
	if int(id) < len(s.reals) {
		return s.reals[id]
	}
	return nil
}
