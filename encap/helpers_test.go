package encap

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/packettest"
)

// Test topology addresses (198.18.0.0/15 and 2001:db8::/32 only).
var (
	client4   = netip.MustParseAddr("198.18.0.10")
	vip4      = netip.MustParseAddr("198.18.1.100")
	real4     = netip.MustParseAddr("198.18.2.20")
	director4 = netip.MustParseAddr("198.18.1.1")
	client6   = netip.MustParseAddr("2001:db8:1::10")
	vip6      = netip.MustParseAddr("2001:db8:2::100")
	real6     = netip.MustParseAddr("2001:db8:3::20")
	director6 = netip.MustParseAddr("2001:db8:2::1")

	macClientGW = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01} // the router in front of the director
	macDirector = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	macReal     = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}
)

func a16(a netip.Addr) addr16 { return a.As16() }

func mac6(m net.HardwareAddr) [6]byte { return [6]byte(m) }

// pktFlow describes one TCP or UDP packet to build with gopacket.
type pktFlow struct {
	vlans     []uint16 // VLAN IDs, outermost first
	qinq      bool     // the outer tag is 802.1ad (0x88a8)
	srcMAC    net.HardwareAddr
	dstMAC    net.HardwareAddr
	src, dst  netip.Addr
	ttl, tos  uint8
	id        uint16
	df        bool
	flowLabel uint32
	udp       bool
	sport     uint16
	dport     uint16
	syn, ack  bool
	seq       uint32
	payload   []byte
	udpNoSum  bool // IPv4 UDP sent without a checksum (field 0)
	v6Ext     bool // IPv6 hop-by-hop + destination options headers before L4
}

func (f pktFlow) v6() bool { return f.src.Is6() && !f.src.Is4In6() }

