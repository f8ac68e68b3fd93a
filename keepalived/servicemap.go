package keepalived

import (
	"cmp"
	"strings"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// One virtual server's values in service's types: the mapping Services checks and Health and
// SorryReal key by.

// place is where a field of v was given: its keyword's line, or the virtual server's.
func (v *VirtualServer) place(field string) (Pos, string) {
	if t, ok := v.at[field]; ok {
		return t.pos, t.text
	}
	return v.Pos, ""
}

// flagPos is the line of SchedFlags[i], or the virtual server's for one built in Go.
func (v *VirtualServer) flagPos(i int) Pos {
	if i < len(v.flagAt) {
		return v.flagAt[i]
	}
	return v.Pos
}

// draft maps v onto a service without checking it, normalized: what Services validates and
// what Health and SorryReal take their keys from, so the three agree. groups may be nil (no
// matches, as Health needs none). The error is the first value that has no service
// equivalent; the service is complete without it.
func (v *VirtualServer) draft(groups map[string]*Group) (service.Service, *Error) {
	var bad *Error
	s := service.Service{Addr: v.Addr, Port: v.Port, Scheduler: v.Scheduler}
	proto, err := service.ParseProto(v.Protocol)
	if err != nil {
		proto = service.Proto(flow.SCTP)
		if !strings.EqualFold(v.Protocol, "SCTP") {
			proto = 0
		}
		p, key := v.place("protocol")
		bad = &Error{Pos: p, Where: where(v), Field: key, Msg: cmp.Or(v.Protocol, "no protocol") + ": xvs forwards TCP and UDP"}
	}
	if v.Group != "" {
		s.Group = v.serviceGroup()
		if g := groups[v.Group]; g != nil {
			s.Matches = g.matches(proto)
		}
	} else {
		s.Proto = proto
	}
	s.SchedFlags, s.OnePacket, _ = v.flags()
	if v.Persistence > 0 {
		s.Persistence = &service.Persistence{Timeout: v.Persistence, NetmaskBits: v.Granularity}
	}
	for _, r := range v.Reals {
		sr, err := mapReal(r)
		if err != nil && bad == nil {
			p, key := r.methodPlace(v)
			bad = &Error{Pos: p, Where: realWhere(r), Field: key, Msg: err.Error()}
		}
		s.Reals = append(s.Reals, sr)
	}
	s.Normalize()
	return s, bad
}

func mapReal(r *RealServer) (service.Real, error) {
	sr := service.Real{Addr: r.Addr, Port: r.Port, Weight: int32(min(max(r.Weight, 0), service.MaxWeight)),
		UpperThreshold: r.UpperThreshold, LowerThreshold: r.LowerThreshold}
	m, err := service.ParseMethod(r.Method)
	sr.Method = m
	t, terr := mapTunnel(r.Tunnel)
	sr.Tunnel = t
	if err == nil {
		err = terr
	}
	return sr, err
}

// methodPlace is where a real server's method came from: its own lvs_method, else the virtual
// server's lb_kind.
func (r *RealServer) methodPlace(v *VirtualServer) (Pos, string) {
	if t, ok := r.at["lb_kind"]; ok {
		return t.pos, t.text
	}
	if t, ok := v.at["lb_kind"]; ok {
		return t.pos, t.text
	}
	return r.Pos, ""
}

func mapTunnel(t Tunnel) (service.Tunnel, error) {
	var out service.Tunnel
	var err error
	if t.Type != "" {
		if out.Type, err = service.ParseTunType(t.Type); err != nil {
			return out, err
		}
	}
	if t.Csum != "" {
		if out.Csum, err = service.ParseChecksum(t.Csum); err != nil {
			return out, err
		}
	}
	out.Port = t.Port
	return out, nil
}

// flagNote is a scheduler flag that does not become a service flag, and why.
type flagNote struct {
	i   int // index in SchedFlags
	msg string
}

// flags maps keepalived's scheduler flags: ops is one-packet scheduling (ipvsadm -o); sh-port
// and the others are the scheduler's flags (flag-1..3 read as ipvsadm -b reads them); hashed
// is the kernel's own bookkeeping bit. A flag the scheduler does not take changes nothing in
// IPVS, so it is noted and left out rather than refused.
func (v *VirtualServer) flags() (names []string, onePacket bool, notes []flagNote) {
	sc := v.Scheduler
	if sc == "" {
		sc = service.DefaultScheduler
	}
	seen := map[string]bool{}
	for i, f := range v.SchedFlags {
		switch f {
		case "ops":
			onePacket = true
			continue
		case "hashed":
			notes = append(notes, flagNote{i, "hashed is the kernel's own mark of a hashed service, not a setting; ignored"})
			continue
		}
		fl, err := sched.ParseIPVSFlag(sc, f)
		if err != nil {
			takes := "none"
			if n := sched.FlagsFor(sc).Names(); len(n) > 0 {
				takes = strings.Join(n, " and ")
			}
			notes = append(notes, flagNote{i, f + " is not a flag of scheduler " + sc + " (it takes " + takes + "); ignored"})
			continue
		}
		for _, n := range fl.Names() {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, onePacket, notes
}
