package xdpprog

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// tagEgress attaches a TCX program to va in A that tags every frame it
// sends with the TCI tci (priority and VLAN ID) through bpf_skb_vlan_push. That helper leaves the tag
// in the skb's metadata (the hardware-accelerated tag), and veth, with its
// default tx-vlan-offload, hands it to vb that way: exactly the frame the
// steering program cannot see the VLAN of without the kfunc. (A bridge
// does the same to tagged frames it forwards; the cmd/xvs labs go that way.)
func (tp *topo) tagEgress(t testing.TB, tci uint16) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xvs_test_tag", Type: ebpf.SchedCLS, License: programLicense,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R2, bpfasm.EtherVLAN),
			asm.Mov.Imm(asm.R3, int32(tci)),
			asm.FnSkbVlanPush.Call(),
			asm.Mov.Imm(asm.R0, 0), // TCX_PASS
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := inNS(tp.a, func() error {
		va, err := netlink.LinkByName("va")
		if err != nil {
			return err
		}
		l, err = link.AttachTCX(link.TCXOptions{Interface: va.Attrs().Index, Program: prog, Attach: ebpf.AttachTCXEgress})
		return err
	}); err != nil {
		t.Fatalf("tcx egress on va: %v", err)
	}
	t.Cleanup(func() { l.Close() })
}

