package afpacket

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// pollTimeout bounds how long Recv waits for a block, in milliseconds.
const pollTimeout = 5

// Queue is one receive socket with its transmit rings (one per served
// interface), served by exactly one worker: a link.Queue. A received
// frame's Handle is the ring block it lives in.
type Queue struct {
	// mu serializes the worker's calls against Close, which unmaps the
	// rings: it is uncontended while the backend runs and taken once per
	// call, not per frame.
	mu      sync.Mutex
	closed  bool
	name    string
	ifindex int
	fd      int
	rx2     *rxRing2  // the receive ring: TPACKET_V2 by default,
	rx      *rxRing   // or TPACKET_V3 (Options.BlockRing)
	tx      []*txRing // one per interface of the backend
	pfd     [1]unix.PollFd
	st      queueStats
}

// queueStats are a queue's counters, added to once per call.
type queueStats struct {
	rxFrames, rxTruncated, rxGSO, rxSegmented, rxVLAN, rxCsum, rxOutgoing, rxPollErr atomic.Uint64
	txFrames, txFull, txOversize, txErrors, txKicks, txNoIf                          atomic.Uint64
}

// Name implements link.Queue: the queue's name in statistics ("eth0/0").
func (q *Queue) Name() string { return q.name }

// Recv implements link.Queue: it fills up to len(frames) frames, waiting
// up to 5 ms when none is pending (the kernel wakes it as soon as a frame
// is, or with Options.BlockRing a block, is handed over). The frames point into the receive ring: they belong to the
// caller until it passes them to Release, and must not be used after.
func (q *Queue) Recv(frames []link.Frame) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(frames) == 0 {
		return 0
	}
	q.retryKicks()
	if s := q.segmenter(); s != nil {
		s.reset() // the previous batch is released (see segment.go)
	}
	var c rxCounts
	n := q.walk(frames, &c)
	if n == 0 {
		if _, err := unix.Poll(q.pfd[:], pollTimeout); err == nil {
			if q.pfd[0].Revents&unix.POLLERR != 0 {
				// Clear the socket error (e.g. ENETDOWN) so the next poll
				// waits again instead of returning at once.
				_, _ = unix.GetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_ERROR)
				q.st.rxPollErr.Add(1)
			}
			n = q.walk(frames, &c)
		}
	}
	q.addRX(&c)
	return n
}

// walk hands out frames from whichever receive ring the queue has; a
// branch rather than an interface, which would move c to the heap.
func (q *Queue) walk(frames []link.Frame, c *rxCounts) int {
	if q.rx2 != nil {
		return q.rx2.walk(frames, q.ifindex, c)
	}
	return q.rx.walk(frames, q.ifindex, c)
}

func (q *Queue) segmenter() *segmenter {
	if q.rx2 != nil {
		return q.rx2.seg
	}
	return q.rx.seg
}

func (q *Queue) addRX(c *rxCounts) {
	if c.frames != 0 {
		q.st.rxFrames.Add(c.frames)
	}
	if c.truncated|c.gso|c.segmented|c.vlan|c.csum|c.outgoing != 0 {
		q.st.rxSegmented.Add(c.segmented)
		q.st.rxOutgoing.Add(c.outgoing)
		q.st.rxTruncated.Add(c.truncated)
		q.st.rxGSO.Add(c.gso)
		q.st.rxVLAN.Add(c.vlan)
		q.st.rxCsum.Add(c.csum)
	}
}

// Release implements link.Queue: it gives received frames back; their ring blocks return to the
// kernel once all their frames are back.
func (q *Queue) Release(frames []link.Frame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.rx2 != nil {
		q.rx2.release(frames)
	} else {
		q.rx.release(frames)
	}
}

// Send implements link.Queue: it transmits frames on their Ifindex, copying them into that
// interface's transmit ring of this queue; the caller keeps the frames.
// Frames that cannot go (full ring, too large, unknown interface) are
// counted and dropped.
func (q *Queue) Send(frames []link.Frame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	var c txCounts
	for len(frames) > 0 {
		idx := frames[0].Ifindex
		n := 1
		for n < len(frames) && frames[n].Ifindex == idx {
			n++
		}
		if t := q.txFor(idx); t != nil {
			t.send(frames[:n], &c)
		} else {
			q.st.txNoIf.Add(uint64(n))
		}
		frames = frames[n:]
	}
	q.st.txFrames.Add(c.frames)
	if c.full|c.oversize|c.errors != 0 {
		q.st.txFull.Add(c.full)
		q.st.txOversize.Add(c.oversize)
		q.st.txErrors.Add(c.errors)
	}
	q.st.txKicks.Add(c.kicks)
}

func (q *Queue) txFor(ifindex int) *txRing {
	for _, t := range q.tx {
		if t.ifindex == ifindex {
			return t
		}
	}
	return nil
}

// retryKicks kicks the transmit rings whose last kick found no buffer space,
// so frames do not wait for the next Send.
func (q *Queue) retryKicks() {
	var c txCounts
	for _, t := range q.tx {
		if t.pending {
			t.kick(&c)
		}
	}
	if c.kicks != 0 {
		q.st.txKicks.Add(c.kicks)
		q.st.txErrors.Add(c.errors)
	}
}

// close releases the queue's sockets and rings; the worker's next call
// returns at once.
func (q *Queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	if q.fd >= 0 {
		// Closing the socket also leaves the fanout group and drops the
		// filter.
		unix.Close(q.fd)
		q.fd = -1
	}
	q.rx.unmap()
	q.rx2.unmap()
	for _, t := range q.tx {
		t.close()
	}
}
