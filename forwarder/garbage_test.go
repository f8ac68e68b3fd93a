package forwarder

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// runOn processes frames that arrived on interface ifindex (the in-memory
// backend's Inject has no interface) and returns what the worker sent.
func runOn(e *Engine, mem *linktest.MemBackend, ifindex int, frames ...[]byte) []linktest.SentFrame {
	w := e.workers[0]
	rx := make([]link.Frame, len(frames))
	for i, f := range frames {
		buf := make([]byte, linktest.Headroom+len(f)+64)
		copy(buf[linktest.Headroom:], f)
		rx[i] = link.Frame{Buf: buf, Off: linktest.Headroom, Len: len(f), Ifindex: ifindex}
	}
	w.processBatch(rx)
	return mem.Queue(0).Sent()
}

// drops sums a drop reason over the engine's queues.
func drops(e *Engine, r DropReason) uint64 {
	var n uint64
	for _, d := range e.Stats().Drops {
		if d.Reason == r.String() {
			n += d.Count
		}
	}
	return n
}

// fixIPv4 recomputes the IPv4 header checksum of an untagged frame.
func fixIPv4(b []byte) []byte {
	ihl := int(b[14]&0x0f) * 4
	h := b[14 : 14+ihl]
	h[10], h[11] = 0, 0
	var s uint32
	for i := 0; i < ihl; i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(s))
	return b
}

// withOptions builds a TCP/IPv4 SYN from client to vip:80 whose header
// carries the option bytes raw (a multiple of 4), checksums correct.
func withOptions(t *testing.T, raw []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: mac(macClient), DstMAC: mac(macDirExt), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client4.AsSlice(), DstIP: vip4.AsSlice()}
	for range raw {
		ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1})
	}
	tc := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 1000}
	tc.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tc); err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), buf.Bytes()...)
	copy(b[14+20:], raw)
	return fixIPv4(b)
}

// tagged inserts 802.1Q tags (outer first) into an untagged frame.
func tagged(frame []byte, ids ...uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	for _, id := range ids {
		out = binary.BigEndian.AppendUint16(out, 0x8100)
		out = binary.BigEndian.AppendUint16(out, id)
	}
	return append(out, frame[12:]...)
}

