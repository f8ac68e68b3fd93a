package encap

import (
	"strconv"

	"github.com/xvs-project/xvs/flow"
)

// Fault says why a frame that Parse could read is one the kernel's own
// receive path would still throw away (ip_rcv_core, ip_options_compile,
// ip_route_input's martian checks, ipv6_rcv, udp_rcv). A director must drop
// such a frame before it creates or counts a connection: otherwise garbage
// makes state, moves a real server's counters and is forwarded to a real
// server whose kernel drops it anyway.
type Fault uint8

// Faults returned by Check.
const (
	// FaultNone: nothing the kernel would drop at the IP or UDP layer.
	FaultNone Fault = iota
	// FaultIPChecksum: the IPv4 header checksum (over IHL*4 bytes) is wrong;
	// RFC 1122 3.2.1.2 says to discard silently, and ip_rcv_core does.
	FaultIPChecksum
	// FaultIPOptions: the IPv4 options do not walk (see Check), or carry a
	// source route, which the kernel refuses by default
	// (accept_source_route=0), or CIPSO, which it refuses without a
	// configured DOI.
	FaultIPOptions
	// FaultUDPLength: the UDP length field is below 8 or beyond the IP
	// payload (a shorter length is padding, which udp_rcv trims).
	FaultUDPLength
	// FaultMartian: an address no host may receive from or send to: see
	// Check.
	FaultMartian

	numFaults // keep last
)

var faultNames = [numFaults]string{
	FaultNone:       "none",
	FaultIPChecksum: "bad-ip-checksum",
	FaultIPOptions:  "bad-ip-options",
	FaultUDPLength:  "bad-udp-length",
	FaultMartian:    "martian",
}

// String returns a short lowercase name, suitable as a metric label.
func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// IPv4 option types (RFC 791 and the IANA registry) that the kernel's
// option walk treats specially.
const (
	ipoptEnd       = 0   // end of option list
	ipoptNoop      = 1   // padding
	ipoptRR        = 7   // record route
	ipoptTimestamp = 68  // internet timestamp
	ipoptLSRR      = 131 // loose source route
	ipoptCIPSO     = 134 // commercial IP security option
	ipoptSSRR      = 137 // strict source route
	ipoptRA        = 148 // router alert
)

// Check reports what the kernel's receive path would drop in a packet that
// Parse classified as an IP kind (FaultNone for any other kind). It reads
// only the IP header (and the UDP length): a few adds for the IPv4 header
// checksum, no allocation, cheap enough for every frame. It does not verify
// TCP/UDP checksums (see VerifyChecksums).
//
// The rules, each what Linux does:
//   - IPv4 header checksum (ip_rcv_core). IHL, total length and truncation
//     are already Parse's (KindMalformed).
//   - IPv4 options (ip_options_compile): the walk stops at EOL; NOP is one
//     byte; any other option needs a length byte of at least 2 that stays
//     within the header. Record route and timestamp are checked as the
//     kernel does (pointer bounds, one of each, timestamp overflow), router
//     alert needs 4 bytes. Source routes (LSRR/SSRR) and CIPSO are refused:
//     a stock kernel drops them (accept_source_route=0, no CIPSO DOI).
//   - UDP length (udp_rcv / udpv6_rcv): at least 8 and at most the IP
//     payload; a shorter length leaves padding, which is legal. Over IPv6 a
//     length of 0 means "the payload" (jumbogram style), as the kernel takes
//     it.
//   - Martians, IPv4 (ip_route_input_slow): a source in 0.0.0.0/8,
//     127.0.0.0/8, 224.0.0.0/4 or 255.255.255.255, or a destination in
//     0.0.0.0/8 or 127.0.0.0/8. IPv6 (ipv6_rcv): a multicast source, ::1 as
//     source or destination, and a v4-mapped source or destination — which
//     this package would otherwise confuse with an IPv4 flow, since it
//     stores IPv4 addresses v4-mapped. xvs also refuses the unspecified
//     source ::, which no reply can reach.
//
// TTL is not a fault: whether a hop limit of 1 is fatal depends on the
// forwarding path, which is the caller's to know.
func Check(p *Packet) Fault {
	switch p.kind {
	case KindMalformed, KindNotIP:
		return FaultNone
	}
	f := p.Frame
	if p.Family == 4 {
		h := f[p.L3:p.L4] // the IPv4 header with its options (L4 = L3 + IHL*4)
		if ipv4HeaderSum(h) != 0xffff {
			return FaultIPChecksum
		}
		if len(h) > ipv4MinLen && !ipv4OptionsOK(h[ipv4MinLen:]) {
			return FaultIPOptions
		}
		if martian4(h[ipv4Src:ipv4Src+4], h[ipv4Dst:ipv4Dst+4]) {
			return FaultMartian
		}
	} else if martian6(&p.Src, &p.Dst) {
		return FaultMartian
	}
	if p.kind == KindUDP {
		seg := f[p.L4 : p.L3+p.IPLen]
		n := int(be16(seg[udpLen:]))
		if n == 0 && p.Family == 6 {
			n = len(seg)
		}
		if n < udpHdrLen || n > len(seg) {
			return FaultUDPLength
		}
	}
	return FaultNone
}

