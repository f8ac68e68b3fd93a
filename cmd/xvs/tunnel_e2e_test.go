package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// GUE and GRE end to end: the TUN lab (client, director, r1..r3 on one
// bridge, VIPs on the reals' lo), the reals running `xvs decap -i IFACE
// --gue-port 6080,6079`, and one real server per tunnel flavour:
//
//	r1: gue, port 6080, no checksum
//	r2: gre with checksum
//	r3: gue, port 6079, with checksum
//
// HTTP and UDP services spread over the three (so each flavour carries real
// TCP and UDP traffic, v4 and v6), and one UDP service per flavour, on its
// own port, answers a datagram too big for its tunnel with "fragmentation
// needed" / "packet too big" carrying the link MTU less that tunnel's
// overhead, read on the client with a raw ICMP socket. On the XDP backend
// xvsadm then lists (--tun-info), edits (-e) and saves/restores the tunnels.

// tunnelFlavour is one real server's tunnel in the lab's YAML, with the
// bytes it adds over IPv4 (IPv6 adds 20).
type tunnelFlavour struct {
	yaml   string
	over4  int
	ptbUDP int // the UDP port of the service that probes it
}

var tunnelFlavours = []tunnelFlavour{
	{"tun-type: gue, tun-port: 6080", 32, 7001},
	{"tun-type: gre, tun-csum: csum", 28, 7002},
	{"tun-type: gue, tun-port: 6079, tun-csum: csum", 32, 7003},
	{"tun-type: gre", 24, 7004},
}

// tunnelConfig: rr HTTP and UDP services over r1..r3 with their flavours,
// and a probe service per flavour with r1 as its only real.
func tunnelConfig(l *testnet.Lab) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		addr := func(r *testnet.Host) netip.Addr {
			if vip.Is6() {
				return r.Addr6
			}
			return r.Addr4
		}
		for _, svc := range []struct {
			proto string
			port  int
		}{{"tcp", 80}, {"udp", 53}} {
			fmt.Fprintf(&b, "  - proto: %s\n    vip: %s\n    port: %d\n    scheduler: rr\n    reals:\n", svc.proto, vip, svc.port)
			for i, r := range l.Reals {
				fmt.Fprintf(&b, "      - {address: %s, method: tun, %s}\n", addr(r), tunnelFlavours[i%3].yaml)
			}
		}
		for _, f := range tunnelFlavours {
			fmt.Fprintf(&b, "  - proto: udp\n    vip: %s\n    port: %d\n    reals:\n      - {address: %s, method: tun, %s}\n",
				vip, f.ptbUDP, addr(l.Reals[0]), f.yaml)
		}
	}
	return b.String()
}

func TestTunnelEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			l := startWith(t, setup{
				mode: testnet.TUN, backend: backend, config: tunnelConfig,
				serve: testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{":53"}},
			})
			// startWith attached the plain decapsulator; replace it with one
			// that knows the GUE ports (Attach swaps our own program).
			for _, r := range l.Reals {
				if err := decapGUE(xvsBinary(t), r); err != nil {
					t.Fatal(err)
				}
			}
			for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
				fam := "v4"
				if vip.Is6() {
					fam = "v6"
				}
				t.Run(fam, func(t *testing.T) {
					checkService(t, l, vip)
					mtu, err := l.Director.MTU(l.DirectorIfaces[0])
					if err != nil {
						t.Fatal(err)
					}
					for _, f := range tunnelFlavours {
						over := f.over4
						if vip.Is6() {
							over += 20
						}
						t.Run(strings.NewReplacer(": ", "=", ", ", ",").Replace(f.yaml), func(t *testing.T) {
							got, err := probeTooBig(l.Client, vip, f.ptbUDP, mtu)
							if err != nil {
								t.Fatal(err)
							}
							if got != mtu-over {
								t.Errorf("too-big answer carries MTU %d, want %d - %d = %d", got, mtu, over, mtu-over)
							}
						})
					}
				})
			}
			if backend == "xdp" {
				t.Run("xvsadm", func(t *testing.T) { checkTunnelAdmin(t, l) })
			}
		})
	}
}

