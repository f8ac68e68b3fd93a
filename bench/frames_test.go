package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/packettest"
	"github.com/xvs-project/xvs/link"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0x58, 0x42, 'G', 1, 1}
	testDstMAC = net.HardwareAddr{0x02, 0x58, 0x42, 'D', 1, 1}
)

func testSpec(p Proto, size int, dsts ...string) FlowSpec {
	s := FlowSpec{SrcMAC: testSrcMAC, DstMAC: testDstMAC, SrcBase: flowSrcBase, DstPort: 5001, Proto: p, Size: size}
	for _, d := range dsts {
		s.Dsts = append(s.Dsts, netip.MustParseAddr(d))
	}
	return s
}

// checkFrame decodes f with gopacket, checks every field the builder sets,
// and re-serialises the layers with gopacket computing the checksums: the
// result must equal f byte for byte.
func checkFrame(t *testing.T, b *FrameBuilder, spec FlowSpec, f []byte, flow uint64) {
	t.Helper()
	if len(f) != spec.Size-4 {
		t.Fatalf("frame length %d, want %d", len(f), spec.Size-4)
	}
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !bytes.Equal(eth.SrcMAC, spec.SrcMAC) || !bytes.Equal(eth.DstMAC, spec.DstMAC) {
		t.Errorf("MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	src, sport, dst := b.Tuple(flow)
	if got, _ := netip.AddrFromSlice(ip.SrcIP); got != src {
		t.Errorf("src %v, want %v", got, src)
	}
	if got, _ := netip.AddrFromSlice(ip.DstIP); got != dst {
		t.Errorf("dst %v, want %v", got, dst)
	}
	if ip.TTL != 64 || ip.Flags != layers.IPv4DontFragment {
		t.Errorf("ttl %d flags %v", ip.TTL, ip.Flags)
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: false}
	buf := gopacket.NewSerializeBuffer()
	var ls []gopacket.SerializableLayer
	switch spec.Proto {
	case UDP:
		u := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if uint16(u.SrcPort) != sport || uint16(u.DstPort) != spec.DstPort {
			t.Errorf("ports %d -> %d", u.SrcPort, u.DstPort)
		}
		if int(u.Length) != spec.Size-4-34 {
			t.Errorf("udp length %d", u.Length)
		}
		if err := u.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		ls = []gopacket.SerializableLayer{eth, ip, u, gopacket.Payload(u.Payload)}
	case SYN:
		tc := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if uint16(tc.SrcPort) != sport || uint16(tc.DstPort) != spec.DstPort || !tc.SYN || tc.ACK || tc.RST || tc.FIN {
			t.Errorf("tcp %v", tc)
		}
		if ip.Length != 40 {
			t.Errorf("ip length %d, want 40", ip.Length)
		}
		if err := tc.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		ls = []gopacket.SerializableLayer{eth, ip, tc}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	want := buf.Bytes()
	if spec.Proto == UDP && want[offUDPCsum] == 0 && want[offUDPCsum+1] == 0 {
		// gopacket writes a computed zero as is; RFC 768 sends it as all
		// ones (zero means "no checksum"), as the builder does.
		want[offUDPCsum], want[offUDPCsum+1] = 0xff, 0xff
	}
	if !bytes.Equal(f[:len(want)], want) {
		t.Errorf("flow %d: frame differs from gopacket's with computed checksums:\n got %x\nwant %x", flow, f[:len(want)], want)
	}
	for _, c := range f[len(want):] {
		if c != 0 {
			t.Fatalf("non-zero Ethernet padding %x", f[len(want):])
		}
	}
}

func TestFrameBuilderChecksums(t *testing.T) {
	tests := []struct {
		name string
		spec FlowSpec
	}{
		{"udp 64", testSpec(UDP, 64, "198.18.0.10")},
		{"udp 1400", testSpec(UDP, 1400, "198.18.0.10")},
		{"udp 1518 three dsts", testSpec(UDP, 1518, "198.18.1.1", "198.18.1.2", "198.18.1.3")},
		{"udp 65 odd payload", testSpec(UDP, 65, "198.18.0.10")},
		{"syn 64", testSpec(SYN, 64, "198.18.0.10")},
	}
	flows := []uint64{0, 1, 9_999, PortsPerAddr - 1, PortsPerAddr, 999_999, noRepeatFlows - 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewFrameBuilder(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			f := make([]byte, b.Len())
			b.Init(f)
			for _, fl := range flows {
				b.Patch(f, fl) // patched in place over the previous flow
				checkFrame(t, b, tt.spec, f, fl)
				if !bytes.Equal(f, b.Frame(fl)) {
					t.Errorf("flow %d: in-place patch differs from a fresh frame", fl)
				}
			}
		})
	}
}

func TestFrameBuilderTuples(t *testing.T) {
	b, err := NewFrameBuilder(testSpec(UDP, 64, "198.18.1.1", "198.18.1.2"))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[[6]byte]bool)
	const n = 200_000
	for fl := range uint64(n) {
		src, sport, dst := b.Tuple(fl)
		if !netip.MustParsePrefix("198.19.0.0/16").Contains(src) {
			t.Fatalf("flow %d: source %v outside 198.19.0.0/16", fl, src)
		}
		if want := []string{"198.18.1.1", "198.18.1.2"}[fl%2]; dst.String() != want {
			t.Fatalf("flow %d: dst %v, want %s", fl, dst, want)
		}
		var k [6]byte
		a := src.As4()
		copy(k[:], a[:])
		binary.BigEndian.PutUint16(k[4:], sport)
		if seen[k] {
			t.Fatalf("flow %d repeats %v:%d", fl, src, sport)
		}
		seen[k] = true
	}
	if src, _, _ := b.Tuple(noRepeatFlows - 1); !netip.MustParsePrefix("198.19.0.0/16").Contains(src) {
		t.Errorf("last SYN flow's source %v outside the range", src)
	}
}

func TestFrameBuilderInvalid(t *testing.T) {
	ok := testSpec(UDP, 64, "198.18.0.10")
	for name, mut := range map[string]func(*FlowSpec){
		"small":     func(s *FlowSpec) { s.Size = 63 },
		"big":       func(s *FlowSpec) { s.Size = 1519 },
		"no dst":    func(s *FlowSpec) { s.Dsts = nil },
		"v6 dst":    func(s *FlowSpec) { s.Dsts = []netip.Addr{netip.MustParseAddr("2001:db8::1")} },
		"v6 src":    func(s *FlowSpec) { s.SrcBase = netip.MustParseAddr("2001:db8::1") },
		"short mac": func(s *FlowSpec) { s.DstMAC = s.DstMAC[:5] },
		"bad proto": func(s *FlowSpec) { s.Proto = 1 },
	} {
		s := ok
		mut(&s)
		if _, err := NewFrameBuilder(s); !errors.Is(err, ErrFlowSpec) {
			t.Errorf("%s: err = %v, want ErrFlowSpec", name, err)
		}
	}
}

func TestPatchAllocs(t *testing.T) {
	for _, p := range []Proto{UDP, SYN} {
		b, err := NewFrameBuilder(testSpec(p, 64, "198.18.0.10"))
		if err != nil {
			t.Fatal(err)
		}
		f := make([]byte, b.Len())
		b.Init(f)
		fl := uint64(0)
		if a := testing.AllocsPerRun(1000, func() { b.Patch(f, fl); fl++ }); a != 0 {
			t.Errorf("%v: %v allocations per Patch", p, a)
		}
	}
}

// FuzzPatch checks the checksums of any flow at any size against gopacket.
func FuzzPatch(f *testing.F) {
	f.Add(uint64(0), uint16(64), false)
	f.Add(uint64(123456789), uint16(1400), false)
	f.Add(uint64(1<<40), uint16(1518), false)
	f.Add(uint64(77), uint16(64), true)
	f.Fuzz(func(t *testing.T, flow uint64, size uint16, syn bool) {
		p := UDP
		if syn {
			p = SYN
		}
		spec := testSpec(p, MinFrameSize+int(size)%(MaxFrameSize-MinFrameSize+1), "198.18.0.10", "198.18.1.7")
		b, err := NewFrameBuilder(spec)
		if err != nil {
			t.Fatal(err)
		}
		flow %= noRepeatFlows // the generator's flow index never goes past this
		checkFrame(t, b, spec, b.Frame(flow), flow)
	})
}

func BenchmarkPatch(b *testing.B) {
	fb, err := NewFrameBuilder(testSpec(UDP, 64, "198.18.0.10"))
	if err != nil {
		b.Fatal(err)
	}
	f := make([]byte, fb.Len())
	fb.Init(f)
	b.ReportAllocs()
	for i := range b.N {
		fb.Patch(f, uint64(i)%1_000_000)
	}
}

// TestFramesSteered: the steering oracle hands every generated frame to xvs
// under the rules of the service the load is aimed at, and none under rules
// of another port, so a load measures the data path and not the kernel.
func TestFramesSteered(t *testing.T) {
	for _, p := range []Proto{UDP, SYN} {
		spec := testSpec(p, 64, "198.18.1.1", "198.18.1.2")
		b, err := NewFrameBuilder(spec)
		if err != nil {
			t.Fatal(err)
		}
		var on, off link.Rules
		for _, d := range spec.Dsts {
			r := link.Rule{Proto: uint8(p), Prefix: netip.PrefixFrom(d, 32), PortLo: spec.DstPort, PortHi: spec.DstPort}
			on.Rules = append(on.Rules, r)
			r.PortLo, r.PortHi = spec.DstPort+1, spec.DstPort+1
			off.Rules = append(off.Rules, r)
		}
		for _, fl := range []uint64{0, 1, PortsPerAddr, 999_999} {
			f := b.Frame(fl)
			if v := packettest.Steer(on, f, packettest.Tagged); v != packettest.SteerService {
				t.Errorf("%v flow %d: %s under the load's service", p, fl, v)
			}
			if v := packettest.Steer(off, f, packettest.Tagged); v != packettest.PassNoMatch {
				t.Errorf("%v flow %d: %s under another port's service", p, fl, v)
			}
		}
	}
}
