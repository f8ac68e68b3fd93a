package encap

import "github.com/xvs-project/xvs/flow"

// Fragments as a director forwards them without reassembly. IPVS sees whole
// datagrams because netfilter defragments first; xvs forwards every fragment
// on its own, so it must tell the fragments of one datagram apart and give
// them all the treatment their first fragment got:
//
//   - the first fragment (offset 0) carries the TCP/UDP header: it is looked
//     up and scheduled like a whole packet, and NAT updates its transport
//     checksum (which covers the whole datagram, so the incremental update is
//     still exact) together with the address and port;
//   - every later fragment carries payload only: it gets the same address
//     rewrite, and on IPv4 the header-checksum update that goes with it
//     (IPv6 has no header checksum).
//
// A datagram is named by (source, destination, protocol, identification):
// RFC 791 section 3.2 for IPv4 (16-bit ID), RFC 8200 section 4.5 for IPv6
// (32-bit ID in the Fragment header, whose Next Header is the same in every
// fragment of a datagram).

// FragClass says what ParseFragment found.
type FragClass uint8

// Fragment classes.
const (
	// FragBad: the packet is not a fragment Parse accepted.
	FragBad FragClass = iota
	// FragFirst: the first fragment of a TCP or UDP datagram with its whole
	// transport header. ParseFragment promoted the packet to KindTCP or
	// KindUDP: ports, flags, Proto and L4 are set and DNAT/SNAT apply.
	FragFirst
	// FragLater: a fragment with a non-zero offset; no transport header.
	FragLater
	// FragShortFirst: a first fragment of TCP or UDP too short to hold the
	// transport header (RFC 1858's tiny fragment); it cannot be matched.
	FragShortFirst
	// FragOtherFirst: the first fragment of a datagram that is not TCP or
	// UDP (ICMP echo, ...), or an IPv6 one whose headers do not end in
	// TCP/UDP within the fragment.
	FragOtherFirst
)

// Frag identifies one fragment and its datagram.
type Frag struct {
	// ID is the IPv4 identification (16 bits) or the IPv6 fragment
	// identification.
	ID uint32
	// Proto is the IPv4 protocol, or the Next Header of the IPv6 Fragment
	// header: the same in every fragment of the datagram.
	Proto uint8
	// Offset is where this fragment's payload starts in the datagram, bytes.
	Offset int
	// Len is this fragment's payload length (after the Fragment header for
	// IPv6), bytes.
	Len int
	// More is the MF flag (IPv4) or the M flag (IPv6): false on the last.
	More bool
}

// ParseFragment fills fr from p, a packet Parse classified as KindFragment,
// and classifies it. For FragFirst it promotes p to a TCP or UDP packet: its
// Kind becomes KindTCP or KindUDP, ports and TCP flags are set, and for IPv6
// Proto and L4 move past any extension header that follows the Fragment
// header; IPLen stays the fragment's. It reads only inside the IP packet
// and does not allocate.
func ParseFragment(p *Packet, fr *Frag) FragClass {
	*fr = Frag{}
	if p.kind != KindFragment {
		return FragBad
	}
	f := p.Frame
	end := p.L3 + p.IPLen
	if p.Family == 4 {
		h := f[p.L3:]
		fo := be16(h[ipv4FragOff:])
		fr.ID = uint32(be16(h[ipv4ID:]))
		fr.Proto = p.Proto
		fr.Offset = int(fo&ipv4FragOffMask) << fragUnitShift
		fr.More = fo&ipv4FlagMF != 0
	} else {
		// Parse left L4 just past the Fragment header.
		fh := p.L4 - extFragHdrLen
		if fh < p.L3+ipv6HdrLen {
			return FragBad
		}
		fo := be16(f[fh+extFragOff:])
		fr.ID = be32(f[fh+4:])
		fr.Proto = f[fh+extNextHdr]
		fr.Offset = int(fo & extFragOffMask)
		fr.More = fo&extFragMoreMask != 0
	}
	fr.Len = end - p.L4
	if fr.Offset != 0 {
		return FragLater
	}
	proto, l4 := fr.Proto, p.L4
	if p.Family == 6 {
		var res extResult
		proto, l4, res = walkIPv6Ext(f, proto, l4, end, true)
		if res != extOK {
			return FragOtherFirst
		}
	}
	switch proto {
	case flow.TCP:
		// The flags and the checksum must be there; a data offset below 5
		// is malformed in a whole packet too.
		if end-l4 < tcpMinLen || f[l4+tcpDataOff]>>4 < 5 {
			return FragShortFirst
		}
		p.TCPFlags = f[l4+tcpFlags]
		p.kind = KindTCP
	case flow.UDP:
		if end-l4 < udpHdrLen {
			return FragShortFirst
		}
		p.kind = KindUDP
	default:
		return FragOtherFirst
	}
	p.Proto, p.L4 = proto, l4
	p.SrcPort = be16(f[l4+l4SrcPort:])
	p.DstPort = be16(f[l4+l4DstPort:])
	return FragFirst
}

// IsFragment reports whether p's IP packet is a fragment of a larger
// datagram: true for KindFragment and for a first fragment ParseFragment
// promoted to KindTCP/KindUDP, whose transport checksum covers more than
// this frame (a full checksum recompute over the frame would corrupt it).
func IsFragment(p *Packet) bool {
	if !p.kind.isIP() {
		return false
	}
	if p.kind == KindFragment {
		return true
	}
	f := p.Frame
	if p.Family == 4 {
		return be16(f[p.L3+ipv4FragOff:])&(ipv4FlagMF|ipv4FragOffMask) != 0
	}
	// Walk the extension headers Parse skipped, up to L4.
	nh, off := f[p.L3+ipv6NextHdr], p.L3+ipv6HdrLen
	for off < p.L4 {
		switch nh {
		case flow.Fragment:
			return be16(f[off+extFragOff:])&(extFragOffMask|extFragMoreMask) != 0
		case flow.HopByHop, flow.DstOpts, flow.Routing:
			nh = f[off+extNextHdr]
			off += (int(f[off+extLen]) + 1) << 3
		default:
			return false
		}
	}
	return false
}

// FragmentSetDst sets the destination address of a fragment that carries no
// transport header (FragLater): the address rewrite DNAT gave its first
// fragment. The IPv4 header checksum is updated; there is nothing else to
// keep valid. It does nothing for other kinds.
func FragmentSetDst(p *Packet, addr [16]byte) {
	if p.kind != KindFragment {
		return
	}
	if p.Family == 4 {
		fragSetAddr(p, ipv4Dst, &addr)
		setV4Mapped(&p.Dst, addr[12:])
		return
	}
	copy(p.Frame[p.L3+ipv6Dst:], addr[:])
	p.Dst = addr
}

// FragmentSetSrc sets the source address of a later fragment, the rewrite
// SNAT gave its first fragment (a NAT reply). As FragmentSetDst otherwise.
func FragmentSetSrc(p *Packet, addr [16]byte) {
	if p.kind != KindFragment {
		return
	}
	if p.Family == 4 {
		fragSetAddr(p, ipv4Src, &addr)
		setV4Mapped(&p.Src, addr[12:])
		return
	}
	copy(p.Frame[p.L3+ipv6Src:], addr[:])
	p.Src = addr
}

// fragSetAddr writes an IPv4 address at L3+off and fixes the header checksum.
func fragSetAddr(p *Packet, off int, a *[16]byte) {
	if d, changed := rewriteAddr(p.Frame, p.L3+off, 4, a); changed {
		fixCsum(p.Frame, p.L3+ipv4Csum, d)
	}
}
