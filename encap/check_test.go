package encap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// checkRow is one frame for Check: what Parse must make of it and what Check
// must find.
type checkRow struct {
	name  string
	in    []byte
	kind  Kind
	fault Fault
}

// fixIPv4Sum recomputes the IPv4 header checksum of an untagged frame, so a
// row tests exactly one rule.
func fixIPv4Sum(b []byte) []byte {
	ihl := int(b[ethHdrLen]&0x0f) * 4
	h := b[ethHdrLen : ethHdrLen+ihl]
	h[ipv4Csum], h[ipv4Csum+1] = 0, 0
	put16(h[ipv4Csum:], refChecksum(h, 0))
	return b
}

// opts4 builds a TCP/IPv4 SYN whose header carries exactly the option bytes
// raw (a multiple of 4 long), with a correct header checksum: gopacket lays
// out a header of the right size with NOPs, then the bytes are put in.
func opts4(raw []byte) []byte {
	if len(raw)%4 != 0 {
		panic("options must fill 32-bit words")
	}
	f := req4()
	nl, _ := netLayer(f, layers.IPProtocolTCP)
	ip := nl.(*layers.IPv4)
	for range raw {
		ip.Options = append(ip.Options, layers.IPv4Option{OptionType: ipoptNoop})
	}
	tc := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), SYN: true, Window: 1}
	must(tc.SetNetworkLayerForChecksum(ip))
	b := serialize(append(l2Layers(f, layers.EthernetTypeIPv4), ip, tc, gopacket.Payload(f.payload))...)
	copy(b[ethHdrLen+ipv4MinLen:], raw)
	return fixIPv4Sum(b)
}

// setUDPLen writes the UDP length field of an untagged IPv4 or IPv6 frame
// without extension headers.
func setUDPLen(b []byte, n uint16) []byte {
	var p Packet
	if Parse(b, &p) != KindUDP {
		panic("not udp")
	}
	put16(b[p.L4+udpLen:], n)
	return b
}

// setAddr6 overwrites the source (or destination) of an untagged IPv6 frame.
func setAddr6(b []byte, a string, dst bool) []byte {
	off := ethHdrLen + ipv6Src
	if dst {
		off = ethHdrLen + ipv6Dst
	}
	x := netip.MustParseAddr(a).As16()
	copy(b[off:off+16], x[:])
	return b
}

