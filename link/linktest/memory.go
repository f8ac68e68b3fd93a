package linktest

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// Headroom is the headroom in front of every frame of the in-memory
// backend, as AF_XDP leaves in front of received data (at least
// link.MinHeadroom).
const Headroom = 256

// Batch is the most frames one MemQueue.Recv hands out: each has its own
// buffer, reused by the next Recv. It is the engine's batch, so a worker
// is never short of frames.
const Batch = 64

// FrameRoom is the longest frame a MemQueue receives whole.
const FrameRoom = 2048

// MemBackend is an in-memory Backend: tests and benchmarks inject frames and
// read what the engine transmitted, so the whole per-packet pipeline runs
// without a kernel.
type MemBackend struct {
	queues []*MemQueue
	mu     sync.Mutex
	rules  link.Rules // guarded by mu
}

// NewMemBackend returns a backend with n queues.
func NewMemBackend(n int) *MemBackend {
	b := &MemBackend{}
	for i := 0; i < n; i++ {
		b.queues = append(b.queues, &MemQueue{name: "mem/" + strconv.Itoa(i), in: make(chan []byte, 4096), idle: time.NewTimer(time.Hour), efd: -1})
	}
	return b
}

// NewPollBackend returns a backend with n queues that are link.Pollers: each
// has an eventfd that polls readable while frames wait, so an engine with
// fewer worker CPUs than queues serves them from one thread per CPU.
func NewPollBackend(n int) (*MemBackend, error) {
	b := NewMemBackend(n)
	for _, q := range b.queues {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			b.Close()
			return nil, err
		}
		q.efd = fd
	}
	return b, nil
}

// Queue returns queue i, for injecting frames.
func (b *MemBackend) Queue(i int) *MemQueue { return b.queues[i] }

// Queues implements link.Backend.
func (b *MemBackend) Queues() []link.Queue { return link.QueuesOf(b.queues) }

// Steer implements link.Backend: it records the rules for tests to inspect.
func (b *MemBackend) Steer(r link.Rules) error {
	b.mu.Lock()
	b.rules = r
	b.mu.Unlock()
	return nil
}

// Rules returns the steering rules last installed.
func (b *MemBackend) Rules() link.Rules {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rules
}

// Stats implements link.Backend: the in-memory backend loses nothing.
func (b *MemBackend) Stats() link.Stats { return link.Stats{} }

// Close implements link.Backend: it closes a poll backend's eventfds.
func (b *MemBackend) Close() error {
	for _, q := range b.queues {
		if q.efd >= 0 {
			unix.Close(q.efd)
			q.efd = -1
		}
	}
	return nil
}

// MemQueue is one queue of a MemBackend. Frames injected with Inject are
// received by the engine's worker; what the worker sends is handed to the
// OnSend callback (or collected for Sent).
type MemQueue struct {
	name string
	in   chan []byte
	idle *time.Timer // reused: waiting must not allocate
	buf  [Batch][Headroom + FrameRoom]byte
	efd  int // NewPollBackend's eventfd, or -1

	mu     sync.Mutex
	sent   []SentFrame                     // guarded by mu
	OnSend func(ifindex int, frame []byte) // if set, called instead of collecting
}

// SentFrame is a frame the engine transmitted.
type SentFrame struct {
	Ifindex int
	Data    []byte
}

// Inject queues a frame for the worker (copied on receipt).
func (q *MemQueue) Inject(frame []byte) {
	q.in <- frame
	q.signal()
}

// signal makes a poll queue's eventfd readable.
func (q *MemQueue) signal() {
	if q.efd >= 0 {
		one := [8]byte{1}
		_, _ = unix.Write(q.efd, one[:])
	}
}

// Sent returns and clears the frames transmitted so far.
func (q *MemQueue) Sent() []SentFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sent
	q.sent = nil
	return s
}

// Name implements link.Queue.
func (q *MemQueue) Name() string { return q.name }

// Recv implements link.Queue.
func (q *MemQueue) Recv(frames []link.Frame) int {
	if len(frames) == 0 {
		return 0
	}
	q.idle.Reset(5 * time.Millisecond)
	select {
	case f := <-q.in:
		q.idle.Stop()
		q.put(frames, 0, f)
	case <-q.idle.C:
		return 0
	}
	return q.drain(frames, 1)
}

// TryRecv implements link.Poller: the frames waiting, without waiting.
func (q *MemQueue) TryRecv(frames []link.Frame) int {
	if q.efd >= 0 {
		var cnt [8]byte
		_, _ = unix.Read(q.efd, cnt[:]) // reset; signalled again below if frames are left
	}
	n := q.drain(frames, 0)
	if len(q.in) > 0 {
		q.signal()
	}
	return n
}

// drain takes the frames waiting into frames[n:], up to Batch in all, and
// returns how many frames now hold.
func (q *MemQueue) drain(frames []link.Frame, n int) int {
	for ; n < len(frames) && n < Batch; n++ {
		select {
		case f := <-q.in:
			q.put(frames, n, f)
		default:
			return n
		}
	}
	return n
}

// put copies f into receive buffer n and points frames[n] at it.
func (q *MemQueue) put(frames []link.Frame, n int, f []byte) {
	b := q.buf[n][:]
	copy(b[Headroom:], f)
	frames[n] = link.Frame{Buf: b, Off: Headroom, Len: len(f)}
}

// WaitFD implements link.Poller: a NewPollBackend queue's eventfd, -1 for
// a NewMemBackend queue, whose Recv waits on its own.
func (q *MemQueue) WaitFD() int { return q.efd }

// Send implements link.Queue.
func (q *MemQueue) Send(frames []link.Frame) {
	for i := range frames {
		f := &frames[i]
		if q.OnSend != nil {
			q.OnSend(f.Ifindex, f.Data())
			continue
		}
		q.mu.Lock()
		q.sent = append(q.sent, SentFrame{Ifindex: f.Ifindex, Data: append([]byte(nil), f.Data()...)})
		q.mu.Unlock()
	}
}

// Release implements link.Queue.
func (q *MemQueue) Release([]link.Frame) {}
