package afpacket

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/link"
)

// Rule selects traffic to hand to the queues (see package link).
type Rule = link.Rule

// Rules is a complete steering set.
type Rules = link.Rules

// prefix is a normalized address range: the address masked to bits, IPv4 in
// the first four bytes of addr.
type prefix struct {
	addr [16]byte
	bits int
	v4   bool
}

// word returns the i-th 32-bit word of the address and of its mask.
func (p prefix) word(i int) (val, mask uint32) {
	bits := p.bits - 32*i
	switch {
	case bits <= 0:
		return 0, 0
	case bits >= 32:
		mask = 0xffffffff
	default:
		mask = ^uint32(0) << (32 - bits)
	}
	return binary.BigEndian.Uint32(p.addr[4*i:]) & mask, mask
}

// words is the number of 32-bit address words of the family.
func (p prefix) words() int {
	if p.v4 {
		return 1
	}
	return 4
}

// portRange is an inclusive port range; every port is 0-65535.
type portRange struct {
	proto  uint8
	lo, hi uint16
}

func (r portRange) any() bool { return r.lo == 0 && r.hi == 0xffff }

// group is every port range of one prefix, in one direction.
type group struct {
	prefix prefix
	ports  []portRange
}

// family holds the compiled rules of one address family.
type family struct {
	svc   []group    // service rules, by destination
	reply []group    // real-server replies, by source
	local [][16]byte // director addresses
	v4    bool
}

// localPrefix returns local address l as a host prefix.
func (f *family) localPrefix(l [16]byte) prefix {
	p := prefix{addr: l, bits: 128, v4: f.v4}
	if f.v4 {
		p.bits = 32
	}
	return p
}

// compiled is a validated, normalized and deduplicated rule set, from
// which both the socket filter and the nftables rules are generated, so the
// two always agree on what is steered.
type compiled struct {
	v4, v6 family
}

func (c *compiled) empty() bool {
	return len(c.v4.svc) == 0 && len(c.v4.reply) == 0 && len(c.v6.svc) == 0 && len(c.v6.reply) == 0
}

func normPrefix(p netip.Prefix) prefix {
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	p = netip.PrefixFrom(a.WithZone(""), bits).Masked()
	np := prefix{bits: bits, v4: a.Is4()}
	copy(np.addr[:], p.Addr().AsSlice())
	return np
}

// compile validates rs and groups its rules by family, direction and
// prefix. The output is deterministic (sorted), so equal rule sets give
// identical programs.
func compile(rs Rules) (*compiled, error) {
	type key struct {
		p     prefix
		reply bool
	}
	ports := make(map[key][]portRange)
	for i, r := range rs.Rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		pr := portRange{proto: r.Proto, lo: r.PortLo, hi: r.PortHi}
		if r.PortLo == 0 && r.PortHi == 0 {
			pr.hi = 0xffff
		}
		k := key{normPrefix(r.Prefix), r.Reply}
		if !slices.Contains(ports[k], pr) {
			ports[k] = append(ports[k], pr)
		}
	}
	c := &compiled{v4: family{v4: true}}
	for k, prs := range ports {
		slices.SortFunc(prs, cmpPorts)
		g := group{prefix: k.p, ports: prs}
		f := &c.v6
		if k.p.v4 {
			f = &c.v4
		}
		if k.reply {
			f.reply = append(f.reply, g)
		} else {
			f.svc = append(f.svc, g)
		}
	}
	for i, a := range rs.Local {
		if !a.IsValid() {
			return nil, fmt.Errorf("local address %d: %w", i, ErrInvalidAddress)
		}
		a = a.Unmap()
		var b [16]byte
		copy(b[:], a.AsSlice())
		f := &c.v6
		if a.Is4() {
			f = &c.v4
		}
		if !slices.Contains(f.local, b) {
			f.local = append(f.local, b)
		}
	}
	for _, f := range []*family{&c.v4, &c.v6} {
		slices.SortFunc(f.svc, cmpGroups)
		slices.SortFunc(f.reply, cmpGroups)
		slices.SortFunc(f.local, func(a, b [16]byte) int { return slices.Compare(a[:], b[:]) })
	}
	return c, nil
}

// cmpGroups orders host prefixes first (the filter dispatches on them with
// one comparison each), then by address and length.
func cmpGroups(a, b group) int {
	ah, bh := a.prefix.host(), b.prefix.host()
	if ah != bh {
		if ah {
			return -1
		}
		return 1
	}
	if c := slices.Compare(a.prefix.addr[:], b.prefix.addr[:]); c != 0 {
		return c
	}
	return a.prefix.bits - b.prefix.bits
}

func cmpPorts(a, b portRange) int {
	if a.proto != b.proto {
		return int(a.proto) - int(b.proto)
	}
	if a.lo != b.lo {
		return int(a.lo) - int(b.lo)
	}
	return int(a.hi) - int(b.hi)
}

// host reports whether the prefix is one address.
func (p prefix) host() bool { return p.bits == 32*p.words() }
