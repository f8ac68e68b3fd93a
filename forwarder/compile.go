package forwarder

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
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
	// trash holds deleted real servers that connections still refer to,
	// as IPVS's destination trash does: re-added with the same address and
	// port, a real server gets its id, generation and sched.Dest back, so
	// its connections keep forwarding. An entry leaves (and its id is
	// freed) at a later change once no connection or template counts on
	// its sched.Dest.
	trash map[service.RealKey]*regReal
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
	f, err := sched.ParseFlags(s.Scheduler, s.SchedFlags)
	return sched.Options{Flags: f, MHTableSize: s.MHTableSize}, err
}

// clone copies the registry so a change can be staged on it. Schedulers,
// destinations and regReal values are shared: they are only changed by the
// effects a commit runs.
func (g *registry) clone() *registry {
	n := &registry{
		services: make(map[service.Key]*regService, len(g.services)),
		realIDs:  slices.Clone(g.realIDs),
		realGen:  slices.Clone(g.realGen),
		nextSvc:  g.nextSvc,
	}
	for k, rs := range g.services {
		c := *rs
		c.reals = maps.Clone(rs.reals)
		c.trash = maps.Clone(rs.trash)
		n.services[k] = &c
	}
	return n
}

// compile builds a snapshot of cfg without changing anything live: it stages
// the registry's new state on a clone and returns commit, which installs
// that state and applies what touches running objects (weights, thresholds,
// scheduler updates). A caller that cannot install the snapshot (steering
// refused) just drops it, and the running configuration is untouched.
func (g *registry) compile(cfg *service.Config) (snap *snapshot, commit func() error, err error) {
	ng := g.clone()
	var effects []func() error
	snap = &snapshot{
		cfg:     cfg,
		exact:   make(map[svcKey]*serviceState),
		anyPort: make(map[svcKey]*serviceState),
	}
	keep := make(map[service.Key]bool, len(cfg.Services))
	for i := range cfg.Services {
		s := &cfg.Services[i]
		keep[s.Key()] = true
		opts, err := schedOptions(s)
		if err != nil {
			return nil, nil, fmt.Errorf("service %s: %w", s.Key(), err)
		}
		sig := fmt.Sprintf("%s/%d/%d", s.Scheduler, opts.Flags, opts.MHTableSize)
		rs := ng.services[s.Key()]
		if rs == nil {
			rs = &regService{id: ng.nextSvc, reals: make(map[service.RealKey]*regReal),
				trash: make(map[service.RealKey]*regReal)}
			ng.nextSvc++
			ng.services[s.Key()] = rs
		}
		fresh := rs.sched == nil || rs.schedSig != sig
		if fresh {
			sc, err := sched.New(s.Scheduler, nil, opts)
			if err != nil {
				return nil, nil, fmt.Errorf("service %s: %w", s.Key(), err)
			}
			rs.sched, rs.schedSig = sc, sig
		}
		st := newServiceState(rs, s)
		seen := make(map[service.RealKey]bool, len(s.Reals))
		dests := make([]*sched.Dest, 0, len(s.Reals))
		for j := range s.Reals {
			r := s.Reals[j]
			seen[r.Key()] = true
			rr := rs.reals[r.Key()]
			if rr == nil && rs.trash[r.Key()] != nil {
				// Re-added while its connections live: revive it.
				rr = rs.trash[r.Key()]
				delete(rs.trash, r.Key())
				rs.reals[r.Key()] = rr
			}
			if rr == nil {
				id, gen := ng.allocReal()
				rr = &regReal{id: id, gen: gen, dest: sched.NewDest(id, flow.Addr16(r.Addr), r.Port, r.Weight)}
				rs.reals[r.Key()] = rr
			}
			d := rr.dest
			effects = append(effects, func() error {
				d.SetWeight(r.Weight)
				d.SetThresholds(r.UpperThreshold, r.LowerThreshold)
				return nil
			})
			real := &realState{
				id: rr.id, gen: rr.gen, svc: st, dest: d, key: r.Key(),
				addr: flow.Addr16(r.Addr), port: r.Port, method: r.Method, tunnel: encapTunnel(r.Tunnel),
			}
			for int(real.id) >= len(snap.reals) {
				snap.reals = append(snap.reals, nil)
			}
			snap.reals[real.id] = real
			st.reals = append(st.reals, real)
			dests = append(dests, d)
			if r.Method == service.MethodNAT {
				snap.hasNAT = true
			}
		}
		for k, rr := range rs.trash {
			if !referenced(rr.dest) {
				delete(rs.trash, k)
				ng.realIDs = append(ng.realIDs, rr.id)
			}
		}
		for k, rr := range rs.reals {
			if !seen[k] {
				delete(rs.reals, k)
				if referenced(rr.dest) {
					rs.trash[k] = rr
				} else {
					ng.realIDs = append(ng.realIDs, rr.id)
				}
			}
		}
		for _, rr := range rs.trash {
			for int(rr.id) >= len(snap.trash) {
				snap.trash = append(snap.trash, nil)
			}
			snap.trash[rr.id] = &realState{id: rr.id, gen: rr.gen, dest: rr.dest, svc: st}
		}
		// The kernel puts a new real server at the head of its list, and
		// schedulers break ties by list order: hand them the same order.
		slices.Reverse(dests)
		if fresh {
			// Nobody picks with a new scheduler yet: fill it now, which
			// also validates the list.
			if err := rs.sched.Update(dests); err != nil {
				return nil, nil, fmt.Errorf("service %s: %w", s.Key(), err)
			}
		} else {
			sc, key := rs.sched, s.Key()
			effects = append(effects, func() error {
				if err := sc.Update(dests); err != nil {
					return fmt.Errorf("service %s: %w", key, err)
				}
				return nil
			})
		}
		snap.add(st, s)
	}
	for k, rs := range ng.services {
		if !keep[k] {
			for _, rr := range rs.reals {
				ng.realIDs = append(ng.realIDs, rr.id)
			}
			for _, rr := range rs.trash {
				ng.realIDs = append(ng.realIDs, rr.id)
			}
			delete(ng.services, k)
		}
	}
	commit = func() error {
		*g = *ng
		// Validated lists only: an error here is a bug, reported but not
		// rolled back (the snapshot still goes in).
		var errs []error
		for _, f := range effects {
			if err := f(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return snap, commit, nil
}

// referenced reports whether connections or templates still count on d.
func referenced(d *sched.Dest) bool {
	return d.ActiveConns()+d.InactiveConns()+d.PersistConns() > 0
}

// newServiceState is the workers' view of service s.
func newServiceState(rs *regService, s *service.Service) *serviceState {
	st := &serviceState{
		id:            rs.id,
		key:           s.Key(),
		proto:         uint8(s.Proto),
		port:          s.Port,
		sched:         rs.sched,
		onePacket:     s.OnePacket,
		expireQuiesce: s.ExpireQuiescent,
		maglev:        s.Scheduler == "mh",
	}
	if s.Group == "" {
		st.vip = flow.Addr16(s.Addr)
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
	return st
}

// add indexes st for lookups by destination.
func (snap *snapshot) add(st *serviceState, s *service.Service) {
	snap.services = append(snap.services, st)
	switch {
	case s.Group != "":
		for _, m := range s.Matches {
			lo, hi := prefixRange(m.Prefix)
			snap.groups = append(snap.groups, groupMatch{
				proto: uint8(m.Proto), prefix: m.Prefix, lo: lo, hi: hi,
				portLo: m.PortLo, portHi: m.PortHi, svc: st,
			})
		}
	case s.Port == 0:
		snap.anyPort[svcKey{addr: st.vip, proto: st.proto}] = st
	default:
		snap.exact[svcKey{addr: st.vip, port: s.Port, proto: st.proto}] = st
	}
}

// steerRules derives what the backend must hand to the workers.
func (s *snapshot) steerRules() []link.Rule {
	var rules []link.Rule
	for _, st := range s.services {
		for _, r := range st.reals {
			if r.method != service.MethodNAT {
				continue
			}
			a := flow.AddrOf(r.addr)
			rules = append(rules, link.Rule{
				Proto: st.proto, Prefix: netip.PrefixFrom(a, a.BitLen()),
				PortLo: r.port, PortHi: r.port, Reply: true,
			})
		}
	}
	for _, st := range s.services {
		if st.key.Group != "" {
			continue
		}
		a := flow.AddrOf(st.vip)
		rules = append(rules, link.Rule{
			Proto: st.proto, Prefix: netip.PrefixFrom(a, a.BitLen()), PortLo: st.port, PortHi: st.port,
		})
	}
	for _, g := range s.groups {
		rules = append(rules, link.Rule{Proto: g.proto, Prefix: g.prefix, PortLo: g.portLo, PortHi: g.portHi})
	}
	return rules
}

// encapTunnel is a real server's tunnel as PushTunnel takes it. remcsum sends
// what csum sends: the inner checksums xvs forwards are complete, and for
// those the kernel adds no remote-checksum option but still sets the UDP
// checksum.
func encapTunnel(t service.Tunnel) encap.Tunnel {
	return encap.Tunnel{Type: encap.TunnelType(t.Type), Port: t.Port, Csum: t.Csum != service.TunNoCsum}
}
