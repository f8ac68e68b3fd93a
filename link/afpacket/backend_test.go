package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// collector runs one receive loop per queue, as the forwarder's workers do,
// and keeps a copy of every frame.
type collector struct {
	mu     sync.Mutex
	frames [][]byte // guarded by mu
	offs   []int    // headroom of each frame, guarded by mu
	stop   chan struct{}
	wg     sync.WaitGroup
}

func collect(qs []link.Queue) *collector {
	c := &collector{stop: make(chan struct{})}
	for _, q := range qs {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			buf := make([]link.Frame, 64)
			for {
				select {
				case <-c.stop:
					return
				default:
				}
				n := q.Recv(buf)
				c.mu.Lock()
				for i := range buf[:n] {
					c.frames = append(c.frames, slices.Clone(buf[i].Data()))
					c.offs = append(c.offs, buf[i].Off)
				}
				c.mu.Unlock()
				q.Release(buf[:n])
			}
		}()
	}
	return c
}

func (c *collector) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
}

// find returns the frames (and their headroom) for which match is true.
func (c *collector) find(match func([]byte) bool) (out [][]byte, offs []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.frames {
		if match(f) {
			out = append(out, f)
			offs = append(offs, c.offs[i])
		}
	}
	return out, offs
}

// waitFor waits until n frames match.
func (c *collector) waitFor(t *testing.T, n int, what string, match func([]byte) bool) [][]byte {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got, _ := c.find(match)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d frames received", what, len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// udpTo matches IPv4 UDP (or TCP) frames, untagged or with one VLAN tag, by
// protocol and destination port.
func l4To(proto uint8, port uint16) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == 0x8100 {
			f = append(slices.Clone(f[:12]), f[16:]...)
		}
		if len(f) < 14+20+4 || binary.BigEndian.Uint16(f[12:]) != etherIPv4 || f[14+9] != proto {
			return false
		}
		ihl := int(f[14]&15) * 4
		return len(f) >= 14+ihl+4 && binary.BigEndian.Uint16(f[14+ihl+2:]) == port
	}
}

// l4ChecksumOK verifies the TCP/UDP checksum of an untagged IPv4 frame.
func l4ChecksumOK(f []byte) bool {
	ip := f[14:]
	ihl := int(ip[0]&15) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	l4 := ip[ihl:tot]
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	return sum16(append(pseudo(src, dst, ip[9], len(l4)), l4...)) == 0xffff
}

func testRules() Rules {
	vip := netip.AddrFrom4(vipAddr)
	cli := netip.AddrFrom4(cliAddr)
	return Rules{
		Rules: []Rule{
			{Proto: 6, Prefix: netip.PrefixFrom(vip, 32), PortLo: 80, PortHi: 80},
			{Proto: 17, Prefix: netip.PrefixFrom(vip, 32), PortLo: 5353, PortHi: 5353},
			{Proto: 17, Prefix: netip.PrefixFrom(vip6Addr, 128), PortLo: 5353, PortHi: 5353},
			// The client plays a NAT real server answering from port 9000.
			{Proto: 17, Prefix: netip.PrefixFrom(cli, 32), PortLo: 9000, PortHi: 9000, Reply: true},
		},
		Local: []netip.Addr{netip.AddrFrom4(dirAddr)},
	}
}

// dialTCP connects from the client namespace and classifies the outcome:
// "refused" (the director's kernel sent a RST), "timeout" (nobody answered)
// or "connected".
func dialTCP(t *testing.T, tp *topo, port int) string {
	t.Helper()
	var res string
	tp.in(t, tp.cli, func() {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort("198.18.0.100", itoa(port)), 400*time.Millisecond)
		switch {
		case err == nil:
			c.Close()
			res = "connected"
		case errors.Is(err, unix.ECONNREFUSED):
			res = "refused"
		case os.IsTimeout(err):
			res = "timeout"
		default:
			t.Fatalf("dial port %d: %v", port, err)
		}
	})
	return res
}

func itoa(i int) string { return strconv.Itoa(i) }

// ping sends one ICMP echo request from the client to the VIP and reports
// whether the reply came back.
func ping(t *testing.T, tp *topo) bool {
	t.Helper()
	ok := false
	tp.in(t, tp.cli, func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval(int64(time.Second))
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		req := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'x', 'v', 's'}
		binary.BigEndian.PutUint16(req[2:], ^sum16(req))
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrInet4{Addr: vipAddr}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return // timeout
			}
			ihl := int(buf[0]&15) * 4
			if n >= ihl+8 && buf[ihl] == 0 && buf[ihl+4] == 0x12 && buf[ihl+5] == 0x34 {
				ok = true
				return
			}
		}
	})
	return ok
}

