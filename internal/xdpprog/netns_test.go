package xdpprog

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Namespace topology shared by the attach tests:
//
//	netns A ("client")                         netns B ("real server" / "director")
//	va 198.18.40.1/24, 2001:db8:40::1/64 <-veth-> vb 198.18.40.2/24, 2001:db8:40::2/64
//	                                            lo 198.18.99.1/32, 2001:db8:99::1/128 (the VIP)
//
// The XDP programs go on vb. Both namespaces come from testnet.NewNetNS:
// unique names, deleted on cleanup, and removed by a later run if this one
// crashes.
type topo struct {
	a, b string // namespace names
	vb   int    // ifindex of vb inside B
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newTopo(t testing.TB) *topo {
	t.Helper()
	needRoot(t)
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	tp := &topo{a: a.Name(), b: b.Name()}
	a.IP(t,
		"link add va type veth peer name vb netns "+b.Name(),
		"addr add 198.18.40.1/24 dev va",
		"addr add 2001:db8:40::1/64 dev va nodad",
		"link set va up",
		"route add 198.18.41.0/24 via 198.18.40.2",
		"route add 198.18.99.0/24 via 198.18.40.2")
	b.IP(t,
		"addr add 198.18.40.2/24 dev vb",
		"addr add 2001:db8:40::2/64 dev vb nodad",
		"addr add 198.18.99.1/32 dev lo",
		"addr add 2001:db8:99::1/128 dev lo",
		"link set vb up")
	if err := inNS(tp.b, func() error {
		l, err := netlink.LinkByName("vb")
		if err != nil {
			return err
		}
		tp.vb = l.Attrs().Index
		// The decapsulated packet comes from a client routed via vb.
		for _, k := range []string{"all", "default", "vb"} {
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/rp_filter", []byte("0"), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tp
}

// inNS runs fn on an OS thread switched into the named namespace
// (testnet.DoIn); sockets fn opens belong to that namespace.
func inNS(name string, fn func() error) error { return testnet.DoIn(name, fn) }

// withTimeout fails the test if fn does not return within d (a hung detach).
func withTimeout(t *testing.T, d time.Duration, what string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return nil
	}
}

// onVB reports the program on vb as the kernel sees it.
func (tp *topo) onVB(t *testing.T) (name string, mode Mode, ok bool) {
	t.Helper()
	if err := inNS(tp.b, func() error {
		var err error
		name, mode, _, ok, err = attachedProgram(tp.vb)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return name, mode, ok
}

// sendTunnel sends inner (an IP packet) from A to dst through a raw socket
// of protocol proto (4: IPIP, 41: IPv6 in IP), so A's kernel adds the outer
// header.
func (tp *topo) sendTunnel(t *testing.T, dst netip.Addr, proto int, inner []byte) {
	t.Helper()
	if err := inNS(tp.a, func() error {
		var fd int
		var sa syscall.Sockaddr
		var err error
		if dst.Is4() {
			fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, proto)
			sa = &syscall.SockaddrInet4{Addr: dst.As4()}
		} else {
			fd, err = syscall.Socket(syscall.AF_INET6, syscall.SOCK_RAW, proto)
			sa = &syscall.SockaddrInet6{Addr: dst.As16()}
		}
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		return syscall.Sendto(fd, inner, 0, sa)
	}); err != nil {
		t.Fatalf("send tunnel packet: %v", err)
	}
}

// listenB opens a UDP socket in B.
func (tp *topo) listenB(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := inNS(tp.b, func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recvWithin reads one datagram or reports a timeout.
func recvWithin(c *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort, error) {
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	return buf[:n], from, err
}

// TestNetnsDecap sends IPIP and IP6IP6 datagrams from A to B's VIP with the
// decap program attached on vb, receives them on a plain UDP socket bound to
// the VIP, then detaches and checks that the same packets no longer arrive
// (this kernel has no ipip driver, so only the program can deliver them).
func TestNetnsDecap(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeGeneric, ModeNative} {
		t.Run(mode.String(), func(t *testing.T) {
			tp := newTopo(t)
			if err := inNS(tp.b, func() error {
				d, err := NewDecap([]netip.Addr{netip.MustParseAddr("198.18.40.2"), netip.MustParseAddr("2001:db8:40::2")}, nil)
				if err != nil {
					return err
				}
				defer d.Close() // the program must stay attached after this
				if err := d.Attach(tp.vb, mode); err != nil {
					return err
				}
				if d.Mode() != mode {
					return fmt.Errorf("mode %v after attach %v", d.Mode(), mode)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if name, got, ok := tp.onVB(t); !ok || name != decapProgName || got != mode {
				t.Fatalf("after Close: program %q mode %v attached %v", name, got, ok)
			}

			for _, fam := range []struct {
				name          string
				outer, vip    string
				client        string
				proto         int
				payloadPrefix string
			}{
				{"ipip", "198.18.40.2", "198.18.99.1", "198.18.40.1", 4, "v4"},
				{"ip6ip6", "2001:db8:40::2", "2001:db8:99::1", "2001:db8:40::1", 41, "v6"},
			} {
				t.Run(fam.name, func(t *testing.T) {
					c := tp.listenB(t, net.JoinHostPort(fam.vip, "9999"))
					payload := []byte("through the tunnel " + fam.payloadPrefix)
					inner := ipPacket(t, pkt{src: fam.client, dst: fam.vip, proto: 17, sport: 1234, dport: 9999, payload: payload})
					// The first packet may wait for neighbour resolution; retry a few times.
					var got []byte
					var from netip.AddrPort
					var err error
					for range 5 {
						tp.sendTunnel(t, netip.MustParseAddr(fam.outer), fam.proto, inner)
						if got, from, err = recvWithin(c, 500*time.Millisecond); err == nil {
							break
						}
					}
					if err != nil {
						t.Fatalf("no decapsulated datagram: %v", err)
					}
					if string(got) != string(payload) || from.Addr().Unmap() != netip.MustParseAddr(fam.client) || from.Port() != 1234 {
						t.Fatalf("got %q from %v", got, from)
					}
				})
			}

			if err := withTimeout(t, 10*time.Second, "DetachDecap", func() error {
				return inNS(tp.b, func() error { return DetachDecap(tp.vb) })
			}); err != nil {
				t.Fatal(err)
			}
			if name, _, ok := tp.onVB(t); ok {
				t.Fatalf("program %q still attached after DetachDecap", name)
			}
			if err := inNS(tp.b, func() error { return DetachDecap(tp.vb) }); !errors.Is(err, ErrNoProgram) {
				t.Errorf("second DetachDecap: %v, want ErrNoProgram", err)
			}
			// Without the program the tunnel packet is not delivered.
			c := tp.listenB(t, "198.18.99.1:9998")
			inner := ipPacket(t, pkt{src: "198.18.40.1", dst: "198.18.99.1", proto: 17, sport: 1234, dport: 9998})
			tp.sendTunnel(t, netip.MustParseAddr("198.18.40.2"), 4, inner)
			if got, _, err := recvWithin(c, 300*time.Millisecond); err == nil {
				t.Errorf("datagram %q delivered without the decap program", got)
			}
		})
	}
}

// TestNetnsDecapReplace checks that a second `xvs decap` replaces an earlier
// program, also across modes, and that a foreign program is refused.
func TestNetnsDecapReplace(t *testing.T) {
	tp := newTopo(t)
	attach := func(mode Mode) error {
		return inNS(tp.b, func() error {
			d, err := NewDecap(nil, nil)
			if err != nil {
				return err
			}
			defer d.Close()
			return d.Attach(tp.vb, mode)
		})
	}
	if err := attach(ModeGeneric); err != nil {
		t.Fatal(err)
	}
	if err := attach(ModeGeneric); err != nil {
		t.Fatalf("replace in the same mode: %v", err)
	}
	if err := attach(ModeNative); err != nil {
		t.Fatalf("replace in another mode: %v", err)
	}
	if name, mode, ok := tp.onVB(t); !ok || name != decapProgName || mode != ModeNative {
		t.Fatalf("after replace: %q %v %v", name, mode, ok)
	}
	if err := inNS(tp.b, func() error { return DetachDecap(tp.vb) }); err != nil {
		t.Fatal(err)
	}

	// A steering program is not ours to replace or detach as decap.
	s := newTestSteering(t, Config{})
	if err := inNS(tp.b, func() error { return s.Attach(tp.vb, ModeGeneric) }); err != nil {
		t.Fatal(err)
	}
	if err := attach(ModeGeneric); !errors.Is(err, ErrForeignProgram) {
		t.Errorf("decap over steering: %v, want ErrForeignProgram", err)
	}
	if err := inNS(tp.b, func() error { return DetachDecap(tp.vb) }); !errors.Is(err, ErrForeignProgram) {
		t.Errorf("DetachDecap of steering: %v, want ErrForeignProgram", err)
	}
}
