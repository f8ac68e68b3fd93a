package flow

import (
	"encoding/binary"
	"net/netip"
)

// Tuple is a packet's 5-tuple in packed, pointer-free, comparable form.
// Addresses are 16 bytes with IPv4 v4-mapped (::ffff:a.b.c.d), as
// netip.Addr.As16 gives them; ports are in host order and 0 for protocols
// without ports. The layout (two addresses, two ports, the protocol) is what
// conntrack hashes and compares, so it stays free of pointers and padding
// inside the fields.
type Tuple struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// TupleOf returns the tuple of a packet from src to dst with protocol proto.
func TupleOf(proto uint8, src, dst netip.AddrPort) Tuple {
	return Tuple{Src: Addr16(src.Addr()), Dst: Addr16(dst.Addr()),
		SrcPort: src.Port(), DstPort: dst.Port(), Proto: proto}
}

// Reverse returns the tuple of the other direction: ends swapped.
func (t Tuple) Reverse() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto}
}

// SrcAddrPort returns the source end as a netip.AddrPort (IPv4 unmapped).
func (t *Tuple) SrcAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(AddrOf(t.Src), t.SrcPort)
}

// DstAddrPort returns the destination end as a netip.AddrPort (IPv4
// unmapped).
func (t *Tuple) DstAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(AddrOf(t.Dst), t.DstPort)
}

// Addr16 returns a in the 16-byte form: IPv6 as is, IPv4 v4-mapped. The zone
// is dropped.
func Addr16(a netip.Addr) [16]byte { return a.As16() }

// AddrOf turns the 16-byte form back into a netip.Addr, a v4-mapped address
// into an IPv4 one.
func AddrOf(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }

// AddrFrom4 returns the v4-mapped form of an IPv4 address.
func AddrFrom4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// IsV4Mapped reports whether a is a v4-mapped IPv4 address, ::ffff:0:0/96
// (RFC 4291, section 2.5.5.2).
func IsV4Mapped(a *[16]byte) bool {
	return binary.BigEndian.Uint64(a[0:]) == 0 && binary.BigEndian.Uint32(a[8:]) == 0xffff
}

// Family returns 4 for a v4-mapped address, else 6.
func Family(a *[16]byte) uint8 {
	if IsV4Mapped(a) {
		return 4
	}
	return 6
}

// IsIPv6 reports whether a is a true IPv6 address: a v4-mapped one is an
// IPv4 address in the module's 16-byte form and travels as IPv4.
func IsIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
