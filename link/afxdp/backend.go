package afxdp

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/asavie/xdp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/ethtool"
	"github.com/xvs-project/xvs/internal/pollwait"
	"github.com/xvs-project/xvs/internal/xdpprog"
	"github.com/xvs-project/xvs/link"
)

// Options tune the AF_XDP backend.
type Options struct {
	// Mode is how the steering program attaches: "native", "generic" or
	// "auto" (native where the driver has it, else generic). Default auto.
	Mode string
	// RxFrames is the number of UMEM frames per socket for receiving, and
	// the size of its fill and RX rings: a power of two, default
	// DefaultRxFrames. They are what absorbs a burst while the worker is
	// not running.
	RxFrames int
	// TxFrames is the number of UMEM frames per socket for transmitting,
	// and the size of its TX and completion rings: a power of two, default
	// DefaultTxFrames. Copy-mode transmission completes within the kick,
	// so a few batches' worth is enough.
	TxFrames int
	// FrameSize is the UMEM chunk size, 2048 or 4096; 0 chooses the smaller
	// one that holds a full-sized frame of every served interface (see
	// FrameSizeFor).
	FrameSize int
	// Logger gets one line per interface where VLAN filtering is not
	// available (see Open); nil: slog.Default().
	Logger *slog.Logger
	// LibrarySocket drives every queue with asavie/xdp's Socket, the ring
	// code this backend used before it had its own (xsk.go): every transmit
	// kicked through the runtime's system call path and no need_wakeup. It
	// stays for comparison and as a fallback.
	LibrarySocket bool
	// PinDir, when set, is a directory on a bpffs (mounted at /sys/fs/bpf
	// when absent, see xdpprog.PreparePinDir) where every interface's
	// steering link is pinned, so the program stays attached when the
	// process dies and drops service traffic (never passes it to the
	// kernel, which would reset every connection) until the next Open
	// with the same PinDir adopts it. Close unpins. Empty: the program
	// goes with the process, as the kernel does for an unpinned link. A
	// PinDir that cannot be made ready is logged and left out.
	PinDir string
}

// Default ring sizes of the AF_XDP backend. With 2048 receive frames a
// socket lost a tenth of a 50 000-flow burst (16 000 datagrams/s from a
// Python loop on a loaded two-core machine) as xsk-fill-ring-empty: the
// worker was not scheduled for longer than 2048 frames take to arrive.
// Memory per socket: (rx+tx) × chunk size, 20 MiB at 2048-byte chunks.
const (
	DefaultRxFrames = 8192
	DefaultTxFrames = 2048
)

const (
	// xdpKicks bounds the sendto calls per batch: copy-mode AF_XDP sends at
	// most 32 frames per call.
	xdpKicks = 8
	// minRing is the smallest ring: one worker batch (forwarder takes 64
	// frames at a time).
	minRing = 64
)

