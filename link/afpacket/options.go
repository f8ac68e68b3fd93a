package afpacket

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// Options tune the backend. The zero value is a sensible default for every
// field.
type Options struct {
	// Sockets is the number of receive sockets (and queues) per interface,
	// joined in one PACKET_FANOUT_HASH group. Default runtime.NumCPU().
	Sockets int
	// BlockSize is the size of one TPACKET_V3 receive block (with
	// BlockRing) or of the blocks the TPACKET_V2 ring's frames are
	// allocated in: a power of two, at least the page size. Default 128
	// KiB, so a 64 KB GRO/TSO super-packet fits a V3 block whole (a frame
	// larger than a block is cut and dropped).
	BlockSize int
	// Blocks is the number of receive blocks per socket. Default 256 (32
	// MiB per socket with the default block size, 16384 frames of 2 KiB
	// with the default V2 ring). With BlockRing a block is handed over
	// when full or after RetireTimeout, so at a modest packet rate each
	// holds few frames, and the ring must cover the longest time the worker
	// may go unscheduled (a 50 000-datagram burst from one client is the
	// test).
	Blocks int
	// BlockRing receives with a TPACKET_V3 ring of blocks instead of the
	// default TPACKET_V2 ring of frames. The kernel hands a block over
	// only when it is full or after RetireTimeout, so an idle packet
	// waits up to that long (measured: 0.7 ms p50 per pass); a V2 frame
	// is handed over (and the worker woken) as soon as it is written,
	// which costs worker CPU per frame when the worker keeps up (doc.go).
	// The ring takes BlockSize*Blocks bytes either way.
	BlockRing bool
	// RetireTimeout is how long the kernel keeps a partly filled V3 block
	// before handing it over, i.e. the added latency at low rates (with
	// BlockRing only; a V2 frame is handed over at once). Default
	// 2 ms; it is rounded to whole milliseconds (at least 1).
	RetireTimeout time.Duration
	// TxFrames is the number of frames of each transmit ring (one per
	// queue and egress interface), a power of two. Default 256.
	TxFrames int
	// QdiscBypass sends through the driver directly (PACKET_QDISC_BYPASS):
	// no qdisc, and the frames are invisible to taps such as tcpdump on
	// the director. Off by default; see doc.go for the measurement.
	QdiscBypass bool
}

// Defaults.
const (
	defaultBlockSize     = 128 << 10
	defaultBlocks        = 256
	defaultRetireTimeout = 2 * time.Millisecond
	defaultTxFrames      = 256
)

func (o Options) withDefaults() (Options, error) {
	if o.Sockets == 0 {
		o.Sockets = max(runtime.NumCPU(), 1)
	}
	if o.BlockSize == 0 {
		o.BlockSize = defaultBlockSize
	}
	if o.Blocks == 0 {
		o.Blocks = defaultBlocks
	}
	if o.RetireTimeout == 0 {
		o.RetireTimeout = defaultRetireTimeout
	}
	if o.TxFrames == 0 {
		o.TxFrames = defaultTxFrames
	}
	page := os.Getpagesize()
	switch {
	case o.Sockets < 1 || o.Sockets > 1024:
		return o, fmt.Errorf("sockets %d: %w", o.Sockets, ErrInvalidOptions)
	case o.BlockSize < page || o.BlockSize&(o.BlockSize-1) != 0 || o.BlockSize > 1<<30:
		return o, fmt.Errorf("block size %d: %w", o.BlockSize, ErrInvalidOptions)
	case o.Blocks < 2 || o.Blocks > 1<<16:
		return o, fmt.Errorf("blocks %d: %w", o.Blocks, ErrInvalidOptions)
	case o.RetireTimeout < 0 || o.RetireTimeout > time.Second:
		return o, fmt.Errorf("retire timeout %v: %w", o.RetireTimeout, ErrInvalidOptions)
	case o.TxFrames < 2 || o.TxFrames&(o.TxFrames-1) != 0 || o.TxFrames > 1<<16:
		return o, fmt.Errorf("tx frames %d: %w", o.TxFrames, ErrInvalidOptions)
	}
	return o, nil
}