func (f pktFlow) etherType() layers.EthernetType {
	if f.v6() {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// packet is f for the module's one frame builder, internal/packettest,
// carrying proto.
func (f pktFlow) packet(proto uint8) packettest.Packet {
	src, dst := f.srcMAC, f.dstMAC
	if src == nil {
		src = macClientGW
	}
	if dst == nil {
		dst = macDirector
	}
	p := packettest.Packet{SrcMAC: src, DstMAC: dst, VLANs: f.vlans, QinQ: f.qinq, Pad: true,
		Src: f.src, Dst: f.dst, TTL: f.ttl, TOS: f.tos, ID: f.id, DF: f.df, Label: f.flowLabel,
		Proto: proto, Sport: f.sport, Dport: f.dport, SYN: f.syn, ACK: f.ack, Seq: f.seq,
		UDPNoSum: f.udpNoSum, Payload: f.payload}
	if f.ack {
		p.Ack = 1
	}
	if f.v6Ext {
		// Hop-by-hop with a router alert, then destination options.
		p.Ext6, p.RouterAlert = []uint8{0, 60}, true
	}
	return p
}

func (f pktFlow) proto() uint8 {
	if f.udp {
		return packettest.ProtoUDP
	}
	return packettest.ProtoTCP
}

// l2Layers returns the Ethernet header and VLAN tags for a payload of type et.
func l2Layers(f pktFlow, et layers.EthernetType) []gopacket.SerializableLayer {
	return f.packet(0).L2Layers(uint16(et))
}

// netLayer returns the IP header layer (plus IPv6 extension layers) for f
// carrying proto.
func netLayer(f pktFlow, proto layers.IPProtocol) (gopacket.NetworkLayer, []gopacket.SerializableLayer) {
	return f.packet(uint8(proto)).NetLayers()
}

// ipLayers returns the layers of f from the IP header down.
func (f pktFlow) ipLayers() []gopacket.SerializableLayer { return f.packet(f.proto()).IPLayers() }

// frame builds the whole Ethernet frame of f.
func (f pktFlow) frame() []byte { return f.packet(f.proto()).Frame() }

// ipPacket builds the IP packet of f alone (for quotes and tunnels), always
// with a UDP checksum: udpNoSum is about the frame f is sent in.
func (f pktFlow) ipPacket() []byte {
	p := f.packet(f.proto())
	p.UDPNoSum = false
	return p.IP()
}

// icmpErr describes an ICMP/ICMPv6 error quoting a packet.
type icmpErr struct {
	outer     pktFlow // addresses, TTL, MACs, VLANs of the error itself
	typ, code uint8
	rest      uint32 // the 4 type-specific bytes (v4 frag needed / v6 too big: MTU)
	quote     []byte
}

func (e icmpErr) packet() packettest.Packet {
	proto := uint8(packettest.ProtoICMP)
	if e.outer.v6() {
		proto = packettest.ProtoICMPv6
	}
	p := e.outer.packet(proto)
	p.ICMPType, p.ICMPCode, p.ICMPRest, p.Payload = e.typ, e.code, e.rest, e.quote
	return p
}

func (e icmpErr) frame() []byte { return e.packet().Frame() }

func serialize(ls ...gopacket.SerializableLayer) []byte { return packettest.Serialize(ls...) }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// --- the reference ("oracle") checksum: RFC 1071 written the obvious way ---

// refSum adds b as 16-bit big-endian words, one at a time.
func refSum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func refChecksum(b []byte, pseudo uint32) uint16 {
	s := refSum(b) + pseudo
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func refPseudo(src, dst []byte, proto uint8, length int) uint32 {
	return refSum(src) + refSum(dst) + uint32(proto) + uint32(length>>16) + uint32(length&0xffff)
}

// refFieldSum computes the checksum of b as if the 16-bit field at off were
// zero, without modifying b.
func refFieldSum(b []byte, off int, pseudo uint32) uint16 {
	c := append([]byte(nil), b...)
	c[off], c[off+1] = 0, 0
	return refChecksum(c, pseudo)
}

// refSums returns, for a packet parsed into p, the offsets of each checksum
// field in p.Frame and the value a full recompute gives it, in the order they
// must be written (the quoted IPv4 header before the ICMP checksum that covers
// it). UDP's computed 0 becomes 0xffff; an IPv4 UDP checksum of 0 is skipped.
func refSums(p *Packet) (offs []int, vals []uint16) {
	f := p.Frame
	end := p.L3 + p.IPLen
	var src, dst []byte
	if p.Family == 4 {
		offs = append(offs, p.L3+ipv4Csum)
		vals = append(vals, refFieldSum(f[p.L3:p.L4], ipv4Csum, 0))
		src, dst = f[p.L3+12:p.L3+16], f[p.L3+16:p.L3+20]
	} else {
		src, dst = f[p.L3+8:p.L3+24], f[p.L3+24:p.L3+40]
	}
	seg := f[p.L4:end]
	switch p.kind {
	case KindTCP:
		offs = append(offs, p.L4+16)
		vals = append(vals, refFieldSum(seg, 16, refPseudo(src, dst, 6, len(seg))))
	case KindUDP:
		if p.Family == 4 && be16(seg[6:]) == 0 {
			break
		}
		c := refFieldSum(seg, 6, refPseudo(src, dst, 17, len(seg)))
		if c == 0 {
			c = 0xffff
		}
		offs = append(offs, p.L4+6)
		vals = append(vals, c)
	case KindICMPError, KindICMPOther:
		var ps uint32
		if p.Family == 6 {
			ps = refPseudo(src, dst, 58, len(seg))
		}
		if p.kind == KindICMPError && p.Family == 4 {
			// The quoted header's checksum, then the ICMP checksum over it.
			q := f[p.InnerL3:p.InnerL4]
			c := refFieldSum(q, ipv4Csum, 0)
			offs = append(offs, p.InnerL3+ipv4Csum)
			vals = append(vals, c)
			seg = append([]byte(nil), seg...)
			put16(seg[p.InnerL3-p.L4+ipv4Csum:], c)
		}
		offs = append(offs, p.L4+2)
		vals = append(vals, refFieldSum(seg, 2, ps))
	}
	return offs, vals
}

// refFix writes every checksum field of the parsed packet with the value a
// full recompute gives.
func refFix(p *Packet) {
	offs, vals := refSums(p)
	for i, o := range offs {
		put16(p.Frame[o:], vals[i])
	}
}

// refCheck fails t unless every checksum field holds exactly what a full
// recompute gives (not merely an equivalent ones'-complement zero).
func refCheck(t testing.TB, p *Packet) {
	t.Helper()
	offs, vals := refSums(p)
	for i, o := range offs {
		if got := be16(p.Frame[o:]); got != vals[i] {
			t.Errorf("checksum at frame offset %d = %#04x, full recompute gives %#04x", o, got, vals[i])
		}
	}
}

// gopacketCheck decodes frame with gopacket, fails on any decoding error, and
// re-serializes the decoded layers with gopacket computing every checksum
// (IPv4 header, TCP, UDP, ICMPv4, ICMPv6 with the pseudo-header of the
// nearest IP layer): the result must equal frame byte for byte up to the end
// of the IP packet. An IPv4 UDP checksum of 0 (none) and 0xffff (RFC 768's
// form of a computed 0, which gopacket writes as 0) are accepted at that
// field. It returns the decoded packet for field checks.
func gopacketCheck(t testing.TB, frame []byte) gopacket.Packet {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: false})
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode: %v", el.Error())
	}
	var nl gopacket.NetworkLayer
	for _, l := range pkt.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			nl = v
		case *layers.IPv6:
			nl = v
		case *layers.TCP:
			must(v.SetNetworkLayerForChecksum(nl))
		case *layers.UDP:
			must(v.SetNetworkLayerForChecksum(nl))
		case *layers.ICMPv6:
			must(v.SetNetworkLayerForChecksum(nl))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializePacket(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, pkt); err != nil {
		t.Fatalf("gopacket re-serialize: %v", err)
	}
	re := buf.Bytes()
	var p Packet
	Parse(frame, &p)
	n := min(len(re), len(frame))
	if n < p.L3+p.IPLen {
		t.Fatalf("gopacket re-serialized %d bytes, IP packet ends at %d", len(re), p.L3+p.IPLen)
	}
	got, want := append([]byte(nil), frame[:n]...), append([]byte(nil), re[:n]...)
	if p.kind == KindUDP {
		c := p.L4 + udpCsum
		if v := be16(got[c:]); (v == 0 && p.Family == 4) || (v == 0xffff && be16(want[c:]) == 0) {
			copy(got[c:c+2], want[c:c+2])
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("checksums differ from gopacket's recompute:\n%s", hexDiff(got, want))
	}
	return pkt
}

// hexDiff shows the 16-byte lines where two byte slices differ, side by side.
func hexDiff(got, want []byte) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "len %d vs %d\n", len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i += 16 {
		g := got[min(i, len(got)):min(i+16, len(got))]
		w := want[min(i, len(want)):min(i+16, len(want))]
		if bytes.Equal(g, w) {
			continue
		}
		fmt.Fprintf(&b, "%04x: %-32s != %s\n", i, hex.EncodeToString(g), hex.EncodeToString(w))
	}
	return b.String()
}

type gopacketLayer = gopacket.SerializableLayer

var mcast4 = netip.MustParseAddr("224.0.0.5")

// outerType is the EtherType for a tunnel frame whose first layer is outer[0].
func outerType(outer []gopacketLayer) layers.EthernetType {
	if _, ok := outer[0].(*layers.IPv6); ok {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// Slice returns the address bytes as a new slice (fuzz arguments).
func (a addr16) Slice() []byte { return append([]byte(nil), a[:]...) }

type addr16 [16]byte
