package encap

import "github.com/xvs-project/xvs/flow"

// TCP header (RFC 9293, section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |  0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |  4
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |  8
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             | 12
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        | 16
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// UDP header (RFC 768):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |  0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Length             |           Checksum            |  4
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Both checksums cover a pseudo-header (addresses, protocol, upper-layer
// length) plus the segment. A UDP checksum of 0 over IPv4 means "none"; a
// computed 0 is sent as 0xffff, and over IPv6 the checksum is mandatory.
const (
	l4SrcPort    = 0  // TCP and UDP
	l4DstPort    = 2  // TCP and UDP
	tcpDataOff   = 12 // data offset in 32-bit words (high nibble)
	tcpFlags     = 13 // CWR ECE URG ACK PSH RST SYN FIN
	tcpCsum      = 16
	tcpMinLen    = 20
	udpLen       = 4
	udpCsum      = 6
	udpHdrLen    = 8
	l4PortsLen   = 4 // the bytes an ICMP quote must carry to identify a flow
	minL4QuoteLn = 8 // RFC 792: the quote holds at least 64 bits of the datagram
)

// parseTransport fills ports and flags for TCP and UDP and classifies ICMP;
// l4 is the transport header's offset and end the end of the IP packet.
func parseTransport(f []byte, l4, end int, p *Packet) Kind {
	seg := f[l4:end] // bounds-checked once; constant indices below are not
	switch p.Proto {
	case flow.TCP:
		if len(seg) < tcpMinLen {
			return KindMalformed
		}
		doff := int(seg[tcpDataOff]>>4) << 2
		if doff < tcpMinLen || doff > len(seg) {
			return KindMalformed
		}
		p.SrcPort = be16(seg[l4SrcPort:])
		p.DstPort = be16(seg[l4DstPort:])
		p.TCPFlags = seg[tcpFlags]
		return KindTCP
	case flow.UDP:
		if len(seg) < udpHdrLen {
			return KindMalformed
		}
		p.SrcPort = be16(seg[l4SrcPort:])
		p.DstPort = be16(seg[l4DstPort:])
		return KindUDP
	case flow.ICMP:
		if p.Family != 4 {
			return KindOtherL4
		}
		return parseICMP(f, l4, end, p)
	case flow.ICMPv6:
		if p.Family != 6 {
			return KindOtherL4
		}
		return parseICMP(f, l4, end, p)
	}
	return KindOtherL4
}
