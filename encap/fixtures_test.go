package encap

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
)

// fixture is one frame-level row: an input frame built with gopacket, the
// Kind Parse must return, an operation, and the expected output frame built
// independently with gopacket. Rows without op are classification rows: the
// frame must come back unchanged.
type fixture struct {
	name string
	in   []byte
	kind Kind
	op   func(t *testing.T, buf []byte, off, n int, p *Packet) []byte
	out  []byte
	// Expected outermost IP fields of the output, checked on gopacket's decode.
	src, dst netip.Addr
	ttl      uint8
	// inSync: the operation keeps p in step with the frame (compare with a
	// fresh Parse of the output).
	inSync bool
}

const headroom = 64

var payload = []byte("GET / HTTP/1.1\r\nHost: xvs\r\n\r\n") // makes every frame >= 60 bytes: no padding

func opDNAT(a netip.Addr, port uint16) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(_ *testing.T, buf []byte, off, n int, p *Packet) []byte {
		DNAT(p, a16(a), port)
		return buf[off : off+n]
	}
}

func opSNAT(a netip.Addr, port uint16) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(_ *testing.T, buf []byte, off, n int, p *Packet) []byte {
		SNAT(p, a16(a), port)
		return buf[off : off+n]
	}
}

func opDR(t *testing.T, buf []byte, off, n int, p *Packet) []byte {
	SetMACs(p, mac6(macReal), mac6(macDirector))
	if !DecTTL(p) {
		t.Fatal("DecTTL refused a TTL > 1")
	}
	return buf[off : off+n]
}

func opPush(src, dst netip.Addr, id uint16) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(t *testing.T, buf []byte, off, n int, p *Packet) []byte {
		no, nn, ok := PushTunnel(buf, off, n, p, Tunnel{}, a16(src), a16(dst), id)
		if !ok {
			t.Fatal("PushTunnel refused")
		}
		if want := off - TunnelOverhead(p.Family, Tunnel{}); no != want {
			t.Fatalf("PushTunnel newOff = %d, want %d", no, want)
		}
		return buf[no : no+nn]
	}
}

// opPushPop pushes a tunnel header and pops it again: the original frame
// (without Ethernet padding) must come back at the original offset.
func opPushPop(src, dst netip.Addr) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(t *testing.T, buf []byte, off, n int, p *Packet) []byte {
		no, nn, ok := PushTunnel(buf, off, n, p, Tunnel{}, a16(src), a16(dst), 1)
		if !ok {
			t.Fatal("PushTunnel refused")
		}
		po, pn, ok := PopTunnel(buf, no, nn, 0)
		if !ok || po != off {
			t.Fatalf("PopTunnel = %d, %d, %v; want offset %d", po, pn, ok, off)
		}
		return buf[po : po+pn]
	}
}

func opToReal(a netip.Addr, port uint16) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(_ *testing.T, buf []byte, off, n int, p *Packet) []byte {
		ICMPErrorToReal(p, a16(a), port)
		return buf[off : off+n]
	}
}

func opFromReal(a netip.Addr, port uint16) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(_ *testing.T, buf []byte, off, n int, p *Packet) []byte {
		ICMPErrorFromReal(p, a16(a), port)
		return buf[off : off+n]
	}
}

func opTooBig(from netip.Addr, mtu int) func(*testing.T, []byte, int, int, *Packet) []byte {
	return func(t *testing.T, _ []byte, _, _ int, p *Packet) []byte {
		out := make([]byte, 2048)
		k := TooBig(out, p, a16(from), mtu)
		if k == 0 {
			t.Fatal("TooBig refused")
		}
		return out[:k]
	}
}

// request and reply flows of the NAT examples.
func req4() pktFlow {
	return pktFlow{src: client4, dst: vip4, sport: 40000, dport: 80, ttl: 64, id: 0x1234, df: true, syn: true, seq: 1000, payload: payload}
}

func req6() pktFlow {
	return pktFlow{src: client6, dst: vip6, sport: 40000, dport: 80, ttl: 64, flowLabel: 0x12345, syn: true, seq: 1000, payload: payload}
}

func with(f pktFlow, mod func(*pktFlow)) pktFlow { mod(&f); return f }

// quoteOf returns the first n bytes of f's IP packet (n <= 0: all of it) and,
// for the expected side of a translation, lets the caller keep the original
// quoted transport checksum (the kernel leaves it as it was).
func quoteOf(f pktFlow, n int) []byte {
	b := f.ipPacket()
	if n > 0 && n < len(b) {
		b = b[:n]
	}
	return b
}

