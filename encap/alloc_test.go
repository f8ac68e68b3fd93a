package encap

import "testing"

// TestNoAllocations proves every per-packet function allocates nothing.
func TestNoAllocations(t *testing.T) {
	tcp4, tcp6, udp4 := req4().frame(), req6().frame(), with(req4(), func(f *pktFlow) { f.udp = true }).frame()
	reply := pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64, payload: payload}
	icmp4 := icmpErr{outer: pktFlow{src: client4, dst: vip4, ttl: 64}, typ: 3, code: 3, quote: reply.ipPacket()}.frame()
	icmp6 := icmpErr{outer: pktFlow{src: client6, dst: vip6, ttl: 64}, typ: 1, code: 4, quote: req6().ipPacket()}.frame()
	var p Packet
	buf := make([]byte, 64+len(tcp6))
	out := make([]byte, 2048)
	real4a, real6a, vip4a, dir4, dir6 := a16(real4), a16(real6), a16(vip4), a16(director4), a16(director6)

	cases := []struct {
		name string
		fn   func()
	}{
		{"Parse tcp4", func() { Parse(tcp4, &p) }},
		{"Parse tcp6", func() { Parse(tcp6, &p) }},
		{"Parse udp4", func() { Parse(udp4, &p) }},
		{"Parse icmp6 error", func() { Parse(icmp6, &p) }},
		{"DNAT tcp4", func() { Parse(tcp4, &p); DNAT(&p, real4a, 8080); DNAT(&p, vip4a, 80) }},
		{"DNAT tcp6", func() { Parse(tcp6, &p); DNAT(&p, real6a, 8080) }},
		{"SNAT udp4", func() { Parse(udp4, &p); SNAT(&p, vip4a, 80) }},
		{"DecTTL", func() { Parse(tcp4, &p); DecTTL(&p) }},
		{"CompletePartialChecksum", func() { Parse(tcp4, &p); CompletePartialChecksum(&p) }},
		{"SegmentTCP", func() { Parse(tcp4, &p); SegmentTCP(out, &p, 8, 0) }},
		{"SetMACs", func() { Parse(tcp4, &p); SetMACs(&p, [6]byte{1}, [6]byte{2}) }},
		{"ICMPErrorToReal v4", func() { Parse(icmp4, &p); ICMPErrorToReal(&p, real4a, 8080) }},
		{"ICMPErrorFromReal v6", func() { Parse(icmp6, &p); ICMPErrorFromReal(&p, real6a, 80) }},
		{"PushTunnel+PopTunnel v4", func() {
			copy(buf[64:], tcp4)
			Parse(buf[64:64+len(tcp4)], &p)
			o, n, _ := PushTunnel(buf, 64, len(tcp4), &p, Tunnel{}, dir4, real4a, 1)
			PopTunnel(buf, o, n, 0)
		}},
		{"PushTunnel v6", func() {
			copy(buf[64:], tcp6)
			Parse(buf[64:64+len(tcp6)], &p)
			PushTunnel(buf, 64, len(tcp6), &p, Tunnel{}, dir6, real6a, 1)
		}},
		{"PushTunnel+PopTunnel GUE csum v4", func() {
			copy(buf[64:], tcp4)
			Parse(buf[64:64+len(tcp4)], &p)
			o, n, _ := PushTunnel(buf, 64, len(tcp4), &p, Tunnel{Type: TunnelGUE, Port: 6080, Csum: true}, dir4, real4a, 1)
			PopTunnel(buf, o, n, 6080)
		}},
		{"PushTunnel+PopTunnel GRE csum v6", func() {
			copy(buf[64:], tcp6)
			Parse(buf[64:64+len(tcp6)], &p)
			o, n, _ := PushTunnel(buf, 64, len(tcp6), &p, Tunnel{Type: TunnelGRE, Csum: true}, dir6, real6a, 1)
			PopTunnel(buf, o, n, 0)
		}},
		{"TooBig v4", func() { Parse(tcp4, &p); TooBig(out, &p, dir4, 1400) }},
		{"TooBig v6", func() { Parse(tcp6, &p); TooBig(out, &p, dir6, 1280) }},
		{"VerifyChecksums", func() { Parse(tcp6, &p); VerifyChecksums(&p) }},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(100, c.fn); n != 0 {
			t.Errorf("%s: %v allocations per run", c.name, n)
		}
	}
}
