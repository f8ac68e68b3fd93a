package conntrack

import (
	"sync"
	"testing"
	"time"
)

// TestAdvanceClock: AdvanceClock moves the coarse clock to now at once, a
// fresh reading never goes behind it, racing writers never take it back,
// and none of it allocates.
func TestAdvanceClock(t *testing.T) {
	startCoarseClock()
	before := coarseNow()
	time.Sleep(2 * time.Millisecond)
	AdvanceClock()
	if got := coarseNow(); got-before < int64(2*time.Millisecond) {
		t.Errorf("advanced by %v after a 2 ms sleep", time.Duration(got-before))
	}
	if f, c := freshNow(), coarseNow(); f != c || f < before {
		t.Errorf("freshNow %d, clock %d, earlier %d", f, c, before)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					AdvanceClock()
				}
			}
		}()
	}
	last := coarseNow()
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		now := coarseNow()
		if now < last {
			t.Fatalf("clock went back from %d to %d", last, now)
		}
		last = now
	}
	close(stop)
	wg.Wait()

	if a := testing.AllocsPerRun(1000, AdvanceClock); a != 0 {
		t.Errorf("AdvanceClock: %v allocs", a)
	}
}
