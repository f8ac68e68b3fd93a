package encap

// VLAN tag handling for a worker that serves tagged frames: it reads the
// tags' VLAN IDs to decide whether the VLAN is one the director is on,
// removes the tags (the next hop decides the egress tag, not the ingress
// one) and pushes the egress VLAN's tag when the next hop is on a VLAN.
//
// A tag's TCI is PCP (3 bits), DEI (1 bit) and the VLAN ID (12 bits).

// vlanIDMask selects the VLAN ID in a TCI.
const vlanIDMask = 0x0fff

// VLANIDs returns the VLAN IDs of the tags in front of the IP header of a
// frame p was parsed from (outer first) and how many there are (0, 1 or 2).
func VLANIDs(p *Packet) (ids [maxVLANTags]uint16, n int) {
	if !p.VLAN || p.L3 > len(p.Frame) {
		return ids, 0
	}
	for off := ethHdrLen; off+vlanTagLen <= p.L3 && n < maxVLANTags; off += vlanTagLen {
		ids[n] = be16(p.Frame[off:]) & vlanIDMask // the TCI follows its TPID
		n++
	}
	return ids, n
}

// StripVLAN removes the VLAN tags of the frame buf[off:off+n], which p was
// parsed from, in place: the MAC addresses move towards the IP header by 4
// bytes per tag. It returns the new frame's offset and length and updates p
// (Frame, every offset, VLAN) to describe the untagged frame, so p stays
// usable with the rewrites. A frame without tags is returned unchanged.
func StripVLAN(buf []byte, off, n int, p *Packet) (newOff, newN int) {
	if !p.VLAN || p.L3 <= ethHdrLen || p.L3 > maxL2HeaderLen || off < 0 || n < p.L3 || off > len(buf)-n {
		return off, n
	}
	d := p.L3 - ethHdrLen
	copy(buf[off+d:off+d+2*macLen], buf[off:off+2*macLen])
	// The EtherType behind the last tag already sits right before the IP
	// header, at its untagged place.
	newOff, newN = off+d, n-d
	p.Frame = buf[newOff : newOff+newN]
	p.L3 -= d
	p.L4 -= d
	if p.kind == KindICMPError {
		p.InnerL3 -= d
		p.InnerL4 -= d
	}
	p.VLAN = false
	return newOff, newN
}

// PushVLAN inserts one 802.1Q tag with VLAN ID id (priority 0) into the
// untagged frame buf[off:off+n] in place, using 4 bytes of headroom. It
// returns the new offset and length; ok is false, and buf untouched, when
// there is no headroom, the frame is shorter than an Ethernet header or id is
// not a valid VLAN ID (1..4094). Any Packet parsed from the frame no longer
// describes it.
func PushVLAN(buf []byte, off, n int, id uint16) (newOff, newN int, ok bool) {
	if id == 0 || id >= vlanIDMask || off < vlanTagLen || n < ethHdrLen || off > len(buf)-n {
		return off, n, false
	}
	newOff = off - vlanTagLen
	copy(buf[newOff:newOff+2*macLen], buf[off:off+2*macLen])
	put16(buf[newOff+ethType:], etherTypeVLAN)
	put16(buf[newOff+ethType+2:], id)
	return newOff, n + vlanTagLen, true
}
