package control

import (
	"net/netip"
	"testing"
	"time"
)

func TestSyncSwitchIdle(t *testing.T) {
	var s SyncSwitch
	c := syncConn(netip.MustParseAddr("198.19.0.1"), 1)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { _ = s.Add(&c, now); s.Flush(now, false) }); n != 0 {
		t.Errorf("an idle switch allocates %v times", n)
	}
	if s.unsent.Load() != 101 || s.seq.Load()%2 != 0 {
		t.Errorf("unsent %d seq %d", s.unsent.Load(), s.seq.Load())
	}
	if old := s.swap(nil); old != nil {
		t.Error("swap of an idle switch returned a writer")
	}
}

// BenchmarkSyncSwitch is what the switch adds to a worker's sync entry and
// to its per-poll flush when no master runs (with one, connsync.Writer's
// own cost follows).
func BenchmarkSyncSwitch(b *testing.B) {
	var s SyncSwitch
	c := syncConn(netip.MustParseAddr("198.19.0.1"), 1)
	now := time.Now()
	b.ReportAllocs()
	b.Run("add", func(b *testing.B) {
		for range b.N {
			_ = s.Add(&c, now)
		}
	})
	b.Run("flush", func(b *testing.B) {
		for range b.N {
			s.Flush(now, false)
		}
	})
}