// Backend is the AF_XDP link.Backend: one socket per receive queue of every
// interface, fed by xvs's steering program, which hands the socket only the
// service traffic (and NAT replies) and leaves everything else to the kernel.
type Backend struct {
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
//
// The socket is this package's own (x) unless Options.LibrarySocket asked
// for asavie/xdp's (lib, queue_lib.go); exactly one of them is set.
type xdpQueue struct {
	b      *Backend
	iface  *xdpIface
	qid    int
	name   string
	x      *xsk
	lib    *xdp.Socket
	fd     int
	nRX    int // frames [0, nRX) are for receiving
	txRing int // TX ring size
	umem   []byte
	fill   []xdp.Desc       // lib only
	pfd    [1]unix.PollFd   // lib only: its Recv's poll
	wait   *pollwait.Waiter // own socket: how Recv waits on pfd's descriptor
	ip     inPlace          // own socket: in-place transmit (inplace.go)

	txMu     sync.Mutex // guards the fields below and the socket's TX side
	txFirst  int        // first TX frame
	txN      int        // number of TX frames
	txHead   int        // next TX frame to use (FIFO: completions return in order)
	inFlight int        // TX frames in flight (lent receive frames: ip.inFlight)
	txDescs  []xdp.Desc

	// Transmit losses of this socket, added under txMu (txNoIf by the
	// worker of this queue), read by ReportDrops.
	txFull, txOversize, txErr, txNoIf atomic.Uint64
}

// Open attaches xvs's steering program to every interface and opens one
// AF_XDP socket per receive queue. On any error, everything already attached
// is detached again.
//
// Where it can, the program is the device-bound one that puts a VLAN tag
// the driver took out of a frame back into it (xdpprog.NewSteeringFor), so
// the workers serve only configured VLANs as on AF_PACKET. Where the kernel
// refuses that one (generic mode, no bpf_xdp_metadata_rx_vlan_tag) the
// plain program serves, and a log line says VLAN filtering is unavailable
// on the interface: offloaded tags then go unseen.
func Open(ifaces []string, opts Options) (_ *Backend, err error) {
	opts.RxFrames = cmp.Or(opts.RxFrames, DefaultRxFrames)
	opts.TxFrames = cmp.Or(opts.TxFrames, DefaultTxFrames)
	for _, n := range []int{opts.RxFrames, opts.TxFrames} {
		if n < minRing || n&(n-1) != 0 {
			return nil, fmt.Errorf("AF_XDP ring of %d frames: want a power of two of at least %d", n, minRing)
		}
	}
	mode, err := xdpprog.ParseMode(opts.Mode)
	if err != nil {
		return nil, err
	}
	log := cmp.Or(opts.Logger, slog.Default())
	if opts.PinDir != "" {
		dir, perr := preparePins(opts.PinDir, ifaces)
		if perr != nil {
			// Forwarding matters more than outliving a crash.
			log.Warn("steering links not pinned: a restart of the daemon will reset its connections", "err", perr)
		}
		opts.PinDir = dir
	}
	b := &Backend{byIndex: make(map[int]*xdpIface), frameSize: opts.FrameSize}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	// One chunk size for all sockets, large enough for every interface:
	// a frame may leave by another interface than it came in on.
	links := make([]netlink.Link, len(ifaces))
	for i, name := range ifaces {
		nl, lerr := netlink.LinkByName(name)
		if lerr != nil {
			return nil, fmt.Errorf("interface %q: %w", name, lerr)
		}
		links[i] = nl
		fs, ferr := FrameSizeFor(name, nl.Attrs().MTU)
		if ferr != nil {
			return nil, ferr
		}
		if opts.FrameSize == 0 {
			b.frameSize = max(b.frameSize, fs)
		} else if fs > opts.FrameSize {
			return nil, &MTUError{Iface: name, MTU: nl.Attrs().MTU, FrameSize: opts.FrameSize,
				Max: opts.FrameSize - xdpPacketHeadroom - xdpL2Overhead}
		}
	}
	if b.frameSize != xdpSmallFrame && b.frameSize != xdpLargeFrame {
		return nil, fmt.Errorf("frame size %d: want %d or %d", b.frameSize, xdpSmallFrame, xdpLargeFrame)
	}
	for i, name := range ifaces {
		nl := links[i]
		nq := ethtool.RxQueues(name, nl.Attrs().NumRxQueues)
		xi := &xdpIface{name: name, index: nl.Attrs().Index}
		b.ifaces = append(b.ifaces, xi)
		b.byIndex[xi.index] = xi
		if xi.steer, err = xdpprog.NewSteeringWith(xi.index, nq, xdpprog.SteerOptions{Hold: opts.PinDir != ""}); err != nil {
			return nil, fmt.Errorf("interface %q: loading the steering program: %w", name, err)
		}
		if err = attach(xi, mode, opts.PinDir, log); err != nil {
			return nil, err
		}
		if xi.steer.Mode() == xdpprog.ModeGeneric {
			// Generic XDP runs after GRO and on a veth's GSO skbs: a TCP
			// super-packet (up to 64 KB) is larger than any UMEM chunk and
			// the socket drops it (counted as xsk-rx-dropped), so bulk TCP
			// stalls. Native mode on a veth makes its peer segment; GRO
			// aggregates on a NIC need GRO off or --backend afpacket.
			log.Warn("generic XDP: GRO and TSO super-packets are larger than an AF_XDP frame and are dropped; use native mode, turn GRO off on the interface, or --backend afpacket",
				"interface", name, "link", nl.Type())
		}
		if ok, why := xi.steer.VLANTags(); !ok {
			log.Warn("VLAN filtering unavailable: frames whose VLAN tag the driver took out reach the workers untagged and are served whatever their VLAN",
				"interface", name, "mode", xi.steer.Mode().String(), "reason", why)
		}
		for q := 0; q < nq; q++ {
			open := b.openQueue
			if opts.LibrarySocket {
				open = b.openLibQueue
			}
			xq, qerr := open(xi, q, opts.RxFrames, opts.TxFrames)
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

// openQueue opens queue q of xi with this package's own socket (xsk.go)
// and puts every receive frame on its fill ring.
func (b *Backend) openQueue(xi *xdpIface, q, nRX, nTX int) (*xdpQueue, error) {
	fsz := b.frameSize
	x, err := newXSK(xskConfig{ifindex: xi.index, queue: q, frameSize: fsz, nRX: nRX, nTX: nTX})
	if err != nil {
		return nil, err
	}
	xq := &xdpQueue{
		b: b, iface: xi, qid: q, name: xi.name + "/" + strconv.Itoa(q), x: x, fd: x.fd,
		nRX: nRX, txRing: nTX, txFirst: nRX, txN: nTX, umem: x.umem,
	}
	xq.wait = pollwait.New(xq.fd)
	xq.ip.init(nRX, fsz)
	for i := 0; i < nRX; i++ {
		x.fill.slots[i] = uint64(i * fsz)
	}
	x.fill.produce(uint32(nRX))
	return xq, nil
}

// Queues implements link.Backend.
func (b *Backend) Queues() []link.Queue { return link.QueuesOf(b.queues) }

// Steer implements link.Backend.
func (b *Backend) Steer(r link.Rules) error {
	for _, xi := range b.ifaces {
		if err := xi.steer.Update(r); err != nil {
			return fmt.Errorf("interface %q: %w", xi.name, err)
		}
	}
	return nil
}

// FrameSize returns the UMEM chunk size the sockets use.
func (b *Backend) FrameSize() int { return b.frameSize }

// Ifindexes returns the served interfaces' indexes.
func (b *Backend) Ifindexes() []int {
	var out []int
	for _, xi := range b.ifaces {
		out = append(out, xi.index)
	}
	return out
}

// Close implements link.Backend: the programs are detached first, so the kernel
// takes all traffic back before the sockets go away.
func (b *Backend) Close() error { return b.close((*xdpprog.Steering).Close) }

// Release implements link.Releaser: like Close, but pinned steering links
// (Options.PinDir) stay on their interfaces, their programs dropping the
// served traffic until a successor adopts them, as after a crash. Without
// a PinDir it is Close.
func (b *Backend) Release() error { return b.close((*xdpprog.Steering).Release) }

func (b *Backend) close(steerDone func(*xdpprog.Steering) error) error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for _, xi := range b.ifaces {
		if xi.steer != nil {
			if err := steerDone(xi.steer); err != nil {
				errs = append(errs, fmt.Errorf("interface %q: detaching: %w", xi.name, err))
			}
		}
	}
	for _, q := range b.queues {
		q.txMu.Lock()
		if q.lib != nil {
			q.lib.Close()
		} else {
			q.x.close()
		}
		q.txMu.Unlock()
	}
	return errors.Join(errs...)
}
