package encap

// IPv4 fragmentation (RFC 791, section 3.2; RFC 815 for the arithmetic), for
// a non-DF packet that no longer fits the egress MTU once encapsulated. The
// kernel would fragment the outer packet; a userspace data path has to do it
// itself.
//
// Every fragment but the last carries a multiple of 8 payload bytes. The
// first fragment keeps the whole header; later ones keep only the options
// whose "copied" flag is set (RFC 791: security, source routes), padded with
// end-of-options to a multiple of 4 bytes.

const (
	ipOptEOL      = 0
	ipOptNOP      = 1
	ipOptCopied   = 0x80 // the option goes into every fragment
	fragUnitShift = 3    // fragment offsets count 8-byte units
)

// FragmentIPv4 writes into out one fragment of the IPv4 packet that follows
// the l3-byte L2 header in frame: the fragment whose payload starts at byte
// `start` of the original payload (0 for the first). The fragment's IP packet
// is at most mtu bytes and carries frame's L2 header. It returns the
// fragment's frame length and the start of the next fragment, 0 after the
// last one:
//
//	for start := 0; ; {
//		n, next := encap.FragmentIPv4(out, frame, l3, mtu, start)
//		if n == 0 { /* drop: DF set, bad packet, mtu too small, out too small */ break }
//		send(out[:n])
//		if next == 0 { break }
//		start = next
//	}
//
// A packet that is itself a fragment is fragmented further (offsets add up,
// MF stays set on every piece of a non-last fragment). It returns 0 if the
// packet has DF set (answer with TooBig instead), its header or options are
// malformed, start is not a multiple of 8 inside the payload, mtu leaves fewer
// than 8 payload bytes, or out is too small. A packet that already fits is
// returned whole (DF or not) as a single "fragment".
func FragmentIPv4(out, frame []byte, l3, mtu, start int) (n, next int) {
	if l3 < 0 || l3 > len(frame)-ipv4MinLen || start < 0 || start&7 != 0 {
		return 0, 0
	}
	h := frame[l3:]
	ihl := int(h[ipv4VerIHL]&0x0f) << 2
	total := int(be16(h[ipv4TotalLen:]))
	fo := be16(h[ipv4FragOff:])
	if h[ipv4VerIHL]>>4 != 4 || ihl < ipv4MinLen || total < ihl || total > len(h) {
		return 0, 0
	}
	if total <= mtu && start == 0 {
		if len(out) < l3+total {
			return 0, 0
		}
		copy(out, frame[:l3+total])
		return l3 + total, 0
	}
	if fo&ipv4FlagDF != 0 {
		return 0, 0
	}
	payload := h[ihl:total]
	if start >= len(payload) && !(start == 0 && len(payload) == 0) {
		return 0, 0
	}

	// Header of this fragment: the full one for the first, the copied
	// options only for the others.
	hdrLen := ihl
	if start > 0 {
		var ok bool
		if hdrLen, ok = copiedOptionsLen(h[ipv4MinLen:ihl]); !ok {
			return 0, 0
		}
		hdrLen += ipv4MinLen
	}
	maxData := (mtu - hdrLen) &^ 7
	if maxData < 8 {
		return 0, 0
	}
	data := min(len(payload)-start, maxData)
	last := start+data == len(payload)
	off := int(fo&ipv4FragOffMask) + start>>fragUnitShift
	if len(out) < l3+hdrLen+data || off > ipv4FragOffMask {
		return 0, 0
	}

	copy(out[:l3], frame[:l3])
	o := out[l3 : l3+hdrLen+data]
	copy(o[:ipv4MinLen], h[:ipv4MinLen])
	if start == 0 {
		copy(o[ipv4MinLen:ihl], h[ipv4MinLen:ihl])
	} else {
		writeCopiedOptions(o[ipv4MinLen:hdrLen], h[ipv4MinLen:ihl])
	}
	o[ipv4VerIHL] = 4<<4 | byte(hdrLen>>2)
	put16(o[ipv4TotalLen:], uint16(hdrLen+data))
	flags := fo & ipv4FlagMF // a non-last original fragment stays "more to come"
	if !last {
		flags = ipv4FlagMF
	}
	put16(o[ipv4FragOff:], flags|uint16(off))
	put16(o[ipv4Csum:], 0)
	put16(o[ipv4Csum:], checksum(o[:hdrLen], 0))
	copy(o[hdrLen:], payload[start:start+data])
	if last {
		return l3 + hdrLen + data, 0
	}
	return l3 + hdrLen + data, start + data
}

// copiedOptionsLen returns the padded length of the options in opts whose
// copied flag is set, or ok=false if the options are malformed.
func copiedOptionsLen(opts []byte) (n int, ok bool) {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == ipOptEOL {
			break
		}
		if t == ipOptNOP {
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return 0, false
		}
		l := int(opts[i+1])
		if t&ipOptCopied != 0 {
			n += l
		}
		i += l
	}
	return (n + 3) &^ 3, true
}

// writeCopiedOptions writes the copied options of opts (already validated by
// copiedOptionsLen) into dst and pads dst with end-of-options.
func writeCopiedOptions(dst, opts []byte) {
	w := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == ipOptEOL {
			break
		}
		if t == ipOptNOP {
			i++
			continue
		}
		l := int(opts[i+1])
		if t&ipOptCopied != 0 {
			w += copy(dst[w:], opts[i:i+l])
		}
		i += l
	}
	clear(dst[w:])
}
