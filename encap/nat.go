package encap

// NAT rewrites. Every function here updates the checksums it affects
// incrementally and keeps the Packet fields in step with the frame, so
// rewrites can be chained (DNAT then DecTTL then PushTunnel) without parsing
// again.

// DNAT sets the destination address and port of a TCP or UDP packet (the NAT
// request path: VIP:vport becomes real:rport). For IPv4 only addr[12:16] is
// used. The IPv4 header checksum and the TCP/UDP checksum (pseudo-header and
// port) are updated incrementally; a UDP checksum of 0 ("none" over IPv4, or
// zero-checksum tunnel traffic over IPv6, RFC 6936) stays 0, and an updated
// UDP checksum that computes to 0 is written as 0xffff. It does nothing for
// other kinds: fragments must be reassembled first (IPVS needs defrag too).
func DNAT(p *Packet, addr [16]byte, port uint16) {
	if p.kind != KindTCP && p.kind != KindUDP {
		return
	}
	if p.Family == 4 {
		natRewrite(p, ipv4Dst, l4DstPort, &addr, port)
		setV4Mapped(&p.Dst, addr[12:])
	} else {
		natRewrite(p, ipv6Dst, l4DstPort, &addr, port)
		p.Dst = addr
	}
	p.DstPort = port
}

// SNAT sets the source address and port of a TCP or UDP packet (the NAT
// reply path: real:rport becomes VIP:vport). Checksums as for DNAT.
func SNAT(p *Packet, addr [16]byte, port uint16) {
	if p.kind != KindTCP && p.kind != KindUDP {
		return
	}
	if p.Family == 4 {
		natRewrite(p, ipv4Src, l4SrcPort, &addr, port)
		setV4Mapped(&p.Src, addr[12:])
	} else {
		natRewrite(p, ipv6Src, l4SrcPort, &addr, port)
		p.Src = addr
	}
	p.SrcPort = port
}

// natRewrite writes an address at L3+addrOff and a port at L4+portOff and
// fixes the IPv4 header checksum and the transport checksum.
func natRewrite(p *Packet, addrOff, portOff int, a *[16]byte, port uint16) {
	f := p.Frame
	var d uint64
	changed := false
	if p.Family == 4 {
		// The common case, kept free of calls: 4-byte address, header checksum.
		ao := p.L3 + addrOff
		old, nw := be32(f[ao:]), be32(a[12:])
		if old != nw {
			put32(f[ao:], nw)
			d = delta32(old, nw)
			fixCsum(f, p.L3+ipv4Csum, d)
			changed = true
		}
	} else {
		d, changed = rewriteAddr(f, p.L3+addrOff, 6, a)
	}
	po := p.L4 + portOff
	if old := be16(f[po:]); old != port {
		d += delta16(old, port)
		put16(f[po:], port)
		changed = true
	}
	if !changed {
		return
	}
	if p.kind == KindTCP {
		fixCsum(f, p.L4+tcpCsum, d)
		return
	}
	c := p.L4 + udpCsum
	old := be16(f[c:])
	if old == 0 {
		return // no checksum: nothing to keep valid
	}
	n := csumAdjust(old, d)
	if n == 0 {
		n = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	put16(f[c:], n)
}

// rewriteAddr writes the address a (4 bytes for IPv4 from a[12:], 16 for
// IPv6) at f[off:] and returns the checksum delta; changed is false, and
// nothing is written, when the address is already a.
func rewriteAddr(f []byte, off int, family uint8, a *[16]byte) (delta uint64, changed bool) {
	if family == 4 {
		old, nw := be32(f[off:]), be32(a[12:])
		if old == nw {
			return 0, false
		}
		put32(f[off:], nw)
		return delta32(old, nw), true
	}
	b := f[off : off+16]
	if [16]byte(b) == *a {
		return 0, false
	}
	for i := 0; i < 16; i += 4 {
		delta += delta32(be32(b[i:]), be32(a[i:]))
	}
	copy(b, a[:])
	return delta, true
}

// fixCsum applies delta to the 16-bit checksum field at f[off:].
func fixCsum(f []byte, off int, delta uint64) {
	put16(f[off:], csumAdjust(be16(f[off:]), delta))
}

// DecTTL decrements the IPv4 TTL (updating the header checksum) or the IPv6
// hop limit. It changes nothing and returns false when the TTL is 0 or 1 (the
// packet must not be forwarded; the kernel would answer time-exceeded) or the
// packet is not IP.
func DecTTL(p *Packet) bool {
	if !p.kind.isIP() {
		return false
	}
	f := p.Frame
	if p.Family == 4 {
		o := p.L3 + ipv4TTL
		ttl := f[o]
		if ttl <= 1 {
			return false
		}
		f[o] = ttl - 1
		// TTL is the high byte of the 16-bit word (TTL, protocol).
		fixCsum(f, p.L3+ipv4Csum, delta16(uint16(ttl)<<8, uint16(ttl-1)<<8))
		p.TTL = ttl - 1
		return true
	}
	o := p.L3 + ipv6HopLimit
	if f[o] <= 1 {
		return false
	}
	f[o]--
	p.TTL = f[o]
	return true
}
