package encap

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
)

// splitV6 fragments a whole IPv6 frame as a sender does (RFC 8200 4.5): the
// unfragmentable part (the fixed header and a hop-by-hop header) is
// repeated, a Fragment header follows it, and the rest (destination options,
// the transport header, the payload) is cut into pieces of at most mtu.
func splitV6(frame []byte, mtu int, id uint32) [][]byte {
	ip := frame[14:]
	unfrag, nhOff := 40, 6
	if ip[6] == flow.HopByHop {
		unfrag, nhOff = 40+(int(ip[41])+1)*8, 40
	}
	first := ip[nhOff]
	rest := ip[unfrag:]
	chunk := (mtu - unfrag - 8) &^ 7
	var out [][]byte
	for off := 0; off < len(rest); off += chunk {
		end := min(off+chunk, len(rest))
		f := slices.Clone(frame[:14+unfrag])
		f[14+nhOff] = flow.Fragment
		binary.BigEndian.PutUint16(f[14+4:], uint16(unfrag-40+8+end-off))
		fo := uint16(off)
		if end < len(rest) {
			fo |= 1
		}
		f = append(f, first, 0, byte(fo>>8), byte(fo))
		f = binary.BigEndian.AppendUint32(f, id)
		out = append(out, append(f, rest[off:end]...))
	}
	return out
}

// joinV6 reassembles what splitV6 made (in any order).
func joinV6(t *testing.T, frags [][]byte) []byte {
	t.Helper()
	var head []byte
	var next byte
	parts := map[int][]byte{}
	for _, f := range frags {
		var p Packet
		var fr Frag
		if Parse(f, &p) != KindFragment {
			t.Fatalf("not a fragment")
		}
		fh := p.L4 - 8 // before ParseFragment moves L4 of a first fragment
		ParseFragment(&p, &fr)
		if fr.Offset == 0 {
			head, next = slices.Clone(f[:fh]), f[fh]
		}
		parts[fr.Offset] = f[fh+8 : p.L3+p.IPLen]
	}
	offs := make([]int, 0, len(parts))
	for o := range parts {
		offs = append(offs, o)
	}
	slices.Sort(offs)
	whole := head
	for _, o := range offs {
		if o != len(whole)-len(head) {
			t.Fatalf("gap at %d", o)
		}
		whole = append(whole, parts[o]...)
	}
	// Put the first fragmentable header back where the Fragment header was.
	if whole[14+6] == flow.Fragment {
		whole[14+6] = next
	} else {
		whole[14+40] = next
	}
	binary.BigEndian.PutUint16(whole[14+4:], uint16(len(whole)-14-40))
	return whole
}