// TestGarbageMakesNoState sends, to NAT, DR and TUN services of both
// families, each class of frame the kernel's receive path would drop: each
// is dropped with its own reason before a connection exists, so the table
// stays empty and no real server's counters move; a valid SYN afterwards is
// served.
func TestGarbageMakesNoState(t *testing.T) {
	syn4 := func() []byte { return buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, syn: true}) }
	udp4 := func() []byte {
		return buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, udp: true, payload: 20})
	}
	syn6 := func() []byte { return buildFrame(t, pkt{src: client6, dst: vip6, sport: 40000, dport: 80, syn: true}) }
	udp6 := func() []byte {
		return buildFrame(t, pkt{src: client6, dst: vip6, sport: 40000, dport: 80, udp: true, payload: 20})
	}
	set := func(b []byte, off int, v ...byte) []byte { copy(b[off:], v); return b }
	const ip4, ip6 = 14, 14 // IP header offsets (untagged)
	type row struct {
		name   string
		frame  func() []byte
		reason DropReason
	}
	rows4 := []row{
		{"bad ip checksum", func() []byte { b := syn4(); b[ip4+10] ^= 0xff; return b }, DropBadIPChecksum},
		{"bad ip checksum udp", func() []byte { b := udp4(); b[ip4+11]++; return b }, DropBadIPChecksum},
		{"option length 1", func() []byte { return withOptions(t, []byte{30, 1, 0, 0}) }, DropBadIPOptions},
		{"option past header", func() []byte { return withOptions(t, []byte{30, 9, 0, 0}) }, DropBadIPOptions},
		{"source route", func() []byte { return withOptions(t, []byte{131, 7, 4, 198, 18, 1, 1, 0}) }, DropBadIPOptions},
		{"udp length 7", func() []byte { b := udp4(); return set(b, ip4+20+4, 0, 7) }, DropBadUDPLength},
		{"udp length past payload", func() []byte { b := udp4(); return set(b, ip4+20+4, 0, 29) }, DropBadUDPLength},
		{"source loopback", func() []byte { return fixIPv4(set(syn4(), ip4+12, 127, 0, 0, 1)) }, DropMartian},
		{"source multicast", func() []byte { return fixIPv4(set(syn4(), ip4+12, 224, 0, 0, 5)) }, DropMartian},
		{"source broadcast", func() []byte { return fixIPv4(set(syn4(), ip4+12, 255, 255, 255, 255)) }, DropMartian},
		{"source zero", func() []byte { return fixIPv4(set(syn4(), ip4+12, 0, 0, 0, 0)) }, DropMartian},
		{"ttl 1", func() []byte {
			return buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, syn: true, ttl: 1})
		}, DropTTL},
		{"ttl 0 udp", func() []byte { return fixIPv4(set(udp4(), ip4+8, 0)) }, DropTTL},
		{"first fragment ttl 1", func() []byte { return fixIPv4(set(udp4(), ip4+6, 0x20, 0, 1)) }, DropTTL},
		{"first fragment bad ip checksum", func() []byte { b := set(udp4(), ip4+6, 0x20, 0); b[ip4+10]++; return b }, DropBadIPChecksum},
		{"vlan not configured", func() []byte { return tagged(syn4(), 10) }, DropVLAN},
	}
	rows6 := []row{
		{"source multicast", func() []byte { return set(syn6(), ip6+8, 0xff, 0x02) }, DropMartian},
		{"source loopback", func() []byte { return set(syn6(), ip6+8, []byte{15: 1}...) }, DropMartian},
		{"source v4-mapped", func() []byte { return set(syn6(), ip6+8, []byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 0, 15: 1}...) }, DropMartian},
		{"destination v4-mapped", func() []byte {
			return set(syn6(), ip6+24, []byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 0, 15: 10}...)
		}, DropMartian},
		{"udp length 4", func() []byte { b := udp6(); return set(b, ip6+40+4, 0, 4) }, DropBadUDPLength},
		{"udp length past payload", func() []byte { b := udp6(); return set(b, ip6+40+4, 1, 0) }, DropBadUDPLength},
		{"hop limit 1", func() []byte {
			return buildFrame(t, pkt{src: client6, dst: vip6, sport: 40000, dport: 80, syn: true, ttl: 1})
		}, DropTTL},
		{"hop limit 1 udp", func() []byte { return set(udp6(), ip6+7, 1) }, DropTTL},
		{"vlan not configured", func() []byte { return tagged(udp6(), 20) }, DropVLAN},
	}
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
		for _, fam := range []struct {
			vip  netip.Addr
			rows []row
			ok   func() []byte
		}{{vip4, rows4, syn4}, {vip6, rows6, syn6}} {
			cfg := testService(service.TCP, fam.vip, 80, "rr", m, 0, 2)
			udp := testService(service.UDP, fam.vip, 80, "rr", m, 0, 2)
			cfg.Services = append(cfg.Services, udp.Services...)
			e, mem := newTestEngine(t, cfg)
			for _, r := range fam.rows {
				t.Run(m.String()+"/"+fam.vip.String()+"/"+r.name, func(t *testing.T) {
					before := drops(e, r.reason)
					if out := runOn(e, mem, ifExt, r.frame()); len(out) != 0 {
						t.Errorf("forwarded %d frames", len(out))
					}
					if got := drops(e, r.reason) - before; got != 1 {
						t.Errorf("drop %v counted %d times, want 1 (drops %v)", r.reason, got, e.Stats().Drops)
					}
					st := e.Stats()
					if st.Table.Conns != 0 || st.Table.Templates != 0 {
						t.Errorf("table has %d conns, %d templates", st.Table.Conns, st.Table.Templates)
					}
					for _, s := range st.Services {
						if s.Counters != (service.Counters{}) {
							t.Errorf("service %v counters moved: %+v", s.Key, s.Counters)
						}
					}
				})
			}
			// The same services serve a valid SYN.
			if out := runOn(e, mem, ifExt, fam.ok()); len(out) != 1 || e.Stats().Table.Conns != 1 {
				t.Errorf("%v %v: valid SYN: %d frames sent, %d conns", m, fam.vip, len(out), e.Stats().Table.Conns)
			}
		}
	}
}

