package encap

import "github.com/xvs-project/xvs/flow"

// TCP segmentation of offloaded super-packets (what a NIC's TSO, or the
// kernel's GSO, does in software). A raw socket on a device with GRO, or
// facing a local sender with TSO (veth), sees TCP aggregates of up to 64 KB:
// one IP packet far above the MTU. Such a frame cannot be sent as it is; it
// is cut into segments that each fit the MTU, every one a valid TCP segment
// of its own: the headers copied, the sequence number advanced by the bytes
// before it, the IPv4 identification advanced by one per segment (as Linux's
// GSO does without fixed IDs), FIN and PSH only on the last segment, CWR
// only on the first, and every checksum computed in full. The receiver sees
// what the sender's kernel would have sent without offloads.

// SegmentTCP writes into out the segment of the TCP packet p (KindTCP) that
// carries the payload bytes from start on, at most maxPayload of them, with
// p's L2 header, IP header (IPv6: extension headers included) and TCP header
// (options included). It returns the segment's frame length and the start of
// the next segment, 0 after the last:
//
//	for start := 0; ; {
//		n, next := encap.SegmentTCP(out, &p, mss, start)
//		if n == 0 { /* drop */ break }
//		send(out[:n])
//		if next == 0 { break }
//		start = next
//	}
//
// It returns 0 if p is not KindTCP, start lies outside the payload, maxPayload
// is less than 1, or out is too small. A packet without payload is returned
// whole as one segment. It reads p.Frame and never writes it.
func SegmentTCP(out []byte, p *Packet, maxPayload, start int) (n, next int) {
	if p.kind != KindTCP || maxPayload < 1 {
		return 0, 0
	}
	f := p.Frame
	end := p.L3 + p.IPLen
	doff := int(f[p.L4+tcpDataOff]>>4) << 2
	hdrEnd := p.L4 + doff
	payload := f[hdrEnd:end]
	if start < 0 || (start >= len(payload) && start != 0) {
		return 0, 0
	}
	size := min(maxPayload, len(payload)-start)
	n = hdrEnd + size
	if len(out) < n {
		return 0, 0
	}
	copy(out, f[:hdrEnd])
	copy(out[hdrEnd:], payload[start:start+size])
	last := start+size == len(payload)
	if !last {
		next = start + size
	}

	tcp := out[p.L4:n]
	put32(tcp[4:], be32(tcp[4:])+uint32(start))
	flags := tcp[tcpFlags]
	if !last {
		flags &^= flow.TCPFin | flow.TCPPsh
	}
	if start > 0 {
		flags &^= flow.TCPCwr
	}
	tcp[tcpFlags] = flags

	ipLen := n - p.L3
	var src, dst []byte
	if p.Family == 4 {
		ip := out[p.L3:p.L4]
		put16(ip[ipv4TotalLen:], uint16(ipLen))
		put16(ip[ipv4ID:], be16(ip[ipv4ID:])+uint16(segmentIndex(start, maxPayload)))
		put16(ip[ipv4Csum:], 0)
		put16(ip[ipv4Csum:], checksum(ip, 0))
		src, dst = ip[ipv4Src:ipv4Src+4], ip[ipv4Dst:ipv4Dst+4]
	} else {
		ip := out[p.L3:p.L4]
		put16(ip[ipv6PayLen:], uint16(ipLen-ipv6HdrLen))
		src, dst = ip[ipv6Src:ipv6Src+16], ip[ipv6Dst:ipv6Dst+16]
	}
	put16(tcp[tcpCsum:], 0)
	put16(tcp[tcpCsum:], checksum(tcp, pseudoSum(src, dst, flow.TCP, len(tcp))))
	return n, next
}

// segmentIndex is the number of the segment that starts at payload byte
// start when every segment but the last carries maxPayload bytes.
func segmentIndex(start, maxPayload int) int { return start / maxPayload }

// TCPMaxPayload is the payload a segment of p may carry so that its IP
// packet fits mtu: the MTU less p's IP header (with IPv4 options or IPv6
// extension headers) and TCP header (with options). It is 0 or less when the
// headers alone do not fit.
func TCPMaxPayload(p *Packet, mtu int) int {
	if p.kind != KindTCP {
		return 0
	}
	doff := int(p.Frame[p.L4+tcpDataOff]>>4) << 2
	return mtu - (p.L4 - p.L3) - doff
}
