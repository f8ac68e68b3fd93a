package afpacket

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/afpacket/nft"
)

// Backend is the AF_PACKET link.Backend of a set of interfaces: per interface,
// Options.Sockets receive sockets in one fanout group (one Queue each), a
// socket filter on each that taps only the steered traffic, transmit rings
// for every queue and interface, and xvs's nftables table that drops the
// steered traffic after the tap so the kernel does not handle it too.
type Backend struct {
	// mu guards the fields below and serializes Steer, Stats and Close.
	mu     sync.Mutex
	ifaces []ifaceInfo
	queues []*Queue
	table  *nft.Table
	rules  Rules // the steering set installed last
	closed bool
	kern   kernelStats
}

type ifaceInfo struct {
	name   string
	index  int
	fanout uint16
}

// kernelStats accumulate PACKET_STATISTICS, which the kernel resets on
// every read.
type kernelStats struct {
	packets, drops, freezes uint64
}

// Open serves ifaces: it creates the nftables table (removing leftovers of
// dead runs first) and opens the sockets, accepting nothing until Steer.
// Everything is created in the network namespace of the calling thread. On
// error, whatever was set up is torn down again.
func Open(ifaces []string, opts Options) (_ *Backend, err error) {
	if len(ifaces) == 0 {
		return nil, ErrNoInterfaces
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Backend{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	mtus := make([]int, 0, len(ifaces))
	for _, name := range ifaces {
		ifi, lerr := net.InterfaceByName(name)
		if lerr != nil {
			return nil, fmt.Errorf("interface %q: %w", name, lerr)
		}
		if slices.ContainsFunc(b.ifaces, func(x ifaceInfo) bool { return x.index == ifi.Index }) {
			return nil, fmt.Errorf("interface %q given twice: %w", name, ErrInvalidOptions)
		}
		b.ifaces = append(b.ifaces, ifaceInfo{name: name, index: ifi.Index})
		mtus = append(mtus, ifi.MTU)
	}
	if b.table, err = createTable(ifaces); err != nil {
		return nil, err
	}
	reject, err := CompileFilter(Rules{})
	if err != nil {
		return nil, err
	}
	for i := range b.ifaces {
		ii := &b.ifaces[i]
		for j := 0; j < o.Sockets; j++ {
			q := &Queue{name: ii.name + "/" + strconv.Itoa(j), ifindex: ii.index, fd: -1}
			b.queues = append(b.queues, q)
			if err = q.openRX(o, mtus[i], reject); err != nil {
				return nil, fmt.Errorf("interface %q queue %d: %w", ii.name, j, err)
			}
			if ii.fanout, err = joinFanout(q.fd, ii.fanout); err != nil {
				return nil, fmt.Errorf("interface %q queue %d: %w", ii.name, j, err)
			}
			for k, out := range b.ifaces {
				t, terr := openTX(out.index, mtus[k], o)
				if terr != nil {
					return nil, fmt.Errorf("interface %q queue %d: transmit to %q: %w", ii.name, j, out.name, terr)
				}
				q.tx = append(q.tx, t)
			}
		}
	}
	return b, nil
}

// openRX sets the receive socket up in the order that keeps unfiltered
// traffic out of the ring: version, headroom, filter, ring, and only then
// bind to ETH_P_ALL.
func (q *Queue) openRX(o Options, mtu int, f Filter) (err error) {
	if q.fd, err = packetSocket(); err != nil {
		return err
	}
	version, reserve := unix.TPACKET_V2, rxReserve2
	if o.BlockRing {
		version, reserve = unix.TPACKET_V3, rxReserve
	}
	if err := setInt(q.fd, unix.PACKET_VERSION, version, "packet version"); err != nil {
		return err
	}
	if err := setInt(q.fd, unix.PACKET_RESERVE, reserve, "packet reserve"); err != nil {
		return err
	}
	// Our own transmissions (and the host's) are not ours to forward.
	if err := setInt(q.fd, unix.PACKET_IGNORE_OUTGOING, 1, "ignore outgoing"); err != nil {
		return err
	}
	if err := attachFilter(q.fd, f); err != nil {
		return err
	}
	if o.BlockRing {
		r, err := setupRX(q.fd, o)
		if err != nil {
			return err
		}
		r.seg = newSegmenter(mtu)
		q.rx = r
	} else {
		// A super-packet larger than a frame is queued whole on the
		// socket (TP_STATUS_COPY) when the receive buffer has room.
		if err := setInt(q.fd, unix.PACKET_COPY_THRESH, 1, "copy thresh"); err != nil {
			return err
		}
		if unix.SetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
			_ = unix.SetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		}
		r, err := setupRX2(q.fd, mtu, o)
		if err != nil {
			return err
		}
		r.seg = newSegmenter(mtu)
		q.rx2 = r
	}
	q.pfd[0] = unix.PollFd{Fd: int32(q.fd), Events: unix.POLLIN}
	return bindPacket(q.fd, q.ifindex, ethPAll)
}

// Queues implements link.Backend: the queues to run a worker for,
// interface by interface.
func (b *Backend) Queues() []link.Queue { return link.QueuesOf(b.queues) }

// Ifindexes returns the served interfaces' indexes.
func (b *Backend) Ifindexes() []int {
	out := make([]int, len(b.ifaces))
	for i, ii := range b.ifaces {
		out[i] = ii.index
	}
	return out
}

// TableName returns the name of the backend's nftables table (family
// netdev).
func (b *Backend) TableName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.table == nil {
		return ""
	}
	return b.table.Name()
}

