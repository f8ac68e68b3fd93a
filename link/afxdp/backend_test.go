package afxdp

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/link"
)

// echoLab is a veth pair between two testnet namespaces: the client's c0
// (198.18.0.2) and the director's d0 (198.18.0.1, the VIP 198.18.0.100 on
// lo), with the backend open on d0 and steering UDP to the VIP's port 9.
type echoLab struct {
	dir    *testnet.NetNS
	b      *Backend
	q      *xdpQueue
	client *net.UDPConn // connected to the VIP's port 9
	// out and bufs are a turn's scratch (inplace_test.go): a batch sent
	// twice, and buffers outside the UMEM.
	out  []link.Frame
	bufs [][2048]byte
}

func newEchoLab(t testing.TB, opts Options) *echoLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, XDP and AF_XDP")
	}
	dir, cli := testnet.NewNetNS(t), testnet.NewNetNS(t)
	dir.IP(t,
		"link add d0 numrxqueues 1 numtxqueues 1 type veth peer name c0 numrxqueues 1 numtxqueues 1 netns "+cli.Name(),
		"addr add 198.18.0.1/24 dev d0",
		"addr add 198.18.0.100/32 dev lo",
		"link set d0 up")
	cli.IP(t,
		"addr add 198.18.0.2/24 dev c0",
		"link set c0 up",
		"route add 198.18.0.100/32 via 198.18.0.1")
	l := &echoLab{dir: dir, out: make([]link.Frame, 0, 128), bufs: make([][2048]byte, 64)}
	dir.In(t, func() {
		b, err := Open([]string{"d0"}, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		rules := link.Rules{Rules: []link.Rule{{Proto: flow.UDP, Prefix: netip.MustParsePrefix("198.18.0.100/32"), PortLo: 9, PortHi: 9}}}
		if err := b.Steer(rules); err != nil {
			t.Fatalf("Steer: %v", err)
		}
		l.b, l.q = b, b.queues[0]
	})
	cli.In(t, func() {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(198, 18, 0, 100), Port: 9})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		l.client = c
	})
	return l
}

// echo turns received UDP/IPv4 frames around in place: MACs, addresses and
// ports swapped (the IP checksum stays valid) and no UDP checksum (veth
// leaves the client's unfinished, for an offload that never comes).
func echo(frames []link.Frame) {
	for i := range frames {
		p := frames[i].Data()
		var mac [6]byte
		copy(mac[:], p[0:6])
		copy(p[0:6], p[6:12])
		copy(p[6:12], mac[:])
		var a [4]byte
		copy(a[:], p[26:30])
		copy(p[26:30], p[30:34])
		copy(p[30:34], a[:])
		var port [2]byte
		copy(port[:], p[34:36])
		copy(p[34:36], p[36:38])
		copy(p[36:38], port[:])
		p[40], p[41] = 0, 0
	}
}

// serve echoes frames in place until stop closes, as a worker would.
func (l *echoLab) serve(stop <-chan struct{}, done chan<- struct{}) {
	l.serveWith(turnInPlace, stop, done)
}

// roundTrips sends n datagrams in bursts of burst and returns how many
// echoes came back.
func (l *echoLab) roundTrips(t *testing.T, n, burst int) int {
	t.Helper()
	buf := make([]byte, 64)
	got := 0
	for sent := 0; sent < n; {
		for i := 0; i < burst && sent < n; i++ {
			if _, err := l.client.Write([]byte("xvs echo")); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		for got < sent {
			l.client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			k, err := l.client.Read(buf)
			if err != nil {
				break
			}
			if string(buf[:k]) != "xvs echo" {
				t.Fatalf("echo %q", buf[:k])
			}
			got++
		}
	}
	return got
}

// TestEcho runs datagrams through the steering program, the socket's RX
// ring, the worker's in-place turn-around and the TX ring, with this
// package's own socket and with the library's, in bursts longer than one
// copy-mode sendto (32 frames) and than one batch.
func TestEcho(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"own", Options{RxFrames: 256, TxFrames: 128}},
		{"library", Options{RxFrames: 256, TxFrames: 128, LibrarySocket: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newEchoLab(t, tc.opts)
			if tc.opts.LibrarySocket != (l.q.lib != nil) {
				t.Fatalf("LibrarySocket %v: queue has lib %v", tc.opts.LibrarySocket, l.q.lib != nil)
			}
			if !tc.opts.LibrarySocket && !l.q.x.wakeup {
				t.Errorf("own socket not bound with XDP_USE_NEED_WAKEUP")
			}
			stop, done := make(chan struct{}), make(chan struct{})
			go l.serve(stop, done)
			const n = 2000
			got := l.roundTrips(t, n, 100)
			close(stop)
			<-done
			// Loopback veth on a loaded machine: a few may be lost in the
			// client's socket, none in the backend.
			if got < n*9/10 {
				t.Errorf("%d of %d echoes came back", got, n)
			}
			for _, d := range l.b.Stats().Drops {
				if d.Count != 0 {
					t.Errorf("drop %s %s: %d", d.Queue, d.Reason, d.Count)
				}
			}
		})
	}
}

// TestEchoAllocs: a worker's Recv, Send and Release cycle allocates
// nothing, on both sockets, whether the own socket sends in place, copies
// some frames or both.
func TestEchoAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		lib  bool
		turn turn
	}{
		{"own", false, turnInPlace},
		{"own-mixed", false, turnMixed},
		{"own-twice", false, turnTwice},
		{"library", true, turnInPlace},
	} {
		l := newEchoLab(t, Options{RxFrames: 256, TxFrames: 128, LibrarySocket: tc.lib})
		frames := make([]link.Frame, 64)
		for i := 0; i < 200; i++ {
			l.client.Write([]byte("xvs echo"))
		}
		allocs := testing.AllocsPerRun(100, func() {
			n := l.q.Recv(frames)
			echo(frames[:n])
			tc.turn(l, frames[:n])
			l.q.Release(frames[:n])
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per cycle", tc.name, allocs)
		}
		if sent := l.q.ip.sent.Load(); tc.lib == (sent != 0) {
			t.Errorf("%s: %d frames sent in place", tc.name, sent)
		}
	}
}

// TestSendLinkDown: sending on a socket whose link went down is counted as
// xsk-tx-error (the library's panic on ENETDOWN included), not fatal.
func TestSendLinkDown(t *testing.T) {
	for _, lib := range []bool{false, true} {
		l := newEchoLab(t, Options{RxFrames: 256, TxFrames: 128, LibrarySocket: lib})
		for i := 0; i < 10; i++ {
			l.client.Write([]byte("xvs echo"))
		}
		frames := make([]link.Frame, 64)
		n := l.q.Recv(frames)
		if n == 0 {
			t.Fatalf("library socket %v: nothing received", lib)
		}
		echo(frames[:n])
		l.dir.IP(t, "link set d0 down")
		l.q.Send(frames[:n])
		l.q.Release(frames[:n])
		if got := l.q.txErr.Load(); got == 0 {
			t.Errorf("library socket %v: no tx-error counted after a send on a down link", lib)
		}
	}
}
