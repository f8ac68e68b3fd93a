package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/service"
)

// Garbage and VLAN end-to-end tests, on the DR lab (client, director and
// real servers on one bridge in the switch namespace):
//
//	client ──┐
//	director ┼── switch (bridge) ── r1, r2
//
// The client sends hand-made frames through an AF_PACKET socket, so they
// reach the director exactly as written. The switch's bridge must not run
// them through iptables (bridge-nf-call-iptables is 1 in a fresh namespace
// when br_netfilter is loaded, and would drop the malformed ones before the
// director sees them).

// rawSender sends frames from one host's interface as they are.
type rawSender struct {
	fd      int
	ifindex int
	src     net.HardwareAddr // the sending interface's MAC
	dst     net.HardwareAddr // the director's MAC on the lab segment
}

func newRawSender(t *testing.T, from, to *testnet.Host) *rawSender {
	t.Helper()
	s := &rawSender{fd: -1}
	err := from.Do(func() error {
		ifc, err := net.InterfaceByName(from.Iface)
		if err != nil {
			return err
		}
		s.ifindex, s.src = ifc.Index, ifc.HardwareAddr
		// Protocol 0: the socket sends only and receives nothing.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.fd = fd
		return nil
	})
	if err == nil {
		err = to.Do(func() error {
			ifc, err := net.InterfaceByName(to.Iface)
			if err == nil {
				s.dst = ifc.HardwareAddr
			}
			return err
		})
	}
	if s.fd >= 0 {
		t.Cleanup(func() { unix.Close(s.fd) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *rawSender) send(t *testing.T, frame []byte) {
	t.Helper()
	sa := &unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6}
	copy(sa.Addr[:], s.dst)
	if err := unix.Sendto(s.fd, frame, 0, sa); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// rawPkt is a frame to craft: IPv4 or IPv6, TCP SYN or UDP, optionally
// VLAN-tagged and with IPv4 options (raw bytes, a multiple of 4).
type rawPkt struct {
	src, dst     netip.Addr
	sport, dport uint16
	udp          bool
	ttl          uint8
	vlan         uint16
	opts         []byte
	payload      string
}

func (s *rawSender) craft(t *testing.T, p rawPkt) []byte {
	t.Helper()
	if p.ttl == 0 {
		p.ttl = 64
	}
	eth := &layers.Ethernet{SrcMAC: s.src, DstMAC: s.dst}
	ls := []gopacket.SerializableLayer{eth}
	et := layers.EthernetTypeIPv4
	if p.src.Is6() {
		et = layers.EthernetTypeIPv6
	}
	if p.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: p.vlan, Type: et})
	} else {
		eth.EthernetType = et
	}
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	if p.src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: p.ttl, Protocol: proto, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice(), Id: 1}
		for range p.opts {
			ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1})
		}
		nl = ip
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: p.ttl, NextHeader: proto, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice()}
		nl = ip
		ls = append(ls, ip)
	}
	if p.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		_ = u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), SYN: true, Seq: 7, Window: 64240}
		_ = tc.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tc)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), buf.Bytes()...)
	if len(p.opts) > 0 {
		l3 := 14
		if p.vlan != 0 {
			l3 = 18
		}
		copy(b[l3+20:], p.opts)
		ipv4Sum(b[l3:])
	}
	return b
}

// ipv4Sum rewrites the header checksum of the IPv4 header at h.
func ipv4Sum(h []byte) {
	n := int(h[0]&0x0f) * 4
	h[10], h[11] = 0, 0
	var s uint32
	for i := 0; i < n; i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	h[10], h[11] = byte(^s>>8), byte(^s)
}

// quietBridge keeps the switch's bridge from filtering IPv4/IPv6 through
// iptables, which would drop malformed frames before the director. Without
// br_netfilter the knobs do not exist and nothing filters.
func quietBridge(t *testing.T, l *lab) {
	t.Helper()
	for _, k := range []string{"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
		err := l.Switch.Sysctl(k, "0")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("sysctl %s: %v", k, err)
		}
	}
}

// counters reads the daemon's figures over one control connection for the
// whole test (the socket limits its clients).
type counters struct {
	l *lab
	c *control.Client
}

