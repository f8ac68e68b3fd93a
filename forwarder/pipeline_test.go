package forwarder

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/service"
)

func mac(b [6]byte) net.HardwareAddr { return net.HardwareAddr(b[:]) }

// TestNATRoundTrip follows one TCP connection through NAT with port mapping,
// both families: the SYN is DNATed to a real server's 8080, the reply SNATed
// back to VIP:80, and both leave on the right interface with valid checksums
// and TTL decremented.
func TestNATRoundTrip(t *testing.T) {
	for _, vip := range []netip.Addr{vip4, vip6} {
		client := client4
		if vip.Is6() {
			client = client6
		}
		t.Run(vip.String(), func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.TCP, vip, 80, "rr", service.MethodNAT, 8080, 3))
			out := run(e, mem, buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true, ttl: 64}))
			if len(out) != 1 || out[0].Ifindex != ifInt {
				t.Fatalf("sent %d frames (if %v), want 1 on the internal interface", len(out), out)
			}
			p := checkFrame(t, out[0].Data)
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp.DstPort != 8080 || tcp.SrcPort != 40000 {
				t.Errorf("ports %d->%d, want 40000->8080", tcp.SrcPort, tcp.DstPort)
			}
			src, dst := p.NetworkLayer().NetworkFlow().Endpoints()
			real, _ := netip.AddrFromSlice(dst.Raw())
			if netip.MustParseAddr(src.String()) != client {
				t.Errorf("source %v, want the client", src)
			}
			eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !bytes.Equal(eth.SrcMAC, mac(macDirInt)) {
				t.Errorf("src MAC %v", eth.SrcMAC)
			}
			checkTTL(t, p, 63)

			// The real server answers: SYN-ACK from real:8080 to the client.
			reply := buildFrame(t, pkt{src: real.Unmap(), dst: client, sport: 8080, dport: 40000, syn: true, ack: true,
				srcMAC: [6]byte{0x02, 0, 0, 0, 0x01, 1}, dstMAC: macDirInt})
			out = run(e, mem, reply)
			if len(out) != 1 || out[0].Ifindex != ifExt {
				t.Fatalf("reply: sent %v, want 1 frame on the external interface", out)
			}
			p = checkFrame(t, out[0].Data)
			src, _ = p.NetworkLayer().NetworkFlow().Endpoints()
			if netip.MustParseAddr(src.String()) != vip {
				t.Errorf("reply source %v, want the VIP", src)
			}
			if tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP); tcp.SrcPort != 80 {
				t.Errorf("reply source port %d, want 80", tcp.SrcPort)
			}
			eth = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !bytes.Equal(eth.DstMAC, mac(macClient)) || !bytes.Equal(eth.SrcMAC, mac(macDirExt)) {
				t.Errorf("reply MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
			}
		})
	}
}

func checkTTL(t *testing.T, p gopacket.Packet, want uint8) {
	t.Helper()
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.TTL != want {
			t.Errorf("TTL %d, want %d", ip.TTL, want)
		}
	case *layers.IPv6:
		if ip.HopLimit != want {
			t.Errorf("hop limit %d, want %d", ip.HopLimit, want)
		}
	}
}

func addrOf(t *testing.T, b []byte) netip.Addr {
	t.Helper()
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		t.Fatalf("bad address %x", b)
	}
	return a.Unmap()
}

// TestDR rewrites only the MACs (and TTL): addresses and ports stay.
func TestDR(t *testing.T) {
	for _, vip := range []netip.Addr{vip4, vip6} {
		client := client4
		fam := 4
		if vip.Is6() {
			client, fam = client6, 6
		}
		t.Run(vip.String(), func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.TCP, vip, 80, "rr", service.MethodDR, 0, 1))
			in := buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true, payload: 10})
			out := run(e, mem, in)
			if len(out) != 1 {
				t.Fatalf("sent %d frames", len(out))
			}
			p := checkFrame(t, out[0].Data)
			eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !bytes.Equal(eth.DstMAC, mac(realMAC(1))) || !bytes.Equal(eth.SrcMAC, mac(macDirInt)) {
				t.Errorf("MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
			}
			src, dst := p.NetworkLayer().NetworkFlow().Endpoints()
			if addrOf(t, src.Raw()) != client || addrOf(t, dst.Raw()) != vip {
				t.Errorf("addresses changed: %v -> %v", src, dst)
			}
			checkTTL(t, p, 63)
			// Everything after the IP header's TTL/checksum is untouched.
			l4 := 14 + 20
			if fam == 6 {
				l4 = 14 + 40
			}
			if !bytes.Equal(out[0].Data[l4:], in[l4:]) {
				t.Error("DR changed the transport header or payload")
			}
		})
	}
}

