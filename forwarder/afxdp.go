package forwarder

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/asavie/xdp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/xdpprog"
)

// XDPOptions tune the AF_XDP backend.
type XDPOptions struct {
	// Mode is how the steering program attaches: "native", "generic" or
	// "auto" (native where the driver has it, else generic). Default auto.
	Mode string
	// Frames is the number of UMEM frames per socket, half for receiving and
	// half for transmitting (default 4096).
	Frames int
}

const (
	xdpFrameSize = 2048
	// xdpKicks bounds the sendto calls per batch: copy-mode AF_XDP sends at
	// most 32 frames per call.
	xdpKicks = 8
)

// XDPBackend is the AF_XDP Backend: one socket per receive queue of every
// interface, fed by xvs's steering program, which hands the socket only the
// service traffic (and NAT replies) and leaves everything else to the kernel.
type XDPBackend struct {
	ifaces  []*xdpIface
	byIndex map[int]*xdpIface
	queues  []*xdpQueue
	closed  atomic.Bool
	txErr   atomic.Uint64
	txFull  atomic.Uint64
}

type xdpIface struct {
	name    string
	index   int
	steer   *xdpprog.Steering
	sockets []*xdpQueue // by queue id
}

// xdpQueue is one socket. Its receive side (fill and RX rings) belongs to the
// worker serving it; its transmit side (TX and completion rings, TX frames)
// may be used by the worker of any interface, so it is guarded by txMu,
// taken once per batch.
type xdpQueue struct {
	b      *XDPBackend
	iface  *xdpIface
	qid    int
	name   string
	xsk    *xdp.Socket
	fd     int
	nRX    int // frames [0, nRX) are for receiving
	txRing int // TX ring size
	umem   []byte
	fill   []xdp.Desc
	pfd    [1]unix.PollFd

	txMu     sync.Mutex // guards the fields below and the socket's TX side
	txFirst  int        // first TX frame
	txN      int        // number of TX frames
	txHead   int        // next TX frame to use (FIFO: completions return in order)
	inFlight int
	txDescs  []xdp.Desc
}

// OpenXDP attaches xvs's steering program to every interface and opens one
// AF_XDP socket per receive queue. On any error, everything already attached
// is detached again.
func OpenXDP(ifaces []string, opts XDPOptions) (_ *XDPBackend, err error) {
	if opts.Frames == 0 {
		opts.Frames = 4096
	}
	mode, err := xdpprog.ParseMode(opts.Mode)
	if err != nil {
		return nil, err
	}
	b := &XDPBackend{byIndex: make(map[int]*xdpIface)}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	for _, name := range ifaces {
		link, lerr := netlink.LinkByName(name)
		if lerr != nil {
			return nil, fmt.Errorf("interface %q: %w", name, lerr)
		}
		nq := rxQueues(name, link.Attrs().NumRxQueues)
		xi := &xdpIface{name: name, index: link.Attrs().Index}
		b.ifaces = append(b.ifaces, xi)
		b.byIndex[xi.index] = xi
		if xi.steer, err = xdpprog.NewSteering(nq); err != nil {
			return nil, fmt.Errorf("interface %q: loading the steering program: %w", name, err)
		}
		if err = xi.steer.Attach(xi.index, mode); err != nil {
			return nil, fmt.Errorf("interface %q: attaching XDP: %w", name, err)
		}
		for q := 0; q < nq; q++ {
			xq, qerr := b.openQueue(xi, q, opts.Frames)
			if qerr != nil {
				return nil, fmt.Errorf("interface %q queue %d: %w", name, q, qerr)
			}
			xi.sockets = append(xi.sockets, xq)
			b.queues = append(b.queues, xq)
			if err = xi.steer.SetSocket(q, xq.fd); err != nil {
				return nil, fmt.Errorf("interface %q queue %d: %w", name, q, err)
			}
		}
	}
	return b, nil
}

func (b *XDPBackend) openQueue(xi *xdpIface, q, frames int) (*xdpQueue, error) {
	half := frames / 2
	so := xdp.SocketOptions{
		NumFrames:              frames,
		FrameSize:              xdpFrameSize,
		FillRingNumDescs:       half,
		CompletionRingNumDescs: half,
		RxRingNumDescs:         half,
		TxRingNumDescs:         half,
	}
	xsk, err := xdp.NewSocket(xi.index, q, &so)
	if err != nil {
		return nil, err
	}
	xq := &xdpQueue{
		b: b, iface: xi, qid: q, name: xi.name + "/" + strconv.Itoa(q), xsk: xsk, fd: xsk.FD(),
		nRX: half, txRing: half, txFirst: half, txN: frames - half,
		fill:    make([]xdp.Desc, 0, half),
		txDescs: make([]xdp.Desc, 0, half),
	}
	// The whole UMEM, as one slice: GetFrame only slices, it does not copy.
	xq.umem = xsk.GetFrame(xdp.Desc{Addr: 0, Len: uint32(frames * xdpFrameSize)})
	xq.pfd[0] = unix.PollFd{Fd: int32(xq.fd), Events: unix.POLLIN}
	for i := 0; i < half; i++ {
		xq.fill = append(xq.fill, xdp.Desc{Addr: uint64(i * xdpFrameSize), Len: xdpFrameSize})
	}
	if n := xsk.Fill(xq.fill); n != half {
		xsk.Close()
		return nil, fmt.Errorf("fill ring took %d of %d frames", n, half)
	}
	return xq, nil
}

