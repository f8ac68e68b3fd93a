package encap

import "github.com/xvs-project/xvs/flow"

// TUN forwarding: IPIP (IPv4 in IPv4, protocol 4, RFC 2003) and IPv6 in IPv6
// (next header 41, RFC 2473), pushed in place. The frame sits at a headroom
// offset in its buffer; the L2 header (with its VLAN tags) moves hdrLen bytes
// towards the start and the outer header is written between it and the
// untouched inner packet:
//
//	before:              [ headroom ........ ][ L2 ][ inner IP packet ][pad]
//	                                         ^off
//	after:   [ headroom ][ L2 ][ outer IP hdr ][ inner IP packet ]
//	                     ^newOff = off - hdrLen
//
// Any Ethernet padding after the inner IP packet is dropped from the new
// frame (newN covers L2 + outer + inner exactly). The EtherType is unchanged
// because the outer family equals the inner one.

// TunnelOverhead returns the bytes PushTunnel adds for a packet of the given
// family through tunnel t: the outer header, 20 (IPv4) or 40 (IPv6), plus 12
// for GUE (UDP + GUE) or 4 for GRE (8 with its checksum); 0 for a family
// that is neither or an unknown tunnel type.
func TunnelOverhead(family uint8, t Tunnel) int {
	th := t.headerLen()
	if th < 0 {
		return 0
	}
	switch family {
	case 4:
		return ipv4MinLen + th
	case 6:
		return ipv6HdrLen + th
	}
	return 0
}

// PushTunnel encapsulates the IP packet of the frame buf[off:off+n], which p
// was parsed from, through tunnel t in an outer header from src to dst, in
// place. The outer header copies the inner TTL/hop limit and TOS/traffic
// class (ECN included, as IPVS does), the IPv4 DF bit, and the IPv6 flow
// label; the IPv4 ID is id (keep a counter per worker) and its header
// checksum is computed. GUE and GRE headers follow the outer header as in
// tunnel_types.go, with their checksum computed over the inner packet when
// t.Csum is set. It needs off >= TunnelOverhead(p.Family, t) and returns the
// new frame's offset and length. ok is false, and buf is untouched, when p is
// not an IP kind, t is of an unknown type, the headroom is short, the outer
// length would not fit 16 bits, or src/dst are not of the packet's family
// (v4-mapped for IPv4, not v4-mapped for IPv6). Only buf[off-overhead :
// off+L3] is written. Afterwards p.Frame is the new frame, so SetMACs still
// applies to p, and p.L3 is the outer header's offset; the other fields
// describe the inner packet as it was parsed, so the other rewrites must not
// be given p: parse the new frame for those.
func PushTunnel(buf []byte, off, n int, p *Packet, t Tunnel, src, dst [16]byte, id uint16) (newOff, newN int, ok bool) {
	if !p.kind.isIP() {
		return 0, 0, false
	}
	h := TunnelOverhead(p.Family, t)
	th := t.headerLen()
	l3, ipLen := p.L3, p.IPLen
	if h == 0 || off < h || n < 0 || off > len(buf) || n > len(buf)-off ||
		l3 < ethHdrLen || l3 > maxL2HeaderLen || ipLen < h-th || ipLen > n-l3 {
		return 0, 0, false
	}
	// The outer length field: IPv4 total length counts the outer header,
	// IPv6 payload length does not (but counts the tunnel header).
	if (p.Family == 4 && ipLen+h > ipv4MaxLen) || ipLen+th > ipv4MaxLen {
		return 0, 0, false
	}
	inner := buf[off+l3 : off+l3+ipLen]
	innerProto := uint8(flow.IPIP)
	if p.Family == 4 {
		if !flow.IsV4Mapped(&src) || !flow.IsV4Mapped(&dst) || inner[ipv4VerIHL]>>4 != 4 {
			return 0, 0, false
		}
	} else if flow.IsV4Mapped(&src) || flow.IsV4Mapped(&dst) || inner[ipv6VerTCFlow]>>4 != 6 {
		return 0, 0, false
	} else {
		innerProto = flow.IPv6
	}

	newOff = off - h
	copy(buf[newOff:newOff+l3], buf[off:off+l3]) // memmove: the ranges may overlap
	o := buf[newOff+l3 : off+l3]
	if p.Family == 4 {
		// Written as 16/32-bit words and checksummed from the values, not
		// read back from memory (that would stall on store forwarding).
		verTOS := uint16(4<<4|ipv4MinLen>>2)<<8 | uint16(inner[ipv4TOS])
		total := uint16(h + ipLen)
		df := be16(inner[ipv4FragOff:]) & ipv4FlagDF
		ttlProto := uint16(inner[ipv4TTL])<<8 | uint16(t.outerProto(innerProto))
		s4, d4 := be32(src[12:]), be32(dst[12:])
		put16(o[ipv4VerIHL:], verTOS)
		put16(o[ipv4TotalLen:], total)
		put16(o[ipv4ID:], id)
		put16(o[ipv4FragOff:], df)
		put16(o[ipv4TTL:], ttlProto)
		put32(o[ipv4Src:], s4)
		put32(o[ipv4Dst:], d4)
		sum := uint64(verTOS) + uint64(total) + uint64(id) + uint64(df) + uint64(ttlProto) + uint64(s4) + uint64(d4)
		put16(o[ipv4Csum:], ^csumFold(sum))
		if th > 0 {
			t.writeTunnelHeader(o[ipv4MinLen:], inner, innerProto, p, src[12:], dst[12:])
		}
	} else {
		copy(o[ipv6VerTCFlow:ipv6PayLen], inner[ipv6VerTCFlow:ipv6PayLen]) // version, traffic class, flow label
		put16(o[ipv6PayLen:], uint16(th+ipLen))
		o[ipv6NextHdr] = t.outerProto(innerProto)
		o[ipv6HopLimit] = inner[ipv6HopLimit]
		copy(o[ipv6Src:ipv6Src+16], src[:])
		copy(o[ipv6Dst:ipv6Dst+16], dst[:])
		if th > 0 {
			t.writeTunnelHeader(o[ipv6HdrLen:], inner, innerProto, p, src[:], dst[:])
		}
	}
	newN = l3 + h + ipLen
	p.Frame = buf[newOff : newOff+newN]
	return newOff, newN, true
}