// ipv4HeaderSum is the folded sum of an IPv4 header h, 0xffff when its
// checksum is right. Every IPv4 packet is checked, and nearly all have no
// options: their 20 bytes are summed as five words, the rest through
// csumAdd.
func ipv4HeaderSum(h []byte) uint16 {
	if len(h) == ipv4MinLen {
		return csumFold(uint64(be32(h[0:])) + uint64(be32(h[4:])) + uint64(be32(h[8:])) + uint64(be32(h[12:])) + uint64(be32(h[16:])))
	}
	return csumFold(csumAdd(h, 0))
}

// ipv4OptionsOK walks IPv4 options as ip_options_compile does for a received
// packet and reports whether the kernel would accept them.
func ipv4OptionsOK(o []byte) bool {
	var rr, ts bool
	for len(o) > 0 {
		switch o[0] {
		case ipoptEnd:
			// The kernel overwrites whatever follows with EOL; not an error.
			return true
		case ipoptNoop:
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return false
		}
		n := int(o[1])
		if n < 2 || n > len(o) {
			return false
		}
		opt := o[:n]
		switch opt[0] {
		case ipoptLSRR, ipoptSSRR, ipoptCIPSO:
			return false
		case ipoptRR:
			if rr || n < 3 || opt[2] < 4 {
				return false
			}
			if ptr := int(opt[2]); ptr <= n && ptr+3 > n {
				return false
			}
			rr = true
		case ipoptTimestamp:
			if ts || n < 4 || opt[2] < 5 {
				return false
			}
			ptr, flag := int(opt[2]), opt[3]&0x0f
			if ptr <= n {
				if ptr+3 > n {
					return false
				}
				// Address+timestamp (1) and prespecified (3) need 8 bytes.
				if (flag == 1 || flag == 3) && ptr+7 > n {
					return false
				}
			} else if flag != 3 && opt[3]>>4 == 15 {
				// Full, and the overflow counter cannot count one more.
				return false
			}
			ts = true
		case ipoptRA:
			if n < 4 {
				return false
			}
		}
		o = o[n:]
	}
	return true
}

// martian4 reports an IPv4 source or destination the kernel's input route
// lookup calls martian.
func martian4(src, dst []byte) bool {
	s, d := src[0], dst[0]
	switch {
	case s == 0 || s == 127 || s&0xf0 == 0xe0: // this network, loopback, multicast
		return true
	case s == 255 && src[1] == 255 && src[2] == 255 && src[3] == 255: // limited broadcast
		return true
	case d == 0 || d == 127:
		return true
	}
	return false
}

var (
	ip6Loopback    = [16]byte{15: 1}
	ip6Unspecified [16]byte
)

// martian6 reports IPv6 addresses ipv6_rcv drops (plus the unspecified
// source, see Check).
func martian6(src, dst *[16]byte) bool {
	switch {
	case src[0] == 0xff: // multicast source (RFC 4291 2.7)
		return true
	case *src == ip6Loopback || *dst == ip6Loopback || *src == ip6Unspecified:
		return true
	case flow.IsV4Mapped(src) || flow.IsV4Mapped(dst):
		return true
	}
	return false
}
