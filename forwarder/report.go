package forwarder

import (
	"net/netip"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/service"
)

// What the engine reports to the control plane (control.Engine's Stats,
// ZeroStats and Conns) in package service's types, summed from the
// workers' counters (counters.go) off the packet path. Drops is in
// drops.go.

// realCounters sums every worker's figures for real id.
func (e *Engine) realCounters(id uint32) service.Counters {
	var c service.Counters
	for _, w := range e.workers {
		t := w.p.stats.reals.Load()
		if t == nil || int(id) >= len(*t) {
			continue
		}
		rc := &(*t)[id]
		c.Conns += rc.conns.load()
		c.InPkts += rc.inPkts.load()
		c.OutPkts += rc.outPkts.load()
		c.InBytes += rc.inBytes.load()
		c.OutBytes += rc.outBytes.load()
	}
	return c
}

func sub(a, b service.Counters) service.Counters {
	return service.Counters{
		Conns: a.Conns - b.Conns, InPkts: a.InPkts - b.InPkts, OutPkts: a.OutPkts - b.OutPkts,
		InBytes: a.InBytes - b.InBytes, OutBytes: a.OutBytes - b.OutBytes,
	}
}

func addTo(a *service.Counters, b service.Counters) {
	a.Conns += b.Conns
	a.InPkts += b.InPkts
	a.OutPkts += b.OutPkts
	a.InBytes += b.InBytes
	a.OutBytes += b.OutBytes
}

// Stats implements control.Engine.
func (e *Engine) Stats() service.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	snap := e.snap.Load()
	var st service.Stats
	for _, svc := range snap.services {
		ss := service.ServiceStats{Key: svc.key}
		for _, r := range svc.reals {
			rs := service.RealStats{
				Key:          r.key,
				ActiveConns:  r.dest.ActiveConns(),
				InactConns:   r.dest.InactiveConns(),
				PersistConns: r.dest.PersistConns(),
				Counters:     sub(e.realCounters(r.id), e.base[r.id]),
				Rates:        e.realRates(r),
			}
			addTo(&ss.Counters, rs.Counters)
			ss.Reals = append(ss.Reals, rs)
		}
		addTo(&ss.Counters, e.folded[svc.id])
		ss.Rates = e.serviceRates(svc.id)
		st.Services = append(st.Services, ss)
	}
	ts := e.table.Stats()
	st.Table = service.TableStats{Conns: ts.Conns, Templates: ts.Templates, Capacity: ts.Capacity, Evictions: ts.Evictions}
	// The same records as Drops, so the metrics see what xvsadm --drops
	// lists.
	st.Drops = e.Drops().Drops
	return st
}

// ZeroStats implements control.Engine.
func (e *Engine) ZeroStats(k *service.Key) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	snap := e.snap.Load()
	found := k == nil
	for _, svc := range snap.services {
		if k != nil && svc.key != *k {
			continue
		}
		found = true
		for _, r := range svc.reals {
			e.base[r.id] = e.realCounters(r.id)
			if re := e.est.reals[r.id]; re != nil {
				re.est.Zero(e.base[r.id])
			}
		}
		delete(e.folded, svc.id)
		if se := e.est.services[svc.id]; se != nil {
			se.Zero(service.Counters{})
		}
	}
	if !found {
		return service.ErrNoService
	}
	return nil
}

// Conns implements control.Engine: a page of the connection table.
func (e *Engine) Conns(cursor uint64, max int) ([]service.Conn, uint64) {
	snap := e.snap.Load()
	var out []service.Conn
	next, done := e.table.Walk(conntrack.Cursor(cursor), max, func(ci conntrack.ConnInfo) bool {
		c := service.Conn{
			Proto:    service.Proto(ci.Key.Proto),
			Expires:  ci.Expires,
			State:    ci.State.String(),
			Template: ci.Template,
			InPkts:   ci.InPkts, OutPkts: ci.OutPkts, InBytes: ci.InBytes, OutBytes: ci.OutBytes,
		}
		c.Client = netip.AddrPortFrom(flow.AddrOf(ci.Key.Src), ci.Key.SrcPort)
		if ci.Template {
			c.Virtual, c.Group = templateVirtual(snap, ci.Service)
		} else {
			c.Virtual = netip.AddrPortFrom(flow.AddrOf(ci.Key.Dst), ci.Key.DstPort)
		}
		if r := snap.real(ci.Dest, ci.DestGen); r != nil {
			port := r.port
			if port == 0 && !ci.Template {
				port = ci.Key.DstPort
			}
			c.Real = netip.AddrPortFrom(flow.AddrOf(r.addr), port)
		}
		out = append(out, c)
		return true
	})
	if done {
		return out, 0
	}
	return out, uint64(next)
}

// templateVirtual is the service a persistence template belongs to: its
// VIP and port, or its group's name; neither when the service is gone.
func templateVirtual(snap *snapshot, id uint32) (netip.AddrPort, string) {
	for _, s := range snap.services {
		if s.id == id {
			if s.key.Group != "" {
				return netip.AddrPort{}, s.key.Group
			}
			return netip.AddrPortFrom(flow.AddrOf(s.vip), s.port), ""
		}
	}
	return netip.AddrPort{}, ""
}

// foldGone adds the figures of real servers that leave their (remaining)
// service to that service's folded totals, and forgets the totals of
// services that are gone. Callers hold e.mu.
func (e *Engine) foldGone(old, cur *snapshot) {
	if old == nil {
		return
	}
	if e.folded == nil {
		e.folded = make(map[uint32]service.Counters)
	}
	kept := make(map[uint32]bool, len(cur.services))
	for _, s := range cur.services {
		kept[s.id] = true
	}
	for _, svc := range old.services {
		if !kept[svc.id] {
			delete(e.folded, svc.id)
			continue
		}
		for _, r := range svc.reals {
			if cur.real(r.id, r.gen) != nil {
				continue
			}
			f := e.folded[svc.id]
			addTo(&f, sub(e.realCounters(r.id), e.base[r.id]))
			e.folded[svc.id] = f
		}
	}
}
