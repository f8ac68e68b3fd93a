package encap

// Internet checksum arithmetic (RFC 1071) and incremental update (RFC 1624).
//
// Sums are accumulated in a uint64 from 16- or 32-bit big-endian words: a
// 32-bit word w contributes hi(w) + lo(w) after folding, exactly as its two
// 16-bit halves would, so the accumulator may mix both widths. Folding with
// end-around carries maps any positive sum to its representative in
// [1, 0xffff]; the checksum is the complement of that.
//
// Incremental update uses RFC 1624 equation 3, HC' = ~(~HC + ~m + m'), with
// the sum Σ(~m + m') over every changed word passed in as a delta. Because
// both a full recompute and equation 3 complement a representative in
// [1, 0xffff] of the same residue modulo 0xffff, the incremental result is
// bit-identical to a full recompute whenever the data is not all zero (every
// checksummed region here contains a non-zero protocol or version byte). That
// is what lets the tests compare rewritten frames byte for byte with frames
// built from scratch.

// csumFold folds a ones'-complement accumulator to 16 bits. Four steps are
// enough for any uint64: 64→33→32→17→16 bits.
func csumFold(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// csumAdjust applies delta (Σ ~old + new over the changed words) to the
// checksum field value c: RFC 1624 equation 3.
func csumAdjust(c uint16, delta uint64) uint16 {
	return ^csumFold(uint64(^c) + delta)
}

// delta16 is the update delta for one 16-bit word changing from old to new.
func delta16(old, new uint16) uint64 { return uint64(^old) + uint64(new) }

// delta32 is the update delta for one 32-bit word changing from old to new.
func delta32(old, new uint32) uint64 { return uint64(^old) + uint64(new) }

// csumAdd adds b to the accumulator s as big-endian 16-bit words, padding an
// odd final byte with zero. b must start at an even offset from the start of
// the checksummed region. At most a few hundred KB may be summed before the
// accumulator could overflow, far beyond any IP packet.
func csumAdd(b []byte, s uint64) uint64 {
	for len(b) >= 16 {
		s += uint64(be32(b)) + uint64(be32(b[4:])) + uint64(be32(b[8:])) + uint64(be32(b[12:]))
		b = b[16:]
	}
	for len(b) >= 4 {
		s += uint64(be32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(be16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// checksum returns the Internet checksum of b with an initial sum (for a
// pseudo-header).
func checksum(b []byte, initial uint64) uint16 {
	return ^csumFold(csumAdd(b, initial))
}

// pseudoSum is the sum of the TCP/UDP/ICMPv6 pseudo-header: RFC 768/9293 for
// IPv4 (src, dst, zero, protocol, length) and RFC 8200 section 8.1 for IPv6
// (src, dst, 32-bit length, three zero bytes, next header). src and dst are
// the address bytes as they appear in the IP header (4 or 16).
func pseudoSum(src, dst []byte, proto uint8, length int) uint64 {
	return csumAdd(dst, csumAdd(src, 0)) + uint64(proto) + uint64(uint32(length)>>16) + uint64(length&0xffff)
}

// Checksum returns the Internet checksum (RFC 1071) of b on top of initial,
// a partial sum such as PseudoHeaderSum's (0 for none). It is the one
// checksum function of the module: backends, labs and benchmarks that build
// or finish packets call it rather than keeping their own. b must start at
// an even offset of the checksummed region.
func Checksum(b []byte, initial uint64) uint16 { return checksum(b, initial) }

// PseudoHeaderSum is the partial sum of the TCP/UDP/ICMPv6 pseudo-header for
// addresses src and dst (4 or 16 bytes each, as in the IP header), protocol
// proto and an L4 length of length bytes; pass it to Checksum.
func PseudoHeaderSum(src, dst []byte, proto uint8, length int) uint64 {
	return pseudoSum(src, dst, proto, length)
}
