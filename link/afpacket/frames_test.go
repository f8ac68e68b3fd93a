package afpacket

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/internal/packettest"
)

// pkt describes a test frame in this package's shorthand (a SYN for TCP,
// zero MAC addresses unless set, IPv4 flags and offset as one field);
// frame() builds it with the module's one frame builder,
// internal/packettest, lengths and checksums filled in.
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
	return packettest.Packet{
		SrcMAC: p.srcMAC[:], DstMAC: p.dstMAC[:], EtherType: p.etherType,
		Src: p.src, Dst: p.dst, DF: p.frag&0x4000 != 0, MF: p.frag&0x2000 != 0, FragOff: p.frag & 0x1fff,
		IPv4Opts: p.options, Ext6: p.ext6, SegLeft: p.segLeft, Frag6: p.frag6,
		Proto: p.proto, Sport: p.sport, Dport: p.dport, SYN: p.proto == 6, ICMPType: p.icmpType,
		Payload: p.payload,
	}.Frame()
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

// steerRef is the steering decision of the module's one steering oracle,
// reading the frame as a packet socket's filter sees it: the kernel has
// already moved any VLAN tag out of the data.
func steerRef(frame []byte, rs Rules) bool {
	return packettest.Steered(packettest.Steer(rs, frame, packettest.Untagged))
}

// TestOracleExtHeaders: the oracle gives up after as many extension headers
// as the filter does.
func TestOracleExtHeaders(t *testing.T) {
	if maxExtHeaders != packettest.MaxExtHeaders {
		t.Fatalf("filter walks %d extension headers, oracle %d", maxExtHeaders, packettest.MaxExtHeaders)
	}
}

// TestFilterSteerRows replays the module's steering fixtures through the
// socket filter and the nftables rules, the tags taken out as the kernel
// does before a packet socket sees the frame: each must steer exactly the
// rows the XDP program steers. The one documented difference (doc.go): the
// kernel walks more extension headers than the filter, so nftables drops
// a service packet behind more than six.
func TestFilterSteerRows(t *testing.T) {
	for _, r := range packettest.SteerRows {
		want := packettest.Steered(r.Want)
		wantNFT := want || len(r.Packet.Ext6) > maxExtHeaders
		if filter, nft := verdicts(t, packettest.SteerRules, r.Frame(packettest.Untagged)); filter != want || nft != wantNFT {
			t.Errorf("%s: row %s, filter steers %v, nftables drops %v", r.Name, r.Want, filter, nft)
		}
	}
}
