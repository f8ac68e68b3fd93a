package pathprobe

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/service"
)

// hopPair is a Prober with only an encapsulating hop, whose raw sockets are
// one end of a datagram socket pair: what forward sends is read from the
// other end. No namespace, no root.
func hopPair(t *testing.T) (*Prober, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	p := &Prober{v4: probe4, v6: probe6, paths: map[pathKey]*path{}, next: 1,
		tap: &tunnelHop{raw4: fds[0], raw6: fds[0]}}
	return p, fds[1]
}

// addTunnel routes a TUN path by hand and points its sends at the pair.
func addTunnel(p *Prober, idx uint32, rip netip.Addr, tn service.Tunnel) {
	k := pathKey{addr: rip, method: service.MethodTUN, tunnel: tn}
	p.paths[k] = &path{key: k, idx: idx, vips: map[netip.Addr]int{}}
	if idx >= p.next {
		p.next = idx + 1
	}
	p.publishTunnels()
	(*p.tunnels.Load())[idx].sa = nil // the pair is connected
}

// synFrame is a TCP SYN from src to dst:80 in an Ethernet frame to dstMAC.
func synFrame(t *testing.T, dstMAC net.HardwareAddr, src, dst netip.Addr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: dstMAC}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Seq: 1, Window: 64240}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	b := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestForward: a frame to a path's MAC leaves as that path's tunnel from
// the probe address to RIP, the inner packet unchanged, without an
// allocation; a frame to no path is counted and not sent.
func TestForward(t *testing.T) {
	if maxOverhead > headroom {
		t.Fatalf("headroom %d < the largest tunnel overhead %d", headroom, maxOverhead)
	}
	vip4, vip6 := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("2001:db8::10")
	for _, tc := range []struct {
		name     string
		rip, vip netip.Addr
		tn       service.Tunnel
		proto    uint8 // outer protocol
		inner    int   // inner packet's offset in the outer one
	}{
		{"ipip", netip.MustParseAddr("198.18.1.1"), vip4, service.Tunnel{}, 4, 20},
		{"ip6ip6", netip.MustParseAddr("2001:db8:0:1::1"), vip6, service.Tunnel{}, 41, 40},
		{"gue4", netip.MustParseAddr("198.18.1.2"), vip4, service.Tunnel{Type: service.TunGUE, Port: 6080, Csum: service.TunCsum}, 17, 32},
		{"gue6", netip.MustParseAddr("2001:db8:0:1::2"), vip6, service.Tunnel{Type: service.TunGUE, Port: 6080}, 17, 52},
		{"gre4", netip.MustParseAddr("198.18.1.3"), vip4, service.Tunnel{Type: service.TunGRE, Csum: service.TunCsum}, 47, 28},
		{"gre6", netip.MustParseAddr("2001:db8:0:1::3"), vip6, service.Tunnel{Type: service.TunGRE}, 47, 44},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, peer := hopPair(t)
			addTunnel(p, 300, tc.rip, tc.tn)
			src := probe4.Addr()
			if tc.rip.Is6() {
				src = probe6.Addr()
			}
			frame := synFrame(t, pathMAC(300), src, tc.vip)
			buf := make([]byte, headroom+len(frame))
			out := make([]byte, 2048)
			var pkt encap.Packet
			send := func() int {
				copy(buf[headroom:], frame)
				p.forward(p.tap, buf, len(frame), &pkt, 7)
				n, err := unix.Read(peer, out)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			n := send()
			o := out[:n]
			var osrc, odst netip.Addr
			var proto uint8
			if tc.rip.Is4() {
				osrc, odst, proto = netip.AddrFrom4([4]byte(o[12:16])), netip.AddrFrom4([4]byte(o[16:20])), o[9]
			} else {
				osrc, odst, proto = netip.AddrFrom16([16]byte(o[8:24])), netip.AddrFrom16([16]byte(o[24:40])), o[6]
			}
			if osrc != src || odst != tc.rip || proto != tc.proto {
				t.Errorf("outer %s → %s proto %d, want %s → %s proto %d", osrc, odst, proto, src, tc.rip, tc.proto)
			}
			// The inner packet as the kernel sent it, without Ethernet padding.
			ipLen := 40 + int(frame[14+4])<<8 | int(frame[14+5])
			if tc.rip.Is4() {
				ipLen = int(frame[14+2])<<8 | int(frame[14+3])
			}
			if want := frame[14 : 14+ipLen]; !bytes.Equal(o[tc.inner:], want) {
				t.Errorf("inner packet changed:\n% x\nwant\n% x", o[tc.inner:], want)
			}
			if proto == 17 && (o[tc.inner-12+2] != 6080>>8 || o[tc.inner-12+3] != 6080&0xff) {
				t.Errorf("GUE destination port % x", o[tc.inner-12+2:tc.inner-12+4])
			}
			if a := testing.AllocsPerRun(100, func() { send() }); a != 0 {
				t.Errorf("%v allocations per frame", a)
			}
			st := p.Stats()
			if st.Sent != 102 || st.NotOurs != 0 || st.Dropped != 0 {
				t.Errorf("counters %+v", st)
			}
			// To another MAC (a path that is gone, the kernel's multicast): counted, not sent.
			for _, mac := range []net.HardwareAddr{pathMAC(301), {0x33, 0x33, 0, 0, 0, 1}} {
				f := synFrame(t, mac, src, tc.vip)
				copy(buf[headroom:], f)
				p.forward(p.tap, buf, len(f), &pkt, 8)
			}
			if st := p.Stats(); st.NotOurs != 2 || st.Sent != 102 {
				t.Errorf("after frames for no path: %+v", st)
			}
		})
	}
}