func checkRows() []checkRow {
	udp4 := with(req4(), func(f *pktFlow) { f.udp = true })
	udp6 := with(req6(), func(f *pktFlow) { f.udp = true })
	src4 := func(a string) []byte {
		return with(req4(), func(f *pktFlow) { f.src = netip.MustParseAddr(a) }).frame()
	}
	dst4 := func(a string) []byte {
		return with(req4(), func(f *pktFlow) { f.dst = netip.MustParseAddr(a) }).frame()
	}
	rows := []checkRow{
		// Valid edge cases that must pass.
		{"tcp4", req4().frame(), KindTCP, FaultNone},
		{"tcp6", req6().frame(), KindTCP, FaultNone},
		{"udp4", udp4.frame(), KindUDP, FaultNone},
		{"udp6", udp6.frame(), KindUDP, FaultNone},
		{"udp4 checksum 0 (none)", with(udp4, func(f *pktFlow) { f.udpNoSum = true }).frame(), KindUDP, FaultNone},
		{"tcp4 ethernet padding", append(req4().frame(), make([]byte, 20)...), KindTCP, FaultNone},
		{"udp4 ethernet padding", append(with(udp4, func(f *pktFlow) { f.payload = nil }).frame(), make([]byte, 18)...), KindUDP, FaultNone},
		{"udp4 length shorter than payload (trimmed, legal)", setUDPLen(udp4.frame(), udpHdrLen+2), KindUDP, FaultNone},
		{"udp6 length 0 means the payload", setUDPLen(udp6.frame(), 0), KindUDP, FaultNone},
		{"udp4 length exactly 8", setUDPLen(udp4.frame(), udpHdrLen), KindUDP, FaultNone},
		{"udp6 hop-by-hop + dst options", with(udp6, func(f *pktFlow) { f.v6Ext = true }).frame(), KindUDP, FaultNone},
		{"tcp4 vlan", with(req4(), func(f *pktFlow) { f.vlans = []uint16{10} }).frame(), KindTCP, FaultNone},
		{"options NOP NOP NOP EOL", opts4([]byte{1, 1, 1, 0}), KindTCP, FaultNone},
		{"options EOL then junk (ignored, as the kernel does)", opts4([]byte{0, 0xff, 3, 9}), KindTCP, FaultNone},
		{"options router alert", opts4([]byte{148, 4, 0, 0}), KindTCP, FaultNone},
		{"options record route", opts4([]byte{7, 7, 4, 0, 0, 0, 0, 0}), KindTCP, FaultNone},
		{"options record route full", opts4([]byte{7, 7, 8, 1, 2, 3, 4, 0}), KindTCP, FaultNone},
		{"options timestamp", opts4([]byte{68, 8, 5, 0, 0, 0, 0, 0}), KindTCP, FaultNone},
		{"options timestamp full, overflow counts", opts4([]byte{68, 8, 9, 0x10, 0, 0, 0, 0}), KindTCP, FaultNone},
		{"options unknown type, good length", opts4([]byte{30, 4, 0, 0}), KindTCP, FaultNone},
		{"options fill the header (40 bytes)", opts4(append([]byte{30, 40}, make([]byte, 38)...)), KindTCP, FaultNone},
		{"public source", src4("198.19.255.255"), KindTCP, FaultNone},

		// IPv4 header checksum.
		{"ipv4 header checksum wrong", mutate(req4().frame(), func(b []byte) []byte { b[ethHdrLen+ipv4Csum] ^= 0x40; return b }), KindTCP, FaultIPChecksum},
		{"ipv4 header checksum wrong, udp", mutate(udp4.frame(), func(b []byte) []byte { b[ethHdrLen+ipv4Csum+1]++; return b }), KindUDP, FaultIPChecksum},
		{"ipv4 header checksum wrong, options", mutate(opts4([]byte{1, 1, 1, 0}), func(b []byte) []byte { b[ethHdrLen+ipv4MinLen+1] = 0; return b }), KindTCP, FaultIPChecksum},

		// IPv4 options.
		{"option length 0", opts4([]byte{30, 0, 0, 0}), KindTCP, FaultIPOptions},
		{"option length 1", opts4([]byte{30, 1, 0, 0}), KindTCP, FaultIPOptions},
		{"option runs past the header", opts4([]byte{30, 5, 0, 0}), KindTCP, FaultIPOptions},
		{"option type without a length byte", opts4([]byte{1, 1, 1, 30}), KindTCP, FaultIPOptions},
		{"loose source route", opts4([]byte{131, 7, 4, 198, 18, 1, 1, 1}), KindTCP, FaultIPOptions},
		{"strict source route", opts4([]byte{137, 7, 4, 198, 18, 1, 1, 1}), KindTCP, FaultIPOptions},
		{"cipso", opts4([]byte{134, 8, 0, 0, 0, 1, 0, 0}), KindTCP, FaultIPOptions},
		{"record route pointer below 4", opts4([]byte{7, 7, 3, 0, 0, 0, 0, 0}), KindTCP, FaultIPOptions},
		{"record route slot cut short", opts4([]byte{7, 6, 4, 0, 0, 0, 0, 0}), KindTCP, FaultIPOptions},
		{"record route twice", opts4([]byte{7, 3, 4, 7, 3, 4, 1, 0}), KindTCP, FaultIPOptions},
		{"timestamp pointer below 5", opts4([]byte{68, 8, 4, 0, 0, 0, 0, 0}), KindTCP, FaultIPOptions},
		{"timestamp with address, no room", opts4([]byte{68, 8, 5, 1, 0, 0, 0, 0}), KindTCP, FaultIPOptions},
		{"timestamp full, overflow at 15", opts4([]byte{68, 8, 9, 0xf0, 0, 0, 0, 0}), KindTCP, FaultIPOptions},
		{"router alert too short", opts4([]byte{148, 2, 1, 0}), KindTCP, FaultIPOptions},

		// UDP length.
		{"udp4 length below 8", setUDPLen(udp4.frame(), 7), KindUDP, FaultUDPLength},
		{"udp4 length 0", setUDPLen(udp4.frame(), 0), KindUDP, FaultUDPLength},
		{"udp4 length beyond the ip payload", setUDPLen(udp4.frame(), uint16(udpHdrLen+len(payload)+1)), KindUDP, FaultUDPLength},
		{"udp4 length into ethernet padding", setUDPLen(append(udp4.frame(), make([]byte, 8)...), uint16(udpHdrLen+len(payload)+4)), KindUDP, FaultUDPLength},
		{"udp6 length beyond the ip payload", setUDPLen(udp6.frame(), 0xffff), KindUDP, FaultUDPLength},

		// Martians.
		{"source loopback", src4("127.0.0.1"), KindTCP, FaultMartian},
		{"source this-network", src4("0.1.2.3"), KindTCP, FaultMartian},
		{"source unspecified", src4("0.0.0.0"), KindTCP, FaultMartian},
		{"source multicast", src4("224.0.0.1"), KindTCP, FaultMartian},
		{"source multicast top", src4("239.255.255.255"), KindTCP, FaultMartian},
		{"source limited broadcast", src4("255.255.255.255"), KindTCP, FaultMartian},
		{"destination loopback", dst4("127.0.0.53"), KindTCP, FaultMartian},
		{"destination this-network", dst4("0.0.0.0"), KindTCP, FaultMartian},
		{"source6 multicast", setAddr6(req6().frame(), "ff02::1", false), KindTCP, FaultMartian},
		{"source6 loopback", setAddr6(req6().frame(), "::1", false), KindTCP, FaultMartian},
		{"destination6 loopback", setAddr6(req6().frame(), "::1", true), KindTCP, FaultMartian},
		{"source6 unspecified", setAddr6(req6().frame(), "::", false), KindTCP, FaultMartian},
		{"source6 v4-mapped", setAddr6(req6().frame(), "::ffff:198.18.0.10", false), KindTCP, FaultMartian},
		{"destination6 v4-mapped (would hit the IPv4 service)", setAddr6(req6().frame(), "::ffff:198.18.1.100", true), KindTCP, FaultMartian},

		// Already Parse's (verified here): not a fault, malformed.
		{"ipv4 total length beyond frame", mutate(req4().frame(), func(b []byte) []byte { put16(b[ethHdrLen+ipv4TotalLen:], 1500); return fixIPv4Sum(b) }), KindMalformed, FaultNone},
		{"ipv4 total length below ihl", mutate(req4().frame(), func(b []byte) []byte { put16(b[ethHdrLen+ipv4TotalLen:], 19); return fixIPv4Sum(b) }), KindMalformed, FaultNone},
		{"ipv4 ihl 4", mutate(req4().frame(), func(b []byte) []byte { b[ethHdrLen] = 0x44; return b }), KindMalformed, FaultNone},
		{"ipv4 ihl beyond total length", mutate(req4().frame(), func(b []byte) []byte { b[ethHdrLen] = 0x4f; put16(b[ethHdrLen+ipv4TotalLen:], 40); return b }), KindMalformed, FaultNone},
		{"tcp data offset beyond the packet", mutate(req4().frame(), func(b []byte) []byte { b[ethHdrLen+ipv4MinLen+tcpDataOff] = 0xf0; return b }), KindMalformed, FaultNone},
		{"udp header cut", mutate(udp4.frame(), func(b []byte) []byte {
			put16(b[ethHdrLen+ipv4TotalLen:], ipv4MinLen+4)
			return fixIPv4Sum(b)
		}), KindMalformed, FaultNone},
	}
	return rows
}

