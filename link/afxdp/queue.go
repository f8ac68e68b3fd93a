package afxdp

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// recvWaitMs is how long Recv waits for a frame before it returns empty,
// so the worker can notice a stop.
const recvWaitMs = 5

// busyWaitMs is how long a busy worker, one that had frames in its last
// Recv, waits for the next in a raw ppoll before it counts as idle.
const busyWaitMs = 1

// yieldEvery is how often an idle worker gives its P up of its own accord
// (waitIdle): well within sysmon's 10 ms time slice.
const yieldEvery = 5 * time.Millisecond

// monoStart is the origin of the queues' clock (a monotonic reading).
var monoStart = time.Now()

// Name implements link.Queue.
func (q *xdpQueue) Name() string { return q.name }

// Recv implements link.Queue. While frames are coming it makes no system
// call: the RX ring is read first. When the ring is empty, a busy worker
// (frames in its last Recv) waits up to busyWaitMs in a raw ppoll (see
// waitBusy), and an idle one up to recvWaitMs in poll(2) through the
// runtime's system call path, so the runtime hands its P to others while
// it sleeps.
func (q *xdpQueue) Recv(frames []link.Frame) int {
	if q.lib != nil {
		return q.recvLib(frames)
	}
	x := q.x
	n := x.rx.ready()
	if n == 0 {
		if q.busy {
			q.busy = q.waitBusy()
		} else if !q.waitIdle() {
			return 0
		}
		if n = x.rx.ready(); n == 0 {
			return 0
		}
	} else {
		x.kickRX()
	}
	q.busy = true
	n = min(n, uint32(len(frames)))
	for i := uint32(0); i < n; i++ {
		d := &x.rx.slots[(x.rx.local+i)&x.rx.mask]
		q.frame(&frames[i], d.Addr, d.Len)
	}
	x.rx.consume(n)
	return int(n)
}

// waitIdle waits up to recvWaitMs in poll(2) through the runtime, first
// giving its P up (runtime.Gosched) if the worker has not for yieldEvery.
// A worker does not otherwise pass through the scheduler, so after 10 ms
// sysmon wants to preempt it, finds it in the system call and takes its P
// there: measured under load, about a hundred takes a second from the
// worker of an idle queue (the NAT lab's inner interface), and each keeps
// sysmon ticking every 20 µs (100 µs with timer slack) for the next 50
// ticks. A yield costs the same hand-over of a locked thread's P, without
// waking sysmon up. It reports false when poll failed.
func (q *xdpQueue) waitIdle() bool {
	if now := time.Since(monoStart); now-q.lastYield >= yieldEvery {
		runtime.Gosched()
		q.lastYield = now
	}
	_, err := unix.Poll(q.pfd[:], recvWaitMs)
	return err == nil
}

// waitBusy waits up to busyWaitMs for a frame in a raw ppoll(2), one the
// runtime does not see: the worker keeps its P, as it does between frames,
// and sysmon finds no P in a system call to take. Taking it would hand the
// locked worker's P to another thread and back, and each take keeps sysmon
// ticking every 20 µs for a millisecond or more on the control CPU: under
// load, a worker that waited in the runtime's poll once its 10 ms time
// slice was up had its P taken about a hundred times a second.
//
// The wait may block, which a raw system call normally must not: the
// runtime counts the goroutine as running, so a stop-the-world (GC) cannot
// complete until it comes back, and every other goroutine waits. Here that
// is no longer than the stop's own preemption signal takes to arrive:
// ppoll is never restarted after a signal handler, so the signal ends the
// call with EINTR and the goroutine stops at its next function call; the
// timeout bounds the wait anyway. It reports whether the worker is still
// busy: false once a whole wait passed without a frame.
func (q *xdpQueue) waitBusy() bool {
	// The raw ppoll writes the time left back, so each call starts afresh.
	q.busyTS = unix.NsecToTimespec(int64(busyWaitMs * time.Millisecond))
	n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&q.pfd[0])), 1,
		uintptr(unsafe.Pointer(&q.busyTS)), 0, 0, 0)
	return n != 0 || e != 0
}