// PopTunnel strips an outer IPv4 (protocol 4 or 41) or IPv6 (next header 4 or
// 41, after any hop-by-hop / destination options headers, e.g. the tunnel
// encapsulation limit option ip6_tunnel adds) header from the frame
// buf[off:off+n], in place: the L2 header moves forward over the outer header
// and, if the inner family differs, its EtherType is rewritten. It also
// strips GRE (protocol 47: version 0, no flags but C, protocol type 0x0800 or
// 0x86DD) and, when guePort is not 0, GUE (UDP to guePort: version 0, no
// control message, no options or flags, protocol 4 or 41) with the outer
// header. It returns the inner frame's offset and length (trailing padding
// dropped). ok is false, and buf is untouched, unless the outer header is a
// valid, unfragmented tunnel header carrying a whole inner IP header whose
// length fits inside the outer packet. No checksum is verified.
func PopTunnel(buf []byte, off, n int, guePort uint16) (newOff, newN int, ok bool) {
	if off < 0 || n < 0 || off > len(buf) || n > len(buf)-off {
		return 0, 0, false
	}
	f := buf[off : off+n]
	l3, et, _, ok := parseL2(f)
	if !ok {
		return 0, 0, false
	}
	var hdr, end int
	var proto uint8
	switch et {
	case etherTypeIPv4:
		var q Packet
		l4, e, frag, ok := parseIPv4(f, l3, &q)
		if !ok || frag {
			return 0, 0, false
		}
		hdr, end, proto = l4-l3, e, q.Proto
	case etherTypeIPv6:
		var q Packet
		next, e, ok := parseIPv6(f, l3, &q)
		if !ok {
			return 0, 0, false
		}
		nh, l4, res := walkIPv6Ext(f, q.Proto, next, e, false)
		if res != extOK {
			return 0, 0, false
		}
		hdr, end, proto = l4-l3, e, nh
	default:
		return 0, 0, false
	}
	th, proto, ok := tunnelHeader(f[l3+hdr:end], proto, guePort)
	if !ok {
		return 0, 0, false
	}
	hdr += th

	inner := f[l3+hdr : end]
	var innerLen int
	var innerType uint16
	switch proto {
	case flow.IPIP:
		if len(inner) < ipv4MinLen || inner[ipv4VerIHL]>>4 != 4 {
			return 0, 0, false
		}
		innerLen, innerType = int(be16(inner[ipv4TotalLen:])), etherTypeIPv4
		if innerLen < int(inner[ipv4VerIHL]&0x0f)<<2 || innerLen < ipv4MinLen {
			return 0, 0, false
		}
	case flow.IPv6:
		if len(inner) < ipv6HdrLen || inner[ipv6VerTCFlow]>>4 != 6 {
			return 0, 0, false
		}
		innerLen, innerType = ipv6HdrLen+int(be16(inner[ipv6PayLen:])), etherTypeIPv6
	default:
		return 0, 0, false
	}
	if innerLen > len(inner) {
		return 0, 0, false
	}

	newOff = off + hdr
	copy(buf[newOff:newOff+l3], buf[off:off+l3]) // memmove: the ranges may overlap
	put16(buf[newOff+l3-etherTypeOffset:], innerType)
	return newOff, l3 + innerLen, true
}