// Steer implements link.Backend: it installs a new steering set. The change never opens a window in
// which the kernel drops traffic that no socket taps: the sockets first get
// a filter accepting the old and the new set, then the nftables rules
// change in one transaction, then the filters narrow to the new set. An
// invalid set changes nothing.
func (b *Backend) Steer(rs Rules) error {
	c, err := compile(rs)
	if err != nil {
		return err
	}
	f, err := buildFilter(c)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	// Best effort: a union too large for a filter only skips the
	// transition, the final state is the same.
	if both, err := CompileFilter(union(b.rules, rs)); err == nil {
		_ = b.attach(both)
	}
	if err := b.table.Update(nftRules(c)); err != nil {
		// Back to the filter that matches the rules still in force.
		if old, cerr := CompileFilter(b.rules); cerr == nil {
			_ = b.attach(old)
		}
		return err
	}
	if err := b.attach(f); err != nil {
		return err
	}
	b.rules = Rules{Rules: slices.Clone(rs.Rules), Local: slices.Clone(rs.Local)}
	return nil
}

func (b *Backend) attach(f Filter) error {
	for _, q := range b.queues {
		if err := attachFilter(q.fd, f); err != nil {
			return fmt.Errorf("queue %s: %w", q.name, err)
		}
	}
	return nil
}

// union returns a steering set that accepts everything a or b accepts: all
// the rules, and as local only the addresses local in both.
func union(a, b Rules) Rules {
	u := Rules{Rules: append(slices.Clone(a.Rules), b.Rules...)}
	for _, l := range a.Local {
		if slices.Contains(b.Local, l) {
			u.Local = append(u.Local, l)
		}
	}
	return u
}

