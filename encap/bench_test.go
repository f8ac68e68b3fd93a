package encap

import "testing"

// Benchmarks of the per-packet path. CI runs them with -benchtime=1x so they
// cannot rot; `go test -bench . ./encap/` gives the figures.

// benchFrame is a frame the per-packet benchmarks run on.
type benchFrame struct {
	name  string
	frame []byte
}

// benchFrames are the kinds of frame a worker sees most.
func benchFrames() []benchFrame {
	reply := pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64, payload: payload}
	return []benchFrame{
		{"tcp4", req4().frame()},
		{"tcp6", req6().frame()},
		{"udp4", with(req4(), func(f *pktFlow) { f.udp = true }).frame()},
		{"tcp6-ext", with(req6(), func(f *pktFlow) { f.v6Ext = true }).frame()},
		{"icmp4-error", icmpErr{outer: pktFlow{src: client4, dst: vip4}, typ: 3, code: 3, quote: reply.ipPacket()}.frame()},
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range benchFrames() {
		b.Run(c.name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				Parse(c.frame, &p)
			}
		})
	}
}

// BenchmarkDNAT alternates between two destinations so every iteration
// really rewrites.
func BenchmarkDNAT(b *testing.B) {
	for _, c := range []struct {
		name     string
		f        pktFlow
		vip, rip [16]byte
	}{
		{"tcp4", req4(), a16(vip4), a16(real4)},
		{"tcp6", req6(), a16(vip6), a16(real6)},
		{"udp4", with(req4(), func(f *pktFlow) { f.udp = true }), a16(vip4), a16(real4)},
	} {
		b.Run(c.name, func(b *testing.B) {
			frame := c.f.frame()
			var p Packet
			Parse(frame, &p)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i&1 == 0 {
					DNAT(&p, c.rip, 8080)
				} else {
					DNAT(&p, c.vip, 80)
				}
				i++
			}
		})
	}
}

func BenchmarkDecTTL(b *testing.B) {
	frame := req4().frame()
	var p Packet
	Parse(frame, &p)
	b.ReportAllocs()
	for b.Loop() {
		if !DecTTL(&p) {
			frame[p.L3+ipv4TTL] = 255
			p.TTL = 255
		}
	}
}

// BenchmarkPushTunnel pushes the outer header and restores the L2 header the
// push overwrote, so each iteration starts from the same frame.
func BenchmarkPushTunnel(b *testing.B) {
	for _, c := range []struct {
		name     string
		f        pktFlow
		tun      Tunnel
		src, dst [16]byte
	}{
		{"v4", req4(), Tunnel{}, a16(director4), a16(real4)},
		{"v6", req6(), Tunnel{}, a16(director6), a16(real6)},
		{"v4 gue", req4(), Tunnel{Type: TunnelGUE, Port: 6080}, a16(director4), a16(real4)},
		{"v4 gue csum", req4(), Tunnel{Type: TunnelGUE, Port: 6080, Csum: true}, a16(director4), a16(real4)},
		{"v6 gre", req6(), Tunnel{Type: TunnelGRE}, a16(director6), a16(real6)},
		{"v6 gre csum", req6(), Tunnel{Type: TunnelGRE, Csum: true}, a16(director6), a16(real6)},
	} {
		b.Run(c.name, func(b *testing.B) {
			frame := c.f.frame()
			buf := make([]byte, 64+len(frame))
			copy(buf[64:], frame)
			var p Packet
			Parse(buf[64:], &p)
			l2 := append([]byte(nil), frame[:p.L3]...)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := PushTunnel(buf, 64, len(frame), &p, c.tun, c.src, c.dst, 1); !ok {
					b.Fatal("refused")
				}
				copy(buf[64:], l2)
			}
		})
	}
}

func BenchmarkICMPErrorToReal(b *testing.B) {
	reply := pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64, payload: payload}
	frame := icmpErr{outer: pktFlow{src: client4, dst: vip4}, typ: 3, code: 3, quote: reply.ipPacket()}.frame()
	var p Packet
	Parse(frame, &p)
	r, v := a16(real4), a16(vip4)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i&1 == 0 {
			ICMPErrorToReal(&p, r, 8080)
		} else {
			ICMPErrorToReal(&p, v, 80)
		}
		i++
	}
}

func BenchmarkTooBig(b *testing.B) {
	for _, c := range []struct {
		name string
		f    pktFlow
		from [16]byte
	}{
		{"v4", with(req4(), func(f *pktFlow) { f.payload = make([]byte, 1440) }), a16(director4)},
		{"v6", with(req6(), func(f *pktFlow) { f.payload = make([]byte, 1440) }), a16(director6)},
	} {
		b.Run(c.name, func(b *testing.B) {
			frame := c.f.frame()
			var p Packet
			Parse(frame, &p)
			out := make([]byte, 2048)
			b.ReportAllocs()
			for b.Loop() {
				TooBig(out, &p, c.from, 1400)
			}
		})
	}
}

// BenchmarkCompletePartialChecksum: the test every TCP and UDP packet takes
// (complete: a checksum that is not the pseudo-header sum, left alone), per
// kind of frame.
func BenchmarkCompletePartialChecksum(b *testing.B) {
	for _, c := range benchFrames() {
		b.Run(c.name, func(b *testing.B) {
			var p Packet
			Parse(c.frame, &p)
			b.ReportAllocs()
			for b.Loop() {
				CompletePartialChecksum(&p)
			}
		})
	}
}
