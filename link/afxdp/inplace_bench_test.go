package afxdp

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"testing"

	"github.com/xvs-project/xvs/internal/pollwait"
	"github.com/xvs-project/xvs/link"
)

// fakeKernel is a socket whose rings are plain memory and whose kernel side
// is the benchmark's: it turns TX descriptors into completions and fill
// entries into received frames. With need_wakeup bound and no flag ever
// set, the queue makes no system call, so a benchmark of it measures the
// worker's own cost of a Send and Release cycle alone.
type fakeKernel struct {
	q   *xdpQueue
	idx [4][3]uint32 // prod, cons, flags of rx, tx, fill, comp
}

// newFakeKernel sets up one queue on ifindex 1 with nRX receive and nTX
// transmit frames of fsz bytes, every receive frame on the fill ring.
func newFakeKernel(nRX, nTX, fsz int) *fakeKernel {
	k := &fakeKernel{}
	x := &xsk{fd: -1, umem: make([]byte, (nRX+nTX)*fsz), wakeup: true}
	rings := []*ring{&x.rx.ring, &x.tx.ring, &x.fill.ring, &x.comp.ring}
	for i, r := range rings {
		r.prod, r.cons, r.flags = &k.idx[i][0], &k.idx[i][1], &k.idx[i][2]
	}
	x.rx.slots, x.rx.mask = make([]unix.XDPDesc, nRX), uint32(nRX-1)
	x.tx.slots, x.tx.mask = make([]unix.XDPDesc, nTX), uint32(nTX-1)
	x.fill.slots, x.fill.mask = make([]uint64, nRX), uint32(nRX-1)
	x.comp.slots, x.comp.mask = make([]uint64, nTX), uint32(nTX-1)
	xi := &xdpIface{name: "fake", index: 1}
	b := &Backend{frameSize: fsz, byIndex: map[int]*xdpIface{1: xi}, ifaces: []*xdpIface{xi}}
	q := &xdpQueue{
		b: b, iface: xi, name: "fake/0", x: x, fd: -1,
		nRX: nRX, txRing: nTX, txFirst: nRX, txN: nTX, umem: x.umem, wait: pollwait.New(-1),
	}
	q.ip.init(nRX, fsz)
	xi.sockets = []*xdpQueue{q}
	b.queues = []*xdpQueue{q}
	for i := 0; i < nRX; i++ {
		x.fill.slots[i] = uint64(i * fsz)
	}
	x.fill.produce(uint32(nRX))
	k.q = q
	return k
}

// step is the kernel: what the TX ring holds is sent and completed, then
// up to n fill entries come back as received frames of size bytes.
func (k *fakeKernel) step(n int, size uint32) {
	x := k.q.x
	for c := *x.tx.cons; c != *x.tx.prod; c++ {
		x.comp.slots[*x.comp.prod&x.comp.mask] = x.tx.slots[c&x.tx.mask].Addr
		*x.comp.prod++
		*x.tx.cons++
	}
	for ; n > 0 && *x.fill.cons != *x.fill.prod; n-- {
		a := x.fill.slots[*x.fill.cons&x.fill.mask]
		*x.fill.cons++
		x.rx.slots[*x.rx.prod&x.rx.mask] = unix.XDPDesc{Addr: a + xdpPacketHeadroom, Len: size}
		*x.rx.prod++
	}
}

// BenchmarkTurn is the A/B of the one-armed transmit: a batch of 64 frames
// received, sent back by the socket they came in on and released, copied
// (lending turned off) or in place, per frame size; the fake kernel's own
// work is in both. ns/op is per frame.
func BenchmarkTurn(b *testing.B) {
	for _, size := range []uint32{64, 1500} {
		for _, mode := range []string{"copy", "in-place"} {
			b.Run(mode+"/"+strconv.Itoa(int(size)), func(b *testing.B) {
				k := newFakeKernel(8192, 2048, 2048)
				q := k.q
				if mode == "copy" {
					q.ip.max = 0
				}
				frames := make([]link.Frame, 64)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += len(frames) {
					k.step(len(frames), size)
					n := q.TryRecv(frames)
					q.Send(frames[:n])
					q.Release(frames[:n])
				}
				b.StopTimer()
				if mode == "copy" && q.ip.sent.Load() != 0 || mode == "in-place" && q.ip.sent.Load() == 0 {
					b.Fatalf("%s: %d sent in place", mode, q.ip.sent.Load())
				}
				if d := q.txFull.Load(); d != 0 {
					b.Fatalf("%s: %d tx-full", mode, d)
				}
			})
		}
	}
}

// TestTurnAllocs: the fake kernel's cycle, copied and in place, allocates
// nothing, and after each cycle every frame is accounted for.
func TestTurnAllocs(t *testing.T) {
	for _, mode := range []string{"copy", "in-place"} {
		k := newFakeKernel(256, 128, 2048)
		q := k.q
		if mode == "copy" {
			q.ip.max = 0
		}
		frames := make([]link.Frame, 64)
		allocs := testing.AllocsPerRun(1000, func() {
			k.step(len(frames), 64)
			n := q.TryRecv(frames)
			q.Send(frames[:n])
			q.Release(frames[:n])
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per cycle", mode, allocs)
		}
		// The last cycle's frames: sent, completed by one more step, back.
		k.step(0, 0)
		q.transmit(nil, true)
		q.Release(nil)
		x := q.x
		if onFill := *x.fill.prod - *x.fill.cons; onFill != 256 || q.ip.out != 0 || q.inFlight != 0 {
			t.Errorf("%s: %d frames on the fill ring of 256, %d lent, %d TX frames in flight", mode, onFill, q.ip.out, q.inFlight)
		}
	}
}

// BenchmarkEchoTurn is the A/B on a real socket (the echo lab's veth, copy
// mode): the client floods the VIP from its namespace and the benchmark's
// worker echoes b.N frames, copied (lending turned off) or in place. ns/op
// is per echoed frame of the whole cycle, bounded by the client's sending;
// send-ns/frame is the Send and Release alone, the kick included (in which
// the veth delivers the echo to the client's namespace).
func BenchmarkEchoTurn(b *testing.B) {
	for _, mode := range []string{"copy", "in-place"} {
		b.Run(mode, func(b *testing.B) {
			l := newEchoLab(b, Options{})
			if mode == "copy" {
				l.q.ip.max = 0
			}
			stop, flooded := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(flooded)
				msg := []byte("xvs echo")
				for {
					select {
					case <-stop:
						return
					default:
					}
					for i := 0; i < 64; i++ {
						l.client.Write(msg)
					}
				}
			}()
			frames := make([]link.Frame, 64)
			var inSend time.Duration
			b.ResetTimer()
			for got := 0; got < b.N; {
				n := l.q.Recv(frames)
				if n == 0 {
					continue
				}
				echo(frames[:n])
				t0 := time.Now()
				l.q.Send(frames[:n])
				l.q.Release(frames[:n])
				inSend += time.Since(t0)
				got += n
			}
			b.StopTimer()
			close(stop)
			<-flooded
			b.ReportMetric(float64(inSend.Nanoseconds())/float64(b.N), "send-ns/frame")
			if sent := l.q.ip.sent.Load(); (mode == "copy") != (sent == 0) {
				b.Fatalf("%s: %d sent in place", mode, sent)
			}
		})
	}
}