// Counters are the backend's counters, summed over its queues.
type Counters struct {
	RxFrames    uint64 // frames handed to workers
	RxKernel    uint64 // packets the kernel queued to the rings (PACKET_STATISTICS)
	RxDrops     uint64 // packets the kernel dropped for lack of ring space
	RxFreezes   uint64 // times a ring was full (queue frozen)
	RxTruncated uint64 // frames cut to fit a frame or block (and not copied whole), dropped
	RxGSO       uint64 // GRO/TSO super-packets that could not be segmented, dropped
	RxSegmented uint64 // GRO/TSO super-packets forwarded as segments
	RxVLAN      uint64 // frames whose VLAN tag was put back
	RxChecksum  uint64 // partial checksums completed
	RxPollErr   uint64 // socket errors seen while waiting (interface down)
	RxOutgoing  uint64 // outgoing frames that got past the filter, dropped
	TxFrames    uint64 // frames queued for transmission
	TxFull      uint64 // frames dropped for a full transmit ring
	TxOversize  uint64 // frames larger than the egress MTU, dropped
	TxErrors    uint64 // kicks that failed, malformed frames
	TxKicks     uint64 // sendto calls
	TxNoIf      uint64 // frames for an interface the backend does not serve
}

// Counters reads the kernel's ring counters and returns the totals.
func (b *Backend) Counters() Counters {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		for _, q := range b.queues {
			if q.fd < 0 {
				continue
			}
			if ks, err := unix.GetsockoptTpacketStatsV3(q.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				b.kern.packets += uint64(ks.Packets)
				b.kern.drops += uint64(ks.Drops)
				b.kern.freezes += uint64(ks.Freeze_q_cnt)
			}
		}
	}
	s := Counters{RxKernel: b.kern.packets, RxDrops: b.kern.drops, RxFreezes: b.kern.freezes}
	for _, q := range b.queues {
		st := &q.st
		s.RxFrames += st.rxFrames.Load()
		s.RxTruncated += st.rxTruncated.Load()
		s.RxGSO += st.rxGSO.Load()
		s.RxSegmented += st.rxSegmented.Load()
		s.RxVLAN += st.rxVLAN.Load()
		s.RxChecksum += st.rxCsum.Load()
		s.RxPollErr += st.rxPollErr.Load()
		s.RxOutgoing += st.rxOutgoing.Load()
		s.TxFrames += st.txFrames.Load()
		s.TxFull += st.txFull.Load()
		s.TxOversize += st.txOversize.Load()
		s.TxErrors += st.txErrors.Load()
		s.TxKicks += st.txKicks.Load()
		s.TxNoIf += st.txNoIf.Load()
	}
	return s
}

// Stats implements link.Backend with the totals of Counters (the backend
// keeps them for all queues together, Queue ""): the kernel's ring overruns
// ("afpacket-rx-ring-full", PACKET_STATISTICS drops), frames cut to fit a
// block, offloaded super-frames, and the transmit losses are Drops; ring
// freezes, socket errors and the director's own outgoing frames the filter
// let through are Events.
func (b *Backend) Stats() link.Stats {
	c := b.Counters()
	var s link.Stats
	s.AddDrop("", "afpacket-rx-ring-full", c.RxDrops)
	s.AddDrop("", "afpacket-rx-truncated", c.RxTruncated)
	s.AddDrop("", "afpacket-rx-gso", c.RxGSO)
	s.AddDrop("", "afpacket-tx-full", c.TxFull)
	s.AddDrop("", "afpacket-tx-oversize", c.TxOversize)
	s.AddDrop("", "afpacket-tx-error", c.TxErrors)
	s.AddDrop("", "afpacket-tx-no-if", c.TxNoIf)
	s.AddEvent("", "afpacket-rx-freeze", c.RxFreezes)
	s.AddEvent("", "afpacket-rx-poll-error", c.RxPollErr)
	s.AddEvent("", "afpacket-rx-outgoing", c.RxOutgoing)
	return s
}

// Close implements link.Backend: it gives the traffic back to the kernel
// and releases everything:
// first the nftables table goes (the kernel handles the service traffic
// again), then the sockets, with their filters and rings. Workers should be
// stopped first; a call they make afterwards returns at once. It is safe to
// call more than once.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if err := b.table.Close(); err != nil {
		errs = append(errs, err)
	}
	for _, q := range b.queues {
		q.close()
	}
	return errors.Join(errs...)
}