func newCounters(t *testing.T, l *lab) *counters {
	t.Helper()
	// "xvs running" is logged as the control socket starts listening: give
	// it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := control.Dial(l.sock)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return &counters{l: l, c: c}
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *counters) stats(t *testing.T) control.Stats {
	t.Helper()
	st, err := c.c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// drop reads the sum of a drop reason over the daemon's queues.
func (c *counters) drop(t *testing.T, reason string) uint64 {
	t.Helper()
	var n uint64
	for _, d := range c.stats(t).Drops {
		if d.Queue != "" && d.Reason == reason {
			n += d.Count
		}
	}
	return n
}

// waitDrop waits until the drop counter reason reaches want.
func (c *counters) waitDrop(t *testing.T, reason string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := c.drop(t, reason)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("drop %s = %d, want %d (drops: %v)", reason, got, want, c.stats(t).Drops)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noState fails unless `xvsadm -Lnc` lists no connection and no real
// server's counters moved.
func (c *counters) noState(t *testing.T, what string) {
	t.Helper()
	if out := c.l.xvsadm(t, "-Lnc"); len(strings.Split(strings.TrimSpace(out), "\n")) > 2 {
		t.Errorf("%s: connection entries:\n%s", what, out)
	}
	for _, s := range c.stats(t).Services {
		if s.Counters != (service.Counters{}) {
			t.Errorf("%s: service %v counters moved: %+v", what, s.Key, s.Counters)
		}
	}
}

func TestGarbageEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			l := startWith(t, setup{mode: testnet.DR, backend: backend, reals: 2, config: config,
				serve: testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{":53"}}})
			quietBridge(t, l)
			s := newRawSender(t, l.Client, l.Director)
			cs := newCounters(t, l)
			c4, c6 := l.Client.Addr4, l.Client.Addr6
			udp4 := func(mod func(*rawPkt)) []byte {
				p := rawPkt{src: c4, dst: l.VIP4, sport: 40001, dport: 53, udp: true, payload: "garbage"}
				if mod != nil {
					mod(&p)
				}
				return s.craft(t, p)
			}
			udpLen := func(b []byte, n uint16) []byte { b[14+20+4], b[14+20+5] = byte(n>>8), byte(n); return b }
			rows := []struct {
				name, reason string
				frame        []byte
			}{
				{"bad ip checksum", "bad-ip-checksum", func() []byte { b := udp4(nil); b[14+10] ^= 0x5a; return b }()},
				{"option length 1", "bad-ip-options", udp4(func(p *rawPkt) { p.opts = []byte{30, 1, 0, 0} })},
				{"option past the header", "bad-ip-options", udp4(func(p *rawPkt) { p.opts = []byte{30, 12, 0, 0} })},
				{"source route", "bad-ip-options", udp4(func(p *rawPkt) { p.opts = []byte{131, 7, 4, 198, 18, 0, 1, 0} })},
				{"udp length beyond the payload", "bad-udp-length", udpLen(udp4(nil), 200)},
				{"udp length 3", "bad-udp-length", udpLen(udp4(nil), 3)},
				{"source loopback", "martian", udp4(func(p *rawPkt) { p.src = netip.MustParseAddr("127.0.0.1") })},
				{"source multicast", "martian", udp4(func(p *rawPkt) { p.src = netip.MustParseAddr("224.0.0.9") })},
				{"ipv6 source loopback", "martian", s.craft(t, rawPkt{src: netip.IPv6Loopback(), dst: l.VIP6, sport: 40001, dport: 53, udp: true})},
				// (A v4-mapped destination is not steered to xvs at all: the
				// director's kernel drops it. The unit tests cover it.)
				{"ipv6 source v4-mapped", "martian", s.craft(t, rawPkt{src: netip.AddrFrom16(c4.As16()), dst: l.VIP6, sport: 40001, dport: 53, udp: true})},
				{"ttl 1 syn", "ttl", s.craft(t, rawPkt{src: c4, dst: l.VIP4, sport: 40002, dport: 80, ttl: 1})},
				{"hop limit 1 syn", "ttl", s.craft(t, rawPkt{src: c6, dst: l.VIP6, sport: 40002, dport: 80, ttl: 1})},
				{"vlan not configured", "vlan", udp4(func(p *rawPkt) { p.vlan = 77 })},
			}
			for _, r := range rows {
				t.Run(r.name, func(t *testing.T) {
					before := cs.drop(t, r.reason)
					for i := 0; i < 3; i++ {
						s.send(t, r.frame)
					}
					cs.waitDrop(t, r.reason, before+3)
					cs.noState(t, r.name)
				})
			}
			// The same client and services still work: one valid datagram
			// makes one entry.
			s.send(t, udp4(nil))
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(l.xvsadm(t, "-Lnc"), "UDP") {
				if time.Now().After(deadline) {
					t.Fatalf("a valid datagram made no entry:\n%s\ndrops %v", l.xvsadm(t, "-Lnc"), cs.stats(t).Drops)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestVLANEndToEnd: a tagged datagram to the VIP is served only on a VLAN
// configured on the director, on either backend; a served one is answered by a real server (the
// request left the director untagged toward it), any other is dropped and
// counted. "flag" configures VLAN 10 with `xvs run --vlan 10`; "device"
// gives the director a VLAN 10 device while xvs runs, learnt on reload
// (SIGHUP) — on a kernel with VLAN devices (CONFIG_VLAN_8021Q).
func TestVLANEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		for _, how := range []string{"flag", "device"} {
			t.Run(backend+"/"+how, func(t *testing.T) {
				var args []string
				if how == "flag" {
					args = []string{"--vlan", "10"}
				}
				l := startWith(t, setup{mode: testnet.DR, backend: backend, reals: 2, config: config, args: args,
					serve: testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{":53"}}})
				// On XDP the veth carries the tag the bridge forwards as
				// metadata: only the device-bound steering program puts it
				// back (native mode, the default on veth).
				if out := l.xvs.Output(); strings.Contains(out, "VLAN filtering unavailable") {
					t.Fatalf("xvs could not load its VLAN-aware steering program:\n%s", out)
				}
				checkVLANs(t, l, how == "device")
			})
		}
	}
}

