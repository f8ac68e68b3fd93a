package xdpprog

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/asavie/xdp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestNetnsSteerAttach attaches the steering program to vb in each mode,
// checks what the kernel reports, and detaches under a timeout (a generic
// netlink detach with the wrong flags hangs on veth).
func TestNetnsSteerAttach(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct{ ask, want Mode }{
		{ModeGeneric, ModeGeneric},
		{ModeNative, ModeNative},
		{ModeAuto, ModeNative}, // veth has native XDP
	} {
		t.Run(tc.ask.String(), func(t *testing.T) {
			tp := newTopo(t)
			s := newTestSteering(t, testConfig)
			if err := inNS(tp.b, func() error { return s.Attach(tp.vb, tc.ask) }); err != nil {
				t.Fatal(err)
			}
			if s.Mode() != tc.want {
				t.Errorf("Mode() = %v, want %v", s.Mode(), tc.want)
			}
			if name, mode, ok := tp.onVB(t); !ok || name != steerProgName || mode != tc.want {
				t.Fatalf("kernel reports %q mode %v attached %v", name, mode, ok)
			}
			if err := inNS(tp.b, func() error { return s.Attach(tp.vb, tc.ask) }); !errors.Is(err, ErrAttached) {
				t.Errorf("second Attach: %v, want ErrAttached", err)
			}
			for i := range 2 { // the second Detach is a no-op
				if err := withTimeout(t, 10*time.Second, "Detach", s.Detach); err != nil {
					t.Fatalf("Detach %d: %v", i, err)
				}
			}
			if name, _, ok := tp.onVB(t); ok {
				t.Fatalf("program %q still attached after Detach", name)
			}
			if s.Mode() != ModeAuto {
				t.Errorf("Mode() after Detach = %v", s.Mode())
			}
			// Reattach and let Close detach.
			if err := inNS(tp.b, func() error { return s.Attach(tp.vb, tc.ask) }); err != nil {
				t.Fatal(err)
			}
			if err := withTimeout(t, 10*time.Second, "Close", s.Close); err != nil {
				t.Fatal(err)
			}
			if name, _, ok := tp.onVB(t); ok {
				t.Fatalf("program %q still attached after Close", name)
			}
		})
	}
}

// TestNetnsSteerAFXDP is the end-to-end check: with the program on vb and an
// AF_XDP socket on queue 0, a datagram for the service arrives on the socket
// while a datagram to B's own address (which needs ARP answered by B's
// kernel first) still reaches a kernel UDP socket.
func TestNetnsSteerAFXDP(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeGeneric, ModeNative} {
		t.Run(mode.String(), func(t *testing.T) {
			tp := newTopo(t)
			s := newTestSteering(t, Config{
				Rules: []Rule{{Proto: 17, Prefix: netip.MustParsePrefix("198.18.41.100/32"), PortLo: 7777, PortHi: 7777}},
				Local: []netip.Addr{netip.MustParseAddr("198.18.40.2")},
			})
			var xsk *xdp.Socket
			if err := inNS(tp.b, func() error {
				if err := s.Attach(tp.vb, mode); err != nil {
					return err
				}
				var err error
				if xsk, err = xdp.NewSocket(tp.vb, 0, nil); err != nil {
					return fmt.Errorf("af_xdp socket: %w", err)
				}
				return s.SetSocket(0, xsk.FD())
			}); err != nil {
				t.Fatal(err)
			}
			defer xsk.Close()
			xsk.Fill(xsk.GetDescs(xsk.NumFreeFillSlots()))
			kernel := tp.listenB(t, "198.18.40.2:7778")

			send := func(dst string, payload []byte) {
				t.Helper()
				if err := inNS(tp.a, func() error {
					c, err := net.Dial("udp", dst)
					if err != nil {
						return err
					}
					defer c.Close()
					_, err = c.Write(payload)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}

			// Kernel path first: this also resolves B's MAC through ARP,
			// which the program must pass.
			send("198.18.40.2:7778", []byte("to the kernel"))
			if got, _, err := recvWithin(kernel, 2*time.Second); err != nil || string(got) != "to the kernel" {
				t.Fatalf("kernel socket: %q, %v", got, err)
			}

			send("198.18.41.100:7777", []byte("to the service"))
			deadline := time.Now().Add(2 * time.Second)
			for xsk.NumReceived() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			descs := xsk.Receive(xsk.NumReceived())
			if len(descs) != 1 {
				t.Fatalf("AF_XDP socket received %d frames, want 1", len(descs))
			}
			pk := gopacket.NewPacket(xsk.GetFrame(descs[0]), layers.LayerTypeEthernet, gopacket.Default)
			udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp == nil || udp.DstPort != 7777 || string(udp.Payload) != "to the service" {
				t.Fatalf("unexpected frame on the socket: %v", pk)
			}
			c, err := s.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if c["steer_service"] != 1 || c["steer_nosocket"] != 0 {
				t.Errorf("counters %v", c)
			}
			if err := withTimeout(t, 10*time.Second, "Detach", s.Detach); err != nil {
				t.Fatal(err)
			}
		})
	}
}