func TestParseFragment(t *testing.T) {
	big := make([]byte, 3000)
	for i := range big {
		big[i] = byte(i)
	}
	udp4 := pktFlow{src: client4, dst: vip4, id: 0x4321, udp: true, sport: 1000, dport: 53, payload: big}.frame()
	tcp4 := pktFlow{src: client4, dst: vip4, id: 0x4322, syn: true, sport: 1001, dport: 80, payload: big}.frame()
	udp6 := pktFlow{src: client6, dst: vip6, udp: true, sport: 1002, dport: 53, payload: big, v6Ext: true}.frame()
	icmp4 := serialize(append(l2Layers(pktFlow{src: client4, dst: vip4}, layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 9, Protocol: layers.IPProtocolICMPv4, SrcIP: client4.AsSlice(), DstIP: vip4.AsSlice()},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload(big))...)
	v4 := func(frame []byte, mtu, i int) []byte { return fragmentAll(t, frame, 14, mtu)[i] }
	for _, tc := range []struct {
		name          string
		frame         []byte
		want          FragClass
		kind          Kind
		id            uint32
		off           int
		more          bool
		sport, dport  uint16
		proto, fproto uint8
	}{
		{"udp4 first", v4(udp4, 1500, 0), FragFirst, KindUDP, 0x4321, 0, true, 1000, 53, 17, 17},
		{"udp4 later", v4(udp4, 1500, 1), FragLater, KindFragment, 0x4321, 1480, true, 0, 0, 17, 17},
		{"udp4 last", v4(udp4, 1500, 2), FragLater, KindFragment, 0x4321, 2960, false, 0, 0, 17, 17},
		{"tcp4 first", v4(tcp4, 1500, 0), FragFirst, KindTCP, 0x4322, 0, true, 1001, 80, 6, 6},
		{"tcp4 tiny first", v4(tcp4, 28, 0), FragShortFirst, KindFragment, 0x4322, 0, true, 0, 0, 6, 6},
		{"icmp4 first", v4(icmp4, 1500, 0), FragOtherFirst, KindFragment, 9, 0, true, 0, 0, 1, 1},
		{"udp6 first behind options", splitV6(udp6, 1500, 0xabcdef01)[0], FragFirst, KindUDP, 0xabcdef01, 0, true, 1002, 53, 17, 60},
		{"udp6 later", splitV6(udp6, 1500, 0xabcdef01)[1], FragLater, KindFragment, 0xabcdef01, 1440, true, 0, 0, 60, 60},
		{"whole udp4", udp4, FragBad, KindUDP, 0, 0, false, 1000, 53, 17, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			var fr Frag
			Parse(tc.frame, &p)
			got := ParseFragment(&p, &fr)
			if got != tc.want || p.Kind() != tc.kind {
				t.Fatalf("class %d kind %v, want %d %v", got, p.Kind(), tc.want, tc.kind)
			}
			if got == FragBad {
				return
			}
			if fr.ID != tc.id || fr.Offset != tc.off || fr.More != tc.more || fr.Proto != tc.fproto {
				t.Errorf("frag %+v, want id %#x offset %d more %v proto %d", fr, tc.id, tc.off, tc.more, tc.fproto)
			}
			if fr.Len != p.L3+p.IPLen-p.L4 && got != FragFirst {
				t.Errorf("len %d", fr.Len)
			}
			if p.SrcPort != tc.sport || p.DstPort != tc.dport || p.Proto != tc.proto {
				t.Errorf("ports %d>%d proto %d, want %d>%d %d", p.SrcPort, p.DstPort, p.Proto, tc.sport, tc.dport, tc.proto)
			}
			if !IsFragment(&p) {
				t.Error("IsFragment false")
			}
		})
	}
	var p Packet
	Parse(udp4, &p)
	if IsFragment(&p) {
		t.Error("a whole packet is a fragment")
	}
}

