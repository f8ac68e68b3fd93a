package encap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
)

// Edge cases of the rewrites that the fixture table does not show.

func TestRewritesAreNoOpsOnOtherKinds(t *testing.T) {
	for _, row := range fixtures() {
		if row.kind == KindTCP || row.kind == KindUDP || row.kind == KindICMPError {
			continue
		}
		frame := append([]byte(nil), row.in...)
		var p Packet
		Parse(frame, &p)
		DNAT(&p, a16(real4), 1)
		SNAT(&p, a16(real4), 1)
		ICMPErrorToReal(&p, a16(real4), 1)
		ICMPErrorFromReal(&p, a16(real4), 1)
		if !bytes.Equal(frame, row.in) {
			t.Errorf("%s: a rewrite changed a %v frame", row.name, row.kind)
		}
		if !row.kind.isIP() && DecTTL(&p) {
			t.Errorf("%s: DecTTL on a %v frame", row.name, row.kind)
		}
	}
}

func TestRewriteToSameValuesChangesNothing(t *testing.T) {
	for _, f := range []pktFlow{req4(), req6(), with(req4(), func(f *pktFlow) { f.udp = true })} {
		frame := f.frame()
		orig := append([]byte(nil), frame...)
		var p Packet
		Parse(frame, &p)
		DNAT(&p, p.Dst, p.DstPort)
		SNAT(&p, p.Src, p.SrcPort)
		if !bytes.Equal(frame, orig) {
			t.Errorf("%v: rewriting to the same address and port changed the frame", f.dst)
		}
	}
}

func TestDecTTLRefusesOneAndZero(t *testing.T) {
	for _, f := range []pktFlow{req4(), req6()} {
		for _, ttl := range []uint8{0, 1} {
			frame := f.frame()
			var p Packet
			Parse(frame, &p)
			frame[p.L3+map[uint8]int{4: ipv4TTL, 6: ipv6HopLimit}[p.Family]] = ttl
			if p.Family == 4 {
				refFix(&p)
			}
			Parse(frame, &p)
			orig := append([]byte(nil), frame...)
			if DecTTL(&p) || !bytes.Equal(frame, orig) || p.TTL != ttl {
				t.Errorf("family %d: DecTTL with TTL %d changed the packet", p.Family, ttl)
			}
		}
	}
	// 2 -> 1 is still forwarded.
	frame := with(req4(), func(f *pktFlow) { f.ttl = 2 }).frame()
	var p Packet
	Parse(frame, &p)
	if !DecTTL(&p) || p.TTL != 1 {
		t.Fatal("DecTTL refused TTL 2")
	}
	refCheck(t, &p)
}

// TestUDPChecksumNeverBecomesZero finds the destination port that makes the
// updated UDP checksum compute to zero and checks it is sent as 0xffff.
func TestUDPChecksumNeverBecomesZero(t *testing.T) {
	for _, f := range []pktFlow{with(req4(), func(f *pktFlow) { f.udp = true }), with(req6(), func(f *pktFlow) { f.udp = true })} {
		in := f.frame()
		found := false
		for port := 0; port <= 0xffff; port++ {
			frame := append([]byte(nil), in...)
			var p Packet
			Parse(frame, &p)
			DNAT(&p, p.Dst, uint16(port))
			c := be16(frame[p.L4+udpCsum:])
			if c == 0 {
				t.Fatalf("family %d port %d: UDP checksum became 0", p.Family, port)
			}
			if c == 0xffff {
				found = true
				refCheck(t, &p)
				if !VerifyChecksums(&p) {
					t.Fatal("0xffff checksum does not verify")
				}
				// And from 0xffff onwards the arithmetic still holds.
				DNAT(&p, p.Dst, 80)
				if !bytes.Equal(frame, in) {
					t.Fatal("rewriting back from a 0xffff checksum does not restore the frame")
				}
			}
		}
		if !found {
			t.Fatalf("no port gives a zero UDP checksum for %v", f.dst)
		}
	}
}

