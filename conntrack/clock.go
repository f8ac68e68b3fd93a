package conntrack

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarse is a process-wide monotonic clock read with one atomic load, where
// time.Now costs a vDSO call per packet. It is the default Config.Clock and
// always times the reuse grace period of freed entries, which is about real
// concurrency whatever clock a test injects.
//
// Who moves it: forwarding workers, once per batch (AdvanceClock), so it is
// exact to within a batch while traffic flows; every free, which stamps
// the entry with a fresh reading (see freshNow); and a goroutine of its own
// every coarseTick, so it keeps going when no worker is busy. That
// goroutine used to tick every millisecond alone: a thousand wake-ups a
// second of the control CPU on an idle director, each waking a thread or
// two of the Go runtime (perf trace: about 1.3 k epoll_pwait a second in
// an idle daemon), on the CPU the benchmarks' latency probes share.
var coarse struct {
	once  sync.Once
	start time.Time
	ns    atomic.Int64
}

// coarseTick is how often the clock's goroutine advances it: within the
// table's own tick (tickNs) plus a batch, and a fifth of the reuse grace.
const coarseTick = 10 * time.Millisecond

func startCoarseClock() {
	coarse.once.Do(func() {
		coarse.start = time.Now()
		coarse.ns.Store(1)
		go func() {
			for {
				time.Sleep(coarseTick)
				freshNow()
			}
		}()
	})
}

// AdvanceClock moves the tables' default clock to now. A forwarding worker
// calls it once per receive batch, before it looks the batch up, so the
// connections it stamps are as fresh as the batch; a program that drives a
// Table itself may call it, or leave the clock to its own goroutine
// (within coarseTick). It costs one clock reading and, when the clock
// moved, one compare-and-swap; it does not allocate.
func AdvanceClock() {
	if coarse.ns.Load() != 0 {
		freshNow()
	}
}

// coarseNow returns monotonic nanoseconds since the clock started, at most
// coarseTick old (a batch old while a worker is busy). A stale reading is
// the safe side of the reuse grace: it makes a freed entry look younger.
func coarseNow() int64 { return coarse.ns.Load() }

// freshNow advances the clock to now, unless another writer got further
// (the writers race, and it never goes backwards), and returns it: what a
// freed entry or block is stamped with, so that its rest cannot look
// longer than it was once a stale clock catches up.
func freshNow() int64 {
	now := int64(time.Since(coarse.start))
	for {
		old := coarse.ns.Load()
		if now <= old {
			return old
		}
		if coarse.ns.CompareAndSwap(old, now) {
			return now
		}
	}
}
