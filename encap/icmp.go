package encap

import "github.com/xvs-project/xvs/flow"

// ICMP (RFC 792) and ICMPv6 (RFC 4443) share the first 8 bytes of an error
// message; the quoted ("invoking") packet follows:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |  0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   unused / pointer / v4: unused (16) + next-hop MTU (16)      |  4
//	|                    / v6 packet too big: MTU (32)              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   quoted IP header + at least 8 bytes of its payload (v4),    |  8
//	|   or as much as fits in 1280 bytes (v6)                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The ICMPv4 checksum covers the ICMP message only; the ICMPv6 checksum also
// covers the IPv6 pseudo-header (source, destination, length, next header 58).
const (
	icmpType      = 0
	icmpCode      = 1
	icmpCsum      = 2
	icmpRest      = 4 // 4 type-specific bytes
	icmpV4MTU     = 6 // ICMPv4 fragmentation needed: next-hop MTU (RFC 1191)
	icmpV6MTU     = 4 // ICMPv6 packet too big: MTU (32 bits)
	icmpHdrLen    = 8
	icmpQuoteOff  = 8 // the quoted packet starts here
	icmpV4MaxSize = 576
	icmpV6MaxSize = 1280 // IPv6 minimum MTU: an error must fit it (RFC 4443, 2.4 (c))

	icmpV4DestUnreach   = 3
	icmpV4TimeExceeded  = 11
	icmpV4ParamProblem  = 12
	icmpV4FragNeeded    = 4 // code of destination unreachable
	icmpV6DestUnreach   = 1
	icmpV6PacketTooBig  = 2
	icmpV6TimeExceeded  = 3
	icmpV6ParamProblem  = 4
	icmpV6InfoTypeFirst = 128 // ICMPv6 types below this are errors
)

// isICMPv4Error reports whether t is an ICMPv4 error whose quote we translate
// (the set the spec names; source quench 4 is deprecated by RFC 6633 and
// redirect 5 is never load-balanced).
func isICMPv4Error(t uint8) bool {
	return t == icmpV4DestUnreach || t == icmpV4TimeExceeded || t == icmpV4ParamProblem
}

// isICMPv6Error reports whether t is one of the four ICMPv6 error types.
func isICMPv6Error(t uint8) bool {
	return t >= icmpV6DestUnreach && t <= icmpV6ParamProblem
}

// parseICMP classifies an ICMP or ICMPv6 message at l4 and, for an error
// quoting a TCP or UDP packet of the same family, fills the Inner* fields.
// ICMPType and ICMPCode are set for every ICMP message, errors or not.
func parseICMP(f []byte, l4, end int, p *Packet) Kind {
	if end-l4 < icmpHdrLen {
		return KindMalformed
	}
	p.ICMPType = f[l4+icmpType]
	p.ICMPCode = f[l4+icmpCode]
	q := l4 + icmpQuoteOff
	if p.Family == 4 {
		if !isICMPv4Error(p.ICMPType) || !parseQuoteV4(f, q, end, p) {
			return KindICMPOther
		}
	} else {
		if !isICMPv6Error(p.ICMPType) || !parseQuoteV6(f, q, end, p) {
			return KindICMPOther
		}
	}
	return KindICMPError
}

// parseQuoteV4 parses the IPv4 packet quoted at q. The quote must hold the
// whole IP header and the first 8 bytes of a TCP or UDP header; the quoted
// total length may exceed the quote (quotes are truncated), and a non-first
// fragment is refused because it has no ports.
func parseQuoteV4(f []byte, q, end int, p *Packet) bool {
	if end-q < ipv4MinLen {
		return false
	}
	vihl := f[q+ipv4VerIHL]
	ihl := int(vihl&0x0f) << 2
	if vihl>>4 != 4 || ihl < ipv4MinLen || end-q < ihl+minL4QuoteLn {
		return false
	}
	if be16(f[q+ipv4FragOff:])&ipv4FragOffMask != 0 {
		return false
	}
	proto := f[q+ipv4Proto]
	if proto != flow.TCP && proto != flow.UDP {
		return false
	}
	l4 := q + ihl
	p.InnerL3 = q
	p.InnerL4 = l4
	p.Inner.Proto = proto
	setV4Mapped(&p.Inner.Src, f[q+ipv4Src:q+ipv4Src+4])
	setV4Mapped(&p.Inner.Dst, f[q+ipv4Dst:q+ipv4Dst+4])
	p.Inner.SrcPort = be16(f[l4+l4SrcPort:])
	p.Inner.DstPort = be16(f[l4+l4DstPort:])
	return true
}

// parseQuoteV6 parses the IPv6 packet quoted at q, skipping the extension
// headers that are wholly inside the quote. A first fragment is accepted (it
// carries the ports), a later one is not.
func parseQuoteV6(f []byte, q, end int, p *Packet) bool {
	if end-q < ipv6HdrLen || f[q+ipv6VerTCFlow]>>4 != 6 {
		return false
	}
	proto, l4, res := walkIPv6Ext(f, f[q+ipv6NextHdr], q+ipv6HdrLen, end, true)
	if res != extOK || (proto != flow.TCP && proto != flow.UDP) || end-l4 < minL4QuoteLn {
		return false
	}
	p.InnerL3 = q
	p.InnerL4 = l4
	p.Inner.Proto = proto
	p.Inner.Src = [16]byte(f[q+ipv6Src : q+ipv6Src+16])
	p.Inner.Dst = [16]byte(f[q+ipv6Dst : q+ipv6Dst+16])
	p.Inner.SrcPort = be16(f[l4+l4SrcPort:])
	p.Inner.DstPort = be16(f[l4+l4DstPort:])
	return true
}
