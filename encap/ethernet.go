package encap

// Ethernet II header (IEEE 802.3), optionally followed by one or two 802.1Q
// tags (QinQ: an 802.1ad S-tag 0x88a8, then a C-tag 0x8100). Each tag inserts
// four bytes (TPID, TCI) in front of the real EtherType:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 destination MAC (bytes 0..5)                  |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                   source MAC (bytes 6..11)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  EtherType or TPID (12..13)   |  [TCI (14..15)]               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  [EtherType (16..17)]         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Packet.L3 is the length of the whole L2 header: 14, 18 (one tag) or 22
// (two tags); the EtherType always sits at L3-2.
const (
	ethDst     = 0  // destination MAC, 6 bytes
	ethSrc     = 6  // source MAC, 6 bytes
	ethType    = 12 // EtherType or first TPID
	ethHdrLen  = 14 // untagged header
	vlanTagLen = 4  // TPID + TCI

	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	etherTypeVLAN   = 0x8100 // 802.1Q C-tag
	etherTypeQinQ   = 0x88a8 // 802.1ad S-tag
	maxVLANTags     = 2
	maxL2HeaderLen  = ethHdrLen + maxVLANTags*vlanTagLen
	macLen          = 6
	etherTypeOffset = 2 // EtherType is at L3 - etherTypeOffset
)

// parseL2 returns the length of the L2 header (the IP header's offset) and
// the EtherType behind up to two VLAN tags. ok is false when the frame ends
// inside the header. More than two tags leave a TPID as the EtherType, which
// the caller treats as not IP.
func parseL2(f []byte) (l3 int, et uint16, vlan, ok bool) {
	if len(f) < ethHdrLen {
		return 0, 0, false, false
	}
	et = be16(f[ethType:])
	l3 = ethHdrLen
	for i := 0; i < maxVLANTags && (et == etherTypeVLAN || et == etherTypeQinQ); i++ {
		if len(f) < l3+vlanTagLen {
			return 0, 0, false, false
		}
		vlan = true
		et = be16(f[l3+2:])
		l3 += vlanTagLen
	}
	return l3, et, vlan, true
}

// SetMACs writes the destination and source MAC addresses (DR forwarding, or
// the next hop of any other method) into p.Frame. It changes nothing else:
// Ethernet has no checksum that software sees. It needs only p.Frame, so it
// also serves a Packet built around a stored copy of a frame.
func SetMACs(p *Packet, dst, src [6]byte) {
	if len(p.Frame) < ethHdrLen {
		return
	}
	copy(p.Frame[ethDst:ethDst+macLen], dst[:])
	copy(p.Frame[ethSrc:ethSrc+macLen], src[:])
}
