package encap

// ICMP error translation for NAT, the userspace twin of the kernel's
// ip_vs_nat_icmp / ip_vs_nat_icmp_v6. An error about a NATed flow quotes the
// packet as it was on the side where the error arose; NAT has to rewrite the
// quote the same way it rewrote the flow so the endpoint can match the error
// to its socket.
//
// Checksums: the outer IPv4 header checksum, the quoted IPv4 header checksum
// and the ICMP checksum (for ICMPv6 including the pseudo-header, which
// contains the outer addresses) are updated incrementally. The quoted TCP/UDP
// checksum is left as it was, exactly as the kernel leaves it: the quote is
// usually truncated, so that checksum cannot be verified by anyone, and
// endpoints ignore it when they match an error to a socket. The kernel
// recomputes the ICMP checksum over the message; the incremental update gives
// the same bytes.

// ICMPErrorToReal translates an inbound error (from or through the client
// side, about a reply that SNAT turned into VIP -> client): the outer
// destination, the quoted source address and the quoted source port become
// the real server's. It does nothing unless p is KindICMPError. For IPv4 only
// realAddr[12:16] is used. The Packet's Dst, Inner.Src and Inner.SrcPort follow.
func ICMPErrorToReal(p *Packet, realAddr [16]byte, realPort uint16) {
	if p.kind != KindICMPError {
		return
	}
	if p.Family == 4 {
		icmpNAT(p, ipv4Dst, ipv4Src, l4SrcPort, &realAddr, realPort)
		setV4Mapped(&realAddr, realAddr[12:])
	} else {
		icmpNAT(p, ipv6Dst, ipv6Src, l4SrcPort, &realAddr, realPort)
	}
	p.Dst = realAddr
	p.Inner.Src = realAddr
	p.Inner.SrcPort = realPort
}

// ICMPErrorFromReal translates an outbound error (from or through the real
// server side, about a request that DNAT turned into client -> real): the
// outer source, the quoted destination address and the quoted destination
// port become the virtual service's. It does nothing unless p is
// KindICMPError. For IPv4 only vip[12:16] is used. The Packet's Src, Inner.Dst
// and Inner.DstPort follow.
func ICMPErrorFromReal(p *Packet, vip [16]byte, vport uint16) {
	if p.kind != KindICMPError {
		return
	}
	if p.Family == 4 {
		icmpNAT(p, ipv4Src, ipv4Dst, l4DstPort, &vip, vport)
		setV4Mapped(&vip, vip[12:])
	} else {
		icmpNAT(p, ipv6Src, ipv6Dst, l4DstPort, &vip, vport)
	}
	p.Src = vip
	p.Inner.Dst = vip
	p.Inner.DstPort = vport
}

// icmpNAT writes a at the outer header's outerOff and the quoted header's
// innerOff, port at the quoted transport header's portOff, and fixes the
// checksums. Every changed word is at an even offset from the start of the
// ICMP message (the quote starts at +8, IPv4 headers and IPv6 extension
// headers are multiples of 4 and 8 bytes), so 16-bit deltas apply directly.
func icmpNAT(p *Packet, outerOff, innerOff, portOff int, a *[16]byte, port uint16) {
	f := p.Frame
	var d uint64 // delta for the ICMP checksum
	changed := false

	if od, ok := rewriteAddr(f, p.L3+outerOff, p.Family, a); ok {
		if p.Family == 4 {
			fixCsum(f, p.L3+ipv4Csum, od)
		} else {
			d += od // ICMPv6: the outer addresses are in the pseudo-header
			changed = true
		}
	}
	if id, ok := rewriteAddr(f, p.InnerL3+innerOff, p.Family, a); ok {
		d += id
		changed = true
		if p.Family == 4 {
			// The quoted header checksum is part of the ICMP message too.
			c := p.InnerL3 + ipv4Csum
			old := be16(f[c:])
			nw := csumAdjust(old, id)
			put16(f[c:], nw)
			d += delta16(old, nw)
		}
	}
	if po := p.InnerL4 + portOff; be16(f[po:]) != port {
		d += delta16(be16(f[po:]), port)
		put16(f[po:], port)
		changed = true
	}
	if changed {
		fixCsum(f, p.L4+icmpCsum, d)
	}
}
