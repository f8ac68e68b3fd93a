package encap

import "github.com/xvs-project/xvs/flow"

// IPv6 fixed header (RFC 8200, section 3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |  0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |  4
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Source Address (16 bytes)                    |  8
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Destination Address (16 bytes)                 | 24
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Payload Length counts everything after the fixed 40 bytes, extension
// headers included. There is no header checksum; upper-layer checksums cover
// a pseudo-header of both addresses, the upper-layer length and next header
// (RFC 8200, section 8.1).
const (
	ipv6VerTCFlow = 0  // version (4 bits), traffic class (8), flow label (20)
	ipv6PayLen    = 4  // payload length
	ipv6NextHdr   = 6  // next header
	ipv6HopLimit  = 7  // hop limit
	ipv6Src       = 8  // source address, 16 bytes
	ipv6Dst       = 24 // destination address, 16 bytes
	ipv6HdrLen    = 40 // fixed header
)

// IPv6 extension headers skipped by the parser (RFC 8200, section 4). The
// hop-by-hop (0), routing (43) and destination options (60) headers share the
// generic layout; their length is (Hdr Ext Len + 1) * 8 bytes:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |  (routing: Type, Segments Left)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	.                  options / type-specific data                 .
//
// The fragment header (44) is always 8 bytes:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Identification                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	extNextHdr      = 0 // next header, in every extension header
	extLen          = 1 // Hdr Ext Len, 8-byte units not counting the first 8
	extSegLeft      = 3 // routing header: segments left
	extFragOff      = 2 // fragment header: offset (13 bits) << 3 | res (2) | M (1)
	extFragHdrLen   = 8
	extFragOffMask  = 0xfff8
	extFragMoreMask = 0x0001
)

// extResult says how walkIPv6Ext ended.
type extResult uint8

const (
	extOK       extResult = iota // nh, off: the upper-layer header
	extBad                       // an extension header runs past end
	extFragment                  // a fragment header that is not skippable; nh, off: the fragment's payload
	extRouted                    // a routing header with segments left; nh = 43, off: that header
)

// walkIPv6Ext skips IPv6 extension headers starting with next header nh at
// offset off, never reading at or past end. Atomic fragments (offset 0, M=0,
// RFC 6946) are whole packets and are skipped; so is a first fragment (offset
// 0, M=1) when firstFragOK is set, which the ICMP quote parser uses because a
// first fragment still carries the ports. A routing header with segments left
// stops the walk: the destination address is not the final one, so the
// pseudo-header of the transport checksum uses another address and the packet
// is not ours to translate.
//
// Each header advances off by at least 8 bytes, so the loop is bounded by the
// packet length.
func walkIPv6Ext(f []byte, nh uint8, off, end int, firstFragOK bool) (uint8, int, extResult) {
	for {
		switch nh {
		case flow.HopByHop, flow.DstOpts, flow.Routing:
			if end-off < 8 {
				return nh, off, extBad
			}
			n := (int(f[off+extLen]) + 1) << 3
			if end-off < n {
				return nh, off, extBad
			}
			if nh == flow.Routing && f[off+extSegLeft] != 0 {
				return nh, off, extRouted
			}
			nh = f[off+extNextHdr]
			off += n
		case flow.Fragment:
			if end-off < extFragHdrLen {
				return nh, off, extBad
			}
			fo := be16(f[off+extFragOff:])
			nh = f[off+extNextHdr]
			off += extFragHdrLen
			if fo&extFragOffMask != 0 || (fo&extFragMoreMask != 0 && !firstFragOK) {
				return nh, off, extFragment
			}
		default:
			return nh, off, extOK
		}
	}
}

// parseIPv6 validates the IPv6 fixed header at l3 and fills the network fields
// of p. It returns the offset of the first extension or upper-layer header and
// the end of the IP packet, or ok=false.
func parseIPv6(f []byte, l3 int, p *Packet) (next, end int, ok bool) {
	if len(f)-l3 < ipv6HdrLen {
		return 0, 0, false
	}
	h := f[l3:]
	total := ipv6HdrLen + int(be16(h[ipv6PayLen:]))
	if h[ipv6VerTCFlow]>>4 != 6 || total > len(h) {
		return 0, 0, false
	}
	p.Family = 6
	p.IPLen = total
	p.TTL = h[ipv6HopLimit]
	p.Proto = h[ipv6NextHdr]
	p.DF = true
	p.Src = [16]byte(h[ipv6Src : ipv6Src+16])
	p.Dst = [16]byte(h[ipv6Dst : ipv6Dst+16])
	return l3 + ipv6HdrLen, l3 + total, true
}
