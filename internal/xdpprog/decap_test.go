package xdpprog

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/internal/packettest"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

var decapLocal = []netip.Addr{netip.MustParseAddr("198.18.40.2"), netip.MustParseAddr("2001:db8:40::2")}

// decapGUEPorts are the GUE ports the test programs listen on.
var decapGUEPorts = []uint16{6080, 6079}

func newTestDecap(t testing.TB, local []netip.Addr) *Decap {
	t.Helper()
	needRoot(t)
	d, err := NewDecap(local, decapGUEPorts)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// runDecap test-runs the program and insists on XDP_PASS, its only verdict.
func runDecap(t testing.TB, d *Decap, in []byte) []byte {
	t.Helper()
	ret, out, err := d.prog.Test(in)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if ret != bpfasm.XDPPass {
		t.Fatalf("returned %d, want XDP_PASS", ret)
	}
	return out
}

type decapCase struct {
	name string
	in   []byte
	want []byte // nil: the frame must come out untouched
}

func decapCases(t testing.TB) []decapCase {
	inner4 := ipPacket(t, pkt{src: client4, dst: "198.18.99.1", proto: 17, sport: 1234, dport: 9999, payload: []byte("inner v4")})
	inner6 := ipPacket(t, pkt{src: client6, dst: "2001:db8:99::1", proto: 17, sport: 1234, dport: 9999, payload: []byte("inner v6")})
	eth4 := func(vlan bool) []byte { return append(ethHeader(vlan, layers.EthernetTypeIPv4), inner4...) }
	eth6 := func(vlan bool) []byte { return append(ethHeader(vlan, layers.EthernetTypeIPv6), inner6...) }
	fragmented := tunnel(t, false, "198.18.40.1", "198.18.40.2", 4, inner4, false)
	fragmented[14+6] |= 0x20 // more fragments
	return []decapCase{
		{"ipip", tunnel(t, false, "198.18.40.1", "198.18.40.2", 4, inner4, false), eth4(false)},
		{"ipip outer options", tunnel(t, false, "198.18.40.1", "198.18.40.2", 4, inner4, true), eth4(false)},
		{"ip6ip6", tunnel(t, false, "2001:db8:40::1", "2001:db8:40::2", 41, inner6, false), eth6(false)},
		{"ipv6 in ipv4", tunnel(t, false, "198.18.40.1", "198.18.40.2", 41, inner6, false), eth6(false)},
		{"ipv4 in ipv6", tunnel(t, false, "2001:db8:40::1", "2001:db8:40::2", 4, inner4, false), eth4(false)},
		{"vlan ipip", tunnel(t, true, "198.18.40.1", "198.18.40.2", 4, inner4, false), eth4(true)},
		{"vlan ip6ip6", tunnel(t, true, "2001:db8:40::1", "2001:db8:40::2", 41, inner6, false), eth6(true)},
		{"ipip to other host", tunnel(t, false, "198.18.40.1", "198.18.40.3", 4, inner4, false), nil},
		{"ip6ip6 to other host", tunnel(t, false, "2001:db8:40::1", "2001:db8:40::3", 41, inner6, false), nil},
		{"plain udp", frame(t, pkt{src: client4, dst: "198.18.40.2", proto: 17, sport: 1, dport: 9999}), nil},
		{"plain udp6", frame(t, pkt{src: client6, dst: "2001:db8:40::2", proto: 17, sport: 1, dport: 9999}), nil},
		{"gre", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, packettest.GRE(false, 0x0800, inner4), false), eth4(false)},
		{"gre csum", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, packettest.GRE(true, 0x0800, inner4), true), eth4(false)},
		{"gre6", tunnel(t, false, "2001:db8:40::1", "2001:db8:40::2", 47, packettest.GRE(false, 0x86dd, inner6), false), eth6(false)},
		{"gre6 csum vlan", tunnel(t, true, "2001:db8:40::1", "2001:db8:40::2", 47, packettest.GRE(true, 0x86dd, inner6), false), eth6(true)},
		{"gre v6 in v4", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, packettest.GRE(false, 0x86dd, inner6), false), eth6(false)},
		{"gre without inner", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, packettest.GRE(true, 0x0800, nil), false), nil},
		{"gre key", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, append([]byte{0x20, 0, 8, 0, 0, 0, 0, 1}, inner4...), false), nil},
		{"gre arp", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, packettest.GRE(false, 0x0806, inner4), false), nil},
		{"gre wrong inner version", tunnel(t, false, "198.18.40.1", "198.18.40.2", 47, packettest.GRE(false, 0x86dd, inner4), false), nil},
		{"gre to other host", tunnel(t, false, "198.18.40.1", "198.18.40.3", 47, packettest.GRE(false, 0x0800, inner4), false), nil},
		{"gue", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueHdr(6080, 4, inner4), false), eth4(false)},
		{"gue second port", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueHdr(6079, 4, inner4), true), eth4(false)},
		{"gue6", tunnel(t, false, "2001:db8:40::1", "2001:db8:40::2", 17, gueHdr(6080, 41, inner6), false), eth6(false)},
		{"gue6 vlan", tunnel(t, true, "2001:db8:40::1", "2001:db8:40::2", 17, gueHdr(6080, 41, inner6), false), eth6(true)},
		{"gue other port", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueHdr(6081, 4, inner4), false), nil},
		{"gue control", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueMod(gueHdr(6080, 4, inner4), 8, 0x20), false), nil},
		{"gue options", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueMod(gueHdr(6080, 4, inner4), 8, 0x01), false), nil},
		{"gue flags", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueMod(gueHdr(6080, 4, inner4), 11, 0x80), false), nil},
		{"gue version 1", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueMod(gueHdr(6080, 4, inner4), 8, 0x40), false), nil},
		{"gue proto 47", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueMod(gueHdr(6080, 4, inner4), 9, 47), false), nil},
		{"gue truncated", tunnel(t, false, "198.18.40.1", "198.18.40.2", 17, gueHdr(6080, 4, nil)[:11], false), nil},
		{"gue to other host", tunnel(t, false, "198.18.40.1", "198.18.40.3", 17, gueHdr(6080, 4, inner4), false), nil},
		{"outer fragment", fragmented, nil},
		{"inner truncated", tunnel(t, false, "198.18.40.1", "198.18.40.2", 4, inner4[:19], false), nil},
		{"inner6 truncated", tunnel(t, false, "198.18.40.1", "198.18.40.2", 41, inner6[:39], false), nil},
		{"ipip carrying ipv6", tunnel(t, false, "198.18.40.1", "198.18.40.2", 4, inner6, false), nil},
		{"6in4 carrying ipv4", tunnel(t, false, "198.18.40.1", "198.18.40.2", 41, inner4, false), nil},
		{"arp", arpFrame(t, "198.18.40.2"), nil},
	}
}

