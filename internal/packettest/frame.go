package packettest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Default MAC addresses of built frames: a peer sending to the director.
var (
	MACSrc = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	MACDst = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

// IP protocol numbers the builder gives a header to.
const (
	ProtoICMP   = 1
	ProtoIPIP   = 4
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoIPv6   = 41
	ProtoGRE    = 47
	ProtoICMPv6 = 58
)

// EtherTypes of the L2 header.
const (
	EtherIPv4 = 0x0800
	EtherARP  = 0x0806
	EtherVLAN = 0x8100
	EtherQinQ = 0x88a8
	EtherIPv6 = 0x86dd
)

// Packet describes one test frame. The zero value of each field is the
// common case, so a row states only what it is about. The family follows
// Src; Proto picks the L4 header (TCP, UDP, ICMP, ICMPv6) or, for any other
// number, sends Payload right after the IP header (IPIP, GRE, a GUE
// tunnel's UDP payload, ...).
type Packet struct {
	SrcMAC, DstMAC net.HardwareAddr // MACSrc and MACDst when nil
	VLANs          []uint16         // 802.1Q tags, outermost first
	QinQ           bool             // the outer tag is 802.1ad (0x88a8)
	EtherType      uint16           // overrides the L3 EtherType when set
	Pad            bool             // pad the frame to Ethernet's 60-byte minimum, as a NIC does

	Src, Dst netip.Addr
	TTL      uint8  // 64 when 0 (the IPv6 hop limit too)
	TOS      uint8  // IPv4 TOS or IPv6 traffic class
	ID       uint16 // IPv4 identification
	DF, MF   bool   // IPv4 flags
	FragOff  uint16 // IPv4 fragment offset in 8-byte units
	IPv4Opts int    // bytes of IPv4 NOP options (a multiple of 4)
	Label    uint32 // IPv6 flow label

	// Ext6 lists IPv6 extension headers between the fixed header and L4,
	// each 8 bytes: 0 (hop-by-hop) and 60 (destination options) with one
	// PadN option, 43 (routing, SegLeft segments left), 44 (fragment,
	// offset field Frag6: offset<<3 | M) and 51 (AH).
	Ext6    []uint8
	SegLeft uint8
	Frag6   uint16
	// RouterAlert puts a router alert option (RFC 2711) in the hop-by-hop
	// header instead of padding only.
	RouterAlert bool

	Proto        uint8
	Sport, Dport uint16
	SYN, ACK     bool // TCP flags
	FIN, RST     bool
	Seq, Ack     uint32
	Window       uint16 // 64240 when 0
	ICMPType     uint8
	ICMPCode     uint8
	ICMPRest     uint32 // the ICMP header's 4 type-specific bytes (MTU, pointer, id+seq)
	UDPNoSum     bool   // an IPv4 UDP datagram sent without a checksum (field 0)
	Payload      []byte
	// Raw sends Payload right after the IP header whatever Proto says: an
	// L4 header written by hand (a GUE tunnel's own UDP header, a
	// malformed segment).
	Raw bool
}

// V6 reports whether p is an IPv6 packet.
func (p Packet) V6() bool { return p.Src.Is6() && !p.Src.Is4In6() }

// Frame builds the whole Ethernet frame of p.
func (p Packet) Frame() []byte {
	et := uint16(EtherIPv4)
	if p.V6() {
		et = EtherIPv6
	}
	if p.EtherType != 0 {
		et = p.EtherType
	}
	f := append(p.L2(et), p.IP()...)
	for p.Pad && len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

// L2 returns p's Ethernet header and VLAN tags for a payload of EtherType
// et. It is written by hand because gopacket always pads short frames to 60
// bytes and the tests want exact lengths.
func (p Packet) L2(et uint16) []byte {
	src, dst := p.macs()
	h := append(append(make([]byte, 0, 14+4*len(p.VLANs)), dst...), src...)
	for i, v := range p.VLANs {
		tpid := uint16(EtherVLAN)
		if i == 0 && p.QinQ {
			tpid = EtherQinQ
		}
		h = binary.BigEndian.AppendUint16(h, tpid)
		h = binary.BigEndian.AppendUint16(h, v)
	}
	return binary.BigEndian.AppendUint16(h, et)
}

// IP builds p's IP packet alone (for ICMP quotes and tunnels' inner packets).
func (p Packet) IP() []byte {
	b := Serialize(p.IPLayers()...)
	if p.UDPNoSum && p.Proto == ProtoUDP && !p.V6() {
		l4 := len(b) - len(p.Payload) - 8
		b[l4+6], b[l4+7] = 0, 0
	}
	return b
}

// L2Layers returns p's Ethernet header and VLAN tags as gopacket layers for
// a payload of EtherType et, for tests that compose a frame from layers of
// their own; gopacket pads such a frame to 60 bytes.
func (p Packet) L2Layers(et uint16) []gopacket.SerializableLayer {
	src, dst := p.macs()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetType(et)}
	out := []gopacket.SerializableLayer{eth}
	for i, v := range p.VLANs {
		tag := &layers.Dot1Q{VLANIdentifier: v, Type: layers.EthernetType(et)}
		if i == 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			if p.QinQ {
				eth.EthernetType = layers.EthernetTypeQinQ
			}
		} else {
			out[len(out)-1].(*layers.Dot1Q).Type = layers.EthernetTypeDot1Q
		}
		out = append(out, tag)
	}
	return out
}

