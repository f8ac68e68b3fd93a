package service

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/xvs-project/xvs/sched"
)

// MaxWeight is the largest weight ipvsadm accepts.
const MaxWeight = math.MaxInt32

// DefaultScheduler is what a service gets without -s, as in ipvsadm.
const DefaultScheduler = "wlc"

// Normalize fills defaults the way ipvsadm and the kernel do: the default
// scheduler, weight 1 for reals added without one is the caller's business
// (0 is a valid weight), a real's port follows the service port when it is
// not given or cannot be mapped (DR and TUN).
func (s *Service) Normalize() {
	if s.Scheduler == "" {
		s.Scheduler = DefaultScheduler
	}
	if s.Persistence != nil && s.Persistence.Timeout == 0 {
		s.Persistence.Timeout = DefaultPersistTimeout
	}
	for i := range s.Reals {
		s.normalizeReal(&s.Reals[i])
	}
}

func (s *Service) normalizeReal(r *Real) {
	if s.Group != "" || s.Port == 0 {
		// Traffic arrives on many ports: a real port only makes sense for NAT.
		if r.Method != MethodNAT {
			r.Port = 0
		}
		return
	}
	if r.Port == 0 || r.Method == MethodDR || r.Method == MethodTUN {
		r.Port = s.Port
	}
}

// Family returns 4 or 6 for the service's addresses (a group's first match).
func (s *Service) Family() int {
	a := s.Addr
	if s.Group != "" && len(s.Matches) > 0 {
		a = s.Matches[0].Prefix.Addr()
	}
	if a.Is4() {
		return 4
	}
	return 6
}

// Validate checks one service and its real servers.
func (s *Service) Validate() error {
	where := "service " + s.Key().String()
	bad := func(field, msg string, err error) error {
		return &FieldError{Where: where, Field: field, Msg: msg, Err: err}
	}
	if s.Group != "" {
		if len(s.Matches) == 0 {
			return bad("match", "a service group needs at least one match", ErrInvalid)
		}
		fam := s.Family()
		for _, m := range s.Matches {
			if m.Proto != TCP && m.Proto != UDP {
				return bad("match", fmt.Sprintf("protocol %s is not tcp or udp", m.Proto), ErrInvalid)
			}
			if !m.Prefix.IsValid() {
				return bad("match", "prefix is not valid", ErrInvalid)
			}
			if fam4(m.Prefix.Addr()) != fam {
				return bad("match", "all matches of a group must be of one address family", ErrInvalid)
			}
			if m.PortLo > m.PortHi {
				return bad("match", fmt.Sprintf("port range %d-%d is empty", m.PortLo, m.PortHi), ErrInvalid)
			}
		}
	} else {
		if s.Proto != TCP && s.Proto != UDP {
			return bad("protocol", "must be tcp or udp", ErrInvalid)
		}
		if !s.Addr.IsValid() || s.Addr.IsUnspecified() || s.Addr.IsMulticast() || s.Addr.Zone() != "" {
			return bad("address", fmt.Sprintf("%s is not a unicast address", s.Addr), ErrInvalid)
		}
		if s.Port == 0 && s.Persistence == nil {
			return bad("port", "port 0 needs persistence", ErrZeroPort)
		}
	}
	// The scheduler names and the flags each takes are sched's.
	if !sched.Known(s.Scheduler) {
		return bad("scheduler", fmt.Sprintf("unknown scheduler %q", s.Scheduler), ErrNoScheduler)
	}
	for _, f := range s.SchedFlags {
		if _, err := sched.ParseFlags(s.Scheduler, []string{f}); err != nil {
			return bad("flags", fmt.Sprintf("flag %q does not belong to scheduler %s", f, s.Scheduler), ErrInvalid)
		}
	}
	if s.MHTableSize != 0 && !isPrime(s.MHTableSize) {
		return bad("mh-table-size", fmt.Sprintf("%d is not a prime", s.MHTableSize), ErrInvalid)
	}
	if p := s.Persistence; p != nil {
		if p.Timeout < 0 {
			return bad("persistent", "timeout must be positive", ErrInvalid)
		}
		max := 32
		if s.Family() == 6 {
			max = 128
		}
		if p.NetmaskBits < 0 || p.NetmaskBits > max {
			return bad("netmask", fmt.Sprintf("/%d is not a valid IPv%d prefix length", p.NetmaskBits, s.Family()), ErrInvalid)
		}
	}
	if s.OnePacket && !s.udpOnly() {
		return bad("one-packet", "only UDP services can schedule each packet", ErrOnePacketNoUDP)
	}
	seen := make(map[RealKey]bool, len(s.Reals))
	for i := range s.Reals {
		r := &s.Reals[i]
		if err := s.validateReal(r); err != nil {
			return err
		}
		if seen[r.Key()] {
			return &FieldError{Where: "real " + realName(r), Msg: "listed twice in " + where, Err: ErrDestExists}
		}
		seen[r.Key()] = true
	}
	return nil
}

func (s *Service) udpOnly() bool {
	if s.Group == "" {
		return s.Proto == UDP
	}
	for _, m := range s.Matches {
		if m.Proto != UDP {
			return false
		}
	}
	return true
}

func (s *Service) validateReal(r *Real) error {
	bad := func(field, msg string) error {
		return &FieldError{Where: "real " + realName(r), Field: field, Msg: msg, Err: ErrInvalid}
	}
	if !r.Addr.IsValid() || r.Addr.IsUnspecified() || r.Addr.IsMulticast() {
		return bad("address", fmt.Sprintf("%s is not a unicast address", r.Addr))
	}
	if fam4(r.Addr) != s.Family() {
		return bad("address", fmt.Sprintf("family differs from service %s", s.Key()))
	}
	if r.Method == MethodNone {
		return bad("method", "missing (want nat, dr or tun)")
	}
	if r.Weight < 0 {
		return bad("weight", fmt.Sprintf("%d is out of range 0..%d", r.Weight, MaxWeight))
	}
	if field, msg, ok := validateTunnel(r); !ok {
		return bad(field, msg)
	}
	if r.UpperThreshold != 0 && r.LowerThreshold > r.UpperThreshold {
		return bad("lower-threshold", fmt.Sprintf("%d is above the upper threshold %d", r.LowerThreshold, r.UpperThreshold))
	}
	return nil
}

func realName(r *Real) string {
	if r.Port == 0 {
		return r.Addr.String()
	}
	return netip.AddrPortFrom(r.Addr, r.Port).String()
}

func fam4(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 4
	}
	return 6
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// Validate checks every service and that no two services are the same.
func (c *Config) Validate() error {
	seen := make(map[Key]bool, len(c.Services))
	for i := range c.Services {
		s := &c.Services[i]
		if err := s.Validate(); err != nil {
			return err
		}
		if seen[s.Key()] {
			return &FieldError{Where: "service " + s.Key().String(), Msg: "defined twice", Err: ErrServiceExists}
		}
		seen[s.Key()] = true
	}
	return nil
}