func TestPushTunnelRefuses(t *testing.T) {
	in4, in6 := req4().frame(), req6().frame()
	cases := []struct {
		name     string
		frame    []byte
		off      int
		src, dst [16]byte
	}{
		{"headroom 19 for ipv4", in4, 19, a16(director4), a16(real4)},
		{"headroom 39 for ipv6", in6, 39, a16(director6), a16(real6)},
		{"ipv6 outer for ipv4", in4, 64, a16(director6), a16(real6)},
		{"ipv4 outer for ipv6", in6, 64, a16(director4), a16(real4)},
		{"mixed outer", in4, 64, a16(director4), a16(real6)},
		{"not ip", fixtures()[len(fixtures())-1].in, 64, a16(director4), a16(real4)},
	}
	for _, c := range cases {
		buf := make([]byte, c.off+len(c.frame))
		copy(buf[c.off:], c.frame)
		orig := append([]byte(nil), buf...)
		var p Packet
		Parse(buf[c.off:], &p)
		if _, _, ok := PushTunnel(buf, c.off, len(c.frame), &p, Tunnel{}, c.src, c.dst, 1); ok {
			t.Errorf("%s: PushTunnel accepted", c.name)
		}
		if !bytes.Equal(buf, orig) {
			t.Errorf("%s: PushTunnel refused but wrote", c.name)
		}
	}
	// n beyond the buffer, negative n.
	buf := make([]byte, 64+len(in4))
	copy(buf[64:], in4)
	var p Packet
	Parse(buf[64:], &p)
	for _, n := range []int{-1, len(in4) + 1, p.L3 + p.IPLen - 1} {
		if _, _, ok := PushTunnel(buf, 64, n, &p, Tunnel{}, a16(director4), a16(real4), 1); ok {
			t.Errorf("PushTunnel accepted n=%d", n)
		}
	}
}

