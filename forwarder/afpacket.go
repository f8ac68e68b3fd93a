package forwarder

import (
	"time"

	"github.com/xvs-project/xvs/internal/afpacket"
)

// AFPacketOptions tune the AF_PACKET backend. Zero values are defaults.
type AFPacketOptions struct {
	// SocketsPerInterface is the number of receive sockets (queues) per
	// interface, in one fanout group hashing flows. Default: one per CPU.
	SocketsPerInterface int
	// BlockSize and Blocks size each socket's TPACKET_V3 receive ring.
	// Defaults 64 KiB and 64 blocks (4 MiB).
	BlockSize, Blocks int
	// RetireTimeout is the longest a partly filled receive block waits
	// before the kernel hands it over (the added latency at low rates).
	// Default 2 ms.
	RetireTimeout time.Duration
	// TxFrames is the size of each transmit ring, a power of two.
	// Default 256.
	TxFrames int
	// QdiscBypass transmits without the qdisc layer (PACKET_QDISC_BYPASS);
	// such frames are invisible to tcpdump on the director.
	QdiscBypass bool
}

// AFPacketBackend is the Backend for hosts where AF_XDP cannot run: raw
// packet sockets with TPACKET_V3 rings, a socket filter generated from the
// steering rules, and an nftables table (family netdev, named
// afpacket.TablePrefix+"<pid>_<n>") that drops the steered traffic after
// the sockets have tapped it, so the kernel does not handle it too. The
// table is bound to the process: the kernel removes it when the process
// dies. See package internal/afpacket for the details.
type AFPacketBackend struct {
	b      *afpacket.Backend
	queues []Queue
}

var _ Backend = (*AFPacketBackend)(nil)

// afpQueue adapts an afpacket.Queue; scratch holds the package's frames for
// one batch, grown once to the worker's batch size.
type afpQueue struct {
	q       *afpacket.Queue
	scratch []afpacket.Frame
}

// OpenAFPacket opens the sockets and the nftables table for ifaces, in the
// network namespace of the calling thread. Nothing is steered until Steer.
func OpenAFPacket(ifaces []string, opts AFPacketOptions) (*AFPacketBackend, error) {
	b, err := afpacket.Open(ifaces, afpacket.Options{
		Sockets:       opts.SocketsPerInterface,
		BlockSize:     opts.BlockSize,
		Blocks:        opts.Blocks,
		RetireTimeout: opts.RetireTimeout,
		TxFrames:      opts.TxFrames,
		QdiscBypass:   opts.QdiscBypass,
	})
	if err != nil {
		return nil, err
	}
	ab := &AFPacketBackend{b: b}
	for _, q := range b.Queues() {
		ab.queues = append(ab.queues, &afpQueue{q: q})
	}
	return ab, nil
}

// Queues implements Backend.
func (b *AFPacketBackend) Queues() []Queue { return append([]Queue(nil), b.queues...) }

// Steer implements Backend.
func (b *AFPacketBackend) Steer(r SteerRules) error {
	return b.b.Steer(r)
}

// Stats implements Backend.
func (b *AFPacketBackend) Stats() map[string]uint64 {
	s := b.b.Stats()
	return map[string]uint64{
		"afpacket/rx-frames":    s.RxFrames,
		"afpacket/rx-kernel":    s.RxKernel,
		"afpacket/rx-drop":      s.RxDrops,
		"afpacket/rx-freeze":    s.RxFreezes,
		"afpacket/rx-truncated": s.RxTruncated,
		"afpacket/rx-gso":       s.RxGSO,
		"afpacket/rx-segmented": s.RxSegmented,
		"afpacket/rx-vlan":      s.RxVLAN,
		"afpacket/rx-checksum":  s.RxChecksum,
		"afpacket/rx-poll-err":  s.RxPollErr,
		"afpacket/tx-frames":    s.TxFrames,
		"afpacket/tx-full":      s.TxFull,
		"afpacket/tx-oversize":  s.TxOversize,
		"afpacket/tx-error":     s.TxErrors,
		"afpacket/tx-kicks":     s.TxKicks,
		"afpacket/tx-no-if":     s.TxNoIf,
	}
}

// Ifindexes returns the served interfaces' indexes.
func (b *AFPacketBackend) Ifindexes() []int { return b.b.Ifindexes() }

// Close implements Backend: the nftables table goes first (the kernel takes
// the traffic back), then the sockets.
func (b *AFPacketBackend) Close() error { return b.b.Close() }

// Name implements Queue.
func (q *afpQueue) Name() string { return q.q.Name() }

func (q *afpQueue) frames(n int) []afpacket.Frame {
	if cap(q.scratch) < n {
		q.scratch = make([]afpacket.Frame, n)
	}
	return q.scratch[:n]
}

// Recv implements Queue. Frames point into the receive ring, with at least
// afpacket.MinHeadroom bytes of headroom, until Release.
func (q *afpQueue) Recv(frames []Frame) int {
	s := q.frames(len(frames))
	n := q.q.Recv(s)
	for i := range s[:n] {
		f := &s[i]
		frames[i] = Frame{Buf: f.Buf, Off: f.Off, Len: f.Len, Ifindex: f.Ifindex, handle: f.Handle}
	}
	return n
}

// Release implements Queue.
func (q *afpQueue) Release(frames []Frame) {
	s := q.frames(len(frames))
	for i := range frames {
		s[i] = afpacket.Frame{Handle: frames[i].handle}
	}
	q.q.Release(s)
}

// Send implements Queue.
func (q *afpQueue) Send(frames []Frame) {
	s := q.frames(len(frames))
	for i := range frames {
		f := &frames[i]
		s[i] = afpacket.Frame{Buf: f.Buf, Off: f.Off, Len: f.Len, Ifindex: f.Ifindex}
	}
	q.q.Send(s)
	clear(s) // do not keep the worker's buffers alive
}