// withL4Csum copies the transport checksum of quote `from` into quote `to`
// (both IP packets of the same shape): the quoted TCP/UDP checksum is not
// updated by the ICMP translation.
func withL4Csum(to, from []byte, udp bool) []byte {
	l4 := quoteL4(to)
	c := l4 + 16
	if udp {
		c = l4 + 6
	}
	copy(to[c:c+2], from[c:c+2])
	return to
}

// mutate returns a modified copy of frame.
func mutate(frame []byte, f func([]byte) []byte) []byte {
	return f(append([]byte(nil), frame...))
}

// insertV6Ext inserts a raw extension header right after the fixed IPv6 header
// of an untagged frame: hdr[0] takes the old next header, which becomes nh.
func insertV6Ext(frame []byte, nh uint8, hdr []byte) []byte {
	const l3 = 14
	var p Packet
	Parse(frame, &p)
	end := p.L3 + p.IPLen
	h := append([]byte(nil), hdr...)
	h[0] = frame[l3+ipv6NextHdr]
	out := append(append(append([]byte(nil), frame[:l3+40]...), h...), frame[l3+40:end]...)
	out[l3+ipv6NextHdr] = nh
	put16(out[l3+ipv6PayLen:], uint16(p.IPLen-40+len(h)))
	return out
}

// withIPv4Options builds f with a 4-byte IPv4 option (NOP NOP NOP EOL).
func withIPv4Options(f pktFlow) []byte {
	nl, _ := netLayer(f, layers.IPProtocolTCP)
	ip := nl.(*layers.IPv4)
	ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	tc := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), SYN: true, Window: 1}
	must(tc.SetNetworkLayerForChecksum(ip))
	return serialize(append(l2Layers(f, layers.EthernetTypeIPv4), ip, tc, gopacket.Payload(f.payload))...)
}

