package xdpprog

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

// pkt describes a test frame: Ethernet (optionally VLAN tagged), IPv4 or
// IPv6 by the family of src, and an L4 header chosen by proto.
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

// ser serialises layers with lengths and checksums filled in.
func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialise: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ethHeader returns an Ethernet header (with a VLAN tag when vlan) for an
// L3 ethertype. It is built by hand because gopacket pads short Ethernet
// frames to 60 bytes, and the tests want exact lengths.
func ethHeader(vlan bool, et layers.EthernetType) []byte {
	h := append(append([]byte(nil), macB...), macA...)
	if vlan {
		h = binary.BigEndian.AppendUint16(h, uint16(layers.EthernetTypeDot1Q))
		h = binary.BigEndian.AppendUint16(h, 42)
	}
	return binary.BigEndian.AppendUint16(h, uint16(et))
}

// ipPacket returns the IP header and everything after it for p.
func ipPacket(t testing.TB, p pkt) []byte {
	t.Helper()
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	var l3 gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocol(p.proto),
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), FragOffset: p.fragOff}
		if p.mf {
			ip.Flags |= layers.IPv4MoreFragments
		}
		if p.ipv4Opts {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		l3, ls = ip, append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(p.proto),
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls = append(ls, ip)
		if p.hopByHop {
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = layers.IPProtocol(p.proto)
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
			ls = append(ls, hbh)
		}
		if len(p.ext6) > 0 {
			ip.NextHeader = layers.IPProtocol(p.ext6[0])
			var ext []byte
			for i, t := range p.ext6 {
				nh := p.proto
				if i+1 < len(p.ext6) {
					nh = p.ext6[i+1]
				}
				h := []byte{nh, 0, 0, 0, 0, 0, 0, 0}
				switch t {
				case 43:
					h[3] = p.segLeft
				case 44:
					binary.BigEndian.PutUint16(h[2:], p.frag6)
					binary.BigEndian.PutUint32(h[4:], 0x1234)
				default:
					h[2], h[3] = 1, 4 // a PadN option filling the header
				}
				ext = append(ext, h...)
			}
			ls = append(ls, gopacket.Payload(ext))
		}
		l3 = ip
	}
	payload := p.payload
	if payload == nil {
		payload = []byte("payload!")
	}
	switch p.proto {
	case 6:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), SYN: true, Window: 1024}
		_ = tcp.SetNetworkLayerForChecksum(l3)
		ls = append(ls, tcp)
	case 17:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		_ = udp.SetNetworkLayerForChecksum(l3)
		ls = append(ls, udp)
	case 1:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(p.icmpType, 0)})
	case 58:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(p.icmpType, 0)}
		_ = icmp.SetNetworkLayerForChecksum(l3)
		ls = append(ls, icmp)
	}
	ls = append(ls, gopacket.Payload(payload))
	return ser(t, ls...)
}

// frame builds the whole Ethernet frame for p.
func frame(t testing.TB, p pkt) []byte {
	t.Helper()
	et := layers.EthernetTypeIPv4
	if !netip.MustParseAddr(p.src).Is4() {
		et = layers.EthernetTypeIPv6
	}
	return append(ethHeader(p.vlan, et), ipPacket(t, p)...)
}

// arpFrame is a who-has request for target.
func arpFrame(t testing.TB, target string) []byte {
	t.Helper()
	return ser(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: macA, SourceProtAddress: net.IP{198, 18, 40, 1}.To4(),
			DstHwAddress: make([]byte, 6), DstProtAddress: netip.MustParseAddr(target).AsSlice()})
}

// tunnel wraps an inner IP packet in an outer IPv4 or IPv6 header (by the
// family of src) with the given protocol, inside Ethernet.
func tunnel(t testing.TB, vlan bool, src, dst string, proto uint8, inner []byte, opts bool) []byte {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocol(proto), SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		if opts {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		return append(ethHeader(vlan, layers.EthernetTypeIPv4), ser(t, ip, gopacket.Payload(inner))...)
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(proto), SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	return append(ethHeader(vlan, layers.EthernetTypeIPv6), ser(t, ip, gopacket.Payload(inner))...)
}
