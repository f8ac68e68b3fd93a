package encap

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
)

func TestKindString(t *testing.T) {
	want := map[Kind]string{KindMalformed: "malformed", KindNotIP: "not-ip", KindTCP: "tcp", KindUDP: "udp",
		KindICMPError: "icmp-error", KindICMPOther: "icmp-other", KindFragment: "fragment", KindOtherL4: "other-l4",
		Kind(200): "kind(200)"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), s)
		}
	}
}

// TestParseFieldsMatchGopacket checks every field Parse fills against
// gopacket's decode of the same fixture frames.
func TestParseFieldsMatchGopacket(t *testing.T) {
	n := 0
	for _, row := range fixtures() {
		var p Packet
		k := Parse(row.in, &p)
		if k != KindTCP && k != KindUDP {
			continue
		}
		n++
		pkt := gopacket.NewPacket(row.in, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.TransportLayer() == nil {
			continue // gopacket does not decode past an atomic fragment or a type 4 routing header
		}
		var want Packet
		want.Frame, want.kind = row.in, k
		want.L3 = 14
		for _, l := range pkt.Layers() {
			switch v := l.(type) {
			case *layers.Dot1Q:
				want.VLAN = true
				want.L3 += 4
			case *layers.IPv4:
				want.Family, want.TTL, want.Proto, want.IPLen = 4, v.TTL, uint8(v.Protocol), int(v.Length)
				want.DF = v.Flags&layers.IPv4DontFragment != 0
				want.Src, want.Dst = flow.AddrFrom4([4]byte(v.SrcIP.To4())), flow.AddrFrom4([4]byte(v.DstIP.To4()))
				want.L4 = want.L3 + int(v.IHL)*4
			case *layers.IPv6:
				want.Family, want.TTL, want.IPLen, want.DF = 6, v.HopLimit, 40+int(v.Length), true
				want.Src, want.Dst = [16]byte(v.SrcIP), [16]byte(v.DstIP)
				want.L4 = want.L3 + 40
			case *layers.IPv6HopByHop:
				want.L4 += v.ActualLength
			case *layers.IPv6Destination:
				want.L4 += v.ActualLength
			case *layers.IPv6Routing:
				want.L4 += len(v.Contents)
			case *layers.IPv6Fragment:
				want.L4 += 8
			case *layers.TCP:
				want.Proto, want.SrcPort, want.DstPort = 6, uint16(v.SrcPort), uint16(v.DstPort)
				want.TCPFlags = v.Contents[13]
			case *layers.UDP:
				want.Proto, want.SrcPort, want.DstPort = 17, uint16(v.SrcPort), uint16(v.DstPort)
			}
		}
		if p.view() != want.view() {
			t.Errorf("%s:\n Parse    %+v\n gopacket %+v", row.name, p.view(), want.view())
		}
	}
	if n < 20 {
		t.Fatalf("only %d TCP/UDP fixtures compared", n)
	}
}

// view is Packet without Frame, which is not comparable.
type view struct {
	L3, L4, IPLen                                    int
	VLAN, DF                                         bool
	Family, Proto, TTL, TCPFlags, ICMPType, ICMPCode uint8
	Src, Dst                                         netip.Addr
	SrcPort, DstPort                                 uint16
	InnerL3, InnerL4                                 int
	InnerProto                                       uint8
	InnerSrc, InnerDst                               netip.Addr
	InnerSrcPort, InnerDstPort                       uint16
	Kind                                             Kind
}

func (p *Packet) view() view {
	return view{p.L3, p.L4, p.IPLen, p.VLAN, p.DF, p.Family, p.Proto, p.TTL, p.TCPFlags, p.ICMPType, p.ICMPCode,
		netip.AddrFrom16(p.Src).Unmap(), netip.AddrFrom16(p.Dst).Unmap(), p.SrcPort, p.DstPort, p.InnerL3, p.InnerL4,
		p.Inner.Proto, netip.AddrFrom16(p.Inner.Src).Unmap(), netip.AddrFrom16(p.Inner.Dst).Unmap(), p.Inner.SrcPort,
		p.Inner.DstPort, p.kind}
}

func TestParseICMPErrorFields(t *testing.T) {
	reply := pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64, payload: payload}
	frame := icmpErr{outer: pktFlow{src: client4, dst: vip4, ttl: 9}, typ: 3, code: 3, quote: reply.ipPacket()[:28]}.frame()
	var p Packet
	if k := Parse(frame, &p); k != KindICMPError {
		t.Fatalf("Parse = %v", k)
	}
	want := view{L3: 14, L4: 34, IPLen: 20 + 8 + 28, Family: 4, Proto: 1, TTL: 9, ICMPType: 3, ICMPCode: 3,
		Src: client4, Dst: vip4, InnerL3: 42, InnerL4: 62, InnerProto: 17, InnerSrc: vip4, InnerDst: client4,
		InnerSrcPort: 80, InnerDstPort: 40000, Kind: KindICMPError}
	if got := p.view(); got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	reply6 := pktFlow{src: vip6, dst: client6, sport: 80, dport: 40000, ttl: 64, v6Ext: true, payload: payload}
	frame = icmpErr{outer: pktFlow{src: client6, dst: vip6, ttl: 9, vlans: []uint16{5}}, typ: 1, code: 4,
		quote: reply6.ipPacket()[:40+16+8]}.frame()
	if k := Parse(frame, &p); k != KindICMPError {
		t.Fatalf("Parse = %v", k)
	}
	want = view{L3: 18, L4: 58, IPLen: 40 + 8 + 64, VLAN: true, DF: true, Family: 6, Proto: 58, TTL: 9, ICMPType: 1,
		ICMPCode: 4, Src: client6, Dst: vip6, InnerL3: 66, InnerL4: 66 + 56, InnerProto: 6, InnerSrc: vip6,
		InnerDst: client6, InnerSrcPort: 80, InnerDstPort: 40000, Kind: KindICMPError}
	if got := p.view(); got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// The next frame must not inherit anything.
	if k := Parse(req4().frame(), &p); k != KindTCP || p.InnerL3 != 0 || p.ICMPType != 0 || p.Inner.Src != [16]byte{} || p.VLAN {
		t.Fatalf("stale fields after re-parse: %+v", p.view())
	}
}

func TestParseIgnoresEthernetPadding(t *testing.T) {
	f := pktFlow{src: client4, dst: vip4, sport: 1, dport: 2, ttl: 5, ack: true}
	frame := append(f.frame(), 0xde, 0xad) // 60 bytes of gopacket's padding, then more
	var p Packet
	if k := Parse(frame, &p); k != KindTCP || p.IPLen != 40 || len(p.Frame) != 62 {
		t.Fatalf("Parse = %v, IPLen %d", k, p.IPLen)
	}
	if !VerifyChecksums(&p) {
		t.Fatal("padding must not enter the checksum")
	}
	DNAT(&p, a16(real4), 8080)
	refCheck(t, &p)
	if frame[60] != 0xde || frame[61] != 0xad {
		t.Fatal("padding changed")
	}
}

func TestParseTCPFlags(t *testing.T) {
	var p Packet
	Parse(with(req4(), func(f *pktFlow) { f.syn, f.ack = true, true }).frame(), &p)
	if p.TCPFlags != flow.TCPSyn|flow.TCPAck {
		t.Fatalf("TCPFlags = %#x", p.TCPFlags)
	}
}
