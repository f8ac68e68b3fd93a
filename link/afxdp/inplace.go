package afxdp

import (
	"sync/atomic"

	"github.com/xvs-project/xvs/link"
)

// This file is the in-place transmit of the package's own socket: a frame
// that leaves by the socket it came in on (DR, TUN: one-armed) is not copied
// into a TX frame; its receive frame is lent to the TX ring as it is, and
// goes back to the fill ring when its completion comes.
//
// Who touches what:
//
//   - inPlace.lent and inPlace.out are the socket's own worker's, like the
//     fill ring: lend (called from transmit, which that worker alone calls
//     with own set) sets a frame's flag, Release clears it and skips the
//     frame, refill counts frames back.
//   - The completion ring is read under txMu by whichever worker transmits
//     on the socket (on NAT, another interface's worker too). The socket's
//     own worker writes a lent frame's address on the fill ring itself,
//     after its last entry, for its Release to publish; another worker never
//     touches the fill ring: it hands the address to back, which the
//     socket's worker's Release empties onto the fill ring. back has one
//     producer at a time (txMu) and one consumer (the worker): its index is
//     published with one atomic store, as on the kernel's rings.
//
// Accounting: a receive frame is on the fill or RX ring, held by the worker,
// lent (on the TX or completion ring), written on the fill ring but not yet
// published, or in back; out counts the last three.
// lend refuses once out reaches half the receive frames, so the fill ring
// keeps at least half of them whatever the completions do; a refused frame
// is copied as before.

// inPlace is an own socket's in-place transmit state.
type inPlace struct {
	shift   uint   // log2 of the frame size: a receive frame's index is Handle>>shift
	rxBytes uint64 // UMEM addresses below this are receive frames
	// lent is the worker's: per receive frame, sent in place since the
	// worker received it, so that Release leaves it to its completion and a
	// second Send of it in the same batch copies it.
	lent []bool
	// out is the worker's: frames lent and not yet back on the fill ring;
	// max is where lend stops.
	out, max int
	// pend is the worker's: lent frames its own reap wrote after the fill
	// ring's last entry, which Release publishes.
	pend uint32
	// inFlight (under txMu): lent frames whose completion reap has not
	// read, so reap reads completion addresses only when some are lent.
	inFlight int
	back     backRing
	// sent counts frames sent in place (xsk-tx-in-place), read by Stats.
	sent atomic.Uint64
}

// backRing carries lent frames from reap to Release. It never overflows:
// every entry is a distinct receive frame, and it has a slot for each.
type backRing struct {
	slots []uint64
	mask  uint32
	local uint32        // producer's index, under txMu
	prod  atomic.Uint32 // local, published
	cons  uint32        // the worker's
}

// init sizes the state of a socket with nRX receive frames of fsz bytes
// (both powers of two).
func (p *inPlace) init(nRX, fsz int) {
	for 1<<p.shift < fsz {
		p.shift++
	}
	p.rxBytes = uint64(nRX) << p.shift
	p.lent, p.max = make([]bool, nRX), nRX/2
	p.back = backRing{slots: make([]uint64, nRX), mask: uint32(nRX - 1)}
}

// lend reports whether f may go on this socket's TX ring in place, and
// marks it lent if so. Only the socket's own worker calls it (transmit with
// own), for a frame it is sending out by this very socket: f must be one of
// the socket's receive frames (its Buf starts at the receive frame its
// Handle names: a frame from a worker's own buffer has Handle 0 too), sent
// once, and lie within its chunk with some bytes (the kernel drops a
// descriptor that does not without a completion, which would lose the frame).
func (q *xdpQueue) lend(f *link.Frame) bool {
	p := &q.ip
	h, fsz := f.Handle, q.b.frameSize
	if p.out == p.max || h >= p.rxBytes || h&uint64(fsz-1) != 0 ||
		len(f.Buf) == 0 || &f.Buf[0] != &q.umem[h] ||
		f.Len <= 0 || f.Off < 0 || f.Off > fsz-f.Len {
		return false
	}
	i := h >> p.shift
	if p.lent[i] {
		return false
	}
	p.lent[i] = true
	p.out++
	return true
}

// reap reads the completion ring (under txMu): a TX frame is free again
// (they complete in order, so transmit reuses them FIFO), a lent receive
// frame goes back. With own (the caller is the socket's worker) it is
// written after the fill ring's last entry, for Release to publish with the
// rest (ip.pend); another worker hands it to back. While nothing is lent
// the addresses need not be read.
func (q *xdpQueue) reap(own bool) {
	c := &q.x.comp
	done := c.ready()
	if done == 0 {
		return
	}
	p := &q.ip
	if p.inFlight == 0 {
		c.consume(done)
		q.inFlight -= int(done)
		return
	}
	fmask := ^uint64(q.b.frameSize - 1)
	var slots []uint64
	var at, mask uint32
	if own {
		f := &q.x.fill
		slots, at, mask = f.slots, f.local+p.pend, f.mask
	} else {
		b := &p.back
		slots, at, mask = b.slots, b.local, b.mask
	}
	var back uint32
	for i := uint32(0); i < done; i++ {
		a := c.slots[(c.local+i)&c.mask]
		if a >= p.rxBytes {
			q.inFlight--
			continue
		}
		slots[(at+back)&mask] = a & fmask
		back++
	}
	c.consume(done)
	if back == 0 {
		return
	}
	p.inFlight -= int(back)
	if own {
		p.pend += back
		return
	}
	p.back.local += back
	p.back.prod.Store(p.back.local)
}

// refill puts the lent frames reap has handed back on the fill ring after
// the n entries Release wrote there, and returns how many it added. The
// fill ring has room: it has a slot for every receive frame.
func (q *xdpQueue) refill(n uint32) uint32 {
	p := &q.ip
	b := &p.back
	end := b.prod.Load()
	k := end - b.cons
	if k == 0 {
		return 0
	}
	f := &q.x.fill
	for c := b.cons; c != end; c++ {
		f.slots[(f.local+n)&f.mask] = b.slots[c&b.mask]
		n++
	}
	b.cons = end
	p.out -= int(k)
	return k
}
