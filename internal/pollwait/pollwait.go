//go:build linux

// Package pollwait owns how a forwarding worker waits for its next frame
// on one or more receive descriptors without costing the Go runtime's
// scheduler: a busy worker waits in a raw ppoll the runtime does not see,
// an idle one in the runtime's poll, giving its P up now and then itself.
// The AF_XDP queue waits through it alone, and a worker thread serving
// several queues waits through it on all of theirs at once.
package pollwait

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// idleWait is how long an idle worker waits for a frame before it comes
// back empty, so it can notice a stop.
const idleWait = 5 * time.Millisecond

// busyWait is how long a busy worker, one that had frames in its last
// round, waits in a raw ppoll before it counts as idle.
const busyWait = time.Millisecond

// MaxSpin bounds Spin: a spin burns its CPU, and a queue silent for as
// long as the raw wait (busyWait) counts as idle anyway.
const MaxSpin = busyWait

// yieldEvery is how often an idle worker gives its P up of its own accord:
// well within sysmon's 10 ms time slice.
const yieldEvery = 5 * time.Millisecond

// monoStart is the origin of the waiters' clock (a monotonic reading).
var monoStart = time.Now()

// Waiter waits for any of a set of descriptors to poll readable. It belongs
// to the one goroutine that waits through it.
type Waiter struct {
	fds       []unix.PollFd
	busy      bool          // frames came in the last round
	spin      time.Duration // how long a busy waiter spins (Spin; 0: never)
	spinFrom  time.Duration // when the current spin began (0: not spinning)
	ts        unix.Timespec // the raw ppoll's timeout, which it writes back to
	lastYield time.Duration // when the worker last gave its P up, on monoStart's clock
}

// New returns a Waiter on fds, each waited on for POLLIN.
func New(fds ...int) *Waiter {
	w := &Waiter{fds: make([]unix.PollFd, len(fds))}
	for i, fd := range fds {
		w.fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	return w
}

// Spin makes a busy waiter spin for d (at most MaxSpin), looking at the
// descriptors' rings through its caller without sleeping, before its raw
// ppoll: for a thread that has its CPU to itself, where a frame that finds
// it spinning does not wait for a wake-up. The spin is paid in CPU time
// after every burst, so it is the operator's choice (xvs run
// --worker-spin); 0 turns it off.
func (w *Waiter) Spin(d time.Duration) { w.spin = min(max(d, 0), MaxSpin) }

// Spinning reports whether the next Wait returns at once because the
// waiter spins: a caller that has work to do before it sleeps (and only
// then) can leave it for a later round.
func (w *Waiter) Spinning() bool {
	return w.busy && w.spin > 0 && (w.spinFrom == 0 || time.Since(monoStart)-w.spinFrom < w.spin)
}

// Got tells the waiter that the last round had frames: the next wait is a
// busy one.
func (w *Waiter) Got() { w.busy, w.spinFrom = true, 0 }

// Wait waits until a descriptor is readable or the wait's time is up. A
// busy waiter (Got since the last whole wait without frames) first returns
// at once, for as long as it spins (Spin), then waits up to busyWait in a
// raw ppoll; an idle one waits up to idleWait in the runtime's poll. It
// reports false when the runtime's poll failed, and the caller should come
// back empty.
//
// Why two kinds. A worker is a goroutine locked to its thread that does not
// otherwise pass through the scheduler, so after 10 ms sysmon wants to
// preempt it, and if it finds it in a system call it takes its P there:
// handing a locked worker's P to another thread and back, each take keeping
// sysmon ticking every 20 µs for a millisecond or more on the control CPU.
// Measured under load before this split, a worker waiting in the runtime's
// poll had its P taken about a hundred times a second. So a busy worker
// waits where the runtime does not see it (it keeps its P, as between
// frames), and an idle one, which must release its P for others while it
// sleeps, gives it up every yieldEvery itself, which costs the same
// hand-over without waking sysmon.
//
// The raw wait may block, which a raw system call normally must not: the
// runtime counts the goroutine as running, so a stop-the-world cannot
// complete until it comes back. That is no longer than the stop's own
// preemption signal takes to arrive: ppoll is never restarted after a
// signal handler, so the signal ends the call with EINTR and the goroutine
// stops at its next function call; busyWait bounds it anyway.
func (w *Waiter) Wait() bool {
	if w.busy {
		if w.spin > 0 && w.spinning() {
			return true
		}
		w.busy = w.waitRaw()
		w.spinFrom = 0
		return true
	}
	if now := time.Since(monoStart); now-w.lastYield >= yieldEvery {
		runtime.Gosched()
		w.lastYield = now
	}
	_, err := unix.Poll(w.fds, int(idleWait/time.Millisecond))
	return err == nil
}

// spinning reports whether the spin that began at the first empty round
// since frames came is still on.
func (w *Waiter) spinning() bool {
	now := time.Since(monoStart)
	if w.spinFrom == 0 {
		w.spinFrom = now
	}
	return now-w.spinFrom < w.spin
}

// waitRaw is the busy wait. It reports whether the waiter is still busy:
// false once a whole wait passed without a descriptor ready.
func (w *Waiter) waitRaw() bool {
	// ppoll writes the time left back, so each call starts afresh.
	w.ts = unix.NsecToTimespec(int64(busyWait))
	n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&w.fds[0])), uintptr(len(w.fds)),
		uintptr(unsafe.Pointer(&w.ts)), 0, 0, 0)
	return n != 0 || e != 0
}
