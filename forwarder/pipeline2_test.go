package forwarder

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// icmpFrame builds an ICMP(v6) error from src to dst quoting the frame q
// (whose Ethernet header is skipped).
func icmpFrame(t *testing.T, src, dst netip.Addr, quoted []byte, srcMAC, dstMAC [6]byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: mac(srcMAC), DstMAC: mac(dstMAC)}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	q := gopacket.Payload(quoted[14:])
	var err error
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}
		err = gopacket.SerializeLayers(buf, opts, eth, ip, ic, q)
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}
		ic.SetNetworkLayerForChecksum(ip)
		err = gopacket.SerializeLayers(buf, opts, eth, ip, ic, gopacket.Payload(append([]byte{0, 0, 0, 0}, q...)))
	}
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestNATICMPErrors: an error from the client about a reply (quoting
// VIP:80 -> client) reaches the real server as if about its own packet; an
// error from the real server side about a DNATed packet (quoting client ->
// real:8080) reaches the client as if from the VIP about VIP:80.
func TestNATICMPErrors(t *testing.T) {
	for _, vip := range []netip.Addr{vip4, vip6} {
		client, fam := client4, 4
		if vip.Is6() {
			client, fam = client6, 6
		}
		t.Run(vip.String(), func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.UDP, vip, 53, "rr", service.MethodNAT, 5353, 1))
			if out := run(e, mem, buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 53, udp: true, payload: 8})); len(out) != 1 {
				t.Fatalf("request not forwarded")
			}
			real := realAddr(fam, 1)

			// Client says port unreachable about our reply VIP:53 -> client:40000.
			quoted := buildFrame(t, pkt{src: vip, dst: client, sport: 53, dport: 40000, udp: true, payload: 8})
			out := run(e, mem, icmpFrame(t, client, vip, quoted, macClient, macDirExt))
			if len(out) != 1 || out[0].Ifindex != ifInt {
				t.Fatalf("inbound error: sent %v", out)
			}
			p := checkFrame(t, out[0].Data)
			_, dst := p.NetworkLayer().NetworkFlow().Endpoints()
			if addrOf(t, dst.Raw()) != real {
				t.Errorf("inbound error sent to %v, want the real server", dst)
			}
			checkQuoted(t, out[0].Data, fam, real, 5353, true)

			// A router near the real server says unreachable about client -> real:5353.
			quoted = buildFrame(t, pkt{src: client, dst: real, sport: 40000, dport: 5353, udp: true, payload: 8})
			out = run(e, mem, icmpFrame(t, real, client, quoted, realMAC(1), macDirInt))
			if len(out) != 1 || out[0].Ifindex != ifExt {
				t.Fatalf("outbound error: sent %v", out)
			}
			p = checkFrame(t, out[0].Data)
			src, _ := p.NetworkLayer().NetworkFlow().Endpoints()
			if addrOf(t, src.Raw()) != vip {
				t.Errorf("outbound error from %v, want the VIP", src)
			}
			checkQuoted(t, out[0].Data, fam, vip, 53, false)
		})
	}
}

// checkQuoted checks the address and port of the quoted packet: its source
// (srcSide) or its destination.
func checkQuoted(t *testing.T, frame []byte, fam int, addr netip.Addr, port uint16, srcSide bool) {
	t.Helper()
	ipHdr, icmpHdr := 20, 8
	if fam == 6 {
		ipHdr = 40
	}
	q := frame[14+ipHdr+icmpHdr:]
	var p gopacket.Packet
	if fam == 4 {
		p = gopacket.NewPacket(q, layers.LayerTypeIPv4, gopacket.Default)
	} else {
		p = gopacket.NewPacket(q, layers.LayerTypeIPv6, gopacket.Default)
	}
	src, dst := p.NetworkLayer().NetworkFlow().Endpoints()
	u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if u == nil {
		t.Fatal("quoted packet has no UDP header")
	}
	if srcSide {
		if addrOf(t, src.Raw()) != addr || uint16(u.SrcPort) != port {
			t.Errorf("quoted source %v:%d, want %v:%d", src, u.SrcPort, addr, port)
		}
	} else if addrOf(t, dst.Raw()) != addr || uint16(u.DstPort) != port {
		t.Errorf("quoted destination %v:%d, want %v:%d", dst, u.DstPort, addr, port)
	}
	if ip, ok := p.NetworkLayer().(*layers.IPv4); ok && fold(sum16(ip.Contents, 0)) != 0xffff {
		t.Error("quoted IPv4 header checksum is wrong")
	}
}

