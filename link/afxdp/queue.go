package afxdp

import (
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// recvWaitMs is how long the library socket's Recv waits for a frame
// before it returns empty, so the worker can notice a stop.
const recvWaitMs = 5

// Name implements link.Queue.
func (q *xdpQueue) Name() string { return q.name }

// Recv implements link.Queue. While frames are coming it makes no system
// call: the RX ring is read first. When the ring is empty it waits through
// the queue's pollwait.Waiter (a busy worker in a raw ppoll the runtime
// does not see, an idle one in the runtime's poll).
func (q *xdpQueue) Recv(frames []link.Frame) int {
	if q.lib != nil {
		return q.recvLib(frames)
	}
	if n := q.TryRecv(frames); n > 0 {
		return n
	}
	if !q.wait.Wait() {
		return 0
	}
	return q.TryRecv(frames)
}

// TryRecv implements link.Poller: what the RX ring holds, up to
// len(frames), without waiting.
func (q *xdpQueue) TryRecv(frames []link.Frame) int {
	if q.lib != nil {
		return q.tryRecvLib(frames)
	}
	x := q.x
	n := min(x.rx.ready(), uint32(len(frames)))
	if n == 0 {
		return 0
	}
	x.kickRX()
	q.wait.Got()
	for i := uint32(0); i < n; i++ {
		d := &x.rx.slots[(x.rx.local+i)&x.rx.mask]
		q.frame(&frames[i], d.Addr, d.Len)
	}
	x.rx.consume(n)
	return int(n)
}

// WaitFD implements link.Poller: the socket, which polls readable when its
// RX ring has frames. The library socket is not shared (-1): its Recv has
// a wait of its own.
func (q *xdpQueue) WaitFD() int {
	if q.lib != nil {
		return -1
	}
	return q.fd
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
// ring, published with one store, except those Send lent to the TX ring in
// place, which go back when their completion comes (inplace.go); lent
// frames whose completion came meanwhile go with them. The ring has a slot
// for every receive frame and the worker holds only receive frames, so it
// always has room.
func (q *xdpQueue) Release(frames []link.Frame) {
	if q.lib != nil {
		q.releaseLib(frames)
		return
	}
	f := &q.x.fill
	lent := q.ip.lent
	n := q.ip.pend // written by this worker's own reap
	for i := range frames {
		h := frames[i].Handle
		if j := h >> q.ip.shift; lent[j] {
			lent[j] = false
			continue
		}
		f.slots[(f.local+n)&f.mask] = h
		n++
	}
	n += q.refill(n)
	q.ip.out -= int(q.ip.pend)
	q.ip.pend = 0
	f.produce(n)
}

// Send implements link.Queue: frames are grouped by egress interface and copied
// into that interface's socket for this queue number. A frame of this
// socket's own that leaves by this socket (one-armed) is not copied but
// lent to the TX ring in place (inplace.go): its buffer must not be written
// again before Release.
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
			s := xi.sockets[q.qid%len(xi.sockets)]
			s.transmit(frames[:n], s == q)
		}
		frames = frames[n:]
	}
}

// transmit copies frames into TX frames of this socket, publishes them on
// the TX ring with one store and kicks the kernel if it asks for it. With
// own (the caller is this socket's worker), a frame of its own goes on the
// ring in place when lend allows, else it is copied. The completion ring
// is read before (room for this batch) and after the kick (copy mode
// completes within it, so lent frames are back by the batch's Release).
func (q *xdpQueue) transmit(frames []link.Frame, own bool) {
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
	q.reap(own)
	room := x.tx.room()
	var n, lent uint32
	for i := range frames {
		f := &frames[i]
		var addr uint64
		if own && n < room && q.lend(f) {
			addr = f.Handle + uint64(f.Off)
			lent++
		} else {
			a, ok := q.stage(f, n == room)
			if !ok {
				continue
			}
			addr = a
		}
		x.tx.slots[(x.tx.local+n)&x.tx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(f.Len)}
		n++
	}
	if n > 0 {
		if lent > 0 {
			q.ip.inFlight += int(lent)
			q.ip.sent.Add(uint64(lent))
		}
		x.tx.produce(n)
	} else if !x.tx.pending() {
		return
	}
	// Kicked even when nothing new went on: a full ring that a failed kick
	// (a link that was down) left behind is sent once the link is back,
	// else its frames (lent ones among them) would wait for good.
	q.kick()
	q.reap(own)
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