func TestCheck(t *testing.T) {
	for _, r := range checkRows() {
		t.Run(r.name, func(t *testing.T) {
			orig := append([]byte(nil), r.in...)
			var p Packet
			if k := Parse(r.in, &p); k != r.kind {
				t.Fatalf("Parse = %v, want %v", k, r.kind)
			}
			if f := Check(&p); f != r.fault {
				t.Errorf("Check = %v, want %v", f, r.fault)
			}
			if !bytes.Equal(r.in, orig) {
				t.Error("Check modified the frame")
			}
			// Valid rows are valid to gopacket too, and vice versa for the
			// checksum rows: the fixtures are what they claim to be.
			if r.fault == FaultNone && r.kind != KindMalformed {
				pkt := gopacket.NewPacket(r.in, layers.LayerTypeEthernet, gopacket.Default)
				if el := pkt.ErrorLayer(); el != nil {
					t.Errorf("gopacket: %v", el.Error())
				}
			}
		})
	}
}

// TestCheckIPv4Checksum compares the header checksum rule with the oracle on
// every single-bit flip of a header with options: each flip of a covered bit
// must be caught (ones'-complement sums catch every single-bit error).
func TestCheckIPv4Checksum(t *testing.T) {
	base := opts4([]byte{148, 4, 0, 0, 1, 1, 1, 0})
	ihl := int(base[ethHdrLen]&0x0f) * 4
	for bit := 0; bit < ihl*8; bit++ {
		b := append([]byte(nil), base...)
		b[ethHdrLen+bit/8] ^= 1 << (bit % 8)
		var p Packet
		if Parse(b, &p) == KindMalformed || p.Family != 4 || p.L4-p.L3 != ihl {
			continue // the flip broke version, IHL or length: Parse's to refuse
		}
		want := refChecksum(b[ethHdrLen:ethHdrLen+ihl], 0) != 0
		if got := Check(&p) == FaultIPChecksum; got != want {
			t.Errorf("bit %d: checksum fault %v, oracle %v", bit, got, want)
		}
	}
}