func dstOf(t *testing.T, out []linktest.SentFrame) netip.Addr {
	t.Helper()
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want 1", len(out))
	}
	_, dst := checkFrame(t, out[0].Data).NetworkLayer().NetworkFlow().Endpoints()
	return addrOf(t, dst.Raw())
}

// TestPersistence: one client network sticks to one real server over many
// connections; other clients spread.
func TestPersistence(t *testing.T) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3)
	cfg.Services[0].Persistence = &service.Persistence{Timeout: 300 * time.Second, NetmaskBits: 24}
	e, mem := newTestEngine(t, cfg)
	first := dstOf(t, run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 1000, dport: 80, syn: true})))
	for i := 1; i < 50; i++ {
		// Another host of the same /24 counts as the same client.
		src := netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + i%5)})
		if got := dstOf(t, run(e, mem, buildFrame(t, pkt{src: src, dst: vip4, sport: uint16(1000 + i), dport: 80, syn: true}))); got != first {
			t.Fatalf("connection %d from %v went to %v, first to %v", i, src, got, first)
		}
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < 30; i++ {
		src := netip.AddrFrom4([4]byte{198, 19, byte(i), 1})
		seen[dstOf(t, run(e, mem, buildFrame(t, pkt{src: src, dst: vip4, sport: 999, dport: 80, syn: true})))] = true
	}
	if len(seen) != 3 {
		t.Errorf("different client networks used %d real servers, want 3", len(seen))
	}
}

// TestQuiescentAndDeleted: weight 0 takes no new connections but keeps the
// open one; a deleted server's connection is scheduled afresh.
func TestQuiescentAndDeleted(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 2))
	syn := func(sport uint16) netip.Addr {
		return dstOf(t, run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, syn: true})))
	}
	ack := func(sport uint16) netip.Addr {
		return dstOf(t, run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, ack: true})))
	}
	open := syn(5000) // real 1 (rr starts at the first)
	key := service.Service{Proto: service.TCP, Addr: vip4, Port: 80}.Key()
	err := e.Apply(func(c *service.Config) error {
		r := c.Services[0].Reals[c.Services[0].FindReal(service.RealKey{Addr: open, Port: 8080})]
		r.Weight = 0
		return c.EditReal(key, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if got := syn(uint16(6000 + i)); got == open {
			t.Fatalf("new connection %d went to the quiescent server", i)
		}
	}
	if got := ack(5000); got != open {
		t.Fatalf("open connection moved to %v", got)
	}
	if err := e.Apply(func(c *service.Config) error { return c.DeleteReal(key, service.RealKey{Addr: open, Port: 8080}) }); err != nil {
		t.Fatal(err)
	}
	// A new SYN on the same tuple is scheduled afresh to the remaining server.
	if got := syn(5000); got == open {
		t.Fatalf("connection of a deleted server still goes to it")
	}
}

// TestDrops: malformed frames, traffic to no service, and TCP without SYN
// are counted by reason, and nothing is sent.
func TestDrops(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 1))
	good := buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 80, syn: true})
	frames := [][]byte{
		good[:20], // truncated IPv4 header
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 81, syn: true}),         // no service
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 2, dport: 80, ack: true}),         // no connection
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 3, dport: 80, syn: true, ttl: 1}), // TTL
	}
	if out := run(e, mem, frames...); len(out) != 0 {
		t.Fatalf("sent %d frames", len(out))
	}
	st := e.Stats()
	for _, want := range []string{"malformed", "no-service", "no-conn", "ttl"} {
		if st.Drops["mem/0/"+want] != 1 {
			t.Errorf("drop %s = %d, want 1 (all: %v)", want, st.Drops["mem/0/"+want], st.Drops)
		}
	}
}

// TestStats: the counters add up to what was sent.
func TestStats(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 2))
	var bytes uint64
	for i := 0; i < 10; i++ {
		f := buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(100 + i), dport: 53, udp: true, payload: i})
		bytes += uint64(20 + 8 + i) // IP length: IPVS counts the IP packet, not Ethernet padding
		run(e, mem, f)
	}
	st := e.Stats()
	c := st.Services[0].Counters
	if c.Conns != 10 || c.InPkts != 10 || c.InBytes != bytes {
		t.Errorf("counters %+v, want 10 conns, 10 packets, %d bytes", c, bytes)
	}
	if err := e.ZeroStats(nil); err != nil {
		t.Fatal(err)
	}
	if c := e.Stats().Services[0].Counters; c != (service.Counters{}) {
		t.Errorf("after zero: %+v", c)
	}
}

