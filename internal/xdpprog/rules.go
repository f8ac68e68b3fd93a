package xdpprog

import (
	"encoding/binary"
	"fmt"
	"github.com/xvs-project/xvs/link"
	"net/netip"
	"slices"
)

// Rule selects packets to steer (see package link). Port ranges other
// than 0,0 are expanded into one entry per port, so they count against
// MaxEntries.
type Rule = link.Rule

// Config is a complete rule set and the director's own addresses, whose
// replies are never steered.
type Config = link.Rules

// MaxEntries bounds the number of trie entries one Config may compile into
// (each port of a port range is one entry, each prefix adds one
// address-only entry, each local address one entry).
const MaxEntries = 1 << 17

// Trie key layout (struct bpf_lpm_trie_key with 24 data bytes):
//
//	 0      4        5      6       7    8          10   12                 28
//	+------+--------+------+-------+----+----------+----+------------------+
//	| plen | family | kind | proto | 0  | port(BE) | 0  | address          |
//	+------+--------+------+-------+----+----------+----+------------------+
//
// plen (host byte order) counts bits from the start of the data: the 64 bits
// before the address are always significant, then the prefix length of the
// address. Lookups use the full 192 bits. family (4 or 6) keeps the two
// address spaces apart, so an IPv6 prefix such as ::/0 never covers IPv4; an
// IPv4 address fills the first 4 address bytes and the rest is zero. Because
// kind, proto and port come before the address, a port-specific rule may
// cover a prefix wider than one host, and "any port" or "any proto" is its
// own kind with zero proto/port fields. The padding keeps the address
// 8-byte aligned on the program's stack.
const (
	keySize       = 28
	keyValueSize  = 4
	keyFixedBits  = 64
	keyFullPrefix = keyFixedBits + 128

	keyOffFamily = 4
	keyOffKind   = 5
	keyOffProto  = 6
	keyOffPort   = 8
	keyOffAddr   = 12
)

// Entry kinds. The steering program looks them up in this order.
const (
	kindDstPort = 1 + iota // service: proto, destination port, destination prefix
	kindDstAny             // service on every port: proto, destination prefix
	kindSrcPort            // real-server reply: proto, source port, source prefix
	kindSrcAny             // real-server reply on every port
	kindLocal              // a director address (full length)
	kindDstAddr            // any service's address, any proto/port (ICMP errors, fragments)
	kindSrcAddr            // any real server's address, any proto/port
)

// trieKey is one marshalled LPM trie key.
type trieKey [keySize]byte

func makeKey(kind, proto uint8, port uint16, p netip.Prefix) trieKey {
	var k trieKey
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	binary.NativeEndian.PutUint32(k[0:4], uint32(keyFixedBits+bits))
	k[keyOffFamily] = 6
	if a.Is4() {
		k[keyOffFamily] = 4
	}
	k[keyOffKind] = kind
	k[keyOffProto] = proto
	binary.BigEndian.PutUint16(k[keyOffPort:], port)
	copy(k[keyOffAddr:], a.AsSlice())
	return k
}

// compile validates cfg and returns its trie keys, deduplicated and sorted.
func compile(cfg Config) ([]trieKey, error) {
	set := make(map[trieKey]struct{})
	add := func(k trieKey) error {
		set[k] = struct{}{}
		if len(set) > MaxEntries {
			return fmt.Errorf("more than %d entries: %w", MaxEntries, ErrTooManyEntries)
		}
		return nil
	}
	for i, r := range cfg.Rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		p := r.Prefix.Masked()
		portKind, anyKind, addrKind := uint8(kindDstPort), uint8(kindDstAny), uint8(kindDstAddr)
		if r.Reply {
			portKind, anyKind, addrKind = kindSrcPort, kindSrcAny, kindSrcAddr
		}
		if err := add(makeKey(addrKind, 0, 0, p)); err != nil {
			return nil, err
		}
		if r.PortLo == 0 && r.PortHi == 0 {
			if err := add(makeKey(anyKind, r.Proto, 0, p)); err != nil {
				return nil, err
			}
			continue
		}
		for port := uint32(r.PortLo); port <= uint32(r.PortHi); port++ {
			if err := add(makeKey(portKind, r.Proto, uint16(port), p)); err != nil {
				return nil, err
			}
		}
	}
	for i, a := range cfg.Local {
		if !a.IsValid() {
			return nil, fmt.Errorf("local address %d: %w", i, ErrInvalidAddress)
		}
		a = a.Unmap().WithZone("")
		if err := add(makeKey(kindLocal, 0, 0, netip.PrefixFrom(a, a.BitLen()))); err != nil {
			return nil, err
		}
	}
	keys := make([]trieKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b trieKey) int { return slices.Compare(a[:], b[:]) })
	return keys, nil
}
