package afxdp

import (
	"fmt"
	"strconv"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// This file is the queue driven by asavie/xdp's Socket (Options.LibrarySocket):
// the ring code the backend had before xsk.go, kept as it was.

// openLibQueue opens queue q of xi with asavie/xdp's Socket and puts every
// receive frame on its fill ring.
func (b *Backend) openLibQueue(xi *xdpIface, q, nRX, nTX int) (*xdpQueue, error) {
	fsz := b.frameSize
	so := xdp.SocketOptions{
		NumFrames:              nRX + nTX,
		FrameSize:              fsz,
		FillRingNumDescs:       nRX,
		CompletionRingNumDescs: nTX,
		RxRingNumDescs:         nRX,
		TxRingNumDescs:         nTX,
	}
	xsk, err := xdp.NewSocket(xi.index, q, &so)
	if err != nil {
		return nil, err
	}
	xq := &xdpQueue{
		b: b, iface: xi, qid: q, name: xi.name + "/" + strconv.Itoa(q), lib: xsk, fd: xsk.FD(),
		nRX: nRX, txRing: nTX, txFirst: nRX, txN: nTX,
		fill:    make([]xdp.Desc, 0, nRX),
		txDescs: make([]xdp.Desc, 0, nTX),
	}
	// The whole UMEM, as one slice: GetFrame only slices, it does not copy.
	xq.umem = xsk.GetFrame(xdp.Desc{Addr: 0, Len: uint32((nRX + nTX) * fsz)})
	xq.pfd[0] = unix.PollFd{Fd: int32(xq.fd), Events: unix.POLLIN}
	for i := 0; i < nRX; i++ {
		xq.fill = append(xq.fill, xdp.Desc{Addr: uint64(i * fsz), Len: uint32(fsz)})
	}
	if n := xsk.Fill(xq.fill); n != nRX {
		xsk.Close()
		return nil, fmt.Errorf("fill ring took %d of %d frames", n, nRX)
	}
	return xq, nil
}

// recvLib is Recv on the library's socket: what it holds, else what comes
// within recvWaitMs.
func (q *xdpQueue) recvLib(frames []link.Frame) int {
	if n := q.tryRecvLib(frames); n > 0 {
		return n
	}
	if _, err := unix.Poll(q.pfd[:], recvWaitMs); err != nil {
		return 0
	}
	return q.tryRecvLib(frames)
}

// tryRecvLib is TryRecv on the library's socket.
func (q *xdpQueue) tryRecvLib(frames []link.Frame) int {
	n := min(q.lib.NumReceived(), len(frames))
	if n == 0 {
		return 0
	}
	descs := q.lib.Receive(n)
	for i, d := range descs {
		q.frame(&frames[i], d.Addr, d.Len)
	}
	return len(descs)
}

// releaseLib is Release on the library's socket.
func (q *xdpQueue) releaseLib(frames []link.Frame) {
	fill := q.fill[:0]
	for i := range frames {
		fill = append(fill, xdp.Desc{Addr: frames[i].Handle, Len: uint32(q.b.frameSize)})
	}
	q.lib.Fill(fill)
	q.fill = fill[:0]
}

// transmitLib copies frames into TX frames of the library's socket and
// kicks the kernel; txMu is held.
func (q *xdpQueue) transmitLib(frames []link.Frame) {
	if done := q.lib.NumCompleted(); done > 0 {
		q.lib.Complete(done)
		q.inFlight -= done
	}
	descs := q.txDescs[:0]
	for i := range frames {
		if addr, ok := q.stage(&frames[i], false); ok {
			descs = append(descs, xdp.Desc{Addr: addr, Len: uint32(frames[i].Len)})
		}
	}
	if len(descs) == 0 {
		return
	}
	q.submitLib(descs)
	q.txDescs = descs[:0]
}

// submitLib puts descs on the TX ring and kicks until the kernel took them
// all (bounded). The library panics on unexpected sendto errors (ENETDOWN,
// ENOBUFS): that is counted, not fatal.
func (q *xdpQueue) submitLib(descs []xdp.Desc) {
	defer func() {
		if recover() != nil {
			q.txErr.Add(1)
		}
	}()
	if n := q.lib.Transmit(descs); n < len(descs) {
		q.txFull.Add(uint64(len(descs) - n))
		q.inFlight -= len(descs) - n
		q.txHead = (q.txHead - (len(descs) - n) + q.txN) % q.txN
	}
	for i := 1; i < xdpKicks && q.lib.NumFreeTxSlots() < q.txRing; i++ {
		if _, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0); errno != 0 &&
			errno != unix.EAGAIN && errno != unix.EBUSY && errno != unix.EINTR {
			q.txErr.Add(1)
			return
		}
	}
}