// echo builds an ICMP or ICMPv6 echo request with f's addresses.
func echo(f pktFlow) []byte {
	if !f.v6() {
		_, l := netLayer(f, layers.IPProtocolICMPv4)
		return serialize(append(append(l2Layers(f, layers.EthernetTypeIPv4), l...),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload(payload))...)
	}
	nl, l := netLayer(f, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	must(ic.SetNetworkLayerForChecksum(nl))
	return serialize(append(append(l2Layers(f, layers.EthernetTypeIPv6), l...),
		ic, gopacket.Payload(append([]byte{0, 1, 0, 1}, payload...)))...)
}

func fixtures() []fixture {
	var rows []fixture
	add := func(f fixture) { rows = append(rows, f) }

	// ---- NAT: DNAT with port mapping 80 -> 8080 ----
	for _, c := range []struct {
		name string
		in   pktFlow
		real netip.Addr
	}{
		{"nat dnat tcp4 80->8080", req4(), real4},
		{"nat dnat tcp6 80->8080", req6(), real6},
		{"nat dnat udp4 80->8080", with(req4(), func(f *pktFlow) { f.udp = true }), real4},
		{"nat dnat udp6 80->8080", with(req6(), func(f *pktFlow) { f.udp = true }), real6},
		{"nat dnat udp4 zero checksum stays zero", with(req4(), func(f *pktFlow) { f.udp, f.udpNoSum = true, true }), real4},
		{"nat dnat tcp4 vlan", with(req4(), func(f *pktFlow) { f.vlans = []uint16{100} }), real4},
		{"nat dnat tcp6 qinq", with(req6(), func(f *pktFlow) { f.vlans, f.qinq = []uint16{10, 200}, true }), real6},
		{"nat dnat tcp6 hop-by-hop + dst options", with(req6(), func(f *pktFlow) { f.v6Ext = true }), real6},
		{"nat dnat udp6 hop-by-hop + dst options", with(req6(), func(f *pktFlow) { f.v6Ext, f.udp = true, true }), real6},
	} {
		want := c.in
		want.dst, want.dport = c.real, 8080
		kind := KindTCP
		if c.in.udp {
			kind = KindUDP
		}
		add(fixture{name: c.name, in: c.in.frame(), kind: kind, op: opDNAT(c.real, 8080), out: want.frame(),
			src: c.in.src, dst: c.real, ttl: 64, inSync: true})
	}

	// ---- NAT: SNAT on the reply real:8080 -> client becomes VIP:80 -> client ----
	for _, c := range []struct {
		name      string
		vip, real netip.Addr
		client    netip.Addr
		udp       bool
		vlans     []uint16
	}{
		{"nat snat reply tcp4", vip4, real4, client4, false, nil},
		{"nat snat reply tcp6", vip6, real6, client6, false, nil},
		{"nat snat reply udp4 vlan", vip4, real4, client4, true, []uint16{7}},
		{"nat snat reply udp6", vip6, real6, client6, true, nil},
	} {
		in := pktFlow{src: c.real, dst: c.client, sport: 8080, dport: 40000, ttl: 63, id: 99, df: true, syn: true, ack: true,
			seq: 5000, udp: c.udp, vlans: c.vlans, srcMAC: macReal, dstMAC: macDirector, payload: payload}
		want := in
		want.src, want.sport = c.vip, 80
		kind := KindTCP
		if c.udp {
			kind = KindUDP
		}
		add(fixture{name: c.name, in: in.frame(), kind: kind, op: opSNAT(c.vip, 80), out: want.frame(),
			src: c.vip, dst: c.client, ttl: 63, inSync: true})
	}

	// ---- DR: MACs and TTL only ----
	for _, in := range []pktFlow{req4(), req6(), with(req4(), func(f *pktFlow) { f.vlans = []uint16{42}; f.udp = true })} {
		want := in
		want.dstMAC, want.srcMAC, want.ttl = macReal, macDirector, in.ttl-1
		name := "dr tcp4"
		switch {
		case in.udp:
			name = "dr udp4 vlan"
		case in.v6():
			name = "dr tcp6"
		}
		kind := KindTCP
		if in.udp {
			kind = KindUDP
		}
		add(fixture{name: name, in: in.frame(), kind: kind, op: opDR, out: want.frame(), src: in.src, dst: in.dst, ttl: 63, inSync: true})
	}

	// ---- TUN: outer header pushed in front of the intact inner packet ----
	{
		in := with(req4(), func(f *pktFlow) { f.tos = 0x2e; f.ttl = 61 })
		outer := &layers.IPv4{Version: 4, IHL: 5, TOS: 0x2e, Id: 7, Flags: layers.IPv4DontFragment, TTL: 61,
			Protocol: layers.IPProtocolIPv4, SrcIP: director4.AsSlice(), DstIP: real4.AsSlice()}
		want := serialize(append(append(l2Layers(in, layers.EthernetTypeIPv4), outer), in.ipLayers()...)...)
		add(fixture{name: "tun push tcp4 (tos, df, ttl copied; id from caller)", in: in.frame(), kind: KindTCP,
			op: opPush(director4, real4, 7), out: want, src: director4, dst: real4, ttl: 61})

		in2 := with(in, func(f *pktFlow) { f.df = false; f.udp = true; f.vlans = []uint16{300} })
		outer2 := *outer
		outer2.Flags, outer2.Id = 0, 0xfffe
		want2 := serialize(append(append(l2Layers(in2, layers.EthernetTypeIPv4), &outer2), in2.ipLayers()...)...)
		add(fixture{name: "tun push udp4 vlan no df", in: in2.frame(), kind: KindUDP,
			op: opPush(director4, real4, 0xfffe), out: want2, src: director4, dst: real4, ttl: 61})
	}
	{
		in := with(req6(), func(f *pktFlow) { f.tos = 0xb8; f.ttl = 50; f.flowLabel = 0xabcde })
		outer := &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0xabcde, HopLimit: 50,
			NextHeader: layers.IPProtocolIPv6, SrcIP: director6.AsSlice(), DstIP: real6.AsSlice()}
		want := serialize(append(append(l2Layers(in, layers.EthernetTypeIPv6), outer), in.ipLayers()...)...)
		add(fixture{name: "tun push tcp6 (traffic class, flow label, hop limit copied)", in: in.frame(), kind: KindTCP,
			op: opPush(director6, real6, 7), out: want, src: director6, dst: real6, ttl: 50})

		in2 := with(in, func(f *pktFlow) { f.vlans, f.qinq, f.v6Ext = []uint16{1, 2}, true, true })
		want2 := serialize(append(append(l2Layers(in2, layers.EthernetTypeIPv6), outer), in2.ipLayers()...)...)
		add(fixture{name: "tun push tcp6 qinq + extension headers", in: in2.frame(), kind: KindTCP,
			op: opPush(director6, real6, 7), out: want2, src: director6, dst: real6, ttl: 50})
	}
	for _, c := range []struct {
		name     string
		in       pktFlow
		src, dst netip.Addr
	}{
		{"tun push+pop restores tcp4", req4(), director4, real4},
		{"tun push+pop restores udp6 qinq", with(req6(), func(f *pktFlow) { f.udp, f.vlans, f.qinq = true, []uint16{5, 6}, true }), director6, real6},
		{"tun push+pop restores tcp6 ext", with(req6(), func(f *pktFlow) { f.v6Ext = true }), director6, real6},
	} {
		kind := KindTCP
		if c.in.udp {
			kind = KindUDP
		}
		add(fixture{name: c.name, in: c.in.frame(), kind: kind, op: opPushPop(c.src, c.dst), out: c.in.frame(),
			src: c.in.src, dst: c.in.dst, ttl: 64})
	}
	{
		// Padding after the IP packet is not carried into the tunnel.
		in := pktFlow{src: client4, dst: vip4, sport: 1, dport: 80, ttl: 64, ack: true}
		frame := in.frame() // 54 bytes padded to 60 by gopacket
		outer := &layers.IPv4{Version: 4, IHL: 5, Id: 3, TTL: 64, Protocol: layers.IPProtocolIPv4,
			SrcIP: director4.AsSlice(), DstIP: real4.AsSlice()}
		want := serialize(append(append(l2Layers(in, layers.EthernetTypeIPv4), outer), in.ipLayers()...)...)
		add(fixture{name: "tun push tcp4 drops ethernet padding", in: frame, kind: KindTCP,
			op: opPush(director4, real4, 3), out: want, src: director4, dst: real4, ttl: 64})
	}

	// ---- NAT ICMP errors ----
	{
		// Inbound v4: the client answers our reply VIP:80 -> client:40000 (UDP)
		// with port unreachable; the quote is the classic IP header + 8 bytes.
		reply := pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64, id: 5, payload: payload}
		realReply := with(reply, func(f *pktFlow) { f.src, f.sport = real4, 8080 })
		q := quoteOf(reply, 28)
		wq := withL4Csum(quoteOf(realReply, 28), q, true)
		outer := pktFlow{src: client4, dst: vip4, ttl: 64, id: 77}
		in := icmpErr{outer: outer, typ: 3, code: 3, quote: q}
		want := icmpErr{outer: with(outer, func(f *pktFlow) { f.dst = real4 }), typ: 3, code: 3, quote: wq}
		add(fixture{name: "nat icmp4 port unreachable to real (udp quote)", in: in.frame(), kind: KindICMPError,
			op: opToReal(real4, 8080), out: want.frame(), src: client4, dst: real4, ttl: 64, inSync: true})

		// Outbound v4: the real server says fragmentation needed about the
		// DNATed request client:40000 -> real:8080 (TCP); quote of 548 bytes.
		big := with(req4(), func(f *pktFlow) { f.dst, f.dport, f.payload = real4, 8080, make([]byte, 1400) })
		vipBig := with(big, func(f *pktFlow) { f.dst, f.dport = vip4, 80 })
		q2 := quoteOf(big, 548)
		wq2 := withL4Csum(quoteOf(vipBig, 548), q2, false)
		outer2 := pktFlow{src: real4, dst: client4, ttl: 64, srcMAC: macReal, dstMAC: macDirector}
		in2 := icmpErr{outer: outer2, typ: 3, code: 4, rest: 1400, quote: q2}
		want2 := icmpErr{outer: with(outer2, func(f *pktFlow) { f.src = vip4 }), typ: 3, code: 4, rest: 1400, quote: wq2}
		add(fixture{name: "nat icmp4 frag needed from real (tcp quote)", in: in2.frame(), kind: KindICMPError,
			op: opFromReal(vip4, 80), out: want2.frame(), src: vip4, dst: client4, ttl: 64, inSync: true})

		// The same with a VLAN tag.
		in3, want3 := in2, want2
		in3.outer.vlans, want3.outer.vlans = []uint16{9}, []uint16{9}
		add(fixture{name: "nat icmp4 frag needed from real vlan", in: in3.frame(), kind: KindICMPError,
			op: opFromReal(vip4, 80), out: want3.frame(), src: vip4, dst: client4, ttl: 64, inSync: true})
	}
	{
		reply := pktFlow{src: vip6, dst: client6, sport: 80, dport: 40000, udp: true, ttl: 64, payload: payload}
		realReply := with(reply, func(f *pktFlow) { f.src, f.sport = real6, 8080 })
		q := quoteOf(reply, 0)
		wq := withL4Csum(quoteOf(realReply, 0), q, true)
		outer := pktFlow{src: client6, dst: vip6, ttl: 64}
		in := icmpErr{outer: outer, typ: 1, code: 4, quote: q}
		want := icmpErr{outer: with(outer, func(f *pktFlow) { f.dst = real6 }), typ: 1, code: 4, quote: wq}
		add(fixture{name: "nat icmp6 port unreachable to real (udp quote)", in: in.frame(), kind: KindICMPError,
			op: opToReal(real6, 8080), out: want.frame(), src: client6, dst: real6, ttl: 64, inSync: true})

		big := with(req6(), func(f *pktFlow) { f.dst, f.dport, f.payload = real6, 8080, make([]byte, 1400) })
		vipBig := with(big, func(f *pktFlow) { f.dst, f.dport = vip6, 80 })
		q2 := quoteOf(big, 1232)
		wq2 := withL4Csum(quoteOf(vipBig, 1232), q2, false)
		outer2 := pktFlow{src: real6, dst: client6, ttl: 64, srcMAC: macReal, dstMAC: macDirector}
		in2 := icmpErr{outer: outer2, typ: 2, code: 0, rest: 1400, quote: q2}
		want2 := icmpErr{outer: with(outer2, func(f *pktFlow) { f.src = vip6 }), typ: 2, code: 0, rest: 1400, quote: wq2}
		add(fixture{name: "nat icmp6 packet too big from real (tcp quote)", in: in2.frame(), kind: KindICMPError,
			op: opFromReal(vip6, 80), out: want2.frame(), src: vip6, dst: client6, ttl: 64, inSync: true})

		// A quote with extension headers.
		big3 := with(big, func(f *pktFlow) { f.v6Ext = true })
		q3 := quoteOf(big3, 1232)
		wq3 := withL4Csum(quoteOf(with(big3, func(f *pktFlow) { f.dst, f.dport = vip6, 80 }), 1232), q3, false)
		in3 := icmpErr{outer: outer2, typ: 2, code: 0, rest: 1400, quote: q3}
		want3 := icmpErr{outer: with(outer2, func(f *pktFlow) { f.src = vip6 }), typ: 2, code: 0, rest: 1400, quote: wq3}
		add(fixture{name: "nat icmp6 packet too big quoting extension headers", in: in3.frame(), kind: KindICMPError,
			op: opFromReal(vip6, 80), out: want3.frame(), src: vip6, dst: client6, ttl: 64, inSync: true})
	}

	// The other two combinations per family: the real server answers a UDP
	// request (client -> real:8080) with port unreachable; a router on the
	// client side says fragmentation needed / packet too big about a TCP reply
	// (VIP:80 -> client), full-size quote.
	for _, c := range []struct {
		fam                       string
		client, vip, real         netip.Addr
		unreachType, unreachCode  uint8
		bigType, bigCode, bigQLen int
	}{
		{"4", client4, vip4, real4, 3, 3, 3, 4, 548},
		{"6", client6, vip6, real6, 1, 4, 2, 0, 1232},
	} {
		req := pktFlow{src: c.client, dst: c.real, sport: 40000, dport: 8080, udp: true, ttl: 63, payload: payload}
		q := quoteOf(req, 0)
		wq := withL4Csum(quoteOf(with(req, func(f *pktFlow) { f.dst, f.dport = c.vip, 80 }), 0), q, true)
		outer := pktFlow{src: c.real, dst: c.client, ttl: 64, srcMAC: macReal, dstMAC: macDirector}
		in := icmpErr{outer: outer, typ: c.unreachType, code: c.unreachCode, quote: q}
		want := icmpErr{outer: with(outer, func(f *pktFlow) { f.src = c.vip }), typ: c.unreachType, code: c.unreachCode, quote: wq}
		add(fixture{name: "nat icmp" + c.fam + " port unreachable from real (udp quote)", in: in.frame(), kind: KindICMPError,
			op: opFromReal(c.vip, 80), out: want.frame(), src: c.vip, dst: c.client, ttl: 64, inSync: true})

		reply := pktFlow{src: c.vip, dst: c.client, sport: 80, dport: 40000, ttl: 60, ack: true, df: true, id: 3, payload: make([]byte, 1400)}
		q2 := quoteOf(reply, c.bigQLen)
		wq2 := withL4Csum(quoteOf(with(reply, func(f *pktFlow) { f.src, f.sport = c.real, 8080 }), c.bigQLen), q2, false)
		router := c.client.Prev()
		outer2 := pktFlow{src: router, dst: c.vip, ttl: 250}
		in2 := icmpErr{outer: outer2, typ: uint8(c.bigType), code: uint8(c.bigCode), rest: 1280, quote: q2}
		want2 := icmpErr{outer: with(outer2, func(f *pktFlow) { f.dst = c.real }), typ: uint8(c.bigType), code: uint8(c.bigCode), rest: 1280, quote: wq2}
		add(fixture{name: "nat icmp" + c.fam + " too big from client-side router to real (tcp quote)", in: in2.frame(), kind: KindICMPError,
			op: opToReal(c.real, 8080), out: want2.frame(), src: router, dst: c.real, ttl: 250, inSync: true})
	}

	// ---- TooBig: answering a TUN packet that no longer fits ----
	{
		big := with(req4(), func(f *pktFlow) { f.payload = make([]byte, 1440); f.tos = 0x10 }) // 1480-byte IP packet, DF
		for i := range big.payload {
			big.payload[i] = byte(i)
		}
		ip := big.ipPacket()
		reply := pktFlow{src: director4, dst: client4, ttl: 64, id: big.id, tos: 0xc0 | 0x10, srcMAC: macDirector, dstMAC: macClientGW}
		want := icmpErr{outer: reply, typ: 3, code: 4, rest: 1480, quote: ip[:548]}
		add(fixture{name: "toobig v4 df (quote cut at 576)", in: big.frame(), kind: KindTCP,
			op: opTooBig(director4, 1480), out: want.frame(), src: director4, dst: client4, ttl: 64})

		bigV := with(big, func(f *pktFlow) { f.vlans = []uint16{12} })
		replyV := with(reply, func(f *pktFlow) { f.vlans = []uint16{12} })
		wantV := icmpErr{outer: replyV, typ: 3, code: 4, rest: 1480, quote: ip[:548]}
		add(fixture{name: "toobig v4 vlan", in: bigV.frame(), kind: KindTCP,
			op: opTooBig(director4, 1480), out: wantV.frame(), src: director4, dst: client4, ttl: 64})

		small := with(req4(), func(f *pktFlow) { f.udp = true })
		sip := small.ipPacket()
		wantS := icmpErr{outer: reply, typ: 3, code: 4, rest: 60, quote: sip}
		wantS.outer.tos = 0xc0
		add(fixture{name: "toobig v4 small packet quoted whole", in: small.frame(), kind: KindUDP,
			op: opTooBig(director4, 60), out: wantS.frame(), src: director4, dst: client4, ttl: 64})
	}
	{
		big := with(req6(), func(f *pktFlow) { f.payload = make([]byte, 1440) }) // 1500-byte IP packet
		for i := range big.payload {
			big.payload[i] = byte(i * 7)
		}
		ip := big.ipPacket()
		reply := pktFlow{src: director6, dst: client6, ttl: 64, srcMAC: macDirector, dstMAC: macClientGW}
		want := icmpErr{outer: reply, typ: 2, code: 0, rest: 1460, quote: ip[:1232]}
		add(fixture{name: "toobig v6 (quote cut at 1280)", in: big.frame(), kind: KindTCP,
			op: opTooBig(director6, 1460), out: want.frame(), src: director6, dst: client6, ttl: 64})
	}

	// ---- classification rows: the frame must come back unchanged ----
	arp := serialize(&layers.Ethernet{SrcMAC: macClientGW, DstMAC: macDirector, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: macClientGW, SourceProtAddress: client4.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: vip4.AsSlice()})
	add(fixture{name: "arp is not ip", in: arp, kind: KindNotIP})
	add(fixture{name: "three vlan tags is not ip", in: with(req4(), func(f *pktFlow) { f.vlans = []uint16{1, 2, 3} }).frame(), kind: KindNotIP})

	add(fixture{name: "icmp4 echo is icmp-other", in: echo(req4()), kind: KindICMPOther})
	add(fixture{name: "icmp6 echo is icmp-other", in: echo(req6()), kind: KindICMPOther})
	{
		reply := pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64, payload: payload}
		outer := pktFlow{src: client4, dst: vip4, ttl: 64}
		q := reply.ipPacket()
		add(fixture{name: "icmp4 error quoting ip header + 4 bytes is icmp-other", kind: KindICMPOther,
			in: icmpErr{outer: outer, typ: 3, code: 3, quote: q[:24]}.frame()})
		add(fixture{name: "icmp4 error quoting ip header + 8 bytes is usable", kind: KindICMPError,
			in: icmpErr{outer: outer, typ: 11, code: 0, quote: q[:28]}.frame()})
		nf := append([]byte(nil), q...)
		nf[6], nf[7] = 0x00, 0x10 // fragment offset 16*8
		add(fixture{name: "icmp4 error quoting a non-first fragment is icmp-other", kind: KindICMPOther,
			in: icmpErr{outer: outer, typ: 3, code: 3, quote: nf}.frame()})
		ping := echo(reply)
		add(fixture{name: "icmp4 error quoting icmp is icmp-other", kind: KindICMPOther,
			in: icmpErr{outer: outer, typ: 3, code: 3, quote: ping[14:]}.frame()})
		add(fixture{name: "icmp4 redirect is icmp-other", kind: KindICMPOther,
			in: icmpErr{outer: outer, typ: 5, code: 1, quote: q}.frame()})
		outer6 := pktFlow{src: client6, dst: vip6, ttl: 64}
		add(fixture{name: "icmp6 error quoting ipv4 is icmp-other", kind: KindICMPOther,
			in: icmpErr{outer: outer6, typ: 1, code: 4, quote: q}.frame()})
		add(fixture{name: "icmp6 time exceeded quoting tcp6 is usable", kind: KindICMPError,
			in: icmpErr{outer: outer6, typ: 3, code: 0, quote: req6().ipPacket()[:48]}.frame()})
	}
	add(fixture{name: "ipv4 first fragment (MF) is a fragment", kind: KindFragment,
		in: mutate(req4().frame(), func(b []byte) []byte { b[14+6] |= 0x20; return b })})
	add(fixture{name: "ipv4 later fragment (offset) is a fragment", kind: KindFragment,
		in: mutate(req4().frame(), func(b []byte) []byte { b[14+7] = 0x40; return b })})
	add(fixture{name: "ipv6 fragment header (M=1) is a fragment", kind: KindFragment,
		in: insertV6Ext(req6().frame(), flow.Fragment, []byte{0, 0, 0x00, 0x01, 1, 2, 3, 4})})
	add(fixture{name: "ipv6 fragment header (offset) is a fragment", kind: KindFragment,
		in: insertV6Ext(req6().frame(), flow.Fragment, []byte{0, 0, 0x00, 0x08, 1, 2, 3, 4})})
	add(fixture{name: "ipv6 atomic fragment is parsed through", kind: KindTCP,
		in: insertV6Ext(req6().frame(), flow.Fragment, []byte{0, 0, 0x00, 0x00, 1, 2, 3, 4})})
	add(fixture{name: "ipv6 routing header with segments left is other-l4", kind: KindOtherL4,
		in: insertV6Ext(req6().frame(), flow.Routing, []byte{1: 2, 2: 4, 3: 1, 8: 0x20, 9: 0x01, 10: 0x0d, 11: 0xb8, 23: 1})})
	add(fixture{name: "ipv6 routing header without segments left is parsed through", kind: KindTCP,
		in: insertV6Ext(req6().frame(), flow.Routing, []byte{0, 0, 4, 0, 0, 0, 0, 0})})
	add(fixture{name: "ipip is other-l4", kind: KindOtherL4, in: serialize(append(append(l2Layers(req4(), layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: director4.AsSlice(), DstIP: real4.AsSlice()}),
		req4().ipLayers()...)...)})
	add(fixture{name: "gre is other-l4", kind: KindOtherL4,
		in: mutate(req4().frame(), func(b []byte) []byte { b[14+9] = 47; return b })})
	add(fixture{name: "ipv4 options are skipped", kind: KindTCP, in: withIPv4Options(req4())})

	// ---- malformed rows ----
	tcp4, tcp6, udp4 := req4().frame(), req6().frame(), with(req4(), func(f *pktFlow) { f.udp = true }).frame()
	ext6 := with(req6(), func(f *pktFlow) { f.v6Ext = true }).frame()
	vlan4 := with(req4(), func(f *pktFlow) { f.vlans = []uint16{3} }).frame()
	qinq6 := with(req6(), func(f *pktFlow) { f.vlans, f.qinq = []uint16{3, 4}, true }).frame()
	set16 := func(b []byte, off int, v uint16) []byte { put16(b[off:], v); return b }
	for _, m := range []struct {
		name string
		in   []byte
	}{
		{"empty frame", nil},
		{"truncated ethernet header", tcp4[:13]},
		{"truncated vlan tag", vlan4[:17]},
		{"truncated qinq inner tag", qinq6[:21]},
		{"truncated ipv4 header", tcp4[:14+19]},
		{"truncated ipv6 header", tcp6[:14+39]},
		{"truncated ipv4 header behind vlan", vlan4[:18+19]},
		{"ipv4 ihl 4", mutate(tcp4, func(b []byte) []byte { b[14] = 0x44; return b })},
		{"ipv4 ihl past total length", mutate(tcp4, func(b []byte) []byte { b[14] = 0x4f; return set16(b, 16, 40) })},
		{"ipv4 version 6 under ethertype ipv4", mutate(tcp4, func(b []byte) []byte { b[14] = 0x65; return b })},
		{"ipv6 version 4 under ethertype ipv6", mutate(tcp6, func(b []byte) []byte { b[14] = 0x45; return b })},
		{"ipv4 total length past frame", mutate(tcp4, func(b []byte) []byte { return set16(b, 16, uint16(len(b)-14+1)) })},
		{"ipv4 total length below header", mutate(tcp4, func(b []byte) []byte { return set16(b, 16, 19) })},
		{"ipv6 payload length past frame", mutate(tcp6, func(b []byte) []byte { return set16(b, 18, uint16(len(b)-54+1)) })},
		{"frame cut inside the tcp payload", tcp4[:len(tcp4)-1]},
		{"tcp header cut by ipv4 total length", mutate(tcp4, func(b []byte) []byte { return set16(b, 16, 20+19) })},
		{"tcp header cut by ipv6 payload length", mutate(tcp6, func(b []byte) []byte { return set16(b, 18, 19) })},
		{"tcp data offset 4", mutate(tcp4, func(b []byte) []byte { b[14+20+12] = 0x40; return b })},
		{"tcp data offset 0", mutate(tcp6, func(b []byte) []byte { b[14+40+12] = 0x00; return b })},
		{"tcp data offset past ip length", mutate(tcp4, func(b []byte) []byte { b[14+20+12] = 0xf0; return b })},
		{"udp header cut by ipv4 total length", mutate(udp4, func(b []byte) []byte { return set16(b, 16, 20+7) })},
		{"icmp header cut by ipv4 total length", mutate(echo(req4()), func(b []byte) []byte { return set16(b, 16, 20+7) })},
		{"ipv6 hop-by-hop past payload length", mutate(ext6, func(b []byte) []byte { return set16(b, 18, 4) })},
		{"ipv6 destination options past payload length", mutate(ext6, func(b []byte) []byte { return set16(b, 18, 8+7) })},
		{"ipv6 fragment header cut", mutate(insertV6Ext(tcp6, flow.Fragment, make([]byte, 8)),
			func(b []byte) []byte { return set16(b, 18, 7) })},
	} {
		add(fixture{name: "malformed: " + m.name, in: m.in, kind: KindMalformed})
	}
	return rows
}

