package afpacket

import "encoding/binary"

// completeChecksum finishes the TCP or UDP checksum of an untagged Ethernet
// frame the kernel marked CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY): traffic
// from a local sender over veth carries only the pseudo-header sum in the
// checksum field and expects a device to add the rest. A forwarded copy
// would otherwise leave with a wrong checksum. It reports whether it
// completed one; other frames are left alone.
func completeChecksum(frame []byte) bool {
	if len(frame) < offL3 {
		return false
	}
	var l4, end int
	var proto byte
	switch binary.BigEndian.Uint16(frame[offEtherType:]) {
	case etherIPv4:
		ip := frame[offL3:]
		if len(ip) < 20 || ip[0]>>4 != 4 || binary.BigEndian.Uint16(ip[6:])&v4FragMask != 0 {
			return false
		}
		ihl := int(ip[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || tot < ihl || tot > len(ip) {
			return false
		}
		proto, l4, end = ip[9], offL3+ihl, offL3+tot
	case etherIPv6:
		ip := frame[offL3:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		tot := 40 + int(binary.BigEndian.Uint16(ip[4:]))
		if tot > len(ip) {
			return false
		}
		proto, l4, end = ip[6], offL3+40, offL3+tot
	default:
		return false
	}
	var field int
	switch proto {
	case 6:
		field = l4 + 16
	case 17:
		field = l4 + 6
	default:
		return false
	}
	if field+2 > end {
		return false
	}
	s := ^sum16(frame[l4:end])
	if s == 0 {
		s = 0xffff // a computed zero is sent as all ones (RFC 768)
	}
	binary.BigEndian.PutUint16(frame[field:], s)
	return true
}

// sum16 is the folded ones' complement sum of b (RFC 1071), the field
// already holding the pseudo-header sum.
func sum16(b []byte) uint16 {
	var s uint64
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
