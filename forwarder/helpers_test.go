package forwarder

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/internal/packettest"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// The unit-test network, as the in-memory backend's StaticRouter sees it:
//
//	client 198.18.0.1 / 2001:db8::1 ── if 1 (ext) [director] if 2 (int) ── reals 198.18.1.1-3 / 2001:db8:1::1-3
var (
	macDirExt = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macDirInt = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	macClient = [6]byte{0x02, 0, 0, 0, 0, 0xc1}
	vip4      = netip.MustParseAddr("198.18.0.10")
	vip6      = netip.MustParseAddr("2001:db8::10")
	client4   = netip.MustParseAddr("198.18.0.1")
	client6   = netip.MustParseAddr("2001:db8::1")
)

func realAddr(fam, i int) netip.Addr {
	if fam == 6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i)})
	}
	return netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
}

func realMAC(i int) [6]byte { return [6]byte{0x02, 0, 0, 0, 0x01, byte(i)} }

const (
	ifExt = 1
	ifInt = 2
	mtu   = 1500
)

func testRouter() *linktest.StaticRouter {
	r := &linktest.StaticRouter{Hosts: map[[16]byte]*link.Hop{}}
	for fam := 4; fam <= 6; fam += 2 {
		src := flow.Addr16(netip.MustParseAddr("198.18.1.254"))
		if fam == 6 {
			src = flow.Addr16(netip.MustParseAddr("2001:db8:1::fe"))
		}
		for i := 1; i <= 8; i++ {
			r.Hosts[flow.Addr16(realAddr(fam, i))] = &link.Hop{Ifindex: ifInt, SrcMAC: macDirInt, DstMAC: realMAC(i), MTU: mtu, Src: src}
		}
	}
	r.Default4 = &link.Hop{Ifindex: ifExt, SrcMAC: macDirExt, DstMAC: macClient, MTU: mtu, Src: flow.Addr16(netip.MustParseAddr("198.18.0.2"))}
	r.Default6 = &link.Hop{Ifindex: ifExt, SrcMAC: macDirExt, DstMAC: macClient, MTU: mtu, Src: flow.Addr16(netip.MustParseAddr("2001:db8::2"))}
	return r
}

// testService builds a one-service config with n reals of one method.
func testService(proto service.Proto, vip netip.Addr, port uint16, sched string, m service.Method, rport uint16, n int) *service.Config {
	fam := 4
	if vip.Is6() {
		fam = 6
	}
	s := service.Service{Proto: proto, Addr: vip, Port: port, Scheduler: sched}
	for i := 1; i <= n; i++ {
		s.Reals = append(s.Reals, service.Real{Addr: realAddr(fam, i), Port: rport, Weight: 1, Method: m})
	}
	return &service.Config{Services: []service.Service{s}}
}

func newTestEngine(t testing.TB, cfg *service.Config) (*Engine, *linktest.MemBackend) {
	t.Helper()
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, mem
}

// pkt describes a test packet.
type pkt struct {
	src, dst       netip.Addr
	sport, dport   uint16
	udp            bool
	syn, ack, fin  bool
	payload        int
	ttl            uint8
	srcMAC, dstMAC [6]byte
}

// buildFrame builds p with the module's one frame builder
// (internal/packettest): IPv4 with DF, padded to Ethernet's minimum as a
// NIC sends it, a payload counting up from 0.
func buildFrame(t testing.TB, p pkt) []byte {
	t.Helper()
	if p.srcMAC == ([6]byte{}) {
		p.srcMAC, p.dstMAC = macClient, macDirExt
	}
	payload := make([]byte, p.payload)
	for i := range payload {
		payload[i] = byte(i)
	}
	q := packettest.Packet{SrcMAC: p.srcMAC[:], DstMAC: p.dstMAC[:], Pad: true,
		Src: p.src, Dst: p.dst, TTL: p.ttl, DF: p.src.Is4(), Proto: packettest.ProtoTCP,
		Sport: p.sport, Dport: p.dport, SYN: p.syn, ACK: p.ack, FIN: p.fin, Seq: 1, Window: 1000,
		Payload: payload}
	if p.udp {
		q.Proto = packettest.ProtoUDP
	}
	return q.Frame()
}

// run pushes frames through the engine's only worker and returns what it sent.
func run(e *Engine, mem *linktest.MemBackend, frames ...[]byte) []linktest.SentFrame {
	for _, f := range frames {
		mem.Queue(0).Inject(f)
	}
	for got := 0; got < len(frames); {
		got += e.workers[0].poll()
	}
	return mem.Queue(0).Sent()
}

// checkFrame decodes a frame with gopacket and verifies every checksum by
// re-serialising the decoded layers with checksum computation.
func checkFrame(t testing.TB, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	verifyChecksums(t, p)
	return p
}
