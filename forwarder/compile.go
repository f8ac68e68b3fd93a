package forwarder

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// registry keeps what must outlive snapshots: stable ids for services and
// real servers, their sched.Dest (whose connection counters the table keeps
// up to date) and each service's scheduler. Only the control path touches it,
// under Engine.mu.
type registry struct {
	services map[service.Key]*regService
	realIDs  []uint32 // free real ids
	realGen  []uint32 // last generation handed out per real id
	nextSvc  uint32
}

type regService struct {
	id       uint32
	sched    sched.Scheduler
	schedSig string // scheduler name, flags and table size it was built with
	reals    map[service.RealKey]*regReal
}

type regReal struct {
	id, gen uint32
	dest    *sched.Dest
}

func newRegistry() *registry {
	return &registry{services: make(map[service.Key]*regService)}
}

func (g *registry) allocReal() (id, gen uint32) {
	if n := len(g.realIDs); n > 0 {
		id = g.realIDs[n-1]
		g.realIDs = g.realIDs[:n-1]
	} else {
		id = uint32(len(g.realGen))
		g.realGen = append(g.realGen, 0)
	}
	g.realGen[id]++
	return id, g.realGen[id]
}

func schedOptions(s *service.Service) (sched.Options, error) {
	var o sched.Options
	o.MHTableSize = s.MHTableSize
	for _, f := range s.SchedFlags {
		switch f {
		case "sh-fallback":
			o.Flags |= sched.FlagSHFallback
		case "sh-port":
			o.Flags |= sched.FlagSHPort
		case "mh-fallback":
			o.Flags |= sched.FlagMHFallback
		case "mh-port":
			o.Flags |= sched.FlagMHPort
		default:
			return o, fmt.Errorf("unknown scheduler flag %q", f)
		}
	}
	return o, sched.ValidateFlags(s.Scheduler, o.Flags)
}