// TestRates: the estimator turns counter growth into per-second rates.
func TestRates(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 1))
	now := time.Now()
	e.estimate(now)
	for step := 1; step <= 20; step++ {
		for i := 0; i < 100; i++ { // 100 new flows and packets per 2 s tick
			run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(step*100 + i), dport: 53, udp: true}))
		}
		e.estimate(now.Add(time.Duration(step) * 2 * time.Second))
	}
	r := e.Stats().Services[0].Rates
	if r.CPS < 45 || r.CPS > 50 || r.InPPS < 45 || r.InPPS > 50 {
		t.Errorf("rates %+v, want about 50 conns/s and packets/s", r)
	}
}

// TestSetCapacity: the table's capacity changes at run time; a capacity
// below the live entries is refused with a message saying so.
func TestSetCapacity(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 1))
	for i := 0; i < 10; i++ {
		run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(100 + i), dport: 53, udp: true}))
	}
	err := e.SetCapacity(5)
	if err == nil || !strings.Contains(err.Error(), "below the 10 entries") {
		t.Fatalf("capacity below the live count: %v", err)
	}
	if got := e.Stats().Table.Capacity; got != 1<<16 {
		t.Errorf("a refused change moved the capacity to %d", got)
	}
	if err := e.SetCapacity(100); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Table.Capacity; got != 100 {
		t.Errorf("capacity %d, want 100", got)
	}
}

// TestICMPErrorToRealDRTUN: on DR and TUN the real server answers the client
// directly, so an ICMP error the client sends about such an answer (quoting
// VIP:80 -> client) arrives at the VIP and must reach that real server:
// by MAC on DR, encapsulated on TUN.
func TestICMPErrorToRealDRTUN(t *testing.T) {
	for _, m := range []service.Method{service.MethodDR, service.MethodTUN} {
		t.Run(m.String(), func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", m, 0, 2))
			run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 1111, dport: 80, syn: true}))
			syn := run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 2222, dport: 80, syn: true}))
			want := checkFrame(t, syn[0].Data).LinkLayer().LinkFlow().Dst().String()
			quoted := buildFrame(t, pkt{src: vip4, dst: client4, sport: 80, dport: 2222, ack: true})
			out := run(e, mem, icmpFrame(t, client4, vip4, quoted, macClient, macDirExt))
			if len(out) != 1 || out[0].Ifindex != ifInt {
				t.Fatalf("sent %v", out)
			}
			p := checkFrame(t, out[0].Data)
			if got := p.LinkLayer().LinkFlow().Dst().String(); got != want {
				t.Errorf("went to MAC %s, want %s, the real server of the quoted connection", got, want)
			}
			ips := 0
			for _, l := range p.Layers() {
				if l.LayerType() == layers.LayerTypeIPv4 {
					ips++
				}
			}
			if m == service.MethodTUN && ips < 2 {
				t.Errorf("TUN: not encapsulated")
			}
			if p.Layer(layers.LayerTypeICMPv4) == nil {
				t.Errorf("the ICMP error was not forwarded as such")
			}
		})
	}
}

// refusingBackend is a MemBackend whose steering can be made to fail, as a
// full BPF map would.
type refusingBackend struct {
	*linktest.MemBackend
	refuse bool
}

func (b *refusingBackend) Steer(r link.Rules) error {
	if b.refuse {
		return errors.New("map full")
	}
	return b.MemBackend.Steer(r)
}

// TestRefusedChangeTouchesNothing: when the backend refuses the new steering,
// the configuration, the weights and the scheduler's list stay as they were.
func TestRefusedChangeTouchesNothing(t *testing.T) {
	mem := &refusingBackend{MemBackend: linktest.NewMemBackend(1)}
	e, err := New(Options{Backend: mem, Router: testRouter(),
		Services: testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	key := e.Config().Services[0].Key()
	mem.refuse = true
	err = e.Apply(func(c *service.Config) error {
		for i := range c.Services[0].Reals {
			c.Services[0].Reals[i].Weight = 0
		}
		return c.AddReal(key, service.Real{Addr: realAddr(4, 3), Port: 8080, Weight: 1, Method: service.MethodNAT})
	})
	if err == nil {
		t.Fatal("the change went through a refusing backend")
	}
	if n := len(e.Config().Services[0].Reals); n != 2 {
		t.Errorf("config has %d reals, want the old 2", n)
	}
	// Both old servers still take connections; the refused one never does.
	seen := map[netip.Addr]bool{}
	for i := 0; i < 6; i++ {
		seen[dstOf(t, run(e, mem.MemBackend, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(3000 + i), dport: 80, syn: true})))] = true
	}
	if len(seen) != 2 || seen[realAddr(4, 3)] {
		t.Errorf("after a refused change connections went to %v", seen)
	}
}
