package encap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
)

// tunnelFixture is one GUE or GRE encapsulation: the inner pktFlow, the tunnel,
// and the outer addresses.
type tunnelFixture struct {
	name     string
	f        pktFlow
	tun      Tunnel
	src, dst netip.Addr
}

func tunnelFixtures() []tunnelFixture {
	var out []tunnelFixture
	for _, fam := range []struct {
		name     string
		f        pktFlow
		src, dst netip.Addr
	}{
		{"v4", with(req4(), func(f *pktFlow) { f.tos = 0x2a }), director4, real4},
		{"v6", with(req6(), func(f *pktFlow) { f.tos = 0x2a }), director6, real6},
		{"v4 udp no df", with(req4(), func(f *pktFlow) { f.udp, f.df, f.dport = true, false, 9999 }), director4, real4},
		{"v6 udp", with(req6(), func(f *pktFlow) { f.udp, f.dport = true, 9999 }), director6, real6},
	} {
		for _, tun := range []struct {
			name string
			t    Tunnel
		}{
			{"gue", Tunnel{Type: TunnelGUE, Port: 6080}},
			{"gue csum", Tunnel{Type: TunnelGUE, Port: 6079, Csum: true}},
			{"gre", Tunnel{Type: TunnelGRE}},
			{"gre csum", Tunnel{Type: TunnelGRE, Csum: true}},
		} {
			out = append(out, tunnelFixture{fam.name + " " + tun.name, fam.f, tun.t, fam.src, fam.dst})
		}
	}
	return out
}

// push encapsulates the fixture's frame and returns the new frame.
func (tf tunnelFixture) push(t testing.TB) []byte {
	t.Helper()
	frame := tf.f.frame()
	const off = 64
	buf := make([]byte, off+len(frame))
	copy(buf[off:], frame)
	var p Packet
	Parse(buf[off:], &p)
	no, nn, ok := PushTunnel(buf, off, len(frame), &p, tf.tun, a16(tf.src), a16(tf.dst), 0x4242)
	if !ok {
		t.Fatalf("%s: PushTunnel refused", tf.name)
	}
	if no != off-TunnelOverhead(p.Family, tf.tun) {
		t.Fatalf("%s: offset %d", tf.name, no)
	}
	return buf[no : no+nn]
}

// want builds the expected frame with gopacket from scratch: the outer IP
// header as for IPIP (TTL, TOS/traffic class, DF, flow label copied, ID
// 0x4242), then GRE built by gopacket (which computes its checksum), or UDP
// with the GUE header written by hand (gopacket has no GUE layer).
func (tf tunnelFixture) want(sport uint16) []byte {
	inner := tf.f.ipPacket()
	innerProto := byte(4)
	greProto := layers.EthernetTypeIPv4
	if tf.f.v6() {
		innerProto, greProto = 41, layers.EthernetTypeIPv6
	}
	outer := pktFlow{src: tf.src, dst: tf.dst, ttl: 64, tos: tf.f.tos, id: 0x4242, df: tf.f.df, flowLabel: tf.f.flowLabel}
	if tf.f.v6() {
		outer.id = 0
	}
	l2 := l2Layers(tf.f, tf.f.etherType())
	if tf.tun.Type == TunnelGRE {
		_, ip := netLayer(outer, layers.IPProtocolGRE)
		gre := &layers.GRE{ChecksumPresent: tf.tun.Csum, Protocol: greProto}
		return serialize(append(append(l2, ip...), gre, gopacket.Payload(inner))...)
	}
	nl, ip := netLayer(outer, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(tf.tun.Port)}
	must(u.SetNetworkLayerForChecksum(nl))
	gue := append([]byte{0, innerProto, 0, 0}, inner...)
	b := serialize(append(append(l2, ip...), u, gopacket.Payload(gue))...)
	if !tf.tun.Csum {
		var p Packet
		Parse(b, &p)
		b[p.L4+udpCsum], b[p.L4+udpCsum+1] = 0, 0
	}
	return b
}