// TestFragmentNAT rewrites every fragment of a datagram as the forwarder
// does (DNAT on the promoted first fragment, FragmentSetDst on the others;
// SNAT / FragmentSetSrc for a reply) and checks each fragment's own IPv4
// header checksum and, after reassembly (gopacket's ip4defrag for IPv4, by
// hand for IPv6), the transport checksum and the payload.
func TestFragmentNAT(t *testing.T) {
	big := make([]byte, 4000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name  string
		f     pktFlow
		reply bool
	}{
		{"udp4 dnat", pktFlow{src: client4, dst: vip4, id: 77, udp: true, sport: 1000, dport: 53, payload: big}, false},
		{"tcp4 dnat", pktFlow{src: client4, dst: vip4, id: 78, syn: true, sport: 1000, dport: 80, payload: big}, false},
		{"udp4 snat", pktFlow{src: real4, dst: client4, id: 79, udp: true, sport: 5353, dport: 1000, payload: big}, true},
		{"udp4 no checksum", pktFlow{src: client4, dst: vip4, id: 80, udp: true, sport: 1000, dport: 53, payload: big, udpNoSum: true}, false},
		{"udp6 dnat", pktFlow{src: client6, dst: vip6, udp: true, sport: 1000, dport: 53, payload: big, v6Ext: true}, false},
		{"tcp6 snat", pktFlow{src: real6, dst: client6, syn: true, ack: true, sport: 8080, dport: 1000, payload: big}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := tc.f.frame()
			var frags [][]byte
			to, port := a16(real4), uint16(5353)
			if tc.f.v6() {
				frags = splitV6(whole, 1500, 0x1234567)
				to = a16(real6)
			} else {
				frags = fragmentAll(t, whole, 14, 1500)
			}
			if tc.reply {
				to, port = a16(vip4), 9000
				if tc.f.v6() {
					to = a16(vip6)
				}
			}
			slices.Reverse(frags)
			for _, f := range frags {
				var p Packet
				var fr Frag
				Parse(f, &p)
				switch cls := ParseFragment(&p, &fr); {
				case cls == FragFirst && tc.reply:
					SNAT(&p, to, port)
				case cls == FragFirst:
					DNAT(&p, to, port)
				case cls == FragLater && tc.reply:
					FragmentSetSrc(&p, to)
				case cls == FragLater:
					FragmentSetDst(&p, to)
				default:
					t.Fatalf("class %d", cls)
				}
				if !tc.f.v6() && refChecksum(f[14:34], 0) != 0 {
					t.Fatal("bad IPv4 header checksum after the rewrite")
				}
			}
			var re []byte
			if tc.f.v6() {
				re = joinV6(t, frags)
			} else {
				d := ip4defrag.NewIPv4Defragmenter()
				for _, f := range frags {
					ip := gopacket.NewPacket(f[14:], layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
					out, err := d.DefragIPv4(ip)
					if err != nil {
						t.Fatal(err)
					}
					if out != nil {
						out.Flags, out.FragOffset = 0, 0
						re = serialize(append(l2Layers(tc.f, layers.EthernetTypeIPv4), out, gopacket.Payload(out.Payload))...)
					}
				}
				if re == nil {
					t.Fatal("gopacket did not reassemble the datagram")
				}
			}
			pkt := gopacketCheck(t, re)
			if tl := pkt.TransportLayer(); tl == nil || !bytes.Equal(tl.LayerPayload(), big) {
				t.Fatal("payload changed")
			}
			var p Packet
			Parse(re, &p)
			addr, gotPort := p.Dst, p.DstPort
			if tc.reply {
				addr, gotPort = p.Src, p.SrcPort
			}
			if addr != to || gotPort != port {
				t.Errorf("rewritten to %x:%d, want %x:%d", addr, gotPort, to, port)
			}
		})
	}
}

// FuzzParseFragment: on any frame Parse calls a fragment, ParseFragment
// never panics or reads outside the IP packet, a promoted first fragment has
// its transport header inside the packet, and the later-fragment rewrites
// keep the IPv4 header checksum valid.
func FuzzParseFragment(f *testing.F) {
	big := make([]byte, 2000)
	f.Add(fragmentAll(f, pktFlow{src: client4, dst: vip4, id: 1, udp: true, sport: 1, dport: 2, payload: big}.frame(), 14, 1000)[0])
	f.Add(fragmentAll(f, pktFlow{src: client4, dst: vip4, id: 1, udp: true, sport: 1, dport: 2, payload: big}.frame(), 14, 1000)[1])
	for _, fr := range splitV6(pktFlow{src: client6, dst: vip6, udp: true, sport: 1, dport: 2, payload: big, v6Ext: true}.frame(), 1280, 5) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		if Parse(data, &p) != KindFragment {
			return
		}
		v4ok := p.Family == 4 && refChecksum(data[p.L3:p.L3+int(data[p.L3]&0xf)*4], 0) == 0
		var fr Frag
		switch ParseFragment(&p, &fr) {
		case FragFirst:
			min := udpHdrLen
			if p.Kind() == KindTCP {
				min = tcpMinLen
			}
			if p.L4 < p.L3 || p.L4+min > p.L3+p.IPLen || !IsFragment(&p) {
				t.Fatalf("promoted first fragment: L4 %d, IP packet %d+%d", p.L4, p.L3, p.IPLen)
			}
			DNAT(&p, a16(real4), 9)
		case FragLater:
			if fr.Offset == 0 || fr.Len != p.L3+p.IPLen-p.L4 {
				t.Fatalf("later fragment %+v", fr)
			}
			FragmentSetDst(&p, a16(real4))
			FragmentSetSrc(&p, a16(vip4))
			if v4ok && refChecksum(data[p.L3:p.L3+int(data[p.L3]&0xf)*4], 0) != 0 {
				t.Fatal("header checksum broken by the rewrite")
			}
		case FragBad:
			t.Fatal("Parse's fragment refused")
		}
	})
}