// Queues implements Backend.
func (b *XDPBackend) Queues() []Queue {
	qs := make([]Queue, len(b.queues))
	for i, q := range b.queues {
		qs[i] = q
	}
	return qs
}

// Steer implements Backend.
func (b *XDPBackend) Steer(r SteerRules) error {
	for _, xi := range b.ifaces {
		if err := xi.steer.Update(r); err != nil {
			return fmt.Errorf("interface %q: %w", xi.name, err)
		}
	}
	return nil
}

// Stats implements Backend.
func (b *XDPBackend) Stats() map[string]uint64 {
	return map[string]uint64{"xdp/tx-error": b.txErr.Load(), "xdp/tx-full": b.txFull.Load()}
}

// Ifindexes returns the served interfaces' indexes.
func (b *XDPBackend) Ifindexes() []int {
	var out []int
	for _, xi := range b.ifaces {
		out = append(out, xi.index)
	}
	return out
}

// Close implements Backend: the programs are detached first, so the kernel
// takes all traffic back before the sockets go away.
func (b *XDPBackend) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for _, xi := range b.ifaces {
		if xi.steer != nil {
			if err := xi.steer.Close(); err != nil {
				errs = append(errs, fmt.Errorf("interface %q: detaching: %w", xi.name, err))
			}
		}
	}
	for _, q := range b.queues {
		q.txMu.Lock()
		q.xsk.Close()
		q.txMu.Unlock()
	}
	return errors.Join(errs...)
}

// Name implements Queue.
func (q *xdpQueue) Name() string { return q.name }

// Recv implements Queue. It waits up to 5 ms for frames, polling POLLIN
// itself (the library's Poll also asks for POLLOUT and spins).
func (q *xdpQueue) Recv(frames []Frame) int {
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
		base := d.Addr &^ (xdpFrameSize - 1)
		frames[i] = Frame{
			Buf: q.umem[base : base+xdpFrameSize], Off: int(d.Addr - base), Len: int(d.Len),
			Ifindex: q.iface.index, handle: base,
		}
	}
	return len(descs)
}

// Release implements Queue: the frames go straight back to the fill ring.
func (q *xdpQueue) Release(frames []Frame) {
	fill := q.fill[:0]
	for i := range frames {
		fill = append(fill, xdp.Desc{Addr: frames[i].handle, Len: xdpFrameSize})
	}
	q.xsk.Fill(fill)
	q.fill = fill[:0]
}

// Send implements Queue: frames are grouped by egress interface and copied
// into that interface's socket for this queue number.
func (q *xdpQueue) Send(frames []Frame) {
	for len(frames) > 0 {
		idx := frames[0].Ifindex
		n := 1
		for n < len(frames) && frames[n].Ifindex == idx {
			n++
		}
		xi := q.b.byIndex[idx]
		if xi == nil {
			q.b.txErr.Add(uint64(n))
		} else {
			xi.sockets[q.qid%len(xi.sockets)].transmit(frames[:n])
		}
		frames = frames[n:]
	}
}

// transmit copies frames into TX frames of this socket and kicks the kernel.
func (q *xdpQueue) transmit(frames []Frame) {
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
	for i := range frames {
		f := &frames[i]
		if q.inFlight == q.txN || f.Len > xdpFrameSize {
			q.b.txFull.Add(1)
			continue
		}
		addr := uint64((q.txFirst + q.txHead) * xdpFrameSize)
		copy(q.umem[addr:addr+xdpFrameSize], f.Data())
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
			q.b.txErr.Add(1)
		}
	}()
	if n := q.xsk.Transmit(descs); n < len(descs) {
		q.b.txFull.Add(uint64(len(descs) - n))
		q.inFlight -= len(descs) - n
		q.txHead = (q.txHead - (len(descs) - n) + q.txN) % q.txN
	}
	for i := 1; i < xdpKicks && q.xsk.NumFreeTxSlots() < q.txRing; i++ {
		if _, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0); errno != 0 &&
			errno != unix.EAGAIN && errno != unix.EBUSY && errno != unix.EINTR {
			q.b.txErr.Add(1)
			return
		}
	}
}
