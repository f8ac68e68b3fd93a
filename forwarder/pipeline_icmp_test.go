package forwarder

import (
	"errors"
	"net/netip"
	"testing"

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