func TestDecap(t *testing.T) {
	d := newTestDecap(t, decapLocal)
	for _, tc := range decapCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			out := runDecap(t, d, tc.in)
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if o := oracleDecap(decapLocal, decapGUEPorts, tc.in); !bytes.Equal(o, want) {
				t.Fatalf("oracle disagrees with the table:\n% x", o)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
			if tc.want == nil {
				return
			}
			// The result must be a well-formed frame carrying the inner UDP.
			pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
			if el := pk.ErrorLayer(); el != nil {
				t.Fatalf("decoded output: %v", el.Error())
			}
			udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp == nil || udp.DstPort != 9999 {
				t.Fatalf("no inner UDP to 9999 in %v", pk)
			}
		})
	}
}

// TestDecapAnyDestination: without local addresses every tunnel packet is
// decapsulated, whoever it is addressed to.
func TestDecapAnyDestination(t *testing.T) {
	d := newTestDecap(t, nil)
	inner4 := ipPacket(t, pkt{src: client4, dst: "198.18.99.1", proto: 17, sport: 1, dport: 9999})
	in := tunnel(t, false, "198.18.40.1", "198.18.77.7", 4, inner4, false)
	want := append(ethHeader(false, layers.EthernetTypeIPv4), inner4...)
	if out := runDecap(t, d, in); !bytes.Equal(out, want) {
		t.Errorf("output\n% x\nwant\n% x", out, want)
	}
	plain := frame(t, pkt{src: client4, dst: "198.18.77.7", proto: 17, sport: 1, dport: 9999})
	if out := runDecap(t, d, plain); !bytes.Equal(out, plain) {
		t.Errorf("plain frame changed:\n% x", out)
	}
}

// TestDecapTruncated runs every prefix of a tunnel frame: a frame cut inside
// the outer or the inner IP header is untouched, a longer one loses exactly
// its outer header.
func TestDecapTruncated(t *testing.T) {
	d := newTestDecap(t, decapLocal)
	for _, tc := range []struct {
		name     string
		in       []byte
		l2, head int // L2 length, outer header length
		inner    int // inner header length
	}{
		{"ipip", tunnel(t, false, "198.18.40.1", "198.18.40.2", 4, ipPacket(t, pkt{src: client4, dst: "198.18.99.1", proto: 17, sport: 1, dport: 2}), false), 14, 20, 20},
		{"vlan ip6ip6", tunnel(t, true, "2001:db8:40::1", "2001:db8:40::2", 41, ipPacket(t, pkt{src: client6, dst: "2001:db8:99::1", proto: 17, sport: 1, dport: 2}), false), 18, 40, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := 14; n <= len(tc.in); n++ {
				in := tc.in[:n]
				out := runDecap(t, d, in)
				want := in
				if n >= tc.l2+tc.head+tc.inner {
					want = append(append([]byte(nil), in[tc.head:tc.head+tc.l2]...), in[tc.l2+tc.head:]...)
					copy(want, in[:tc.l2-2]) // MACs and tag stay; only the ethertype changes
					et := layers.EthernetTypeIPv4
					if tc.inner == 40 {
						et = layers.EthernetTypeIPv6
					}
					want[tc.l2-2], want[tc.l2-1] = byte(et>>8), byte(et)
				}
				if !bytes.Equal(out, want) {
					t.Fatalf("length %d: output\n% x\nwant\n% x", n, out, want)
				}
			}
		})
	}
}

