package encap

import "github.com/xvs-project/xvs/flow"

// Partial checksums.
//
// A sender that leaves the transport checksum to its device (TX checksum
// offload: every veth, virtio and container interface by default) hands the
// frame over with CHECKSUM_PARTIAL: the TCP/UDP checksum field holds only the
// folded, uncomplemented pseudo-header sum, and the device is expected to add
// the segment and complement it. A raw socket (AF_XDP, AF_PACKET) on the
// receiving side sees the frame exactly like that, and a forwarder that sends
// it on as it is delivers a corrupt segment. The kernel's own forwarding
// (IPVS included) keeps the skb's partial state and lets the egress device or
// skb_checksum_help finish it; a userspace forwarder has no such state and
// must recognise the pattern in the bytes.
//
// The test is cheap (the pseudo-header sum is a handful of additions) and
// safe: a frame whose complete, correct checksum happens to equal its
// pseudo-header sum (a 1 in 65 535 chance) is recomputed to the same value.
// Only a corrupt frame whose bad checksum equals its pseudo-header sum would
// be "repaired", with the same odds as any random corruption passing the
// checksum at all.

// CompletePartialChecksum finishes the TCP or UDP checksum of a packet whose
// checksum field holds the pseudo-header sum (see above) and reports whether
// it did. Other packets and kinds are left alone. The NAT rewrites update
// checksums incrementally, so a partial checksum must be completed before
// them: an incremental update of a partial sum stays partial.
func CompletePartialChecksum(p *Packet) bool {
	var field, n int
	var proto uint8
	seg := p.Frame[p.L4 : p.L3+p.IPLen]
	switch p.kind {
	case KindTCP:
		field, n, proto = tcpCsum, len(seg), flow.TCP
	case KindUDP:
		// The kernel's partial sum covers the UDP length, which bounds the
		// datagram; an inconsistent length is not ours to finish.
		n, proto = int(be16(seg[udpLen:])), flow.UDP
		if n < udpHdrLen || n > len(seg) {
			return false
		}
		field = udpCsum
	default:
		return false
	}
	if be16(seg[field:]) != p.pseudoFold(proto, n) || IsFragment(p) {
		// A first fragment (ParseFragment reclassifies it as TCP/UDP) is
		// never partial: the kernel completes checksums before it
		// fragments, and the segment here is not the whole datagram.
		return false
	}
	// The field already holds the pseudo-header sum, so summing the segment
	// with it in place gives the complete sum.
	c := ^csumFold(csumAdd(seg[:n], 0))
	if c == 0 && proto == flow.UDP {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	put16(seg[field:], c)
	return true
}

// pseudoFold is the folded pseudo-header sum of p's addresses, proto and an
// L4 length of n bytes. It is asked of every TCP and UDP packet, so IPv4's
// sum is written out (two 32-bit words; n is below 64 Ki) instead of going
// through csumAdd's loops.
func (p *Packet) pseudoFold(proto uint8, n int) uint16 {
	if p.Family == 4 {
		ip := p.Frame[p.L3 : p.L3+ipv4Dst+4]
		return csumFold(uint64(be32(ip[ipv4Src:])) + uint64(be32(ip[ipv4Dst:])) + uint64(proto) + uint64(n))
	}
	src, dst := p.addrBytes()
	return csumFold(pseudoSum(src, dst, proto, n))
}

// addrBytes returns the source and destination address bytes as they appear
// in the IP header (4 or 16 bytes), for pseudo-header sums.
func (p *Packet) addrBytes() (src, dst []byte) {
	f := p.Frame
	if p.Family == 4 {
		return f[p.L3+ipv4Src : p.L3+ipv4Src+4], f[p.L3+ipv4Dst : p.L3+ipv4Dst+4]
	}
	return f[p.L3+ipv6Src : p.L3+ipv6Src+16], f[p.L3+ipv6Dst : p.L3+ipv6Dst+16]
}
