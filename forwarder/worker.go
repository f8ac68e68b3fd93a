package forwarder

import "sync/atomic"

// batchSize is how many frames a worker takes from its queue at once.
const batchSize = 64

// worker serves one queue: it owns the queue, its frame arrays and its
// pipeline scratch, all allocated before the loop.
type worker struct {
	q     Queue
	snap  *atomic.Pointer[snapshot]
	p     pipeline
	rx    []Frame
	out   []Frame
	reply [1]Frame
}

func newWorker(q Queue, e *Engine) *worker {
	w := &worker{
		q:    q,
		snap: &e.snap,
		rx:   make([]Frame, batchSize),
		out:  make([]Frame, 0, batchSize),
	}
	w.p = pipeline{table: e.table, router: e.router, sloppy: e.opts.Sloppy, stats: &queueStats{name: q.Name()}}
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

// poll receives one batch, processes it and transmits the result. It does
// not allocate.
func (w *worker) poll() int {
	n := w.q.Recv(w.rx)
	if n == 0 {
		return 0
	}
	w.processBatch(w.rx[:n])
	w.q.Release(w.rx[:n])
	return n
}

func (w *worker) processBatch(rx []Frame) {
	st := w.p.stats
	st.rx.add(uint64(len(rx)))
	w.p.snap = w.snap.Load()
	out := w.out[:0]
	for i := range rx {
		switch w.p.process(&rx[i]) {
		case verdictForward:
			out = append(out, rx[i])
		case verdictReply:
			// Rare (too-big answers): send it on its own so the scratch
			// buffer can be reused for the next one.
			w.reply[0] = Frame{Buf: w.p.answer[:], Len: w.p.answerLen, Ifindex: w.p.answerIf}
			w.q.Send(w.reply[:])
		}
	}
	if len(out) > 0 {
		w.q.Send(out)
		st.tx.add(uint64(len(out)))
	}
	w.out = out[:0]
}
