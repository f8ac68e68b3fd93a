package link

// Queue is one receive queue of a backend, served by exactly one worker.
// Frames are batch-shaped in both directions.
type Queue interface {
	// Recv fills up to len(frames) frames, waiting at most a few milliseconds
	// when nothing is pending so the worker can notice a stop. Received frames
	// belong to the worker until it passes them to Release.
	Recv(frames []Frame) int
	// Send transmits frames on their Ifindex. The backend copies what it needs
	// before returning, except that a received frame it can transmit from
	// where it lies (AF_XDP: one leaving by the socket it came in on) it may
	// lend to the kernel uncopied: the worker must not write a sent frame
	// again, only Release it. Frames of the worker's own buffers are always
	// copied, and it owns them again when Send returns. A frame that cannot
	// be sent (full ring, unknown interface) is counted by the backend, not
	// retried.
	Send(frames []Frame)
	// Release gives received frames back to the backend for reuse; a frame
	// Send lent is reused once the kernel has sent it.
	Release(frames []Frame)
	// Name identifies the queue in statistics ("eth0/0").
	Name() string
}

// Poller is a Queue that one worker thread can serve together with other
// queues: it can be read without waiting, and waited on beside the others
// through its descriptor. A worker thread with more than one queue (more
// queues than worker CPUs) then sleeps once for all of them and finishes a
// batch of one before it turns to the next, instead of each queue's thread
// waking to preempt the other's on their shared CPU.
type Poller interface {
	Queue
	// TryRecv is Recv without the wait: it returns 0 at once when nothing
	// is pending.
	TryRecv(frames []Frame) int
	// WaitFD is a descriptor that polls readable (POLLIN) when TryRecv has
	// frames to give, or -1 when the queue cannot be waited on that way
	// (and must be served by a Recv of its own).
	WaitFD() int
}

// Backend opens the queues of a set of interfaces and steers the service
// traffic to them.
type Backend interface {
	// Queues returns the queues to run a worker for.
	Queues() []Queue
	// Steer tells the backend which traffic to hand to the queues: packets
	// for the services and, on NAT, the real servers' replies. It is called
	// whenever the configuration changes.
	Steer(rules Rules) error
	// Stats returns the backend's own counters: what it and the kernel
	// beneath it lost (ring overruns, transmit failures) and what else it
	// counts. The engine lists them beside its workers' drops.
	Stats() Stats
	// Close stops steering, releases the queues and detaches from the
	// interfaces. It is safe to call more than once.
	Close() error
}

// Releaser is a Backend that can stop for a successor: Release is Close,
// except that what holds the interfaces' traffic across a restart (AF_XDP's
// pinned steering links) stays, so the next daemon takes over with no
// packet reaching the kernel meanwhile.
type Releaser interface {
	Release() error
}

// QueuesOf returns a backend's own queues as Queues, a fresh slice, for its
// Queues method.
func QueuesOf[Q Queue](qs []Q) []Queue {
	out := make([]Queue, len(qs))
	for i, q := range qs {
		out[i] = q
	}
	return out
}
