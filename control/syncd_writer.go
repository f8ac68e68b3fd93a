package control

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/connsync"
)

// SyncSwitch is one forwarding worker's sync writer for the engine
// (forwarder.SyncMaster.Writer hands one to each worker): it forwards to
// the running master's connsync.Writer for that worker, and drops (and
// counts) while no master runs, so a master can start and stop while the
// engine runs. The packet path takes no lock and allocates nothing: the
// target is an atomic pointer, and a sequence number says when the worker
// is inside a call, so SyncDaemons can wait for it to leave an old writer
// before closing that writer's socket.
type SyncSwitch struct {
	cur atomic.Pointer[connsync.Writer]
	// seq is odd while the worker is inside Add or Flush.
	seq atomic.Uint64
	// unsent counts entries handed over while no master ran.
	unsent atomic.Uint64
	_      [40]byte // keeps two workers' switches off one cache line
}

// Add hands c to the running master's writer, or counts it as unsent.
// Only the switch's worker calls it.
func (s *SyncSwitch) Add(c *connsync.Conn, now time.Time) error {
	s.seq.Add(1)
	var err error
	if w := s.cur.Load(); w != nil {
		err = w.Add(c, now)
	} else {
		s.unsent.Add(1)
	}
	s.seq.Add(1)
	return err
}

// Flush flushes the running master's writer, if any.
func (s *SyncSwitch) Flush(now time.Time, force bool) {
	s.seq.Add(1)
	if w := s.cur.Load(); w != nil {
		w.Flush(now, force)
	}
	s.seq.Add(1)
}

// swap points the switch at w (nil: none) and returns once the worker is
// no longer inside a call that may use the old writer, which the caller
// then owns. The worker's store of seq comes before its load of cur, and
// ours of cur before our load of seq (Go's atomics are sequentially
// consistent), so a call that we see outside, or that starts after we
// looked, reads the new writer.
func (s *SyncSwitch) swap(w *connsync.Writer) *connsync.Writer {
	old := s.cur.Swap(w)
	if v := s.seq.Load(); v&1 == 1 {
		for s.seq.Load() == v {
			runtime.Gosched()
		}
	}
	return old
}
