package afpacket

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/link"
)

var _ link.Backend = (*Backend)(nil)

// inPrivateNetns runs fn on the calling goroutine, its thread in a new,
// empty network namespace (loopback only, up: testnet.NewNetNS), which is
// deleted with the test.
func inPrivateNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace, packet sockets and nftables")
	}
	testnet.NewNetNS(t).In(t, fn)
}

// loopbackUDP builds an Ethernet frame for lo (all-zero MACs) carrying a UDP
// datagram from 127.0.0.1:sport to 127.0.0.1:dport without a UDP checksum.
func loopbackUDP(sport, dport uint16, payload string) []byte {
	f := make([]byte, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[12:], []byte{127, 0, 0, 1})
	copy(ip[16:], []byte{127, 0, 0, 1})
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return f
}

// TestLinkBackendLoopback runs the backend through link's interfaces, as
// the engine does, on lo of a private namespace:
// steered UDP reaches the queue (and not the kernel's socket), a frame sent
// through the queue reaches a kernel socket, and the per-batch path does
// not allocate.
func TestLinkBackendLoopback(t *testing.T) {
	inPrivateNetns(t, func() {
		b, err := Open([]string{"lo"}, Options{Sockets: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		lo := netip.MustParseAddr("127.0.0.1")
		err = b.Steer(link.Rules{Rules: []link.Rule{{Proto: 17, Prefix: netip.PrefixFrom(lo, 32), PortLo: 5353, PortHi: 5353}}})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		// A raw socket on lo sees what the queue transmits.
		capFd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(capFd)
		if err := unix.Bind(capFd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: 1}); err != nil {
			t.Fatal(err)
		}
		tv := unix.NsecToTimeval(int64(time.Second))
		_ = unix.SetsockoptTimeval(capFd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		cli, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()

		qs := b.Queues()
		if len(qs) != 1 || qs[0].Name() != "lo/0" || !slices.Equal(b.Ifindexes(), []int{1}) {
			t.Fatalf("queues %d (%s), ifindexes %v", len(qs), qs[0].Name(), b.Ifindexes())
		}
		q := qs[0]
		frames := make([]link.Frame, 16)
		if _, err := cli.Write([]byte("steered")); err != nil {
			t.Fatal(err)
		}
		// Loopback shows every packet twice to a tap, leaving and
		// arriving: the queue must get the arriving copy only.
		var got [][]byte
		for i := 0; i < 20; i++ {
			n := q.Recv(frames)
			for _, f := range frames[:n] {
				if f.Ifindex != 1 || f.Off < link.MinHeadroom {
					t.Errorf("frame ifindex %d, headroom %d", f.Ifindex, f.Off)
				}
				got = append(got, slices.Clone(f.Data()))
			}
			q.Release(frames[:n])
		}
		if len(got) != 1 || len(got[0]) < 42 || binary.BigEndian.Uint16(got[0][36:]) != 5353 || string(got[0][42:]) != "steered" {
			t.Fatalf("queue received %d frames % x, want the steered datagram once", len(got), got)
		}
		svc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := svc.ReadFromUDP(make([]byte, 64)); err == nil {
			t.Fatalf("the kernel delivered a steered datagram (%d bytes) to its socket too", n)
		}

		out := loopbackUDP(5353, 7000, "sent")
		buf := make([]byte, 128+len(out))
		copy(buf[128:], out)
		q.Send([]link.Frame{{Buf: buf, Off: 128, Len: len(out), Ifindex: 1}})
		rb := make([]byte, 2048)
		for {
			n, _, err := unix.Recvfrom(capFd, rb, 0)
			if err != nil {
				t.Fatalf("frame sent through the queue not seen on lo: %v", err)
			}
			if slices.Equal(rb[:n], out) {
				break
			}
		}

		fd, err := cli.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var raw int
		fd.Control(func(f uintptr) { raw = int(f) })
		payload := []byte("again")
		tx := []link.Frame{{Buf: buf, Off: 128, Len: len(out), Ifindex: 1}}
		received := 0
		allocs := testing.AllocsPerRun(20, func() {
			_, _ = unix.Write(raw, payload)
			for i := 0; i < 20; i++ {
				n := q.Recv(frames)
				received += n
				q.Send(tx)
				q.Release(frames[:n])
				if n > 0 {
					break
				}
			}
		})
		if received < 21 {
			t.Fatalf("only %d frames in 21 runs", received)
		}
		if allocs != 0 {
			t.Fatalf("Recv+Send+Release through link.Queue: %v allocations per run", allocs)
		}
		if s := b.Counters(); s.RxFrames < 21 || s.TxFrames < 21 {
			t.Fatalf("stats %v", s)
		}
	})
}
