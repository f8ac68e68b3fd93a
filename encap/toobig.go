package encap

import "github.com/xvs-project/xvs/flow"

// TooBig message layouts (built from scratch into a caller's buffer):
//
//	IPv4 (RFC 792 + RFC 1191)              IPv6 (RFC 4443, section 3.2)
//	L2 header, MACs swapped, same tags      L2 header, MACs swapped, same tags
//	IPv4 header, 20 bytes, proto 1          IPv6 header, 40 bytes, next header 58
//	type 3 | code 4 | checksum              type 2 | code 0 | checksum
//	unused (16)     | next-hop MTU (16)     MTU (32)
//	quote: original IP packet, cut so the   quote: original IP packet, cut so the
//	whole IP packet is <= 576 bytes          whole IP packet is <= 1280 bytes

const (
	tooBigTTL        = 64
	tosPrecInternet  = 0xc0 // IPTOS_PREC_INTERNETCONTROL, as Linux's icmp_send sets on errors
	tosTOSMask       = 0x1e // IPTOS_TOS_MASK: the old TOS bits kept from the original
	maxQuoteV4       = icmpV4MaxSize - ipv4MinLen - icmpHdrLen
	maxQuoteV6       = icmpV6MaxSize - ipv6HdrLen - icmpHdrLen
	maxUint32AsInt64 = 1<<32 - 1
)

// TooBig writes into out a complete frame answering p with ICMPv4
// "fragmentation needed" (type 3, code 4, next-hop MTU mtu) or ICMPv6 "packet
// too big" (type 2, MTU mtu), as IPVS does when a tunnelled packet would not
// fit the egress MTU. The frame goes back the way p came: the L2 header is
// p's with the MACs swapped (VLAN tags kept), the IP packet is from `from`
// (the director's address, v4-mapped for IPv4) to p.Src with TTL/hop limit
// 64, and the quote is p's IP packet cut so the ICMP packet fits 576 (IPv4)
// or 1280 (IPv6) bytes. IPv4: TOS is internetwork control plus the original
// TOS bits (as Linux), DF is clear, the ID repeats the original's.
//
// It returns the frame length, or 0 — writing nothing — if out is too small,
// p is not a TCP/UDP packet or an ICMP informational message (no error about
// an error or a fragment, RFC 1122 3.2.2 / RFC 4443 2.4), p.Src is not a
// unicast host address, from is of the wrong family, or mtu does not fit the
// field.
func TooBig(out []byte, p *Packet, from [16]byte, mtu int) int {
	switch p.kind {
	case KindTCP, KindUDP:
	case KindICMPOther:
		if (p.Family == 4 && !isICMPv4Info(p.ICMPType)) || (p.Family == 6 && p.ICMPType < icmpV6InfoTypeFirst) {
			return 0
		}
	default:
		return 0
	}
	if mtu < 0 || !unicastHost(p.Src) {
		return 0
	}
	f, l3 := p.Frame, p.L3
	if p.Family == 4 {
		if mtu > 0xffff || !flow.IsV4Mapped(&from) {
			return 0
		}
		quote := min(p.IPLen, maxQuoteV4)
		ipLen := ipv4MinLen + icmpHdrLen + quote
		if len(out) < l3+ipLen {
			return 0
		}
		writeReplyL2(out, f, l3)
		ip := out[l3 : l3+ipv4MinLen]
		orig := f[l3 : l3+p.IPLen]
		ip[ipv4VerIHL] = 4<<4 | ipv4MinLen>>2
		ip[ipv4TOS] = orig[ipv4TOS]&tosTOSMask | tosPrecInternet
		put16(ip[ipv4TotalLen:], uint16(ipLen))
		copy(ip[ipv4ID:ipv4ID+2], orig[ipv4ID:ipv4ID+2])
		put16(ip[ipv4FragOff:], 0)
		ip[ipv4TTL] = tooBigTTL
		ip[ipv4Proto] = flow.ICMP
		put16(ip[ipv4Csum:], 0)
		copy(ip[ipv4Src:ipv4Src+4], from[12:])
		copy(ip[ipv4Dst:ipv4Dst+4], orig[ipv4Src:ipv4Src+4])
		put16(ip[ipv4Csum:], checksum(ip, 0))

		icmp := out[l3+ipv4MinLen : l3+ipLen]
		icmp[icmpType] = icmpV4DestUnreach
		icmp[icmpCode] = icmpV4FragNeeded
		put32(icmp[icmpRest:], uint32(mtu)) // unused (16) = 0, next-hop MTU (16)
		put16(icmp[icmpCsum:], 0)
		copy(icmp[icmpQuoteOff:], orig[:quote])
		put16(icmp[icmpCsum:], checksum(icmp, 0))
		return l3 + ipLen
	}

	if mtu > maxUint32AsInt64 || flow.IsV4Mapped(&from) {
		return 0
	}
	quote := min(p.IPLen, maxQuoteV6)
	icmpLen := icmpHdrLen + quote
	ipLen := ipv6HdrLen + icmpLen
	if len(out) < l3+ipLen {
		return 0
	}
	writeReplyL2(out, f, l3)
	ip := out[l3 : l3+ipv6HdrLen]
	orig := f[l3 : l3+p.IPLen]
	put32(ip[ipv6VerTCFlow:], 6<<28) // traffic class 0, flow label 0
	put16(ip[ipv6PayLen:], uint16(icmpLen))
	ip[ipv6NextHdr] = flow.ICMPv6
	ip[ipv6HopLimit] = tooBigTTL
	copy(ip[ipv6Src:ipv6Src+16], from[:])
	copy(ip[ipv6Dst:ipv6Dst+16], orig[ipv6Src:ipv6Src+16])

	icmp := out[l3+ipv6HdrLen : l3+ipLen]
	icmp[icmpType] = icmpV6PacketTooBig
	icmp[icmpCode] = 0
	put16(icmp[icmpCsum:], 0)
	put32(icmp[icmpV6MTU:], uint32(mtu))
	copy(icmp[icmpQuoteOff:], orig[:quote])
	ps := pseudoSum(ip[ipv6Src:ipv6Src+16], ip[ipv6Dst:ipv6Dst+16], flow.ICMPv6, icmpLen)
	put16(icmp[icmpCsum:], checksum(icmp, ps))
	return l3 + ipLen
}

// writeReplyL2 copies the L2 header of f (l3 bytes, tags included) to out with
// the MAC addresses swapped.
func writeReplyL2(out, f []byte, l3 int) {
	copy(out[ethType:l3], f[ethType:l3])
	copy(out[ethDst:ethDst+macLen], f[ethSrc:ethSrc+macLen])
	copy(out[ethSrc:ethSrc+macLen], f[ethDst:ethDst+macLen])
}

// isICMPv4Info reports whether an ICMPv4 type is a query/informational
// message, the only ICMP an error may be sent about (RFC 1122, 3.2.2).
func isICMPv4Info(t uint8) bool {
	switch t {
	case 0, 8, 9, 10, 13, 14, 15, 16, 17, 18: // echo, router adv/sol, timestamp, info, mask
		return true
	}
	return false
}

// unicastHost reports whether a names a single host that may receive an ICMP
// error: not unspecified, loopback, multicast, broadcast or IPv4 class E.
func unicastHost(a [16]byte) bool {
	if flow.IsV4Mapped(&a) {
		b := a[12]
		return b != 0 && b != 127 && b < 224
	}
	if a[0] == 0xff { // multicast
		return false
	}
	return a != [16]byte{} && a != [16]byte{15: 1}
}