func TestPopTunnel(t *testing.T) {
	inner4, inner6 := req4(), req6()
	tun := func(outer []gopacketLayer, inner pktFlow) []byte {
		return serialize(append(append(l2Layers(inner, outerType(outer)), outer...), inner.ipLayers()...)...)
	}
	v4outer := func(proto layers.IPProtocol, flags layers.IPv4Flag, fragOff uint16) []gopacketLayer {
		return []gopacketLayer{&layers.IPv4{Version: 4, IHL: 5, TTL: 9, Protocol: proto, Flags: flags, FragOffset: fragOff,
			SrcIP: director4.AsSlice(), DstIP: real4.AsSlice()}}
	}
	v6outer := func(limit bool, proto layers.IPProtocol) []gopacketLayer {
		ip := &layers.IPv6{Version: 6, HopLimit: 9, NextHeader: proto, SrcIP: director6.AsSlice(), DstIP: real6.AsSlice()}
		if !limit {
			return []gopacketLayer{ip}
		}
		// ip6_tunnel's tunnel encapsulation limit option (type 4, RFC 2473 4.1.1) + PadN.
		ip.NextHeader = layers.IPProtocolIPv6Destination
		d := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{
			{OptionType: 4, OptionData: []byte{4}}, {OptionType: 1, OptionData: []byte{0}}}}
		d.NextHeader = proto
		return []gopacketLayer{ip, d}
	}
	ok := []struct {
		name  string
		frame []byte
		inner pktFlow
	}{
		{"ipip", tun(v4outer(layers.IPProtocolIPv4, 0, 0), inner4), inner4},
		{"ipv6 in ipv6", tun(v6outer(false, layers.IPProtocolIPv6), inner6), inner6},
		{"ipv6 in ipv6 with encapsulation limit", tun(v6outer(true, layers.IPProtocolIPv6), inner6), inner6},
		{"ipv6 in ipv4 (6in4) rewrites the ethertype", tun(v4outer(layers.IPProtocolIPv6, 0, 0), inner6), inner6},
		{"ipv4 in ipv6 rewrites the ethertype", tun(v6outer(false, layers.IPProtocolIPv4), inner4), inner4},
	}
	for _, c := range ok {
		buf := append([]byte(nil), c.frame...)
		off, n, good := PopTunnel(buf, 0, len(buf), 0)
		want := c.inner.frame()
		if !good || !bytes.Equal(buf[off:off+n], want) {
			t.Errorf("%s: PopTunnel = %d, %d, %v:\n%s", c.name, off, n, good, hexDiff(buf[off:off+n], want))
		}
	}
	bad := []struct {
		name  string
		frame []byte
	}{
		{"not a tunnel", inner4.frame()},
		{"outer fragment", tun(v4outer(layers.IPProtocolIPv4, layers.IPv4MoreFragments, 0), inner4)},
		{"outer later fragment", tun(v4outer(layers.IPProtocolIPv4, 0, 10), inner4)},
		{"ipip carrying ipv6 bytes", tun(v4outer(layers.IPProtocolIPv4, 0, 0), inner6)},
		{"inner length past outer", mutate(tun(v4outer(layers.IPProtocolIPv4, 0, 0), inner4),
			func(b []byte) []byte { put16(b[14+20+2:], 200); return b })},
		{"truncated inner header", mutate(tun(v4outer(layers.IPProtocolIPv4, 0, 0), inner4)[:14+20+10],
			func(b []byte) []byte { put16(b[14+2:], 30); return b })},
		{"arp", fixtures()[len(fixtures())-1].in},
	}
	for _, c := range bad {
		if c.frame == nil {
			continue
		}
		buf := append([]byte(nil), c.frame...)
		if _, _, good := PopTunnel(buf, 0, len(buf), 0); good || !bytes.Equal(buf, c.frame) {
			t.Errorf("%s: PopTunnel accepted or wrote", c.name)
		}
	}
	for _, c := range [][2]int{{-1, 10}, {0, -1}, {10, 1 << 20}} {
		if _, _, good := PopTunnel(make([]byte, 100), c[0], c[1], 0); good {
			t.Errorf("PopTunnel accepted off=%d n=%d", c[0], c[1])
		}
	}
}

func TestTooBigRefuses(t *testing.T) {
	out := make([]byte, 2048)
	big := with(req4(), func(f *pktFlow) { f.payload = make([]byte, 1400) })
	cases := []struct {
		name  string
		frame []byte
		from  [16]byte
		mtu   int
		size  int
	}{
		{"icmp error", fixtures()[0].in, a16(director4), 1400, 2048}, // replaced below
		{"fragment", mutate(big.frame(), func(b []byte) []byte { b[14+6] |= 0x20; return b }), a16(director4), 1400, 2048},
		{"out too small", big.frame(), a16(director4), 1400, 14 + 576 - 1},
		{"multicast source", with(big, func(f *pktFlow) { f.src = vip4; f.dst = client4; f.src = mcast4 }).frame(), a16(director4), 1400, 2048},
		{"ipv6 from for ipv4", big.frame(), a16(director6), 1400, 2048},
		{"ipv4 from for ipv6", req6().frame(), a16(director4), 1400, 2048},
		{"mtu past 16 bits", big.frame(), a16(director4), 70000, 2048},
		{"negative mtu", big.frame(), a16(director4), -1, 2048},
		{"icmp6 error", icmpErr{outer: pktFlow{src: client6, dst: vip6}, typ: 1, code: 4, quote: req6().ipPacket()}.frame(), a16(director6), 1280, 2048},
	}
	cases[0].frame = icmpErr{outer: pktFlow{src: client4, dst: vip4}, typ: 3, code: 3, quote: req4().ipPacket()}.frame()
	for _, c := range cases {
		var p Packet
		Parse(c.frame, &p)
		clear(out)
		if n := TooBig(out[:c.size], &p, c.from, c.mtu); n != 0 || !bytes.Equal(out, make([]byte, len(out))) {
			t.Errorf("%s: TooBig = %d", c.name, n)
		}
	}
	// An echo request may get one.
	var p Packet
	Parse(echo(req4()), &p)
	if TooBig(out, &p, a16(director4), 100) == 0 {
		t.Error("TooBig refused an echo request")
	}
	Parse(echo(req6()), &p)
	if TooBig(out, &p, a16(director6), 1280) == 0 {
		t.Error("TooBig refused an ICMPv6 echo request")
	}
}