// checkTunnelAdmin drives the tunnel options through xvsadm against the
// running daemon: -L --tun-info shows each flavour as ipvsadm does, -e
// changes a real server's tunnel live (the too-big answer follows the new
// overhead), and -S / -C / -R restores the table exactly.
func checkTunnelAdmin(t *testing.T, l *lab) {
	info := l.xvsadm(t, "-L", "-n", "--tun-info")
	for _, want := range []string{"Forward TunnelInfo    Weight", "Tunnel  gue:6080:-c   1", "Tunnel  gre:+c        1", "Tunnel  gue:6079:+c   1", "Tunnel  gre:-c        1"} {
		if !strings.Contains(info, want) {
			t.Errorf("-L --tun-info lacks %q:\n%s", want, info)
		}
	}
	mtu, err := l.Director.MTU(l.DirectorIfaces[0])
	if err != nil {
		t.Fatal(err)
	}
	// 7004 is plain GRE (24 bytes); make it GUE with checksum (32).
	svc := netip.AddrPortFrom(l.VIP4, 7004).String()
	real := l.Reals[0].Addr4.String()
	l.xvsadm(t, "-e", "-u", svc, "-r", real, "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum")
	if got, err := probeTooBig(l.Client, l.VIP4, 7004, mtu); err != nil || got != mtu-32 {
		t.Errorf("after -e to gue: too-big MTU %d (%v), want %d", got, err, mtu-32)
	}
	if out := l.xvsadm(t, "-S", "-n"); !strings.Contains(out, "-a -u "+svc+" -r "+real+":7004 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n") {
		t.Errorf("-S after -e:\n%s", out)
	}
	saved := l.xvsadm(t, "-S", "-n")
	l.xvsadm(t, "-C")
	cmd := exec.Command(xvsadmBinary(t), "-R")
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
	cmd.Stdin = strings.NewReader(saved)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("-R: %v\n%s", err, out)
	}
	if again := l.xvsadm(t, "-S", "-n"); again != saved {
		t.Errorf("restored table differs:\n%s\nwant:\n%s", again, saved)
	}
	// The restored table still carries GUE to r1.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	udp, err := l.Client.UDP(ctx, testnet.UDPOptions{Addr: netip.AddrPortFrom(l.VIP4, 53).String(), N: 30})
	if err != nil || udp.OK != 30 {
		t.Errorf("UDP after -R: %+v, %v", udp, err)
	}
}

// decapGUE attaches `xvs decap` with the lab's two GUE ports on h.
func decapGUE(bin string, h *testnet.Host) error {
	out, err := h.Run(context.Background(), bin, "decap", "-i", h.Iface, "--gue-port", "6080", "--gue-port", "6079")
	if err != nil {
		return fmt.Errorf("xvs decap: %v: %s", err, out)
	}
	return nil
}

// probeTooBig sends, from the client, one UDP datagram of IP length size to
// vip:port with DF set whatever the client's path MTU cache says
// (IP_PMTUDISC_PROBE), and returns the MTU of the "fragmentation needed" /
// "packet too big" answer quoting it, read from a raw ICMP socket.
func probeTooBig(c *testnet.Host, vip netip.Addr, port, size int) (int, error) {
	var mtu int
	err := c.Do(func() error {
		network, hdr := "ip4:icmp", 20
		level, opt, probe := syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_PROBE
		if vip.Is6() {
			network, hdr = "ip6:ipv6-icmp", 40
			level, opt, probe = syscall.IPPROTO_IPV6, syscall.IPV6_MTU_DISCOVER, syscall.IPV6_PMTUDISC_PROBE
		}
		raw, err := net.ListenPacket(network, "")
		if err != nil {
			return fmt.Errorf("raw icmp socket: %w", err)
		}
		defer raw.Close()
		var serr error
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), level, opt, probe) }); err != nil {
				return err
			}
			return serr
		}}
		conn, err := d.Dial("udp", netip.AddrPortFrom(vip, uint16(port)).String())
		if err != nil {
			return err
		}
		defer conn.Close()
		lport := conn.LocalAddr().(*net.UDPAddr).Port
		deadline := time.Now().Add(5 * time.Second)
		raw.SetReadDeadline(deadline)
		buf := make([]byte, 2048)
		// Up to three tries a second apart, in case the first is lost
		// while a neighbour is resolved.
		for try := 0; try < 3 && time.Now().Before(deadline); try++ {
			if _, err := conn.Write(make([]byte, size-hdr-8)); err != nil {
				return fmt.Errorf("send %d bytes: %w", size, err)
			}
			raw.SetReadDeadline(time.Now().Add(time.Second))
			for {
				n, _, err := raw.ReadFrom(buf)
				if err != nil {
					break // timeout: send again
				}
				if m, ok := tooBigMTU(buf[:n], vip.Is6(), lport, port); ok {
					mtu = m
					return nil
				}
			}
		}
		return fmt.Errorf("no too-big answer for %d bytes to %v:%d", size, vip, port)
	})
	return mtu, err
}

// tooBigMTU reads an ICMPv4 type 3 code 4 or ICMPv6 type 2 message b (no IP
// header) and returns its MTU if it quotes UDP from sport to dport.
func tooBigMTU(b []byte, v6 bool, sport, dport int) (int, bool) {
	if len(b) < 8 {
		return 0, false
	}
	var mtu, l4 int
	if v6 {
		if b[0] != 2 || len(b) < 8+40+8 {
			return 0, false
		}
		mtu, l4 = int(binary.BigEndian.Uint32(b[4:])), 8+40
	} else {
		if b[0] != 3 || b[1] != 4 || len(b) < 8+20+8 {
			return 0, false
		}
		mtu, l4 = int(binary.BigEndian.Uint16(b[6:])), 8+int(b[8]&0x0f)*4
	}
	if len(b) < l4+4 || int(binary.BigEndian.Uint16(b[l4:])) != sport || int(binary.BigEndian.Uint16(b[l4+2:])) != dport {
		return 0, false
	}
	return mtu, true
}
