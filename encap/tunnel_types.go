package encap

import "github.com/xvs-project/xvs/flow"

// Tunnel types beyond IPIP, as IPVS has them (Linux 5.2 GUE, 5.3 GRE):
//
//	GUE (draft-ietf-intarea-gue, variant 0), outer protocol 17:
//	  UDP  | source port = flow hash | destination port = Tunnel.Port |
//	       | length                  | checksum (0 unless Csum)       |
//	  GUE  | ver 0 (2) C 0 (1) hlen 0 (5) | proto 4 or 41 | flags 0 (16) |
//	  inner IP packet
//
//	GRE (RFC 2784, no key, no sequence number), outer protocol 47:
//	  | C (1) reserved0 (12) ver 0 (3) | protocol type 0x0800 / 0x86DD |
//	  | checksum (16)                  | reserved1 (16)                |  only with Csum
//	  inner IP packet
//
// remcsum (GUE remote checksum offload) only changes the frame in the kernel
// when the inner checksum is partial (CHECKSUM_PARTIAL): it then adds the
// private-flags option that tells the receiver where to finish the inner
// checksum. xvs forwards full inner checksums, so, like the kernel for such
// packets, it adds no option; remcsum frames carry the UDP checksum as csum
// ones do (the kernel sets it for both).

// TunnelType is the encapsulation of a TUN real server; the values are IPVS's
// (IP_VS_CONN_F_TUNNEL_TYPE_*, the netlink IPVS_DEST_ATTR_TUN_TYPE).
type TunnelType uint8

// Tunnel types.
const (
	TunnelIPIP TunnelType = 0 // IPv4-in-IPv4 / IPv6-in-IPv6 (protocol 4 / 41)
	TunnelGUE  TunnelType = 1 // UDP + 4-byte GUE header (protocol 17)
	TunnelGRE  TunnelType = 2 // GRE (protocol 47)
)

// Tunnel says how PushTunnel encapsulates: the zero value is IPIP.
type Tunnel struct {
	Type TunnelType
	// Port is the GUE destination port (unused for IPIP and GRE).
	Port uint16
	// Csum asks for the UDP checksum (GUE) or the GRE checksum; without it
	// the UDP checksum is 0 (also over IPv6, as IPVS sends it) and GRE has
	// no checksum field.
	Csum bool
}

// Header sizes and fields of the tunnel headers.
const (
	gueHdrLen   = 4
	greHdrLen   = 4
	greCsumLen  = 4 // checksum (16) + reserved1 (16)
	greFlagCsum = 0x8000
	guePortMin  = 32768 // Linux's default ip_local_port_range, the range
	guePortMax  = 60999 // udp_flow_src_port picks a GUE source port from
)

// String returns ipvsadm's name of the type: ipip, gue or gre.
func (t TunnelType) String() string {
	switch t {
	case TunnelIPIP:
		return "ipip"
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return "unknown"
}

// headerLen is the tunnel header after the outer IP header: 0 (IPIP), 12
// (UDP + GUE), 4 or 8 (GRE without / with checksum); -1 for an unknown type.
func (t Tunnel) headerLen() int {
	switch t.Type {
	case TunnelIPIP:
		return 0
	case TunnelGUE:
		return udpHdrLen + gueHdrLen
	case TunnelGRE:
		if t.Csum {
			return greHdrLen + greCsumLen
		}
		return greHdrLen
	}
	return -1
}

// outerProto is the outer IP protocol for an inner packet whose own
// encapsulation protocol is inner (4 or 41).
func (t Tunnel) outerProto(inner uint8) uint8 {
	switch t.Type {
	case TunnelGUE:
		return flow.UDP
	case TunnelGRE:
		return flow.GRE
	}
	return inner
}

// flowPort maps p's flow to a UDP source port in [guePortMin, guePortMax) the
// way udp_flow_src_port does from the skb hash: (hash ^ hash<<16) scaled into
// the range, so one flow keeps one port and flows spread over the range
// (receivers hash the outer UDP ports for RSS). The hash is ours, not the
// kernel's flow-dissector jhash: only its stability and spread matter.
func flowPort(p *Packet) uint16 {
	h := uint32(p.Proto)*0x9e3779b1 ^ uint32(p.SrcPort)<<16 ^ uint32(p.DstPort)
	for i := 0; i < 16; i += 4 {
		h = (h ^ be32(p.Src[i:])) * 0x85ebca6b
		h = (h ^ be32(p.Dst[i:])) * 0xc2b2ae35
		h ^= h >> 15
	}
	h ^= h >> 13
	h *= 0x27d4eb2d
	h ^= h >> 16
	h ^= h << 16
	return uint16(uint64(h)*(guePortMax-guePortMin)>>32) + guePortMin
}

// writeTunnelHeader writes the GUE or GRE header into th, right after the
// outer IP header, for the inner packet inner (of encapsulation protocol
// innerProto, 4 or 41). src and dst are the outer addresses as in the outer
// header (4 or 16 bytes), for the UDP pseudo-header.
func (t Tunnel) writeTunnelHeader(th, inner []byte, innerProto uint8, p *Packet, src, dst []byte) {
	switch t.Type {
	case TunnelGUE:
		ulen := udpHdrLen + gueHdrLen + len(inner)
		put16(th[l4SrcPort:], flowPort(p))
		put16(th[l4DstPort:], t.Port)
		put16(th[udpLen:], uint16(ulen))
		put16(th[udpCsum:], 0)
		put32(th[udpHdrLen:], uint32(innerProto)<<16) // ver 0, C 0, hlen 0, proto, flags 0
		if t.Csum {
			s := pseudoSum(src, dst, flow.UDP, ulen)
			s = csumAdd(th[:udpHdrLen+gueHdrLen], s)
			c := ^csumFold(csumAdd(inner, s))
			if c == 0 {
				c = 0xffff // RFC 768: 0 means "no checksum"
			}
			put16(th[udpCsum:], c)
		}
	case TunnelGRE:
		et := uint16(etherTypeIPv4)
		if innerProto == flow.IPv6 {
			et = etherTypeIPv6
		}
		if !t.Csum {
			put32(th, uint32(et))
			return
		}
		put32(th, greFlagCsum<<16|uint32(et))
		put32(th[greHdrLen:], 0)
		s := uint64(greFlagCsum) + uint64(et) // the header words, checksum field 0
		put16(th[greHdrLen:], ^csumFold(csumAdd(inner, s)))
	}
}
