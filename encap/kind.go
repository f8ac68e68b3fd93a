package encap

import "strconv"

// Kind classifies a parsed frame. The worker turns it into a verdict and a
// per-reason counter; Parse never returns an error.
type Kind uint8

// Frame kinds returned by Parse.
const (
	// KindMalformed is a truncated or inconsistent frame: count and drop.
	KindMalformed Kind = iota
	// KindNotIP is any frame that is not IPv4 or IPv6 (ARP, LLDP, ...).
	KindNotIP
	// KindTCP is an unfragmented TCP segment; ports and flags are set.
	KindTCP
	// KindUDP is an unfragmented UDP datagram; ports are set.
	KindUDP
	// KindICMPError is an ICMP or ICMPv6 error (v4: destination unreachable 3,
	// time exceeded 11, parameter problem 12; v6: 1, 2, 3, 4) that quotes a
	// TCP or UDP packet of the same family with its ports; InnerL3, InnerL4
	// and Inner are set.
	KindICMPError
	// KindICMPOther is any other ICMP/ICMPv6 message (echo, neighbour
	// discovery, ...) or an error whose quoted packet is unusable.
	KindICMPOther
	// KindFragment is an IPv4 fragment (offset != 0 or MF set) or an IPv6
	// packet with a non-atomic Fragment header: there are no ports.
	KindFragment
	// KindOtherL4 is any other IP protocol, including encapsulated IP
	// (proto 4 / next header 41) and IPv6 packets whose routing header still
	// has segments left.
	KindOtherL4

	numKinds // keep last
)

var kindNames = [numKinds]string{
	KindMalformed: "malformed",
	KindNotIP:     "not-ip",
	KindTCP:       "tcp",
	KindUDP:       "udp",
	KindICMPError: "icmp-error",
	KindICMPOther: "icmp-other",
	KindFragment:  "fragment",
	KindOtherL4:   "other-l4",
}

// String returns a short lowercase name, suitable as a metric label.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// isIP reports whether the kind implies a validated IP header (Family, L3,
// IPLen, Src, Dst, TTL and Proto are set).
func (k Kind) isIP() bool { return k >= KindTCP && k < numKinds }