// sendUDP sends one datagram from A to dst.
func (tp *topo) sendUDP(t *testing.T, dst string, payload string) {
	t.Helper()
	if err := inNS(tp.a, func() error {
		c, err := net.Dial("udp", dst)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestNetnsSteerOffloadedVLAN: the device-bound steering program on vb
// hands the AF_XDP socket a frame whose VLAN tag veth carried as metadata
// with the tag back in the frame, and an untagged one as it is. In generic
// mode the kernel refuses device-bound programs, and lo's driver has no VLAN
// metadata: the plain program serves and VLANTags says why.
func TestNetnsSteerOffloadedVLAN(t *testing.T) {
	needRoot(t)
	cfg := Config{
		Rules: []Rule{{Proto: 17, Prefix: netip.MustParsePrefix("198.18.41.100/32"), PortLo: 7777, PortHi: 7777}},
		Local: []netip.Addr{netip.MustParseAddr("198.18.40.2")},
	}
	t.Run("generic", func(t *testing.T) {
		tp := newTopo(t)
		if err := inNS(tp.b, func() error {
			s, err := NewSteeringFor(tp.vb, 1)
			if err != nil {
				return err
			}
			defer s.Close()
			if ok, why := s.VLANTags(); ok || why != nil {
				return fmt.Errorf("before Attach: VLANTags() = %v, %v; want false, nil (nothing known yet)", ok, why)
			}
			if err := s.Attach(tp.vb, ModeGeneric); err != nil {
				return err
			}
			if ok, why := s.VLANTags(); ok || !errors.Is(why, ErrGenericTags) {
				return fmt.Errorf("VLANTags() = %v, %v; want false, ErrGenericTags", ok, why)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no driver support", func(t *testing.T) {
		tp := newTopo(t)
		if err := inNS(tp.b, func() error {
			if err := rxVLANMetadata(tp.vb); err != nil {
				return fmt.Errorf("veth: %w", err)
			}
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			s, err := NewSteeringFor(lo.Attrs().Index, 1)
			if err != nil {
				return err
			}
			defer s.Close()
			if ok, why := s.VLANTags(); ok || !errors.Is(why, ErrNoVLANMetadata) {
				return fmt.Errorf("lo: VLANTags() = %v, %v; want false, ErrNoVLANMetadata", ok, why)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("native", func(t *testing.T) {
		tp := newTopo(t)
		var s *Steering
		var xsk *xdp.Socket
		if err := inNS(tp.b, func() error {
			var err error
			if s, err = NewSteeringFor(tp.vb, 1); err != nil {
				return err
			}
			if err := s.Update(cfg); err != nil {
				return err
			}
			if err := s.Attach(tp.vb, ModeAuto); err != nil {
				return err
			}
			if xsk, err = xdp.NewSocket(tp.vb, 0, nil); err != nil {
				return fmt.Errorf("af_xdp socket: %w", err)
			}
			return s.SetSocket(0, xsk.FD())
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		defer xsk.Close()
		if ok, why := s.VLANTags(); !ok || s.Mode() != ModeNative {
			t.Fatalf("VLANTags() = %v (%v), mode %v; want true, native", ok, why, s.Mode())
		}
		xsk.Fill(xsk.GetDescs(xsk.NumFreeFillSlots()))
		receive := func() gopacket.Packet {
			t.Helper()
			deadline := time.Now().Add(2 * time.Second)
			for xsk.NumReceived() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			descs := xsk.Receive(xsk.NumReceived())
			if len(descs) != 1 {
				t.Fatalf("AF_XDP socket received %d frames, want 1", len(descs))
			}
			f := append([]byte(nil), xsk.GetFrame(descs[0])...)
			xsk.Fill(descs)
			return gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		}
		// A's neighbour entry for B stays put once tagged frames (ARP
		// among them) no longer reach B's kernel.
		var vbMAC net.HardwareAddr
		if err := inNS(tp.b, func() error {
			l, err := netlink.LinkByIndex(tp.vb)
			vbMAC = l.Attrs().HardwareAddr
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ipCmd(t, "-n", tp.a, "neigh", "replace", "198.18.40.2", "lladdr", vbMAC.String(), "dev", "va", "nud", "permanent")

		tp.sendUDP(t, "198.18.41.100:7777", "untagged")
		pk := receive()
		if pk.Layer(layers.LayerTypeDot1Q) != nil {
			t.Fatalf("untagged frame arrived tagged: %v", pk)
		}
		if udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP); udp == nil || string(udp.Payload) != "untagged" {
			t.Fatalf("unexpected frame: %v", pk)
		}

		tp.tagEgress(t, 5<<13|10)
		tp.sendUDP(t, "198.18.41.100:7777", "tagged")
		pk = receive()
		q, _ := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if q == nil || q.VLANIdentifier != 10 || q.Priority != 5 || q.Type != layers.EthernetTypeIPv4 {
			t.Fatalf("frame with VLAN 10 priority 5 offloaded arrived without that tag: %v", pk)
		}
		if eth := pk.LinkLayer().(*layers.Ethernet); eth.EthernetType != layers.EthernetTypeDot1Q || eth.DstMAC.String() != vbMAC.String() {
			t.Fatalf("Ethernet header: %v", eth)
		}
		if udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP); udp == nil || udp.DstPort != 7777 || string(udp.Payload) != "tagged" {
			t.Fatalf("unexpected frame: %v", pk)
		}
		if err := pk.ErrorLayer(); err != nil {
			t.Fatalf("frame does not decode: %v", err.Error())
		}
		c, err := s.Counters()
		if err != nil {
			t.Fatal(err)
		}
		if c["steer_service"] != 2 || c["steer_vlan_tag"] != 1 || c["steer_nosocket"] != 0 || c["steer_vlan_nopush"] != 0 {
			t.Errorf("counters %v", c)
		}
	})
}

// BenchmarkNetnsSteerRuntime measures the steering program where it runs,
// on vb in native mode with a socket on the queue, from the kernel's own
// per-program run-time statistics (BPF_ENABLE_STATS, held only while a
// sub-benchmark runs): the plain program against the device-bound one, both
// loaded on the same maps in the same lab and attached in turn, on frames
// that pass (the kfunc is called only before a redirect), steered untagged
// frames (the kfunc call is the difference) and steered frames whose tag
// veth carries as metadata (kfunc, push and counter; the device-bound
// program only). Each iteration is one datagram from A. Run it with a
// fixed count, e.g. -benchtime 50000x.
func BenchmarkNetnsSteerRuntime(b *testing.B) {
	needRoot(b)
	tp := newTopo(b)
	var s *Steering
	var xsk *xdp.Socket
	var vbMAC net.HardwareAddr
	if err := inNS(tp.b, func() error {
		var err error
		if s, err = NewSteeringFor(tp.vb, 1); err != nil {
			return err
		}
		if err := s.Update(Config{
			Rules: []Rule{{Proto: 17, Prefix: netip.MustParsePrefix("198.18.41.100/32"), PortLo: 7777, PortHi: 7777}},
			Local: []netip.Addr{netip.MustParseAddr("198.18.40.2")},
		}); err != nil {
			return err
		}
		if xsk, err = xdp.NewSocket(tp.vb, 0, nil); err != nil {
			return err
		}
		l, err := netlink.LinkByIndex(tp.vb)
		if err != nil {
			return err
		}
		vbMAC = l.Attrs().HardwareAddr
		return s.SetSocket(0, xsk.FD())
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { xsk.Close(); s.Close() })
	if s.tagProg == nil {
		b.Fatalf("no device-bound program: %v", s.tagErr)
	}
	ipCmd(b, "-n", tp.a, "neigh", "replace", "198.18.40.2", "lladdr", vbMAC.String(), "dev", "va", "nud", "permanent")
	dial := func(port int) net.Conn {
		var c net.Conn
		if err := inNS(tp.a, func() error {
			var err error
			c, err = net.Dial("udp", fmt.Sprintf("198.18.41.100:%d", port))
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	steered, passed := dial(7777), dial(7778)
	for _, v := range []struct {
		name   string
		c      net.Conn
		tagged bool
		progs  []string
	}{
		{"pass", passed, false, []string{"plain", "devbound"}},
		{"steer", steered, false, []string{"plain", "devbound"}},
		{"steer_tagged", steered, true, []string{"devbound"}},
	} {
		if v.tagged {
			tp.tagEgress(b, 10) // stays for the rest: steer_tagged is last
		}
		for _, name := range v.progs {
			b.Run(v.name+"/"+name, func(b *testing.B) {
				prog := s.prog
				if name == "devbound" {
					prog = s.tagProg
				}
				var l link.Link
				if err := inNS(tp.b, func() error {
					var err error
					l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: tp.vb, Flags: link.XDPDriverMode})
					return err
				}); err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
				if err != nil {
					b.Fatalf("BPF_ENABLE_STATS: %v", err)
				}
				defer stats.Close()
				before, err := prog.Stats()
				if err != nil {
					b.Fatal(err)
				}
				tagsBefore, err := s.Counters()
				if err != nil {
					b.Fatal(err)
				}
				payload := make([]byte, 64)
				for b.Loop() {
					if _, err := v.c.Write(payload); err != nil {
						b.Fatal(err)
					}
				}
				after, err := prog.Stats()
				if err != nil {
					b.Fatal(err)
				}
				runs := after.RunCount - before.RunCount
				if runs == 0 {
					b.Fatal("the program never ran")
				}
				b.ReportMetric(float64(after.Runtime-before.Runtime)/float64(runs), "ns/run")
				tagsAfter, err := s.Counters()
				if err != nil {
					b.Fatal(err)
				}
				if tagged := tagsAfter["steer_vlan_tag"] - tagsBefore["steer_vlan_tag"]; (tagged > 0) != v.tagged {
					b.Fatalf("steer_vlan_tag moved by %d", tagged)
				}
			})
		}
	}
}
