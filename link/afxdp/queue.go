package afxdp

import (
	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// Name implements link.Queue.
func (q *xdpQueue) Name() string { return q.name }

// Recv implements link.Queue. It waits up to 5 ms for frames, polling POLLIN
// itself (the library's Poll also asks for POLLOUT and spins).
func (q *xdpQueue) Recv(frames []link.Frame) int {
	n := q.xsk.NumReceived()
	if n == 0 {
		if _, err := unix.Poll(q.pfd[:], 5); err != nil {
			return 0
		}
		if n = q.xsk.NumReceived(); n == 0 {
			return 0
		}
	}
	if n > len(frames) {
		n = len(frames)
	}
	descs := q.xsk.Receive(n)
	for i, d := range descs {
		fsz := uint64(q.b.frameSize)
		base := d.Addr &^ (fsz - 1)
		frames[i] = link.Frame{
			Buf: q.umem[base : base+fsz], Off: int(d.Addr - base), Len: int(d.Len),
			Ifindex: q.iface.index, Handle: base,
		}
	}
	return len(descs)
}

// Release implements link.Queue: the frames go straight back to the fill ring.
func (q *xdpQueue) Release(frames []link.Frame) {
	fill := q.fill[:0]
	for i := range frames {
		fill = append(fill, xdp.Desc{Addr: frames[i].Handle, Len: uint32(q.b.frameSize)})
	}
	q.xsk.Fill(fill)
	q.fill = fill[:0]
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

// transmit copies frames into TX frames of this socket and kicks the kernel.
func (q *xdpQueue) transmit(frames []link.Frame) {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	if q.b.closed.Load() {
		return
	}
	if done := q.xsk.NumCompleted(); done > 0 {
		q.xsk.Complete(done)
		q.inFlight -= done
	}
	descs := q.txDescs[:0]
	fsz := q.b.frameSize
	for i := range frames {
		f := &frames[i]
		switch {
		case f.Len > fsz:
			q.txOversize.Add(1)
			continue
		case q.inFlight == q.txN:
			q.txFull.Add(1)
			continue
		}
		addr := uint64((q.txFirst + q.txHead) * fsz)
		copy(q.umem[addr:addr+uint64(fsz)], f.Data())
		descs = append(descs, xdp.Desc{Addr: addr, Len: uint32(f.Len)})
		q.txHead = (q.txHead + 1) % q.txN
		q.inFlight++
	}
	if len(descs) == 0 {
		return
	}
	q.submit(descs)
	q.txDescs = descs[:0]
}

// submit puts descs on the TX ring and kicks until the kernel took them all
// (bounded). The library panics on unexpected sendto errors (ENETDOWN,
// ENOBUFS): that is counted, not fatal.
func (q *xdpQueue) submit(descs []xdp.Desc) {
	defer func() {
		if recover() != nil {
			q.txErr.Add(1)
		}
	}()
	if n := q.xsk.Transmit(descs); n < len(descs) {
		q.txFull.Add(uint64(len(descs) - n))
		q.inFlight -= len(descs) - n
		q.txHead = (q.txHead - (len(descs) - n) + q.txN) % q.txN
	}
	for i := 1; i < xdpKicks && q.xsk.NumFreeTxSlots() < q.txRing; i++ {
		if _, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0); errno != 0 &&
			errno != unix.EAGAIN && errno != unix.EBUSY && errno != unix.EINTR {
			q.txErr.Add(1)
			return
		}
	}
}