func TestDecapErrors(t *testing.T) {
	needRoot(t)
	if _, err := NewDecap([]netip.Addr{{}}, nil); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("invalid local: %v, want ErrInvalidAddress", err)
	}
	if _, err := NewDecap(nil, make([]uint16, MaxGUEPorts+1)); !errors.Is(err, ErrTooManyPorts) {
		t.Errorf("too many ports: %v, want ErrTooManyPorts", err)
	}
	if _, err := NewDecap(nil, []uint16{6080, 0}); !errors.Is(err, ErrInvalidPort) {
		t.Errorf("port 0: %v, want ErrInvalidPort", err)
	}
	d := newTestDecap(t, decapLocal)
	if err := d.Attach(1, Mode(7)); !errors.Is(err, ErrInvalidMode) {
		t.Errorf("bad mode: %v, want ErrInvalidMode", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Attach(1, ModeGeneric); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
}

// FuzzDecap feeds arbitrary frames to the decap program and compares the
// output frame with the Go model.
func FuzzDecap(f *testing.F) {
	needRoot(f)
	for _, tc := range decapCases(f) {
		f.Add(tc.in)
	}
	d := newTestDecap(f, decapLocal)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 14 || len(b) > 1500 {
			return // outside what the kernel accepts for a test run
		}
		if out, want := runDecap(t, d, b), oracleDecap(decapLocal, decapGUEPorts, b); !bytes.Equal(out, want) {
			t.Fatalf("input\n% x\noutput\n% x\nmodel\n% x", b, out, want)
		}
	})
}

// gueHdr is a UDP header to port (source 40000, checksum 0, which decap
// does not check) and a GUE variant 0 header for an inner packet of
// protocol proto, followed by inner.
func gueHdr(port uint16, proto uint8, inner []byte) []byte {
	n := 12 + len(inner)
	h := []byte{0x9c, 0x40, byte(port >> 8), byte(port), byte(n >> 8), byte(n), 0, 0}
	return append(h, packettest.GUE(proto, inner)...)
}

// gueMod returns b with byte i (counted from the UDP header) OR-ed with v.
func gueMod(b []byte, i int, v byte) []byte {
	b[i] |= v
	return b
}

// FuzzDecapGUEGRE aims the fuzzer at the GUE and GRE paths: it builds a valid
// outer IPv4 or IPv6 header to a local address (or, with other, to another
// host) with protocol 17 or 47, followed by the fuzzed tunnel header and
// inner bytes, and compares the program with the Go model via
// BPF_PROG_TEST_RUN.
func FuzzDecapGUEGRE(f *testing.F) {
	needRoot(f)
	inner4 := ipPacket(f, pkt{src: client4, dst: "198.18.99.1", proto: 6, sport: 1234, dport: 80, payload: []byte("x")})
	inner6 := ipPacket(f, pkt{src: client6, dst: "2001:db8:99::1", proto: 17, sport: 1234, dport: 9999})
	f.Add(false, false, false, packettest.GRE(false, 0x0800, nil), inner4)
	f.Add(true, false, false, packettest.GRE(true, 0x86dd, nil), inner6)
	f.Add(false, true, false, gueHdr(6080, 4, nil), inner4)
	f.Add(true, true, false, gueHdr(6079, 41, nil), inner6)
	f.Add(false, true, true, gueHdr(6080, 4, nil), inner4)
	f.Add(false, true, false, gueHdr(6080, 41, nil)[:10], inner6)
	d := newTestDecap(f, decapLocal)
	f.Fuzz(func(t *testing.T, outer6, udp, other bool, hdr, inner []byte) {
		src, dst := "198.18.40.1", "198.18.40.2"
		if outer6 {
			src, dst = "2001:db8:40::1", "2001:db8:40::2"
		}
		if other {
			dst = strings.Replace(dst, ".2", ".3", 1)
			dst = strings.Replace(dst, "::2", "::3", 1)
		}
		proto := uint8(47)
		if udp {
			proto = 17
		}
		b := tunnel(t, false, src, dst, proto, append(append([]byte(nil), hdr...), inner...), false)
		if len(b) > 1500 {
			return // beyond what a test run takes
		}
		if out, want := runDecap(t, d, b), oracleDecap(decapLocal, decapGUEPorts, b); !bytes.Equal(out, want) {
			t.Fatalf("input\n% x\noutput\n% x\nmodel\n% x", b, out, want)
		}
	})
}
