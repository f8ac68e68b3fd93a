package encap

// IPv4 header (RFC 791, section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |  0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |  4
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |  8
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          | 12
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        | 16
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    | 20
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags (3 bits, high bits of byte 6): reserved, DF, MF. The header checksum
// covers the header only (IHL*4 bytes).
const (
	ipv4VerIHL   = 0  // version (high nibble), IHL in 32-bit words (low nibble)
	ipv4TOS      = 1  // DSCP + ECN
	ipv4TotalLen = 2  // header + payload, bytes
	ipv4ID       = 4  // identification
	ipv4FragOff  = 6  // flags (3 bits) + fragment offset (13 bits, 8-byte units)
	ipv4TTL      = 8  // time to live; the protocol follows in the same 16-bit word
	ipv4Proto    = 9  // upper-layer protocol
	ipv4Csum     = 10 // header checksum
	ipv4Src      = 12 // source address, 4 bytes
	ipv4Dst      = 16 // destination address, 4 bytes
	ipv4MinLen   = 20 // header without options
	ipv4MaxLen   = 65535

	ipv4FlagDF      = 0x4000 // don't fragment, in the 16-bit word at ipv4FragOff
	ipv4FlagMF      = 0x2000 // more fragments
	ipv4FragOffMask = 0x1fff // fragment offset, 8-byte units
)

// parseIPv4 validates the IPv4 header at l3 and fills the network fields of p.
// It returns the protocol, the offset of the payload, the end of the IP packet
// and whether the packet is a fragment, or ok=false if the header is bad.
func parseIPv4(f []byte, l3 int, p *Packet) (l4, end int, frag, ok bool) {
	if len(f)-l3 < ipv4MinLen {
		return 0, 0, false, false
	}
	h := f[l3:]
	vihl := h[ipv4VerIHL]
	ihl := int(vihl&0x0f) << 2
	total := int(be16(h[ipv4TotalLen:]))
	if vihl>>4 != 4 || ihl < ipv4MinLen || total < ihl || total > len(h) {
		return 0, 0, false, false
	}
	fo := be16(h[ipv4FragOff:])
	p.Family = 4
	p.IPLen = total
	p.TTL = h[ipv4TTL]
	p.Proto = h[ipv4Proto]
	p.DF = fo&ipv4FlagDF != 0
	setV4Mapped(&p.Src, h[ipv4Src:ipv4Src+4])
	setV4Mapped(&p.Dst, h[ipv4Dst:ipv4Dst+4])
	return l3 + ihl, l3 + total, fo&(ipv4FlagMF|ipv4FragOffMask) != 0, true
}