// NeedsTooBig reports whether a packet about to be tunnelled through a link
// of the given MTU must be answered with TooBig instead (ip_vs_tunnel_xmit):
// its IP length plus the tunnel overhead exceeds mtu, and it is IPv6 (routers
// never fragment IPv6) or IPv4 with DF set. A non-DF IPv4 packet that does
// not fit may be fragmented after encapsulation (FragmentIPv4). The MTU to
// advertise is TooBigMTU(p.Family, t, mtu).
func NeedsTooBig(p *Packet, t Tunnel, mtu int) bool {
	return p.kind.isIP() && p.IPLen+TunnelOverhead(p.Family, t) > mtu && (p.Family == 6 || p.DF)
}

// TooBigMTU is the MTU a TooBig answer advertises for a tunnel over a link of
// the given MTU: the link MTU less the outer and tunnel headers, as IPVS
// computes it (e.g. 1500 - 20 - 12 = 1468 for GUE over IPv4).
// IPv6 never advertises less than its minimum MTU of 1280 (RFC 8201: a node
// receiving a smaller value would clamp it anyway).
func TooBigMTU(family uint8, t Tunnel, linkMTU int) int {
	m := linkMTU - TunnelOverhead(family, t)
	if family == 6 && m < icmpV6MaxSize {
		m = icmpV6MaxSize
	}
	return m
}

// tunnelHeader looks at the payload b of an outer IP header of protocol
// proto and returns the length of the GUE or GRE header at its start (0 for
// IPIP) and the inner packet's encapsulation protocol (4 or 41). ok is false
// for anything that is not a tunnel PopTunnel strips.
func tunnelHeader(b []byte, proto uint8, guePort uint16) (hdr int, inner uint8, ok bool) {
	switch proto {
	case flow.IPIP, flow.IPv6:
		return 0, proto, true
	case flow.UDP:
		if guePort == 0 || len(b) < udpHdrLen+gueHdrLen || be16(b[l4DstPort:]) != guePort ||
			int(be16(b[udpLen:])) < udpHdrLen+gueHdrLen || int(be16(b[udpLen:])) > len(b) {
			return 0, 0, false
		}
		g := b[udpHdrLen:]
		// Byte 0 zero: version 0, not a control message, no option words;
		// no flags (Linux drops GUE with flags it does not know).
		if g[0] != 0 || be16(g[2:]) != 0 || (g[1] != flow.IPIP && g[1] != flow.IPv6) {
			return 0, 0, false
		}
		return udpHdrLen + gueHdrLen, g[1], true
	case flow.GRE:
		if len(b) < greHdrLen {
			return 0, 0, false
		}
		hdr = greHdrLen
		switch be16(b) {
		case 0:
		case greFlagCsum:
			hdr += greCsumLen
		default: // key, sequence, routing, other versions
			return 0, 0, false
		}
		if len(b) < hdr {
			return 0, 0, false
		}
		switch be16(b[2:]) {
		case etherTypeIPv4:
			return hdr, flow.IPIP, true
		case etherTypeIPv6:
			return hdr, flow.IPv6, true
		}
	}
	return 0, 0, false
}