// TestTUN pushes an outer IPIP / IP6IP6 header from the director to the real
// server; the inner packet is the client's, TTL decremented.
func TestTUN(t *testing.T) {
	for _, vip := range []netip.Addr{vip4, vip6} {
		client, fam := client4, 4
		if vip.Is6() {
			client, fam = client6, 6
		}
		t.Run(vip.String(), func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.UDP, vip, 9999, "rr", service.MethodTUN, 0, 1))
			out := run(e, mem, buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 9999, udp: true, payload: 32}))
			if len(out) != 1 {
				t.Fatalf("sent %d frames", len(out))
			}
			p := checkFrame(t, out[0].Data)
			var ips []gopacket.Layer
			for _, l := range p.Layers() {
				if l.LayerType() == layers.LayerTypeIPv4 || l.LayerType() == layers.LayerTypeIPv6 {
					ips = append(ips, l)
				}
			}
			if len(ips) != 2 {
				t.Fatalf("%d IP layers, want outer + inner", len(ips))
			}
			outerSrc, outerDst := ips[0].(gopacket.NetworkLayer).NetworkFlow().Endpoints()
			innerSrc, innerDst := ips[1].(gopacket.NetworkLayer).NetworkFlow().Endpoints()
			if addrOf(t, outerDst.Raw()) != realAddr(fam, 1) {
				t.Errorf("outer destination %v, want the real server", outerDst)
			}
			wantSrc := "198.18.1.254"
			if fam == 6 {
				wantSrc = "2001:db8:1::fe"
			}
			if addrOf(t, outerSrc.Raw()) != netip.MustParseAddr(wantSrc) {
				t.Errorf("outer source %v, want the director's %s", outerSrc, wantSrc)
			}
			if addrOf(t, innerSrc.Raw()) != client || addrOf(t, innerDst.Raw()) != vip {
				t.Errorf("inner %v -> %v", innerSrc, innerDst)
			}
			switch o := ips[0].(type) {
			case *layers.IPv4:
				if o.Protocol != layers.IPProtocolIPv4 || o.TTL != 63 {
					t.Errorf("outer proto %v TTL %d", o.Protocol, o.TTL)
				}
			case *layers.IPv6:
				if o.NextHeader != layers.IPProtocolIPv6 || o.HopLimit != 63 {
					t.Errorf("outer next header %v hop limit %d", o.NextHeader, o.HopLimit)
				}
			}
		})
	}
}

// TestTUNTooBig answers a packet that would not fit after encapsulation with
// "fragmentation needed" / "packet too big" carrying MTU minus the overhead.
func TestTUNTooBig(t *testing.T) {
	for _, vip := range []netip.Addr{vip4, vip6} {
		client, over := client4, 20
		if vip.Is6() {
			client, over = client6, 40
		}
		t.Run(vip.String(), func(t *testing.T) {
			e, mem := newTestEngine(t, testService(service.TCP, vip, 80, "rr", service.MethodTUN, 0, 1))
			ipHdr := 20
			if vip.Is6() {
				ipHdr = 40
			}
			big := buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true, payload: mtu - ipHdr - 20})
			out := run(e, mem, big)
			if len(out) != 1 || out[0].Ifindex != ifExt {
				t.Fatalf("sent %v, want one answer toward the client", out)
			}
			p := checkFrame(t, out[0].Data)
			_, dst := p.NetworkLayer().NetworkFlow().Endpoints()
			if addrOf(t, dst.Raw()) != client {
				t.Errorf("answer goes to %v", dst)
			}
			if vip.Is4() {
				ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				if ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) {
					t.Errorf("ICMP %v", ic.TypeCode)
				}
				if got := int(ic.Seq); got != mtu-over {
					t.Errorf("advertised MTU %d, want %d", got, mtu-over)
				}
			} else {
				ic := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
				if ic.TypeCode.Type() != 2 {
					t.Errorf("ICMPv6 %v", ic.TypeCode)
				}
				if got := int(uint32(ic.Payload[0])<<24 | uint32(ic.Payload[1])<<16 | uint32(ic.Payload[2])<<8 | uint32(ic.Payload[3])); got != mtu-over {
					t.Errorf("advertised MTU %d, want %d", got, mtu-over)
				}
			}
		})
	}
}

// TestRoundRobinSpread: 300 new connections over 3 reals, exactly even for rr,
// and every packet of one connection goes to the same real server.
func TestRoundRobinSpread(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3))
	count := map[netip.Addr]int{}
	for i := 0; i < 300; i++ {
		sport := uint16(10000 + i)
		out := run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, syn: true}))
		if len(out) != 1 {
			t.Fatalf("conn %d: sent %d", i, len(out))
		}
		_, dst := checkFrame(t, out[0].Data).NetworkLayer().NetworkFlow().Endpoints()
		first := addrOf(t, dst.Raw())
		count[first]++
		for j := 0; j < 3; j++ {
			out = run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, ack: true, payload: j}))
			_, dst = checkFrame(t, out[0].Data).NetworkLayer().NetworkFlow().Endpoints()
			if addrOf(t, dst.Raw()) != first {
				t.Fatalf("conn %d packet %d went to %v, first to %v", i, j, dst, first)
			}
		}
	}
	for a, n := range count {
		if n != 100 {
			t.Errorf("%v got %d of 300", a, n)
		}
	}
}

// TestTUNFragments: an IPv4 packet without DF that does not fit after
// encapsulation is sent as outer fragments, as the kernel does.
func TestTUNFragments(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 9999, "rr", service.MethodTUN, 0, 1))
	f := buildFrame(t, pkt{src: client4, dst: vip4, sport: 4000, dport: 9999, udp: true, payload: mtu - 28})
	f[14+6] &^= 0x40 // clear DF
	f[14+10], f[14+11] = 0, 0
	c := fold(sum16(f[14:34], 0))
	f[14+10], f[14+11] = byte(^c>>8), byte(^c)
	out := run(e, mem, f)
	if len(out) != 2 {
		t.Fatalf("sent %d frames, want 2 fragments", len(out))
	}
	total := 0
	for i, o := range out {
		p := checkFrame(t, o.Data)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if int(ip.Length) > mtu || ip.Protocol != layers.IPProtocolIPv4 {
			t.Errorf("fragment %d: length %d protocol %v", i, ip.Length, ip.Protocol)
		}
		if (i == 0) != (ip.Flags&layers.IPv4MoreFragments != 0) {
			t.Errorf("fragment %d: flags %v", i, ip.Flags)
		}
		total += int(ip.Length) - 20
	}
	if want := mtu; total != want {
		t.Errorf("fragments carry %d bytes, want the %d-byte inner packet", total, want)
	}
}