// frame points f at the received frame at UMEM address addr (past the
// kernel's headroom in its chunk).
func (q *xdpQueue) frame(f *link.Frame, addr uint64, n uint32) {
	fsz := uint64(q.b.frameSize)
	base := addr &^ (fsz - 1)
	*f = link.Frame{
		Buf: q.umem[base : base+fsz], Off: int(addr - base), Len: int(n),
		Ifindex: q.iface.index, Handle: base,
	}
}

// Release implements link.Queue: the frames go straight back to the fill
// ring, published with one store. The ring has a slot for every receive
// frame and the worker holds only receive frames, so it always has room.
func (q *xdpQueue) Release(frames []link.Frame) {
	if q.lib != nil {
		q.releaseLib(frames)
		return
	}
	f := &q.x.fill
	for i := range frames {
		f.slots[(f.local+uint32(i))&f.mask] = frames[i].Handle
	}
	f.produce(uint32(len(frames)))
}

// Send implements link.Queue: frames are grouped by egress interface and copied
// into that interface's socket for this queue number.
func (q *xdpQueue) Send(frames []link.Frame) {
	for len(frames) > 0 {
		idx := frames[0].Ifindex
		n := 1
		for n < len(frames) && frames[n].Ifindex == idx {
			n++
		}
		xi := q.b.byIndex[idx]
		if xi == nil {
			q.txNoIf.Add(uint64(n))
		} else {
			xi.sockets[q.qid%len(xi.sockets)].transmit(frames[:n])
		}
		frames = frames[n:]
	}
}

// transmit copies frames into TX frames of this socket, publishes them on
// the TX ring with one store and kicks the kernel if it asks for it.
func (q *xdpQueue) transmit(frames []link.Frame) {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	if q.b.closed.Load() {
		return
	}
	if q.lib != nil {
		q.transmitLib(frames)
		return
	}
	x := q.x
	if done := x.comp.ready(); done > 0 {
		// Copy mode completes in order, so the addresses need not be read:
		// TX frames are reused FIFO (txHead).
		x.comp.consume(done)
		q.inFlight -= int(done)
	}
	room := x.tx.room()
	var n uint32
	for i := range frames {
		addr, ok := q.stage(&frames[i], n == room)
		if !ok {
			continue
		}
		x.tx.slots[(x.tx.local+n)&x.tx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(frames[i].Len)}
		n++
	}
	if n == 0 {
		return
	}
	x.tx.produce(n)
	q.kick()
}

// stage copies f into the next TX frame of the UMEM (reused in FIFO order)
// and returns that frame's address, for either socket's TX ring. It counts
// and refuses a frame longer than a UMEM frame, or one that finds every TX
// frame in flight or, ringFull, no room on the ring.
func (q *xdpQueue) stage(f *link.Frame, ringFull bool) (addr uint64, ok bool) {
	fsz := q.b.frameSize
	switch {
	case f.Len > fsz:
		q.txOversize.Add(1)
		return 0, false
	case q.inFlight == q.txN || ringFull:
		q.txFull.Add(1)
		return 0, false
	}
	addr = uint64((q.txFirst + q.txHead) * fsz)
	copy(q.umem[addr:addr+uint64(fsz)], f.Data())
	q.txHead++
	if q.txHead == q.txN {
		q.txHead = 0
	}
	q.inFlight++
	return addr, true
}

// kick makes the kernel send what the TX ring holds: copy mode sends at most
// 32 frames per sendto, so it kicks until the ring is drained, at most
// xdpKicks times; with need_wakeup it stops as soon as the kernel does not
// ask for a call. EAGAIN (the device was busy, or the completion ring
// full), EBUSY (a frame was dropped, the rest still wait) and EINTR are
// kicked again like the old library path did; other errors (ENETDOWN,
// ENOBUFS, ENXIO) are counted as tx-error and leave the rest for the next
// batch.
func (q *xdpQueue) kick() {
	x := q.x
	for i := 0; i < xdpKicks && x.txNeedsKick(); i++ {
		switch e := x.kickTX(); e {
		case 0, unix.EINTR, unix.EAGAIN, unix.EBUSY:
		default:
			q.txErr.Add(1)
			return
		}
		if !x.tx.pending() {
			return
		}
	}
}