// TestVLANGenericModeWarns: in generic mode the kernel does not attach the
// device-bound steering program that puts offloaded tags back, so xvs says
// at start that VLAN filtering is unavailable on the interface, and still
// serves untagged traffic. It also warns that GRO/TSO super-packets cannot
// reach AF_XDP in generic mode.
func TestVLANGenericModeWarns(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startWith(t, setup{mode: testnet.DR, backend: "xdp", reals: 2, config: config,
		args:  []string{"--vlan", "10", "--xdp-mode", "generic"},
		serve: testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{":53"}}})
	out := l.xvs.Output()
	if !strings.Contains(out, "VLAN filtering unavailable") || !strings.Contains(out, "mode=generic") ||
		!strings.Contains(out, "interface="+l.Director.Iface) {
		t.Fatalf("no warning naming the interface and generic mode:\n%s", out)
	}
	// Generic XDP cannot take GRO/TSO super-packets either; the daemon
	// says so rather than letting bulk TCP stall unexplained.
	if !strings.Contains(out, "generic XDP: GRO and TSO super-packets") {
		t.Errorf("no warning about super-packets in generic mode:\n%s", out)
	}
	quietBridge(t, l)
	s := newRawSender(t, l.Client, l.Director)
	s.send(t, s.craft(t, rawPkt{src: l.Client.Addr4, dst: l.VIP4, sport: 40200, dport: 53, udp: true, payload: "untagged"}))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(l.xvsadm(t, "-Lnc"), "UDP") {
		if time.Now().After(deadline) {
			t.Fatalf("an untagged datagram made no entry in generic mode:\n%s", l.xvsadm(t, "-Lnc"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkVLANs(t *testing.T, l *lab, device bool) {
	quietBridge(t, l)
	s := newRawSender(t, l.Client, l.Director)
	cs := newCounters(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The client listens where the answers come back (DR: the real server
	// answers the client directly, from the VIP).
	var conn *net.UDPConn
	if err := l.Client.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.Client.Addr4, 40100)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	answer := func(payload string) string {
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return ""
			}
			if strings.HasSuffix(string(buf[:n]), payload) {
				return string(buf[:n])
			}
		}
	}
	req := func(vlan uint16, payload string) []byte {
		return s.craft(t, rawPkt{src: l.Client.Addr4, dst: l.VIP4, sport: 40100, dport: 53, udp: true, vlan: vlan, payload: payload})
	}
	refused := func(vlan uint16, payload string) {
		t.Helper()
		before := cs.drop(t, "vlan")
		s.send(t, req(vlan, payload))
		cs.waitDrop(t, "vlan", before+1)
		if a := answer(payload); a != "" {
			t.Fatalf("VLAN %d answered: %q", vlan, a)
		}
	}

	if device {
		// No VLAN device yet: VLAN 10 is not served.
		refused(10, "early")
		cs.noState(t, "vlan 10 before the device")
		if out, err := l.Director.Run(ctx, "ip", "link", "add", "link", l.Director.Iface, "name", "vl10", "type", "vlan", "id", "10"); err != nil {
			if strings.Contains(string(out)+err.Error(), "Unknown device type") {
				t.Skip("this kernel has no VLAN devices (CONFIG_VLAN_8021Q); the flag variant covers serving")
			}
			t.Fatal(err)
		}
		if _, err := l.Director.Run(ctx, "ip", "link", "set", "vl10", "up"); err != nil {
			t.Fatal(err)
		}
		if err := l.xvs.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if err := l.xvs.WaitOutput(ctx, "configuration reloaded"); err != nil {
			t.Fatalf("no reload: %v", err)
		}
	}
	for i := 0; i < 3; i++ {
		p := fmt.Sprintf("vlan10-%d", i)
		s.send(t, req(10, p))
		if a := answer(p); a == "" {
			t.Fatalf("VLAN 10 datagram %d not answered (drops %v)\n%s", i, cs.stats(t).Drops, l.xvsadm(t, "-Lnc"))
		}
	}
	if !strings.Contains(l.xvsadm(t, "-Lnc"), "UDP") {
		t.Errorf("no entry for the VLAN 10 flow:\n%s", l.xvsadm(t, "-Lnc"))
	}
	// Other VLANs still are not served.
	refused(20, "vlan20")
	refused(11, "vlan11")
}
