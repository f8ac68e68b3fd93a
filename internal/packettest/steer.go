package packettest

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/link"
)

// Verdicts of Steer: the XDP steering program's counter names, of which it
// bumps exactly one per frame. The steer_ ones hand the frame to xvs.
const (
	PassShort     = "pass_short"    // a header the walk needs is cut short or malformed
	PassOther     = "pass_other"    // not TCP, UDP or an ICMP error, or headers the walk does not follow
	PassNoMatch   = "pass_nomatch"  // no rule matches
	PassLocal     = "pass_local"    // a reply or error addressed to the director itself
	SteerService  = "steer_service" // to a service address and port
	SteerReply    = "steer_reply"   // a real server's reply on NAT
	SteerICMP     = "steer_icmp"    // an ICMP error about a service or reply flow
	SteerFragment = "steer_fragment"
)

// Verdicts lists every verdict Steer returns.
var Verdicts = []string{PassShort, PassOther, PassNoMatch, PassLocal, SteerService, SteerReply, SteerICMP, SteerFragment}

// Steered reports whether verdict v hands the frame to xvs.
func Steered(v string) bool { return len(v) > 6 && v[:6] == "steer_" }

// MaxExtHeaders is how many IPv6 extension headers a steering walk follows
// before it gives up on the packet.
const MaxExtHeaders = 6

// L2 says how Steer reads the frame's link header.
type L2 int

const (
	// Tagged frames carry a VLAN tag in the data, as XDP sees them; Steer
	// skips one 802.1Q or 802.1ad tag.
	Tagged L2 = iota
	// Untagged frames had their tag moved to metadata before the hook, as
	// an AF_PACKET socket filter sees them; a VLAN EtherType is not IP.
	Untagged
)

// Steer is the steering decision written the obvious way from the rules of
// package link: it walks frame in Go and matches rules by comparing
// prefixes and port ranges directly. It returns one of the Verdicts.
func Steer(rs link.Rules, frame []byte, l2 L2) string {
	if len(frame) < 14 {
		return PassShort
	}
	et, off := binary.BigEndian.Uint16(frame[12:]), 14
	if l2 == Tagged && (et == EtherVLAN || et == EtherQinQ) {
		if len(frame) < 18 {
			return PassShort
		}
		et, off = binary.BigEndian.Uint16(frame[16:]), 18
	}
	ip := frame[off:]
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	switch et {
	case EtherIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&0xf < 5 {
			return PassShort
		}
		proto = ip[9]
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			if proto != ProtoTCP && proto != ProtoUDP {
				return PassOther
			}
			return steerAddr(rs, src, dst, SteerFragment)
		}
		if ihl := int(ip[0]&0xf) * 4; ihl <= len(ip) {
			l4 = ip[ihl:]
		}
		if proto != ProtoTCP && proto != ProtoUDP && proto != ProtoICMP {
			return PassOther
		}
	case EtherIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return PassShort
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		var verdict string
		if proto, l4, verdict = skipExt6(ip[6], ip[40:]); verdict == SteerFragment {
			return steerAddr(rs, src, dst, SteerFragment)
		} else if verdict != "" {
			return verdict
		}
	default:
		return PassOther
	}
	if proto == ProtoICMP || proto == ProtoICMPv6 {
		if len(l4) < 1 {
			return PassShort
		}
		isErr := l4[0] >= 1 && l4[0] <= 4
		if proto == ProtoICMP {
			isErr = l4[0] == 3 || l4[0] == 11 || l4[0] == 12
		}
		if !isErr {
			return PassOther
		}
		return steerAddr(rs, src, dst, SteerICMP)
	}
	if len(l4) < 4 {
		return PassShort
	}
	sport, dport := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	for _, r := range rs.Rules {
		if !r.Reply && r.Proto == proto && contains(r.Prefix, dst) && portIn(r, dport) {
			return SteerService
		}
	}
	for _, r := range rs.Rules {
		if r.Reply && r.Proto == proto && contains(r.Prefix, src) && portIn(r, sport) {
			if local(rs, dst) {
				return PassLocal
			}
			return SteerReply
		}
	}
	return PassNoMatch
}

// skipExt6 skips IPv6 extension headers as a steering walk must: at most
// MaxExtHeaders of hop-by-hop, destination options, routing without segments
// left and atomic fragments, each needing its 8 bytes. It returns the
// upper-layer protocol and header, or a verdict: SteerFragment for a real
// fragment of TCP/UDP (still to be matched by address), or a pass.
func skipExt6(proto uint8, l4 []byte) (uint8, []byte, string) {
	for i := 0; ; i++ {
		switch proto {
		case ProtoTCP, ProtoUDP, ProtoICMPv6:
			return proto, l4, ""
		case 0, 60, 43, 44:
			if i == MaxExtHeaders {
				return proto, l4, PassOther
			}
		default:
			return proto, l4, PassOther
		}
		if len(l4) < 8 {
			return proto, l4, PassShort
		}
		n := (int(l4[1]) + 1) * 8
		switch proto {
		case 43:
			if l4[3] != 0 {
				return proto, l4, PassOther
			}
		case 44:
			n = 8
			if binary.BigEndian.Uint16(l4[2:])&0xfff9 != 0 {
				if l4[0] != ProtoTCP && l4[0] != ProtoUDP {
					return proto, l4, PassOther
				}
				return proto, l4, SteerFragment
			}
		}
		proto = l4[0]
		if n > len(l4) {
			l4 = nil
		} else {
			l4 = l4[n:]
		}
	}
}

// steerAddr matches a frame without ports (a fragment or an ICMP error) by
// address alone: to a service on any port, or from a reply rule's prefix.
func steerAddr(rs link.Rules, src, dst netip.Addr, steered string) string {
	for _, r := range rs.Rules {
		if !r.Reply && contains(r.Prefix, dst) {
			return steered
		}
	}
	for _, r := range rs.Rules {
		if r.Reply && contains(r.Prefix, src) {
			if local(rs, dst) {
				return PassLocal
			}
			return steered
		}
	}
	return PassNoMatch
}

// contains treats an IPv4-mapped prefix of at least 96 bits as IPv4, as
// link.Rule documents.
func contains(p netip.Prefix, a netip.Addr) bool {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Contains(a)
}

func portIn(r link.Rule, port uint16) bool {
	return (r.PortLo == 0 && r.PortHi == 0) || (r.PortLo <= port && port <= r.PortHi)
}

func local(rs link.Rules, a netip.Addr) bool {
	return slices.ContainsFunc(rs.Local, func(l netip.Addr) bool { return l.Unmap() == a })
}
