package forwarder

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/service"
)

// TestTUNTunnelTypes sends through each GUE/GRE real server: the frame
// leaves with the type's outer protocol and headers (gopacket decodes GRE;
// GUE is UDP to the tunnel port), and a packet one byte too big for the
// type's overhead is answered with the link MTU less that overhead.
func TestTUNTunnelTypes(t *testing.T) {
	for _, c := range []struct {
		name  string
		tun   service.Tunnel
		over4 int // the overhead over IPv4; IPv6 adds 20
	}{
		{"gue", service.Tunnel{Type: service.TunGUE, Port: 6080}, 32},
		{"gue csum", service.Tunnel{Type: service.TunGUE, Port: 6080, Csum: service.TunCsum}, 32},
		{"gue remcsum", service.Tunnel{Type: service.TunGUE, Port: 6080, Csum: service.TunRemCsum}, 32},
		{"gre", service.Tunnel{Type: service.TunGRE}, 24},
		{"gre csum", service.Tunnel{Type: service.TunGRE, Csum: service.TunCsum}, 28},
	} {
		for _, vip := range []netip.Addr{vip4, vip6} {
			client, over, ipHdr := client4, c.over4, 20
			if vip.Is6() {
				client, over, ipHdr = client6, c.over4+20, 40
			}
			t.Run(fmt.Sprintf("%s %v", c.name, vip), func(t *testing.T) {
				cfg := testService(service.TCP, vip, 80, "rr", service.MethodTUN, 0, 1)
				cfg.Services[0].Reals[0].Tunnel = c.tun
				e, mem := newTestEngine(t, cfg)
				fits := buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: true, payload: mtu - over - ipHdr - 20})
				out := run(e, mem, fits)
				if len(out) != 1 {
					t.Fatalf("sent %d frames for a packet that fits", len(out))
				}
				p := checkFrame(t, out[0].Data)
				if len(out[0].Data) != 14+mtu {
					t.Errorf("tunnelled frame is %d bytes, want %d", len(out[0].Data), 14+mtu)
				}
				if c.tun.Type == service.TunGRE {
					gre, _ := p.Layer(layers.LayerTypeGRE).(*layers.GRE)
					if gre == nil || gre.ChecksumPresent != (c.tun.Csum != service.TunNoCsum) || p.Layer(layers.LayerTypeTCP) == nil {
						t.Fatalf("no GRE (checksum %v) with the inner TCP in %v", c.tun.Csum, p)
					}
				} else {
					udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
					if udp == nil || udp.DstPort != 6080 || (udp.Checksum != 0) != (c.tun.Csum != service.TunNoCsum) {
						t.Fatalf("no GUE UDP to 6080 with checksum option %v in %v", c.tun.Csum, p)
					}
				}
				big := buildFrame(t, pkt{src: client, dst: vip, sport: 40001, dport: 80, syn: true, payload: mtu - over - ipHdr - 20 + 1})
				out = run(e, mem, big)
				if len(out) != 1 || out[0].Ifindex != ifExt {
					t.Fatalf("sent %v, want one answer toward the client", out)
				}
				a := checkFrame(t, out[0].Data)
				var got int
				if vip.Is4() {
					ic := a.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
					got = int(ic.Seq)
				} else {
					ic := a.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
					got = int(uint32(ic.Payload[0])<<24 | uint32(ic.Payload[1])<<16 | uint32(ic.Payload[2])<<8 | uint32(ic.Payload[3]))
				}
				if got != mtu-over {
					t.Errorf("advertised MTU %d, want %d", got, mtu-over)
				}
			})
		}
	}
}
