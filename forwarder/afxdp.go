package forwarder

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/asavie/xdp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/xdpprog"
	"github.com/xvs-project/xvs/service"
)

// XDPOptions tune the AF_XDP backend.
type XDPOptions struct {
	// Mode is how the steering program attaches: "native", "generic" or
	// "auto" (native where the driver has it, else generic). Default auto.
	Mode string
	// RxFrames is the number of UMEM frames per socket for receiving, and
	// the size of its fill and RX rings: a power of two, default
	// DefaultXDPRxFrames. They are what absorbs a burst while the worker is
	// not running.
	RxFrames int
	// TxFrames is the number of UMEM frames per socket for transmitting,
	// and the size of its TX and completion rings: a power of two, default
	// DefaultXDPTxFrames. Copy-mode transmission completes within the kick,
	// so a few batches' worth is enough.
	TxFrames int
	// FrameSize is the UMEM chunk size, 2048 or 4096; 0 chooses the smaller
	// one that holds a full-sized frame of every served interface (see
	// FrameSizeFor).
	FrameSize int
	// Logger gets one line per interface where VLAN filtering is not
	// available (see OpenXDP); nil: slog.Default().
	Logger *slog.Logger
}

// UMEM chunk sizes. Copy mode takes power-of-two chunks of at most a page,
// and the kernel puts every received frame XDP_PACKET_HEADROOM bytes into
// its chunk, so a 2048-byte chunk holds frames of at most 1792 bytes: at a
// larger MTU, longer frames would be dropped by the kernel (rx_dropped) and
// never reach a worker.
const (
	xdpSmallFrame     = 2048
	xdpLargeFrame     = 4096
	xdpPacketHeadroom = 256 // XDP_PACKET_HEADROOM
	// xdpL2Overhead is the Ethernet header and one VLAN tag on top of the MTU.
	xdpL2Overhead = 14 + 4
)

// XDPMaxMTU is the largest interface MTU the AF_XDP backend can serve.
const XDPMaxMTU = xdpLargeFrame - xdpPacketHeadroom - xdpL2Overhead

// ErrMTUTooLarge is what an MTUError matches with errors.Is.
var ErrMTUTooLarge = errors.New("MTU too large for AF_XDP")

// MTUError says that an interface's MTU is larger than the AF_XDP backend
// can receive: its frames would not fit a UMEM chunk and the kernel would
// drop them.
type MTUError struct {
	Iface string
	MTU   int
	// Max is the largest MTU the chunk size allows.
	Max int
	// FrameSize is the chunk size the limit comes from.
	FrameSize int
}

func (e *MTUError) Error() string {
	return fmt.Sprintf("interface %q: MTU %d is larger than the AF_XDP backend can receive (at most %d with %d-byte frames); lower the MTU or use --backend afpacket",
		e.Iface, e.MTU, e.Max, e.FrameSize)
}

// Is matches ErrMTUTooLarge.
func (e *MTUError) Is(target error) bool { return target == ErrMTUTooLarge }

// FrameSizeFor returns the UMEM chunk size that holds a full-sized frame
// (MTU plus Ethernet header and one VLAN tag) at the kernel's receive
// headroom for an interface of the given MTU, or an *MTUError.
func FrameSizeFor(iface string, mtu int) (int, error) {
	switch need := mtu + xdpL2Overhead + xdpPacketHeadroom; {
	case need <= xdpSmallFrame:
		return xdpSmallFrame, nil
	case need <= xdpLargeFrame:
		return xdpLargeFrame, nil
	}
	return 0, &MTUError{Iface: iface, MTU: mtu, Max: XDPMaxMTU, FrameSize: xdpLargeFrame}
}

// Default ring sizes of the AF_XDP backend. With 2048 receive frames a
// socket lost a tenth of a 50 000-flow burst (16 000 datagrams/s from a
// Python loop on a loaded two-core machine) as xsk-fill-ring-empty: the
// worker was not scheduled for longer than 2048 frames take to arrive.
// Memory per socket: (rx+tx) × chunk size, 20 MiB at 2048-byte chunks.
const (
	DefaultXDPRxFrames = 8192
	DefaultXDPTxFrames = 2048
)

const (
	// xdpKicks bounds the sendto calls per batch: copy-mode AF_XDP sends at
	// most 32 frames per call.
	xdpKicks = 8
)

// XDPBackend is the AF_XDP Backend: one socket per receive queue of every
// interface, fed by xvs's steering program, which hands the socket only the
// service traffic (and NAT replies) and leaves everything else to the kernel.
type XDPBackend struct {
	ifaces    []*xdpIface
	byIndex   map[int]*xdpIface
	queues    []*xdpQueue
	frameSize int // UMEM chunk size of every socket
	closed    atomic.Bool
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

	// Transmit losses of this socket, added under txMu (txNoIf by the
	// worker of this queue), read by ReportDrops.
	txFull, txOversize, txErr, txNoIf atomic.Uint64
}