// TestPushTunnelGUEGRE compares every GUE/GRE encapsulation byte for byte
// with a frame gopacket builds, decodes the result with gopacket down to the
// inner transport header, and checks the tunnel checksums with the
// reference implementation.
func TestPushTunnelGUEGRE(t *testing.T) {
	for _, tf := range tunnelFixtures() {
		t.Run(tf.name, func(t *testing.T) {
			got := tf.push(t)
			var o Packet
			k := Parse(got, &o)
			var sport uint16
			if tf.tun.Type == TunnelGUE {
				if k != KindUDP {
					t.Fatalf("outer kind %v, want UDP", k)
				}
				sport = o.SrcPort
			}
			if want := tf.want(sport); !bytes.Equal(got, want) {
				t.Fatalf("frame differs:\n%s", hexDiff(got, want))
			}
			tb := got[o.L4:]
			switch {
			case tf.tun.Type == TunnelGRE && tf.tun.Csum:
				if refChecksum(tb, 0) != 0 {
					t.Fatal("GRE checksum does not verify")
				}
			case tf.tun.Type == TunnelGUE && tf.tun.Csum:
				s, d := o.Frame[o.L3+ipv4Src:o.L3+ipv4Src+4], o.Frame[o.L3+ipv4Dst:o.L3+ipv4Dst+4]
				if o.Family == 6 {
					s, d = o.Frame[o.L3+ipv6Src:o.L3+ipv6Src+16], o.Frame[o.L3+ipv6Dst:o.L3+ipv6Dst+16]
				}
				if refChecksum(tb, refPseudo(s, d, flow.UDP, len(tb))) != 0 {
					t.Fatal("UDP checksum does not verify")
				}
			}
			pk := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
			if el := pk.ErrorLayer(); el != nil {
				t.Fatalf("gopacket: %v", el.Error())
			}
			if tf.tun.Type == TunnelGUE {
				u := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
				if int(u.DstPort) != int(tf.tun.Port) || len(u.Payload) < 4 {
					t.Fatalf("outer UDP %v", u)
				}
				first := layers.LayerTypeIPv4
				if tf.f.v6() {
					first = layers.LayerTypeIPv6
				}
				pk = gopacket.NewPacket(u.Payload[4:], first, gopacket.Default)
			} else if pk.Layer(layers.LayerTypeGRE) == nil {
				t.Fatalf("no GRE layer in %v", pk)
			}
			// The inner packet must come out as it went in, transport
			// header included.
			l4 := pk.Layer(layers.LayerTypeTCP)
			if tf.f.udp {
				// For GRE the outer packet has no UDP layer; for GUE pk is
				// the inner packet alone.
				l4 = pk.Layer(layers.LayerTypeUDP)
			}
			if l4 == nil {
				t.Fatalf("no inner transport layer in %v", pk)
			}
			if !bytes.HasSuffix(got, tf.f.ipPacket()) {
				t.Fatal("inner packet changed")
			}
		})
	}
}

// TestPushTunnelGUEGREPop: PopTunnel strips every GUE/GRE encapsulation back
// to the original frame, and refuses GUE on another port.
func TestPushTunnelGUEGREPop(t *testing.T) {
	for _, tf := range tunnelFixtures() {
		got := append([]byte(nil), tf.push(t)...)
		if tf.tun.Type == TunnelGUE {
			if _, _, ok := PopTunnel(append([]byte(nil), got...), 0, len(got), tf.tun.Port+1); ok {
				t.Errorf("%s: PopTunnel took GUE on another port", tf.name)
			}
		}
		off, n, ok := PopTunnel(got, 0, len(got), tf.tun.Port)
		if !ok || !bytes.Equal(got[off:off+n], tf.f.frame()) {
			t.Errorf("%s: PopTunnel = %d, %d, %v", tf.name, off, n, ok)
		}
	}
}