func TestNeedsTooBig(t *testing.T) {
	var p Packet
	df := with(req4(), func(f *pktFlow) { f.payload = make([]byte, 1460-40) }) // 1460-byte IP packet
	Parse(df.frame(), &p)
	if NeedsTooBig(&p, Tunnel{}, 1480) || !NeedsTooBig(&p, Tunnel{}, 1479) {
		t.Error("IPv4 DF: 1460 + 20 fits exactly 1480 and not 1479")
	}
	Parse(with(df, func(f *pktFlow) { f.df = false }).frame(), &p)
	if NeedsTooBig(&p, Tunnel{}, 1000) {
		t.Error("IPv4 without DF never needs TooBig")
	}
	Parse(with(req6(), func(f *pktFlow) { f.payload = make([]byte, 1440-60) }).frame(), &p)
	if NeedsTooBig(&p, Tunnel{}, 1480) || !NeedsTooBig(&p, Tunnel{}, 1479) {
		t.Error("IPv6: 1440 + 40 fits exactly 1480 and not 1479")
	}
	if TooBigMTU(4, Tunnel{}, 1500) != 1480 || TooBigMTU(6, Tunnel{}, 1500) != 1460 || TooBigMTU(6, Tunnel{}, 1300) != 1280 {
		t.Error("TooBigMTU")
	}
	if TunnelOverhead(0, Tunnel{}) != 0 || TunnelOverhead(4, Tunnel{}) != 20 || TunnelOverhead(6, Tunnel{}) != 40 {
		t.Error("TunnelOverhead")
	}
}

func TestAddrHelpers(t *testing.T) {
	a := flow.AddrFrom4([4]byte{198, 18, 0, 1})
	if !flow.IsV4Mapped(&a) || a != a16(netip.MustParseAddr("198.18.0.1")) {
		t.Errorf("flow.AddrFrom4 = %v", a)
	}
	if v6 := [16]byte(a16(client6)); flow.IsV4Mapped(&v6) {
		t.Error("IsV4Mapped(v6)")
	}
}

// TestPushTunnelLengthLimits: the outer IPv4 total length counts the outer
// header, the outer IPv6 payload length does not.
func TestPushTunnelLengthLimits(t *testing.T) {
	for _, c := range []struct {
		f     pktFlow
		ipLen int
		ok    bool
	}{
		{req4(), 65515, true},
		{req4(), 65516, false},
		{req6(), 65535, true},
		{req6(), 65536, false}, // payload length 65496 inside, 65536 outside
	} {
		hdr := 40
		if !c.f.v6() {
			hdr = 20
		}
		f := with(c.f, func(f *pktFlow) { f.udp = true; f.payload = make([]byte, c.ipLen-hdr-8) })
		frame := f.frame()
		buf := make([]byte, 64+len(frame))
		copy(buf[64:], frame)
		var p Packet
		if k := Parse(buf[64:], &p); k != KindUDP {
			t.Fatalf("ipLen %d parses as %v", c.ipLen, k)
		}
		src, dst := a16(director4), a16(real4)
		if p.Family == 6 {
			src, dst = a16(director6), a16(real6)
		}
		_, n, ok := PushTunnel(buf, 64, len(frame), &p, Tunnel{}, src, dst, 1)
		if ok != c.ok || p.IPLen != c.ipLen {
			t.Errorf("family %d ipLen %d: PushTunnel ok=%v, want %v (n=%d)", p.Family, c.ipLen, ok, c.ok, n)
		}
	}
}
