package conntrack

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarse is a process-wide clock that a goroutine advances every millisecond:
// reading it is one atomic load, where time.Now costs a vDSO call per packet.
// It is the default Config.Clock and always times the reuse grace period of
// freed entries, which is about real concurrency whatever clock a test
// injects.
var coarse struct {
	once  sync.Once
	start time.Time
	ns    atomic.Int64
}

func startCoarseClock() {
	coarse.once.Do(func() {
		coarse.start = time.Now()
		coarse.ns.Store(1)
		go func() {
			for {
				time.Sleep(time.Millisecond)
				coarse.ns.Store(int64(time.Since(coarse.start)))
			}
		}()
	})
}

// coarseNow returns monotonic nanoseconds since the clock started, to within
// a few milliseconds.
func coarseNow() int64 { return coarse.ns.Load() }