// udpFrame builds a UDP frame from the director to the client.
func (tp *topo) udpFrame(sport, dport uint16, payload string) []byte {
	p := pkt{src: netip.AddrFrom4(vipAddr), dst: netip.AddrFrom4(cliAddr), proto: 17, sport: sport, dport: dport, payload: []byte(payload)}
	copy(p.dstMAC[:], tp.cMAC)
	copy(p.srcMAC[:], tp.dMAC)
	return p.frame()
}

// TestBackend runs the backend on d0 and checks what it steers, what the
// kernel still handles, what it transmits, a rule change and Close, in one
// topology.
func TestBackend(t *testing.T) {
	tp := newTopo(t)
	var b *Backend
	tp.in(t, tp.dir, func() {
		var err error
		if b, err = Open([]string{"d0"}, Options{Sockets: 2}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { b.Close() })
	if err := b.Steer(testRules()); err != nil {
		t.Fatal(err)
	}
	if len(b.Queues()) != 2 || !slices.Equal(b.Ifindexes(), []int{tp.dIndex}) {
		t.Fatalf("queues %d, ifindexes %v", len(b.Queues()), b.Ifindexes())
	}
	c := collect(b.Queues())
	defer c.close()

	// Client sockets: one towards the UDP service, one bound to the
	// "real server" port 9000, and a director socket on its own address.
	var svc, realSrv *net.UDPConn
	tp.in(t, tp.cli, func() {
		var err error
		if svc, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IP(vipAddr[:]), Port: 5353}); err != nil {
			t.Fatal(err)
		}
		if realSrv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(cliAddr[:]), Port: 9000}); err != nil {
			t.Fatal(err)
		}
	})
	defer svc.Close()
	defer realSrv.Close()
	var dirSock *net.UDPConn
	tp.in(t, tp.dir, func() {
		var err error
		if dirSock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(dirAddr[:]), Port: 7000}); err != nil {
			t.Fatal(err)
		}
	})
	defer dirSock.Close()

	t.Run("udp service", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			if _, err := svc.Write([]byte("query-" + itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
		got := c.waitFor(t, 20, "udp to vip:5353", l4To(17, 5353))
		for _, f := range got {
			if !l4ChecksumOK(f) {
				t.Errorf("frame with a bad UDP checksum (partial checksum not completed): % x", f)
			}
		}
		_, offs := c.find(l4To(17, 5353))
		if slices.Min(offs) < MinHeadroom {
			t.Errorf("headroom %d < %d", slices.Min(offs), MinHeadroom)
		}
		// Without the nftables drop, the director would answer with port
		// unreachable and the connected socket would see ECONNREFUSED.
		svc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := svc.Read(make([]byte, 64)); !os.IsTimeout(err) {
			t.Errorf("read on the client's UDP socket: %v, want a timeout (the kernel must not answer)", err)
		}
	})

	t.Run("udp6 service", func(t *testing.T) {
		var c6 *net.UDPConn
		tp.in(t, tp.cli, func() {
			var err error
			c6, err = net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip6Addr, 5353)))
			if err != nil {
				t.Fatal(err)
			}
		})
		defer c6.Close()
		for i := 0; i < 5; i++ {
			if _, err := c6.Write([]byte("query6")); err != nil {
				t.Fatal(err)
			}
		}
		isUDP6 := func(f []byte) bool {
			return len(f) >= 14+40+8 && binary.BigEndian.Uint16(f[12:]) == etherIPv6 && f[14+6] == 17 &&
				binary.BigEndian.Uint16(f[14+40+2:]) == 5353
		}
		for _, f := range c.waitFor(t, 5, "udp6 to vip:5353", isUDP6) {
			ip := f[14:]
			src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
			l4 := ip[40 : 40+int(binary.BigEndian.Uint16(ip[4:]))]
			if sum16(append(pseudo(src, dst, 17, len(l4)), l4...)) != 0xffff {
				t.Errorf("udp6 frame with a bad checksum: % x", f)
			}
		}
		c6.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c6.Read(make([]byte, 64)); !os.IsTimeout(err) {
			t.Errorf("read on the client's UDP6 socket: %v, want a timeout (the kernel must not answer)", err)
		}
		// Unsteered IPv6 stays with the kernel: TCP to the v6 VIP is refused.
		tp.in(t, tp.cli, func() {
			_, err := net.DialTimeout("tcp6", netip.AddrPortFrom(vip6Addr, 80).String(), 400*time.Millisecond)
			if !errors.Is(err, unix.ECONNREFUSED) {
				t.Errorf("tcp6 to the vip: %v, want connection refused", err)
			}
		})
	})

	t.Run("tcp syn gets no rst", func(t *testing.T) {
		if got := dialTCP(t, tp, 80); got != "timeout" {
			t.Errorf("dial vip:80 = %s, want timeout: the director's kernel answered steered traffic", got)
		}
		syns := c.waitFor(t, 1, "syn to vip:80", l4To(6, 80))
		if f := syns[0]; f[14+20+13]&0x02 == 0 {
			t.Errorf("frame to port 80 is not a SYN: % x", f)
		}
	})

	t.Run("other traffic stays with the kernel", func(t *testing.T) {
		if got := dialTCP(t, tp, 81); got != "refused" {
			t.Errorf("dial vip:81 = %s, want refused (RST from the director's kernel)", got)
		}
		if !ping(t, tp) {
			t.Error("no echo reply from the vip")
		}
		if got, _ := c.find(l4To(6, 81)); len(got) != 0 {
			t.Errorf("%d frames to port 81 reached the queues", len(got))
		}
		icmp := func(f []byte) bool {
			return len(f) > 34 && binary.BigEndian.Uint16(f[12:]) == etherIPv4 && f[23] == 1
		}
		if got, _ := c.find(icmp); len(got) != 0 {
			t.Errorf("%d ICMP frames reached the queues", len(got))
		}
	})

	t.Run("nat replies", func(t *testing.T) {
		// To a non-local address: a reply to steer.
		if _, err := realSrv.WriteToUDP([]byte("reply"), &net.UDPAddr{IP: net.IPv4(198, 18, 7, 7), Port: 40000}); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, 1, "reply from 9000", l4To(17, 40000))
		// To the director's own address: its own traffic.
		if _, err := realSrv.WriteToUDP([]byte("health"), &net.UDPAddr{IP: net.IP(dirAddr[:]), Port: 7000}); err != nil {
			t.Fatal(err)
		}
		dirSock.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		n, _, err := dirSock.ReadFromUDP(buf)
		if err != nil || string(buf[:n]) != "health" {
			t.Errorf("director's socket: %q, %v; want the health reply", buf[:n], err)
		}
		if got, _ := c.find(l4To(17, 7000)); len(got) != 0 {
			t.Error("a reply to the director's own address reached the queues")
		}
	})

	t.Run("vlan tag put back", func(t *testing.T) {
		var fd int
		tp.in(t, tp.cli, func() {
			var err error
			if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
				t.Fatal(err)
			}
		})
		defer unix.Close(fd)
		p := pkt{src: netip.AddrFrom4(cliAddr), dst: netip.AddrFrom4(vipAddr), proto: 17, sport: 1234, dport: 5353, payload: []byte("tagged")}
		copy(p.dstMAC[:], tp.dMAC)
		copy(p.srcMAC[:], tp.cMAC)
		plain := p.frame()
		tagged := append(slices.Clone(plain[:12]), 0x81, 0x00, 0x00, 0x05)
		tagged = append(tagged, plain[12:]...)
		if err := unix.Sendto(fd, tagged, 0, &unix.SockaddrLinklayer{Ifindex: tp.cIndex, Halen: 6}); err != nil {
			t.Fatal(err)
		}
		got := c.waitFor(t, 1, "tagged frame", func(f []byte) bool { return bytes.Contains(f, []byte("tagged")) })
		if !bytes.Equal(got[0], tagged) {
			t.Errorf("received % x\nwant     % x", got[0], tagged)
		}
	})

	t.Run("transmit", func(t *testing.T) {
		var capFd int
		var rcv *net.UDPConn
		tp.in(t, tp.cli, func() {
			var err error
			if capFd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethPAll))); err != nil {
				t.Fatal(err)
			}
			if err := bindPacket(capFd, tp.cIndex, ethPAll); err != nil {
				t.Fatal(err)
			}
			if rcv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(cliAddr[:]), Port: 7777}); err != nil {
				t.Fatal(err)
			}
		})
		defer unix.Close(capFd)
		defer rcv.Close()
		frames := []link.Frame{}
		want := [][]byte{}
		for i := 0; i < 3; i++ {
			f := tp.udpFrame(5353, 7777, "crafted-"+itoa(i))
			want = append(want, f)
			buf := make([]byte, 256+len(f))
			copy(buf[256:], f)
			frames = append(frames, link.Frame{Buf: buf, Off: 256, Len: len(f), Ifindex: tp.dIndex})
		}
		// A frame forwarded DR-style: still addressed to a steered VIP
		// and port. Leaving through d0, it must not come back into the
		// queues (it would be forwarded again, in a loop).
		dr := pkt{src: netip.AddrFrom4(cliAddr), dst: netip.AddrFrom4(vipAddr), proto: 17, sport: 1, dport: 5353, payload: []byte("crafted-dr")}
		copy(dr.dstMAC[:], tp.cMAC)
		copy(dr.srcMAC[:], tp.dMAC)
		want = append(want, dr.frame())
		frames = append(frames, link.Frame{Buf: want[3], Len: len(want[3]), Ifindex: tp.dIndex})
		frames = append(frames, link.Frame{Buf: make([]byte, 64), Len: 60, Ifindex: 9999})
		b.Queues()[1].Send(frames)
		// The exact bytes on the client's wire...
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		_ = unix.SetsockoptTimeval(capFd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		buf := make([]byte, 2048)
		var seen [][]byte
		for len(seen) < 4 {
			n, _, err := unix.Recvfrom(capFd, buf, 0)
			if err != nil {
				t.Fatalf("capture: %v after %d frames", err, len(seen))
			}
			if bytes.Contains(buf[:n], []byte("crafted-")) {
				seen = append(seen, slices.Clone(buf[:n]))
			}
		}
		for i := range want {
			if !bytes.Equal(seen[i], want[i]) {
				t.Errorf("captured % x\nwant     % x", seen[i], want[i])
			}
		}
		// ...and a real socket receives them.
		rcv.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rcv.Read(buf)
		if err != nil || string(buf[:n]) != "crafted-0" {
			t.Errorf("udp socket read %q, %v", buf[:n], err)
		}
		if s := b.Counters(); s.TxFrames < 4 || s.TxNoIf != 1 {
			t.Errorf("stats %+v: want 4 frames sent and 1 for an unknown interface", s)
		}
		time.Sleep(20 * time.Millisecond) // a block retire timeout and more
		if got, _ := c.find(func(f []byte) bool { return bytes.Contains(f, []byte("crafted-dr")) }); len(got) != 0 {
			t.Errorf("our own transmission came back into the queues %d times", len(got))
		}
		// The kernel must keep it out already (fanout flag, filter);
		// Recv's own check is the last resort.
		if s := b.Counters(); s.RxOutgoing != 0 {
			t.Errorf("%d outgoing frames reached the ring", s.RxOutgoing)
		}
	})

	t.Run("rule change", func(t *testing.T) {
		rs := testRules()
		rs.Rules[0].PortLo, rs.Rules[0].PortHi = 81, 81
		if err := b.Steer(rs); err != nil {
			t.Fatal(err)
		}
		if got := dialTCP(t, tp, 80); got != "refused" {
			t.Errorf("dial vip:80 after its rule went: %s, want refused", got)
		}
		if got := dialTCP(t, tp, 81); got != "timeout" {
			t.Errorf("dial vip:81 after its rule came: %s, want timeout", got)
		}
		c.waitFor(t, 1, "syn to vip:81", l4To(6, 81))
		if err := b.Steer(Rules{Rules: []Rule{{Proto: 9}}}); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("invalid rules: %v", err)
		}
	})

	t.Run("close", func(t *testing.T) {
		name := b.TableName()
		c.close()
		s := b.Counters()
		t.Logf("stats before close: %+v", s)
		if s.RxFrames == 0 || s.RxChecksum == 0 || s.RxVLAN != 1 || s.RxKernel < s.RxFrames {
			t.Errorf("stats %+v: want frames, completed checksums, one VLAN frame, kernel count >= frames", s)
		}
		tp.in(t, tp.dir, func() {
			if !slices.Contains(tableNames(t), name) {
				t.Fatalf("table %s missing before close", name)
			}
			if n := packetSockets(t, tp.dIndex); n != 2+2 {
				t.Errorf("%d packet sockets on d0 before close, want 2 receive + 2 transmit", n)
			}
		})
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		tp.in(t, tp.dir, func() {
			if names := tableNames(t); len(names) != 0 {
				t.Errorf("tables after close: %v", names)
			}
			if n := packetSockets(t, tp.dIndex); n != 0 {
				t.Errorf("%d packet sockets left on d0", n)
			}
		})
		if got := dialTCP(t, tp, 81); got != "refused" {
			t.Errorf("dial vip:81 after close: %s, want refused (the kernel has the traffic back)", got)
		}
		if b.Queues()[0].Recv(make([]link.Frame, 4)) != 0 {
			t.Error("Recv after close returned frames")
		}
		if err := b.Steer(testRules()); !errors.Is(err, ErrClosed) {
			t.Errorf("Steer after close: %v", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(nil, Options{}); !errors.Is(err, ErrNoInterfaces) {
		t.Errorf("no interfaces: %v", err)
	}
	if _, err := Open([]string{"lo"}, Options{Blocks: 1}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("bad options: %v", err)
	}
	tp := newTopo(t)
	tp.in(t, tp.dir, func() {
		if _, err := Open([]string{"d0", "nosuch0"}, Options{}); err == nil {
			t.Error("unknown interface accepted")
		}
		if _, err := Open([]string{"d0", "d0"}, Options{}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("interface twice: %v", err)
		}
		// A failed Open leaves nothing behind.
		if names := tableNames(t); len(names) != 0 {
			t.Errorf("tables after failed opens: %v", names)
		}
		if n := packetSockets(t, tp.dIndex); n != 0 {
			t.Errorf("%d packet sockets after failed opens", n)
		}
	})
}