// TestPopTunnelRefusesGUEGRE: tunnel headers PopTunnel must leave alone.
func TestPopTunnelRefusesGUEGRE(t *testing.T) {
	gue := tunnelFixture{"gue", req4(), Tunnel{Type: TunnelGUE, Port: 6080}, director4, real4}.push(t)
	gre := tunnelFixture{"gre", req4(), Tunnel{Type: TunnelGRE}, director4, real4}.push(t)
	const l4 = 14 + 20
	for _, c := range []struct {
		name  string
		frame []byte
		port  uint16
	}{
		{"gue without port", gue, 0},
		{"gue version 1", mutate(gue, func(b []byte) []byte { b[l4+8] = 0x40; return b }), 6080},
		{"gue control", mutate(gue, func(b []byte) []byte { b[l4+8] = 0x20; return b }), 6080},
		{"gue options", mutate(gue, func(b []byte) []byte { b[l4+8] = 0x01; return b }), 6080},
		{"gue flags", mutate(gue, func(b []byte) []byte { b[l4+11] = 0x01; return b }), 6080},
		{"gue proto 47", mutate(gue, func(b []byte) []byte { b[l4+9] = 47; return b }), 6080},
		{"gue udp length short", mutate(gue, func(b []byte) []byte { b[l4+4], b[l4+5] = 0, 11; return b }), 6080},
		{"gue udp length long", mutate(gue, func(b []byte) []byte { b[l4+4], b[l4+5] = 0xff, 0xff; return b }), 6080},
		{"gre key", mutate(gre, func(b []byte) []byte { b[l4] = 0x20; return b }), 0},
		{"gre seq", mutate(gre, func(b []byte) []byte { b[l4] = 0x10; return b }), 0},
		{"gre version 1", mutate(gre, func(b []byte) []byte { b[l4+1] = 0x01; return b }), 0},
		{"gre proto arp", mutate(gre, func(b []byte) []byte { b[l4+2], b[l4+3] = 0x08, 0x06; return b }), 0},
		{"gre csum truncated", mutate(gre, func(b []byte) []byte { b[l4] = 0x80; return b[:l4+6] }), 0},
	} {
		buf := append([]byte(nil), c.frame...)
		if _, _, ok := PopTunnel(buf, 0, len(buf), c.port); ok || !bytes.Equal(buf, c.frame) {
			t.Errorf("%s: PopTunnel accepted or wrote", c.name)
		}
	}
}

func TestTunnelOverheadTypes(t *testing.T) {
	for _, c := range []struct {
		family uint8
		tun    Tunnel
		over   int
		mtu    int // TooBigMTU for a 1500-byte link
	}{
		{4, Tunnel{}, 20, 1480},
		{6, Tunnel{}, 40, 1460},
		{4, Tunnel{Type: TunnelGUE, Port: 1}, 32, 1468},
		{6, Tunnel{Type: TunnelGUE, Port: 1, Csum: true}, 52, 1448},
		{4, Tunnel{Type: TunnelGRE}, 24, 1476},
		{4, Tunnel{Type: TunnelGRE, Csum: true}, 28, 1472},
		{6, Tunnel{Type: TunnelGRE}, 44, 1456},
		{6, Tunnel{Type: TunnelGRE, Csum: true}, 48, 1452},
		{4, Tunnel{Type: 3}, 0, 1500},
		{0, Tunnel{Type: TunnelGUE}, 0, 1500},
	} {
		if got := TunnelOverhead(c.family, c.tun); got != c.over {
			t.Errorf("TunnelOverhead(%d, %+v) = %d, want %d", c.family, c.tun, got, c.over)
		}
		if c.family != 0 {
			if got := TooBigMTU(c.family, c.tun, 1500); got != c.mtu {
				t.Errorf("TooBigMTU(%d, %+v, 1500) = %d, want %d", c.family, c.tun, got, c.mtu)
			}
		}
	}
	// The GUE DF packet that just fits, and one byte more.
	var p Packet
	Parse(with(req4(), func(f *pktFlow) { f.payload = make([]byte, 1468-40) }).frame(), &p)
	gue := Tunnel{Type: TunnelGUE, Port: 6080}
	if NeedsTooBig(&p, gue, 1500) || !NeedsTooBig(&p, gue, 1499) {
		t.Error("IPv4 DF 1468 + 32 must fit 1500 and not 1499")
	}
	buf := make([]byte, 64+len(p.Frame))
	copy(buf[64:], p.Frame)
	Parse(buf[64:], &p)
	if _, _, ok := PushTunnel(buf, 64, len(p.Frame), &p, Tunnel{Type: 3}, a16(director4), a16(real4), 1); ok {
		t.Error("PushTunnel took an unknown tunnel type")
	}
}

// TestGUEFlowPort: the source port stays in Linux's default local port range,
// is the same for every packet of a pktFlow, and spreads flows over the range.
func TestGUEFlowPort(t *testing.T) {
	seen := map[uint16]bool{}
	const flows = 2000
	for i := range flows {
		var p Packet
		f := with(req4(), func(f *pktFlow) { f.sport = uint16(1024 + i) })
		Parse(f.frame(), &p)
		a, b := flowPort(&p), flowPort(&p)
		if a != b || a < guePortMin || a >= guePortMax {
			t.Fatalf("flow %d: ports %d, %d", i, a, b)
		}
		seen[a] = true
	}
	// 2000 draws from ~28000 ports: expect ~1930 distinct; a poor hash
	// collapses far below.
	if len(seen) < flows*9/10 {
		t.Errorf("%d distinct source ports for %d flows", len(seen), flows)
	}
}