func TestFixtures(t *testing.T) {
	for _, row := range fixtures() {
		t.Run(row.name, func(t *testing.T) {
			buf := make([]byte, headroom+len(row.in)+headroom)
			for i := range buf {
				buf[i] = 0xa5
			}
			off := headroom
			copy(buf[off:], row.in)
			orig := append([]byte(nil), buf...)
			var p Packet
			if k := Parse(buf[off:off+len(row.in)], &p); k != row.kind {
				t.Fatalf("Parse = %v, want %v", k, row.kind)
			}
			if row.op == nil {
				if !bytes.Equal(buf, orig) {
					t.Fatal("Parse changed the frame")
				}
				return
			}
			if !VerifyChecksums(&p) {
				t.Fatal("input frame has bad checksums")
			}
			got := row.op(t, buf, off, len(row.in), &p)
			if !bytes.Equal(got, row.out) {
				t.Fatalf("output differs from the frame gopacket built (got != want):\n%s", hexDiff(got, row.out))
			}

			// Checksums by gopacket's recompute, by the oracle and by VerifyChecksums.
			pkt := gopacketCheck(t, got)
			var q Packet
			k := Parse(got, &q)
			if !k.isIP() {
				t.Fatalf("output parses as %v", k)
			}
			refCheck(t, &q)
			if !VerifyChecksums(&q) {
				t.Error("VerifyChecksums(output) = false")
			}

			// Outermost IP fields as gopacket sees them.
			var src, dst netip.Addr
			var ttl uint8
			switch nl := pkt.NetworkLayer().(type) {
			case *layers.IPv4:
				src, _ = netip.AddrFromSlice(nl.SrcIP.To4())
				dst, _ = netip.AddrFromSlice(nl.DstIP.To4())
				ttl = nl.TTL
			case *layers.IPv6:
				src, _ = netip.AddrFromSlice(nl.SrcIP)
				dst, _ = netip.AddrFromSlice(nl.DstIP)
				ttl = nl.HopLimit
			}
			if src != row.src || dst != row.dst || ttl != row.ttl {
				t.Errorf("gopacket sees %v -> %v ttl %d, want %v -> %v ttl %d", src, dst, ttl, row.src, row.dst, row.ttl)
			}

			if row.inSync {
				p.Frame, q.Frame = nil, nil
				if !reflect.DeepEqual(p, q) {
					t.Errorf("Packet not kept in step with the frame:\n got %+v\nwant %+v", p, q)
				}
			}
		})
	}
}
