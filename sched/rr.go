package sched

import (
	"sync"
	"sync/atomic"
)

// rrSched is ip_vs_rr: the next available server after the last one picked, in list order.
type rrSched struct {
	mu sync.Mutex // serialises Update
	st atomic.Pointer[rrState]
}

type rrState struct {
	dests []*Dest
	// last is the index of the last pick, -1 for the list head (the kernel's svc->sched_data). Picks advance it
	// with compare-and-swap, so concurrent Picks never wait on each other.
	last atomic.Int64
}

func (s *rrSched) Name() string { return "rr" }

// Pick scans at most one full round, starting after the last pick and ending with the last pick itself (from the
// head: one pass), as ip_vs_rr_schedule does; on failure the cursor stays.
func (s *rrSched) Pick(*Flow) *Dest {
	st := s.st.Load()
	n := int64(len(st.dests))
	for {
		last := st.last.Load()
		j := last + 1
		if j >= n {
			j = 0
		}
		var found *Dest
		for i := int64(0); i < n; i++ {
			if d := st.dests[j]; d.Available() {
				found = d
				break
			}
			if j++; j == n {
				j = 0
			}
		}
		if found == nil {
			return nil
		}
		if st.last.CompareAndSwap(last, j) {
			return found
		}
	}
}

// Update keeps the cursor on the last-picked server; if it was removed, the cursor moves back to the nearest
// surviving server before it, or to the head, as ip_vs_rr_del_dest does one removal at a time.
func (s *rrSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unwatch(dests)
	st := &rrState{dests: dests}
	st.last.Store(-1)
	if old := s.st.Load(); old != nil {
		pos := make(map[*Dest]int64, len(dests))
		for i, d := range dests {
			pos[d] = int64(i)
		}
		for i := old.last.Load(); i >= 0 && i < int64(len(old.dests)); i-- {
			if p, ok := pos[old.dests[i]]; ok {
				st.last.Store(p)
				break
			}
		}
	}
	s.st.Store(st)
	return nil
}
