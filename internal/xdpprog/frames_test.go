package xdpprog

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/packettest"
)

// pkt describes a test frame in this package's shorthand (addresses as
// strings, a SYN for TCP, a short payload by default); toPacket turns it
// into the module's one frame builder, internal/packettest.
type pkt struct {
	vlan     bool
	src, dst string
	proto    uint8 // 6, 17, 1 (ICMP), 58 (ICMPv6), or another number
	sport    uint16
	dport    uint16
	icmpType uint8
	ipv4Opts bool    // IPv4 with a 4-byte option (IHL 6)
	mf       bool    // IPv4 more-fragments flag
	fragOff  uint16  // IPv4 fragment offset in 8-byte units
	hopByHop bool    // IPv6 hop-by-hop header before L4
	ext6     []uint8 // IPv6 extension headers (0, 43, 44, 60) before L4, 8 bytes each
	segLeft  uint8   // segments left of an ext6 routing header
	frag6    uint16  // offset field of an ext6 fragment header: offset<<3 | M
	payload  []byte
}

func (p pkt) toPacket() packettest.Packet {
	q := packettest.Packet{
		Src: netip.MustParseAddr(p.src), Dst: netip.MustParseAddr(p.dst),
		Proto: p.proto, Sport: p.sport, Dport: p.dport, SYN: p.proto == 6, Window: 1024,
		ICMPType: p.icmpType, MF: p.mf, FragOff: p.fragOff,
		Ext6: p.ext6, SegLeft: p.segLeft, Frag6: p.frag6, Payload: p.payload,
	}
	if p.vlan {
		q.VLANs = []uint16{42}
	}
	if p.ipv4Opts {
		q.IPv4Opts = 4
	}
	if p.hopByHop {
		q.Ext6 = append([]uint8{0}, p.ext6...)
	}
	if q.Payload == nil {
		q.Payload = []byte("payload!")
	}
	return q
}

// ethHeader returns an Ethernet header (with VLAN tag 42 when vlan) for an
// L3 EtherType.
func ethHeader(vlan bool, et layers.EthernetType) []byte {
	var p packettest.Packet
	if vlan {
		p.VLANs = []uint16{42}
	}
	return p.L2(uint16(et))
}

// ipPacket returns the IP header and everything after it for p.
func ipPacket(t testing.TB, p pkt) []byte {
	t.Helper()
	return p.toPacket().IP()
}

// frame builds the whole Ethernet frame for p.
func frame(t testing.TB, p pkt) []byte {
	t.Helper()
	return p.toPacket().Frame()
}

// arpFrame is a who-has request for target.
func arpFrame(t testing.TB, target string) []byte {
	t.Helper()
	return packettest.ARP(packettest.MACSrc, netip.MustParseAddr("198.18.40.1"), netip.MustParseAddr(target))
}

// tunnel wraps an inner IP packet in an outer IPv4 or IPv6 header (by the
// family of src; with 4 bytes of options when opts) with the given protocol,
// inside Ethernet.
func tunnel(t testing.TB, vlan bool, src, dst string, proto uint8, inner []byte, opts bool) []byte {
	t.Helper()
	q := packettest.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, Payload: inner, Raw: true}
	if vlan {
		q.VLANs = []uint16{42}
	}
	if opts {
		q.IPv4Opts = 4
	}
	return q.Frame()
}

// TestOracleExtHeaders: the oracle gives up after as many extension headers
// as the program does.
func TestOracleExtHeaders(t *testing.T) {
	if maxExtHeaders != packettest.MaxExtHeaders {
		t.Fatalf("program walks %d extension headers, oracle %d", maxExtHeaders, packettest.MaxExtHeaders)
	}
}