// macs returns the frame's source and destination MAC, defaults filled in.
func (p Packet) macs() (src, dst net.HardwareAddr) {
	src, dst = p.SrcMAC, p.DstMAC
	if src == nil {
		src = MACSrc
	}
	if dst == nil {
		dst = MACDst
	}
	return src, dst
}

// IPLayers returns the gopacket layers of p's IP packet: the IP header,
// extension headers, L4 header and payload.
func (p Packet) IPLayers() []gopacket.SerializableLayer {
	nl, ls := p.NetLayers()
	return append(ls, p.l4Layers(nl)...)
}

// NetLayers returns p's IP header layer (for an L4 layer's checksum) and
// the layers up to L4: the header and any IPv6 extension headers.
func (p Packet) NetLayers() (gopacket.NetworkLayer, []gopacket.SerializableLayer) {
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	if !p.V6() {
		ip := &layers.IPv4{Version: 4, TOS: p.TOS, Id: p.ID, TTL: ttl, Protocol: layers.IPProtocol(p.Proto),
			SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice(), FragOffset: p.FragOff}
		if p.DF {
			ip.Flags |= layers.IPv4DontFragment
		}
		if p.MF {
			ip.Flags |= layers.IPv4MoreFragments
		}
		if p.IPv4Opts%4 != 0 {
			panic(fmt.Sprintf("packettest: %d bytes of IPv4 options", p.IPv4Opts))
		}
		for range p.IPv4Opts {
			ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1})
		}
		return ip, []gopacket.SerializableLayer{ip}
	}
	ip := &layers.IPv6{Version: 6, TrafficClass: p.TOS, FlowLabel: p.Label, HopLimit: ttl,
		NextHeader: layers.IPProtocol(p.Proto), SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
	ls := []gopacket.SerializableLayer{ip}
	if len(p.Ext6) > 0 {
		ip.NextHeader = layers.IPProtocol(p.Ext6[0])
		ls = append(ls, gopacket.Payload(p.ext6()))
	}
	return ip, ls
}

// ext6 returns the raw extension headers: gopacket serialises only some
// kinds, and these are the bytes the programs under test walk.
func (p Packet) ext6() []byte {
	var ext []byte
	for i, t := range p.Ext6 {
		nh := p.Proto
		if i+1 < len(p.Ext6) {
			nh = p.Ext6[i+1]
		}
		h := []byte{nh, 0, 0, 0, 0, 0, 0, 0}
		switch {
		case t == 0 && p.RouterAlert:
			// Router alert (type 5, value 0), then a 0-byte PadN.
			copy(h[2:], []byte{5, 2, 0, 0, 1, 0})
		case t == 43:
			h[3] = p.SegLeft
		case t == 44:
			binary.BigEndian.PutUint16(h[2:], p.Frag6)
			binary.BigEndian.PutUint32(h[4:], 0x1234)
		case t == 51:
			h[1] = 0 // AH counts 4-byte words minus 2: (0+2)*4 = 8 bytes
		default:
			h[2], h[3] = 1, 4 // a PadN option filling the header
		}
		ext = append(ext, h...)
	}
	return ext
}

// l4Layers returns the L4 header and payload layers.
func (p Packet) l4Layers(nl gopacket.NetworkLayer) []gopacket.SerializableLayer {
	payload := gopacket.Payload(p.Payload)
	if p.Raw {
		return []gopacket.SerializableLayer{payload}
	}
	switch p.Proto {
	case ProtoTCP:
		win := p.Window
		if win == 0 {
			win = 64240
		}
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.Sport), DstPort: layers.TCPPort(p.Dport), Seq: p.Seq, Ack: p.Ack,
			SYN: p.SYN, ACK: p.ACK, FIN: p.FIN, RST: p.RST, Window: win}
		must(tc.SetNetworkLayerForChecksum(nl))
		return []gopacket.SerializableLayer{tc, payload}
	case ProtoUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(p.Sport), DstPort: layers.UDPPort(p.Dport)}
		must(u.SetNetworkLayerForChecksum(nl))
		return []gopacket.SerializableLayer{u, payload}
	case ProtoICMP:
		if p.V6() {
			break
		}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(p.ICMPType, p.ICMPCode),
			Id: uint16(p.ICMPRest >> 16), Seq: uint16(p.ICMPRest)}
		return []gopacket.SerializableLayer{ic, payload}
	case ProtoICMPv6:
		if !p.V6() {
			break
		}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(p.ICMPType, p.ICMPCode)}
		must(ic.SetNetworkLayerForChecksum(nl))
		body := binary.BigEndian.AppendUint32(nil, p.ICMPRest)
		return []gopacket.SerializableLayer{ic, gopacket.Payload(append(body, p.Payload...))}
	}
	return []gopacket.SerializableLayer{payload}
}

// Serialize serialises layers with gopacket, lengths and checksums filled
// in, into a new slice.
func Serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	must(gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
