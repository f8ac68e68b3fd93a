package afpacket

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// pkt describes a test frame; frame() builds it with correct lengths and
// checksums.
type pkt struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	icmpType     uint8
	frag         uint16 // IPv4 flags+offset field
	options      int    // IPv4 option bytes (multiple of 4)
	payload      []byte
	srcMAC       [6]byte
	dstMAC       [6]byte
	etherType    uint16  // overrides the EtherType when set
	ext6         []uint8 // IPv6 extension headers (0, 43, 44, 51, 60) before L4, 8 bytes each
	segLeft      uint8   // segments left of an ext6 routing header
	frag6        uint16  // offset field of an ext6 fragment header: offset<<3 | M
}

func (p pkt) frame() []byte {
	v4 := p.src.Is4()
	var l4 []byte
	switch p.proto {
	case 6:
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		l4[12] = 5 << 4
		l4[13] = 0x02 // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
	case 17:
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
	case 1, 58:
		l4 = make([]byte, 8)
		l4[0] = p.icmpType
	}
	l4 = append(l4, p.payload...)
	if p.proto == 17 {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	var ip []byte
	if v4 {
		hl := 20 + p.options
		ip = make([]byte, hl)
		ip[0] = 0x40 | byte(hl/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(hl+len(l4)))
		binary.BigEndian.PutUint16(ip[6:], p.frag)
		ip[8] = 64
		ip[9] = p.proto
		copy(ip[12:], p.src.AsSlice())
		copy(ip[16:], p.dst.AsSlice())
		for i := 20; i < hl; i++ {
			ip[i] = 1 // NOP options
		}
		binary.BigEndian.PutUint16(ip[10:], ^sum16(ip))
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
		ip[6] = p.proto
		for i, t := range p.ext6 {
			if i == 0 {
				ip[6] = t
			}
			nh := p.proto
			if i+1 < len(p.ext6) {
				nh = p.ext6[i+1]
			}
			h := []byte{nh, 0, 0, 0, 0, 0, 0, 0}
			switch t {
			case 43:
				h[3] = p.segLeft
			case 44:
				binary.BigEndian.PutUint16(h[2:], p.frag6)
				binary.BigEndian.PutUint32(h[4:], 0x1234)
			case 51:
				h[1] = 0 // (0 + 2) * 4 = 8 bytes
			default:
				h[2], h[3] = 1, 4 // PadN filling the header
			}
			ip = append(ip, h...)
		}
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40+len(l4)))
		ip[7] = 64
		copy(ip[8:], p.src.AsSlice())
		copy(ip[24:], p.dst.AsSlice())
	}
	if off := l4CsumOff(p.proto); off >= 0 && (!v4 || p.frag&0x3fff == 0) {
		binary.BigEndian.PutUint16(l4[off:], 0)
		s := ^sum16(append(pseudo(p.src, p.dst, p.proto, len(l4)), l4...))
		if s == 0 && p.proto == 17 {
			s = 0xffff
		}
		binary.BigEndian.PutUint16(l4[off:], s)
	}
	et := uint16(etherIPv4)
	if !v4 {
		et = etherIPv6
	}
	if p.etherType != 0 {
		et = p.etherType
	}
	f := make([]byte, 0, 14+len(ip)+len(l4))
	f = append(f, p.dstMAC[:]...)
	f = append(f, p.srcMAC[:]...)
	f = binary.BigEndian.AppendUint16(f, et)
	f = append(f, ip...)
	return append(f, l4...)
}

// l4CsumOff is the checksum field's offset in the L4 header, or -1 when the
// checksum covers no pseudo-header (ICMPv4) or the protocol is unknown.
func l4CsumOff(proto uint8) int {
	switch proto {
	case 6:
		return 16
	case 17:
		return 6
	case 58:
		return 2
	}
	return -1
}

// pseudo returns the pseudo-header of RFC 793 / RFC 8200 section 8.1.
func pseudo(src, dst netip.Addr, proto uint8, l4len int) []byte {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	if src.Is4() {
		b = append(b, 0, proto)
		return binary.BigEndian.AppendUint16(b, uint16(l4len))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(l4len))
	return append(b, 0, 0, 0, proto)
}

// steerRef is the steering decision written the obvious way, from the
// package documentation: the reference the generated filter and nftables
// rules are compared with.
func steerRef(frame []byte, rs Rules) bool {
	if len(frame) < 14 {
		return false
	}
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	switch binary.BigEndian.Uint16(frame[12:]) {
	case etherIPv4:
		ip := frame[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&15 < 5 {
			return false
		}
		src, dst, proto = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[9]
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return (proto == 6 || proto == 17) && addrMatch(src, dst, rs)
		}
		if ihl := int(ip[0]&15) * 4; ihl <= len(ip) {
			l4 = ip[ihl:]
		}
		if proto == 1 {
			return len(l4) >= 1 && (l4[0] == 3 || l4[0] == 11 || l4[0] == 12) && addrMatch(src, dst, rs)
		}
	case etherIPv6:
		ip := frame[14:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		src, dst, proto = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), ip[6]
		l4 = ip[40:]
		// At most maxExtHeaders extension headers, each with its 8 bytes
		// in the frame.
		for i := 0; proto == 0 || proto == 60 || proto == 43 || proto == 44; i++ {
			if i == maxExtHeaders || len(l4) < 8 {
				return false
			}
			n := (int(l4[1]) + 1) * 8
			switch proto {
			case 43:
				if l4[3] != 0 {
					return false
				}
			case 44:
				n = 8
				if binary.BigEndian.Uint16(l4[2:])&0xfff9 != 0 {
					return (l4[0] == 6 || l4[0] == 17) && addrMatch(src, dst, rs)
				}
			}
			proto = l4[0]
			if n > len(l4) {
				n = len(l4)
			}
			l4 = l4[n:]
		}
		if proto == 58 {
			return len(l4) >= 1 && l4[0] >= 1 && l4[0] <= 4 && addrMatch(src, dst, rs)
		}
	default:
		return false
	}
	if (proto != 6 && proto != 17) || len(l4) < 4 {
		return false
	}
	sport, dport := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	for _, r := range rs.Rules {
		if r.Reply || r.Proto != proto || !refContains(r.Prefix, dst) {
			continue
		}
		if refPortIn(r, dport) {
			return true
		}
	}
	for _, r := range rs.Rules {
		if !r.Reply || r.Proto != proto || !refContains(r.Prefix, src) {
			continue
		}
		if refPortIn(r, sport) {
			return !refLocal(dst, rs)
		}
	}
	return false
}

func addrMatch(src, dst netip.Addr, rs Rules) bool {
	for _, r := range rs.Rules {
		if !r.Reply && refContains(r.Prefix, dst) {
			return true
		}
	}
	for _, r := range rs.Rules {
		if r.Reply && refContains(r.Prefix, src) && !refLocal(dst, rs) {
			return true
		}
	}
	return false
}

func refContains(p netip.Prefix, a netip.Addr) bool {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Addr().Is4() == a.Is4() && p.Masked().Contains(a)
}

func refPortIn(r Rule, port uint16) bool {
	if r.PortLo == 0 && r.PortHi == 0 {
		return true
	}
	return port >= r.PortLo && port <= r.PortHi
}

func refLocal(a netip.Addr, rs Rules) bool {
	return slices.ContainsFunc(rs.Local, func(l netip.Addr) bool { return l.Unmap() == a })
}
