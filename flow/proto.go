package flow

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), as they
// appear in the IPv4 protocol field and the IPv6 next-header chain. Untyped,
// so they compare with the uint8 fields of every package and convert to
// service.Proto.
const (
	HopByHop = 0   // IPv6 hop-by-hop options header
	ICMP     = 1   // ICMP for IPv4
	IPIP     = 4   // IPv4 encapsulated in IP (RFC 2003)
	TCP      = 6   // Transmission Control Protocol
	UDP      = 17  // User Datagram Protocol
	IPv6     = 41  // IPv6 encapsulated in IP (RFC 2473)
	Routing  = 43  // IPv6 routing header
	Fragment = 44  // IPv6 fragment header
	GRE      = 47  // Generic Routing Encapsulation
	ESP      = 50  // IPsec Encapsulating Security Payload
	AH       = 51  // IPsec Authentication Header
	ICMPv6   = 58  // ICMP for IPv6
	NoNext   = 59  // IPv6 "no next header"
	DstOpts  = 60  // IPv6 destination options header
	VRRP     = 112 // Virtual Router Redundancy Protocol
	SCTP     = 132 // Stream Control Transmission Protocol
)

// TCP header flag bits as they sit in byte 13 of the TCP header.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
	TCPEce uint8 = 0x40
	TCPCwr uint8 = 0x80
)