func TestVLANStripPush(t *testing.T) {
	tagged := with(req4(), func(f *pktFlow) { f.vlans = []uint16{10}; f.udp = true }).frame()
	plain := with(req4(), func(f *pktFlow) { f.udp = true }).frame()
	const head = 8
	buf := make([]byte, head+len(tagged))
	copy(buf[head:], tagged)
	var p Packet
	Parse(buf[head:], &p)
	if ids, n := VLANIDs(&p); n != 1 || ids[0] != 10 {
		t.Fatalf("VLANIDs = %v, %d", ids, n)
	}
	off, n := StripVLAN(buf, head, len(tagged), &p)
	if off != head+4 || n != len(plain) || !bytes.Equal(buf[off:off+n], plain) {
		t.Fatalf("stripped frame\n%s", hexDiff(buf[off:off+n], plain))
	}
	// p describes the untagged frame: a rewrite through it is what a fresh
	// parse would give.
	DNAT(&p, a16(real4), 8080)
	var q Packet
	if Parse(buf[off:off+n], &q) != KindUDP || q.DstPort != 8080 || q.Dst != a16(real4) || q.VLAN {
		t.Fatalf("after strip+DNAT: %+v", q)
	}
	refCheck(t, &q)

	off, n, ok := PushVLAN(buf, off, n, 20)
	want := with(req4(), func(f *pktFlow) { f.vlans = []uint16{20}; f.udp = true; f.dst = real4; f.dport = 8080 }).frame()
	if !ok || !bytes.Equal(buf[off:off+n], want) {
		t.Fatalf("pushed frame\n%s", hexDiff(buf[off:off+n], want))
	}
	gopacketCheck(t, buf[off:off+n])
	if _, _, ok := PushVLAN(buf, 2, n, 20); ok {
		t.Error("PushVLAN without headroom succeeded")
	}
	if _, _, ok := PushVLAN(buf, off, n, 4095); ok {
		t.Error("PushVLAN with VLAN ID 4095 succeeded")
	}

	// QinQ: both IDs, outer first; strip removes both tags.
	qinq := with(req6(), func(f *pktFlow) { f.vlans = []uint16{100, 7}; f.qinq = true }).frame()
	Parse(qinq, &p)
	if ids, n := VLANIDs(&p); n != 2 || ids != [2]uint16{100, 7} {
		t.Fatalf("VLANIDs qinq = %v, %d", ids, n)
	}
	off, n = StripVLAN(qinq, 0, len(qinq), &p)
	if !bytes.Equal(qinq[off:off+n], req6().frame()) || p.L3 != ethHdrLen {
		t.Fatal("qinq strip")
	}
}

func TestCheckNoAllocations(t *testing.T) {
	var p Packet
	frames := [][]byte{req4().frame(), req6().frame(), opts4([]byte{7, 7, 4, 0, 0, 0, 0, 0}),
		with(req4(), func(f *pktFlow) { f.udp = true }).frame()}
	tagged := with(req4(), func(f *pktFlow) { f.vlans = []uint16{10} }).frame()
	buf := make([]byte, 8+len(tagged))
	for _, fr := range frames {
		if n := testing.AllocsPerRun(100, func() { Parse(fr, &p); Check(&p) }); n != 0 {
			t.Errorf("Check: %v allocations per run", n)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		copy(buf[8:], tagged)
		Parse(buf[8:], &p)
		VLANIDs(&p)
		o, l := StripVLAN(buf, 8, len(tagged), &p)
		PushVLAN(buf, o, l, 10)
	}); n != 0 {
		t.Errorf("VLAN strip/push: %v allocations per run", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"tcp4", req4().frame()},
		{"tcp4-options", opts4([]byte{148, 4, 0, 0})},
		{"udp6", with(req6(), func(f *pktFlow) { f.udp = true }).frame()},
	} {
		b.Run(c.name, func(b *testing.B) {
			var p Packet
			Parse(c.frame, &p)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if Check(&p) != FaultNone {
					b.Fatal("fault")
				}
			}
		})
	}
}
