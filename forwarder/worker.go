package forwarder

import (
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
)

// batchSize is how many frames a worker takes from its queue at once.
const batchSize = 64

// parkSlots bounds the frames a worker holds for unresolved neighbours, and
// parkTime how long it holds one (the kernel retries ARP for about as long).
const (
	parkSlots = 32
	parkTime  = time.Second
)

// parkFrameMax is the longest frame a worker parks: an AF_XDP chunk, the
// largest frame that backend receives. Longer ones (AF_PACKET at a jumbo
// MTU) are dropped as no-route instead of parked.
const parkFrameMax = 4096

// parkedFrame is a rewritten frame waiting for its next hop's MAC.
type parkedFrame struct {
	buf      [parkFrameMax]byte
	n        int
	dst      [16]byte
	deadline time.Time
}

// worker serves one queue: it owns the queue, its frame arrays and its
// pipeline scratch, all allocated before the loop.
type worker struct {
	q     link.Queue
	snap  *atomic.Pointer[snapshot]
	p     pipeline
	rx    []link.Frame
	out   []link.Frame
	reply [1]link.Frame

	parked  []parkedFrame // parkSlots long; the first nParked are in use
	nParked int
	resend  []link.Frame

	// pfPkt is prefetch's scratch (prefetch.go); aheadMin the table size
	// from which it looks a batch up ahead (aheadMinFor; tests change it).
	pfPkt    encap.Packet
	aheadMin int
}

func newWorker(q link.Queue, e *Engine) *worker {
	w := &worker{
		q:    q,
		snap: &e.snap,
		rx:   make([]link.Frame, batchSize),
		out:  make([]link.Frame, 0, batchSize),

		parked: make([]parkedFrame, parkSlots),
		resend: make([]link.Frame, 0, parkSlots),

		aheadMin: aheadMinHere(),
	}
	w.p = pipeline{table: e.table, router: e.router, reuse: e.opts.ConnReuse, ecmp: e.opts.ECMP, stats: &queueStats{name: q.Name()}, vlans: &e.vlans}
	w.p.frag.clock = e.opts.Clock
	return w
}

// run serves the queue until stop is closed.
func (w *worker) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		w.poll()
	}
}

// poll receives one batch, waiting for it a few milliseconds at most,
// processes it and transmits the result. It does not allocate.
func (w *worker) poll() int { return w.serve(w.q.Recv(w.rx)) }

// serve processes and transmits the n frames received into w.rx, and
// does the worker's chores whether or not any came. Parked frames go
// first: they waited longer than the batch.
func (w *worker) serve(n int) int {
	if w.nParked > 0 {
		w.unpark()
	}
	if n > 0 {
		w.processBatch(w.rx[:n])
		w.q.Release(w.rx[:n])
	}
	w.timed()
	return n
}

// chores is serve without frames: parked frames whose neighbour came or
// whose time is up, then the timed work.
func (w *worker) chores() {
	if w.nParked > 0 {
		w.unpark()
	}
	w.timed()
}

// timed releases or expires held fragments and moves the sync clock on,
// sending messages that waited long enough.
func (w *worker) timed() {
	if w.p.frag.nHeld > 0 {
		w.fragments() // release or expire out-of-order fragments
	}
	if w.p.sync != nil {
		w.p.sync.tick() // the batch clock, and messages that waited long enough
	}
}

func (w *worker) processBatch(rx []link.Frame) {
	conntrack.AdvanceClock() // the connections this batch stamps are as fresh as it
	st := w.p.stats
	st.rx.add(uint64(len(rx)))
	st.beginBatch()
	w.p.hops.beginBatch()
	w.p.snap = w.snap.Load()
	w.prefetch(rx)
	out := w.out[:0]
	for i := range rx {
		w.p.ahead.cur = i
		switch w.p.process(&rx[i]) {
		case verdictForward:
			out = out[:len(out)+1] // cap batchSize, as rx
			copyFrame(&out[len(out)-1], &rx[i])
		case verdictReply:
			// Rare (too-big answers): send it on its own so the scratch
			// buffer can be reused for the next one.
			w.reply[0] = link.Frame{Buf: w.p.answer[:], Len: w.p.answerLen, Ifindex: w.p.answerIf}
			w.q.Send(w.reply[:])
		case verdictPark:
			w.park(&rx[i])
		case verdictFragments:
			w.q.Send(w.p.fragFrame[:w.p.nFrags])
			st.tx.add(uint64(w.p.nFrags))
		}
	}
	w.p.ahead.done()
	st.endBatch()
	w.p.hops.endBatch()
	if len(out) > 0 {
		w.q.Send(out)
		st.tx.add(uint64(len(out)))
	}
	w.out = out[:0]
}

// copyFrame copies *src to *dst one field at a time. A whole-struct copy
// moves 16 bytes at a time, reading across the 8-byte fields process has
// just written (Ifindex, Off, Len), which the CPU cannot forward from its
// store buffer: the copy waited for those stores to retire, twice (through
// a temporary), about 18 ns a forwarded packet.
func copyFrame(dst, src *link.Frame) {
	dst.Buf = src.Buf
	dst.Off, dst.Len, dst.Ifindex, dst.Handle = src.Off, src.Len, src.Ifindex, src.Handle
}

// park copies a frame that waits for its neighbour, or drops it when the
// parking is full or the frame too long for a slot.
func (w *worker) park(f *link.Frame) {
	if w.nParked == len(w.parked) || f.Len > len(w.parked[0].buf) {
		w.p.stats.drops[DropNoRoute].add(1)
		return
	}
	pf := &w.parked[w.nParked]
	w.nParked++
	pf.n = copy(pf.buf[:], f.Data())
	pf.dst = w.p.parkDst
	pf.deadline = time.Now().Add(parkTime)
}

// unpark sends the parked frames whose neighbour got resolved and drops the
// ones that waited too long.
func (w *worker) unpark() {
	now := time.Now()
	out := w.resend[:0]
	for i := 0; i < w.nParked; i++ {
		pf := &w.parked[i]
		hop := w.p.router.Route(&pf.dst)
		switch {
		case hop != nil && hop.DstMAC != zeroMAC:
			encap.SetMACs(&encap.Packet{Frame: pf.buf[:pf.n]}, hop.DstMAC, hop.SrcMAC)
			out = append(out, link.Frame{Buf: pf.buf[:], Len: pf.n, Ifindex: w.p.egressIfindex(hop)})
			pf.n = 0
		case now.After(pf.deadline):
			w.p.stats.drops[DropNoRoute].add(1)
			pf.n = 0
		}
	}
	if len(out) > 0 {
		w.q.Send(out)
		w.p.stats.tx.add(uint64(len(out)))
	}
	w.resend = out[:0]
	// Compact only after Send: out pointed into the slots.
	keep := 0
	for i := 0; i < w.nParked; i++ {
		if w.parked[i].n == 0 {
			continue
		}
		if keep != i {
			w.parked[keep] = w.parked[i]
		}
		keep++
	}
	w.nParked = keep
}