// OpenXDP attaches xvs's steering program to every interface and opens one
// AF_XDP socket per receive queue. On any error, everything already attached
// is detached again.
//
// Where it can, the program is the device-bound one that puts a VLAN tag
// the driver took out of a frame back into it (xdpprog.NewSteeringFor), so
// the workers serve only configured VLANs as on AF_PACKET. Where the kernel
// refuses that one (generic mode, no bpf_xdp_metadata_rx_vlan_tag) the
// plain program serves, and a log line says VLAN filtering is unavailable
// on the interface: offloaded tags then go unseen.
func OpenXDP(ifaces []string, opts XDPOptions) (_ *XDPBackend, err error) {
	opts.RxFrames = cmp.Or(opts.RxFrames, DefaultXDPRxFrames)
	opts.TxFrames = cmp.Or(opts.TxFrames, DefaultXDPTxFrames)
	for _, n := range []int{opts.RxFrames, opts.TxFrames} {
		if n < batchSize || n&(n-1) != 0 {
			return nil, fmt.Errorf("AF_XDP ring of %d frames: want a power of two of at least %d", n, batchSize)
		}
	}
	mode, err := xdpprog.ParseMode(opts.Mode)
	if err != nil {
		return nil, err
	}
	log := cmp.Or(opts.Logger, slog.Default())
	b := &XDPBackend{byIndex: make(map[int]*xdpIface), frameSize: opts.FrameSize}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	// One chunk size for all sockets, large enough for every interface:
	// a frame may leave by another interface than it came in on.
	links := make([]netlink.Link, len(ifaces))
	for i, name := range ifaces {
		link, lerr := netlink.LinkByName(name)
		if lerr != nil {
			return nil, fmt.Errorf("interface %q: %w", name, lerr)
		}
		links[i] = link
		fs, ferr := FrameSizeFor(name, link.Attrs().MTU)
		if ferr != nil {
			return nil, ferr
		}
		if opts.FrameSize == 0 {
			b.frameSize = max(b.frameSize, fs)
		} else if fs > opts.FrameSize {
			return nil, &MTUError{Iface: name, MTU: link.Attrs().MTU, FrameSize: opts.FrameSize,
				Max: opts.FrameSize - xdpPacketHeadroom - xdpL2Overhead}
		}
	}
	if b.frameSize != xdpSmallFrame && b.frameSize != xdpLargeFrame {
		return nil, fmt.Errorf("frame size %d: want %d or %d", b.frameSize, xdpSmallFrame, xdpLargeFrame)
	}
	for i, name := range ifaces {
		link := links[i]
		nq := rxQueues(name, link.Attrs().NumRxQueues)
		xi := &xdpIface{name: name, index: link.Attrs().Index}
		b.ifaces = append(b.ifaces, xi)
		b.byIndex[xi.index] = xi
		if xi.steer, err = xdpprog.NewSteeringFor(xi.index, nq); err != nil {
			return nil, fmt.Errorf("interface %q: loading the steering program: %w", name, err)
		}
		if err = xi.steer.Attach(xi.index, mode); err != nil {
			return nil, fmt.Errorf("interface %q: attaching XDP: %w", name, err)
		}
		if xi.steer.Mode() == xdpprog.ModeGeneric {
			// Generic XDP runs after GRO and on a veth's GSO skbs: a TCP
			// super-packet (up to 64 KB) is larger than any UMEM chunk and
			// the socket drops it (counted as xsk-rx-dropped), so bulk TCP
			// stalls. Native mode on a veth makes its peer segment; GRO
			// aggregates on a NIC need GRO off or --backend afpacket.
			log.Warn("generic XDP: GRO and TSO super-packets are larger than an AF_XDP frame and are dropped; use native mode, turn GRO off on the interface, or --backend afpacket",
				"interface", name, "link", link.Type())
		}
		if ok, why := xi.steer.VLANTags(); !ok {
			log.Warn("VLAN filtering unavailable: frames whose VLAN tag the driver took out reach the workers untagged and are served whatever their VLAN",
				"interface", name, "mode", xi.steer.Mode().String(), "reason", why)
		}
		for q := 0; q < nq; q++ {
			xq, qerr := b.openQueue(xi, q, opts.RxFrames, opts.TxFrames)
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

func (b *XDPBackend) openQueue(xi *xdpIface, q, nRX, nTX int) (*xdpQueue, error) {
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
		b: b, iface: xi, qid: q, name: xi.name + "/" + strconv.Itoa(q), xsk: xsk, fd: xsk.FD(),
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

// Stats implements Backend: the transmit losses summed over sockets.
func (b *XDPBackend) Stats() map[string]uint64 {
	var full, over, txErr, noIf uint64
	for _, q := range b.queues {
		full += q.txFull.Load()
		over += q.txOversize.Load()
		txErr += q.txErr.Load()
		noIf += q.txNoIf.Load()
	}
	return map[string]uint64{"xdp/tx-error": txErr, "xdp/tx-full": full, "xdp/tx-oversize": over, "xdp/tx-no-if": noIf}
}

// FrameSize returns the UMEM chunk size the sockets use.
func (b *XDPBackend) FrameSize() int { return b.frameSize }

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
		fsz := uint64(q.b.frameSize)
		base := d.Addr &^ (fsz - 1)
		frames[i] = Frame{
			Buf: q.umem[base : base+fsz], Off: int(d.Addr - base), Len: int(d.Len),
			Ifindex: q.iface.index, handle: base,
		}
	}
	return len(descs)
}

// Release implements Queue: the frames go straight back to the fill ring.
func (q *xdpQueue) Release(frames []Frame) {
	fill := q.fill[:0]
	for i := range frames {
		fill = append(fill, xdp.Desc{Addr: frames[i].handle, Len: uint32(q.b.frameSize)})
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
			q.txNoIf.Add(uint64(n))
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

// ReportDrops implements DropReporter. Per socket ("eth0/3") it reports the
// kernel's XDP_STATISTICS:
//
//	xsk-rx-ring-full      frames dropped because the RX ring was full (the
//	                      worker fell behind)
//	xsk-fill-ring-empty   frames dropped because the fill ring had no free
//	                      frame (frames not recycled fast enough)
//	xsk-rx-dropped        the socket's other receive drops: rx_dropped less
//	                      the fill-ring ones, mostly frames longer than a
//	                      chunk (see FrameSizeFor)
//	xsk-rx-invalid-descs  bad descriptors on the fill ring
//	xsk-tx-invalid-descs  bad descriptors on the TX ring
//
// and its own transmit losses (tx-full, tx-oversize, tx-error, tx-no-if as
// "xsk-tx-..."). Events get tx_ring_empty_descs ("xsk-tx-ring-empty": kicks
// that found nothing more to send; in copy mode every poll of an idle
// worker counts too) and, per interface queue, the steering
// program's verdicts ("steer-service", "pass-nomatch", ...); the verdict
// "steer-no-socket" (steered, but the queue had no socket, so the kernel got
// it) is a loss and goes to Drops.
func (b *XDPBackend) ReportDrops(r *service.DropReport) {
	for _, q := range b.queues {
		var ks unix.XDPStatistics
		ok := q.kernelStats(&ks)
		if ok {
			fillEmpty := ks.Rx_fill_ring_empty_descs
			r.Drops = appendDrop(r.Drops, q.name, "xsk-rx-ring-full", ks.Rx_ring_full)
			r.Drops = appendDrop(r.Drops, q.name, "xsk-fill-ring-empty", fillEmpty)
			r.Drops = appendDrop(r.Drops, q.name, "xsk-rx-dropped", ks.Rx_dropped-min(ks.Rx_dropped, fillEmpty))
			r.Drops = appendDrop(r.Drops, q.name, "xsk-rx-invalid-descs", ks.Rx_invalid_descs)
			r.Drops = appendDrop(r.Drops, q.name, "xsk-tx-invalid-descs", ks.Tx_invalid_descs)
			r.Events = appendDrop(r.Events, q.name, "xsk-tx-ring-empty", ks.Tx_ring_empty_descs)
		}
		r.Drops = appendDrop(r.Drops, q.name, "xsk-tx-full", q.txFull.Load())
		r.Drops = appendDrop(r.Drops, q.name, "xsk-tx-oversize", q.txOversize.Load())
		r.Drops = appendDrop(r.Drops, q.name, "xsk-tx-error", q.txErr.Load())
		r.Drops = appendDrop(r.Drops, q.name, "xsk-tx-no-if", q.txNoIf.Load())
	}
	for _, xi := range b.ifaces {
		if xi.steer == nil {
			continue
		}
		rows, err := xi.steer.QueueCounters()
		if err != nil {
			continue
		}
		for _, c := range rows {
			queue := xi.name + "/other"
			if c.Queue >= 0 {
				queue = xi.name + "/" + strconv.Itoa(c.Queue)
			}
			reason := strings.ReplaceAll(c.Name, "_", "-")
			if reason == "steer-nosocket" {
				r.Drops = appendDrop(r.Drops, queue, "steer-no-socket", c.Count)
				continue
			}
			r.Events = appendDrop(r.Events, queue, reason, c.Count)
		}
	}
}

// kernelStats reads the socket's XDP_STATISTICS; false once it is closed.
func (q *xdpQueue) kernelStats(ks *unix.XDPStatistics) bool {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	if q.b.closed.Load() {
		return false
	}
	size := uint32(unsafe.Sizeof(*ks))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(q.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(ks)), uintptr(unsafe.Pointer(&size)), 0)
	return errno == 0
}
