package encap

import "github.com/xvs-project/xvs/flow"

// VerifyChecksums recomputes every checksum the rewrites maintain and reports
// whether all are valid: the IPv4 header checksum; the TCP or UDP checksum
// with its pseudo-header (an IPv4 UDP checksum of 0 means none and passes;
// the UDP length field must lie within the IP payload and the checksum covers
// that many bytes); the ICMPv4 checksum, or the ICMPv6 checksum with its
// pseudo-header; and for a KindICMPError over IPv4 the quoted IPv4 header's
// checksum. Fragments and other protocols check the IP header only. It returns
// false for non-IP kinds.
//
// It reads the whole packet: a slow path and test aid, not for every frame.
func VerifyChecksums(p *Packet) bool {
	if !p.kind.isIP() {
		return false
	}
	f := p.Frame
	end := p.L3 + p.IPLen
	var src, dst []byte
	if p.Family == 4 {
		if csumFold(csumAdd(f[p.L3:p.L4], 0)) != 0xffff {
			return false
		}
		src, dst = f[p.L3+ipv4Src:p.L3+ipv4Src+4], f[p.L3+ipv4Dst:p.L3+ipv4Dst+4]
	} else {
		src, dst = f[p.L3+ipv6Src:p.L3+ipv6Src+16], f[p.L3+ipv6Dst:p.L3+ipv6Dst+16]
	}
	seg := f[p.L4:end]
	switch p.kind {
	case KindTCP:
		return csumFold(csumAdd(seg, pseudoSum(src, dst, flow.TCP, len(seg)))) == 0xffff
	case KindUDP:
		n := int(be16(seg[udpLen:]))
		if n < udpHdrLen || n > len(seg) {
			return false
		}
		if p.Family == 4 && be16(seg[udpCsum:]) == 0 {
			return true
		}
		return csumFold(csumAdd(seg[:n], pseudoSum(src, dst, flow.UDP, n))) == 0xffff
	case KindICMPError, KindICMPOther:
		if p.Family == 6 {
			return csumFold(csumAdd(seg, pseudoSum(src, dst, flow.ICMPv6, len(seg)))) == 0xffff
		}
		if csumFold(csumAdd(seg, 0)) != 0xffff {
			return false
		}
		if p.kind == KindICMPError {
			return csumFold(csumAdd(f[p.InnerL3:p.InnerL4], 0)) == 0xffff
		}
	}
	return true
}