// compile builds a snapshot of cfg. It prepares everything first and touches
// the registry only once nothing can fail any more, so a refused
// configuration leaves the running one (and its schedulers) untouched.
func (g *registry) compile(cfg *service.Config) (*snapshot, error) {
	type plan struct {
		svc     *service.Service
		reg     *regService // nil: new service
		sched   sched.Scheduler
		newSign string
		opts    sched.Options
	}
	plans := make([]plan, len(cfg.Services))
	for i := range cfg.Services {
		s := &cfg.Services[i]
		opts, err := schedOptions(s)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Key(), err)
		}
		sig := fmt.Sprintf("%s/%d/%d", s.Scheduler, opts.Flags, opts.MHTableSize)
		p := plan{svc: s, reg: g.services[s.Key()], newSign: sig, opts: opts}
		if p.reg == nil || p.reg.schedSig != sig {
			// Validate the scheduler now; it gets its real servers below.
			sc, err := sched.New(s.Scheduler, nil, opts)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", s.Key(), err)
			}
			p.sched = sc
		}
		plans[i] = p
	}

	// Nothing can fail past this point except scheduler updates, which only
	// build state for lists we validated.
	snap := &snapshot{
		cfg:     cfg,
		exact:   make(map[svcKey]*serviceState),
		anyPort: make(map[svcKey]*serviceState),
	}
	keep := make(map[service.Key]bool, len(plans))
	for _, p := range plans {
		s := p.svc
		keep[s.Key()] = true
		rs := p.reg
		if rs == nil {
			rs = &regService{id: g.nextSvc, reals: make(map[service.RealKey]*regReal)}
			g.nextSvc++
			g.services[s.Key()] = rs
		}
		if p.sched != nil {
			rs.sched, rs.schedSig = p.sched, p.newSign
		}
		st := &serviceState{
			id:            rs.id,
			key:           s.Key(),
			proto:         uint8(s.Proto),
			port:          s.Port,
			sched:         rs.sched,
			onePacket:     s.OnePacket,
			expireQuiesce: s.ExpireQuiescent,
		}
		if s.Group == "" {
			st.vip = addr16(s.Addr)
		}
		if s.Persistence != nil {
			st.persistent = true
			st.persistTimeout = s.Persistence.Timeout
			v4 := s.Family() == 4
			bits := s.Persistence.NetmaskBits
			if bits == 0 {
				bits = 128
				if v4 {
					bits = 32
				}
			}
			st.persistMask = maskBits(bits, v4)
		}
		seen := make(map[service.RealKey]bool, len(s.Reals))
		dests := make([]*sched.Dest, 0, len(s.Reals))
		for j := range s.Reals {
			r := &s.Reals[j]
			seen[r.Key()] = true
			rr := rs.reals[r.Key()]
			if rr == nil {
				id, gen := g.allocReal()
				rr = &regReal{id: id, gen: gen, dest: sched.NewDest(id, addr16(r.Addr), r.Port, r.Weight)}
				rs.reals[r.Key()] = rr
			}
			rr.dest.SetWeight(r.Weight)
			rr.dest.SetThresholds(r.UpperThreshold, r.LowerThreshold)
			real := &realState{
				id: rr.id, gen: rr.gen, svc: st, dest: rr.dest, key: r.Key(),
				addr: addr16(r.Addr), port: r.Port, method: r.Method,
			}
			for int(real.id) >= len(snap.reals) {
				snap.reals = append(snap.reals, nil)
			}
			snap.reals[real.id] = real
			st.reals = append(st.reals, real)
			dests = append(dests, rr.dest)
			if r.Method == service.MethodNAT {
				snap.hasNAT = true
			}
		}
		for k, rr := range rs.reals {
			if !seen[k] {
				delete(rs.reals, k)
				g.realIDs = append(g.realIDs, rr.id)
			}
		}
		// The kernel puts a new real server at the head of its list, and
		// schedulers break ties by list order: hand them the same order.
		slices.Reverse(dests)
		if err := rs.sched.Update(dests); err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Key(), err)
		}
		snap.services = append(snap.services, st)
		if s.Group != "" {
			for _, m := range s.Matches {
				lo, hi := prefixRange(m.Prefix)
				snap.groups = append(snap.groups, groupMatch{
					proto: uint8(m.Proto), prefix: m.Prefix, lo: lo, hi: hi,
					portLo: m.PortLo, portHi: m.PortHi, svc: st,
				})
			}
		} else if s.Port == 0 {
			snap.anyPort[svcKey{addr: st.vip, proto: st.proto}] = st
		} else {
			snap.exact[svcKey{addr: st.vip, port: s.Port, proto: st.proto}] = st
		}
	}
	for k, rs := range g.services {
		if !keep[k] {
			for _, rr := range rs.reals {
				g.realIDs = append(g.realIDs, rr.id)
			}
			delete(g.services, k)
		}
	}
	return snap, nil
}

// steerRules derives what the backend must hand to the workers.
func (s *snapshot) steerRules() []SteerRule {
	var rules []SteerRule
	for _, st := range s.services {
		for _, r := range st.reals {
			if r.method != service.MethodNAT {
				continue
			}
			a := addrFrom16(r.addr)
			rules = append(rules, SteerRule{
				Proto: st.proto, Prefix: netip.PrefixFrom(a, a.BitLen()),
				PortLo: r.port, PortHi: r.port, Reply: true,
			})
		}
	}
	for _, st := range s.services {
		if st.key.Group != "" {
			continue
		}
		a := addrFrom16(st.vip)
		rules = append(rules, SteerRule{
			Proto: st.proto, Prefix: netip.PrefixFrom(a, a.BitLen()), PortLo: st.port, PortHi: st.port,
		})
	}
	for _, g := range s.groups {
		rules = append(rules, SteerRule{Proto: g.proto, Prefix: g.prefix, PortLo: g.portLo, PortHi: g.portHi})
	}
	return rules
}

// SteerRule selects traffic a backend hands to the workers: packets to a
// service (by destination) or, with Reply, a NAT real server's replies (by
// source). PortLo = PortHi = 0 means every port.
type SteerRule struct {
	Proto          uint8
	Prefix         netip.Prefix
	PortLo, PortHi uint16
	Reply          bool
}

// SteerRules is the whole steering set.
type SteerRules struct {
	Rules []SteerRule
	// Local lists the director's own addresses: replies to them are the
	// director's own traffic (health checks) and stay with the kernel.
	Local []netip.Addr
}
