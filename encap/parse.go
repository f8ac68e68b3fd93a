package encap

import "github.com/xvs-project/xvs/flow"

// Packet is a parsed, zero-copy view of one frame. A worker keeps one per
// queue and passes it to Parse for every frame; the view is valid until the
// frame's bytes change other than through this package's rewrites, which keep
// the fields they change (addresses, ports, TTL) in step with the frame.
//
// Which fields are meaningful depends on the Kind Parse returned: the network
// fields (Family, Proto, TTL, DF, Src, Dst, IPLen, L4) for every IP kind;
// ports and TCPFlags for KindTCP and KindUDP; ICMPType and ICMPCode for both
// ICMP kinds; InnerL3, InnerL4 and Inner for KindICMPError only. Parse zeroes the rest.
//
// The rewrites act only on a Packet filled by Parse (they check the Kind it
// recorded; a hand-built Packet is KindMalformed to them) and trust its
// offsets: do not change Frame or the offsets in between.
type Packet struct {
	// Frame is the whole frame, Ethernet header first.
	Frame []byte
	// L3 is the offset of the IP header: 14, 18 with one VLAN tag, 22 with
	// two. L4 is the offset of the header after the IPv4 header or after the
	// last IPv6 extension header skipped (for KindFragment: of the fragment's
	// payload).
	L3, L4 int
	// VLAN is set when one or two 802.1Q/802.1ad tags were present.
	VLAN bool
	// Family is 4 or 6 for IP kinds, 0 otherwise.
	Family uint8
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// DF is the IPv4 don't-fragment bit; always true for IPv6.
	DF bool
	// Tuple is the flow: Src and Dst are the IP addresses, IPv4 stored
	// v4-mapped; SrcPort and DstPort the TCP/UDP ports in host order;
	// Proto the upper-layer protocol after IPv6 extension headers (for
	// KindOtherL4 with a routing header that has segments left: 43). The
	// forwarder hands it to conntrack and sched as it is.
	flow.Tuple
	// TCPFlags is byte 13 of the TCP header (flow.TCPFin ... flow.TCPCwr).
	TCPFlags uint8
	// IPLen is the IP packet's length (header + payload) from its length
	// field; the frame may be longer (Ethernet padding).
	IPLen int

	// ICMPType and ICMPCode are the ICMP/ICMPv6 type and code.
	ICMPType, ICMPCode uint8
	// InnerL3 and InnerL4 are the offsets, in Frame, of the quoted IP header
	// and of its TCP/UDP header.
	InnerL3, InnerL4 int
	// Inner is the quoted packet's tuple as found in the error (for an
	// error about a reply: from the VIP to the client); its protocol is TCP
	// or UDP.
	Inner flow.Tuple

	kind Kind // what Parse returned; the rewrites check it
}

// Kind returns the classification of the last Parse into p.
func (p *Packet) Kind() Kind { return p.kind }

// Parse classifies frame and fills p with a zero-copy view of it. It never
// panics, never reads outside frame and does not allocate; p.Frame aliases
// frame.
//
// Validation: the Ethernet header and up to two VLAN tags must be present;
// the IP version must match the EtherType; the IPv4 IHL must be >= 5 and the
// IPv4 total length (or IPv6 40 + payload length) must lie within the frame
// and cover the header. Bytes after the IP packet are Ethernet padding and are
// ignored: IPLen is authoritative. IPv6 hop-by-hop, routing and destination
// options headers are skipped; each must lie within the IP packet. An IPv6
// jumbogram (payload length 0 with a jumbo option) is malformed.
//
// Fragments: IPv4 with MF set or a non-zero offset, and IPv6 with a Fragment
// header, are KindFragment and carry no ports — except an IPv6 atomic
// fragment (offset 0, M=0; RFC 6946), which is a whole packet: its Fragment
// header is skipped like any other extension header and the packet is
// classified by what follows.
//
// A TCP header must be 20 bytes or more (data offset >= 5) and lie within the
// IP packet; a UDP header needs its 8 bytes (the UDP length field is not
// checked); an ICMP message needs 8 bytes. Checksums are not verified (see
// VerifyChecksums). What the kernel would still drop in a readable packet —
// a bad IPv4 header checksum or options, a UDP length that contradicts the
// IP length, martian addresses — is Check's to say, so a caller that does
// not forward can skip that cost.
func Parse(frame []byte, p *Packet) Kind {
	*p = Packet{Frame: frame}
	k := parse(frame, p)
	p.kind = k
	return k
}

func parse(f []byte, p *Packet) Kind {
	l3, et, vlan, ok := parseL2(f)
	if !ok {
		return KindMalformed
	}
	p.L3 = l3
	p.VLAN = vlan
	switch et {
	case etherTypeIPv4:
		l4, end, frag, ok := parseIPv4(f, l3, p)
		if !ok {
			return KindMalformed
		}
		p.L4 = l4
		if frag {
			return KindFragment
		}
		return parseTransport(f, l4, end, p)
	case etherTypeIPv6:
		next, end, ok := parseIPv6(f, l3, p)
		if !ok {
			return KindMalformed
		}
		proto, l4, res := walkIPv6Ext(f, p.Proto, next, end, false)
		p.Proto = proto
		p.L4 = l4
		switch res {
		case extBad:
			return KindMalformed
		case extFragment:
			return KindFragment
		case extRouted:
			return KindOtherL4
		}
		return parseTransport(f, l4, end, p)
	}
	return KindNotIP
}