// TestVLANServed: a tagged frame is served only on a VLAN configured for the
// interface it arrived on; it leaves untagged toward an untagged next hop,
// and a NAT reply toward a client on the VLAN leaves the parent interface
// tagged with the client's VLAN.
func TestVLANServed(t *testing.T) {
	const vlanDev = 110 // the director's VLAN 10 device on ifExt
	r := testRouter()
	clientHop := *r.Default4
	clientHop.Ifindex = vlanDev
	r.Default4 = &clientHop
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: r, TableCapacity: 1 << 10,
		Services: testService(service.UDP, vip4, 80, "rr", service.MethodNAT, 8080, 1),
		VLANs:    []VLAN{{Parent: ifExt, ID: 10, Ifindex: vlanDev}, {Parent: ifExt, ID: 30}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	req := buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, udp: true, payload: 30})

	for _, c := range []struct {
		name    string
		ifindex int
		frame   []byte
	}{
		{"vlan 20 is not configured", ifExt, tagged(req, 20)},
		{"vlan 10 is not configured on the internal interface", ifInt, tagged(req, 10)},
		{"two tags are never served", ifExt, tagged(req, 10, 10)},
		{"priority bits do not make another vlan", ifExt, tagged(req, 0xe000|21)},
	} {
		before := drops(e, DropVLAN)
		if out := runOn(e, mem, c.ifindex, c.frame); len(out) != 0 {
			t.Errorf("%s: forwarded", c.name)
		}
		if drops(e, DropVLAN) != before+1 || e.Stats().Table.Conns != 0 {
			t.Errorf("%s: vlan drops %d → %d, conns %d", c.name, before, drops(e, DropVLAN), e.Stats().Table.Conns)
		}
	}

	// VLAN 10 (with PCP bits set) is served: DNATed, untagged toward the
	// real server.
	out := runOn(e, mem, ifExt, tagged(req, 0xa000|10))
	if len(out) != 1 || out[0].Ifindex != ifInt {
		t.Fatalf("vlan 10: sent %v", out)
	}
	p := checkFrame(t, out[0].Data)
	if p.Layer(layers.LayerTypeDot1Q) != nil {
		t.Error("request left tagged toward an untagged real server")
	}
	if u := p.Layer(layers.LayerTypeUDP).(*layers.UDP); u.DstPort != 8080 {
		t.Errorf("dst port %d", u.DstPort)
	}
	checkTTL(t, p, 63)

	// The reply leaves ifExt tagged 10: the client's hop is the VLAN device.
	real := realAddr(4, 1)
	reply := buildFrame(t, pkt{src: real, dst: client4, sport: 8080, dport: 40000, udp: true, payload: 10,
		srcMAC: realMAC(1), dstMAC: macDirInt})
	out = runOn(e, mem, ifInt, reply)
	if len(out) != 1 || out[0].Ifindex != ifExt {
		t.Fatalf("reply: sent %v", out)
	}
	p = checkFrame(t, out[0].Data)
	tag, _ := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if tag == nil || tag.VLANIdentifier != 10 {
		t.Fatalf("reply tag %+v, want VLAN 10", tag)
	}
	if src, _ := p.NetworkLayer().NetworkFlow().Endpoints(); src.String() != vip4.String() {
		t.Errorf("reply from %v", src)
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth.DstMAC.String() != mac(macClient).String() {
		t.Errorf("reply to MAC %v", eth.DstMAC)
	}

	// Untagged frames are served as ever; an explicit VLAN without a device
	// (30) is served too.
	if out := runOn(e, mem, ifExt, buildFrame(t, pkt{src: client4, dst: vip4, sport: 40001, dport: 80, udp: true})); len(out) != 1 {
		t.Errorf("untagged: sent %d", len(out))
	}
	if out := runOn(e, mem, ifExt, tagged(buildFrame(t, pkt{src: client4, dst: vip4, sport: 40002, dport: 80, udp: true}), 30)); len(out) != 1 {
		t.Errorf("vlan 30: sent %d", len(out))
	}

	// Reconfigured without VLANs: tagged frames are dropped from the next
	// frame on.
	if err := e.SetVLANs(nil); err != nil {
		t.Fatal(err)
	}
	if out := runOn(e, mem, ifExt, tagged(req, 10)); len(out) != 0 {
		t.Error("vlan 10 served after SetVLANs(nil)")
	}
	if err := e.SetVLANs([]VLAN{{Parent: ifExt, ID: 4095}}); err == nil {
		t.Error("VLAN ID 4095 accepted")
	}
}

// TestGarbageZeroAllocs: dropping garbage and serving a tagged frame
// allocate nothing.
func TestGarbageZeroAllocs(t *testing.T) {
	e, _ := newTestEngine(t, testService(service.UDP, vip4, 80, "rr", service.MethodDR, 0, 2))
	if err := e.SetVLANs([]VLAN{{Parent: ifExt, ID: 10}}); err != nil {
		t.Fatal(err)
	}
	good := buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, udp: true, payload: 20})
	bad := append([]byte(nil), good...)
	bad[14+10] ^= 0xff
	ttl1 := buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 80, udp: true, ttl: 1})
	frames := [][]byte{bad, tagged(good, 10), tagged(good, 11), ttl1}
	w := e.workers[0]
	w.p.snap = w.snap.Load()
	bufs := make([][]byte, len(frames))
	for i := range frames {
		bufs[i] = make([]byte, linktest.Headroom+len(frames[i]))
	}
	var f link.Frame
	for i, fr := range frames {
		a := testing.AllocsPerRun(100, func() {
			copy(bufs[i][linktest.Headroom:], fr)
			f = link.Frame{Buf: bufs[i], Off: linktest.Headroom, Len: len(fr), Ifindex: ifExt}
			w.p.process(&f)
		})
		if a != 0 {
			t.Errorf("frame %d: %.1f allocations", i, a)
		}
	}
}
