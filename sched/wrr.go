package sched

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// wrrMaxSchedule bounds the precomputed wrr cycle (sum of weight/gcd). Above it, Pick runs the kernel's walk under
// a short lock instead.
const wrrMaxSchedule = 1 << 16

// wrrSched is ip_vs_wrr. The kernel keeps a mark (cl: last dest picked or the list head, cw: current weight) and
// walks the list in passes cw = mw, mw-di, ..., 1 where mw = max - (di-1), di = gcd. The sequence of (pass, dest)
// pairs it can ever return — dests with weight >= cw, pass by pass — depends only on the weights, so Update lays it
// out once as a schedule of sum(weight)/gcd slots and Pick moves an atomic cursor over it, skipping slots whose
// server is unavailable right now, exactly as the kernel skips overloaded servers within a pass. When the schedule
// would exceed wrrMaxSchedule slots (huge, coprime weights) the kernel's walk runs directly under a mutex, with
// passes that nobody can qualify for skipped arithmetically.
type wrrSched struct {
	mu sync.Mutex // serialises Update
	st atomic.Pointer[wrrState]
}

type wrrState struct {
	dests []*Dest
	mw    int64 // max weight - (di - 1); 0 when no weight is positive
	di    int64 // gcd of positive weights, 1 when none

	// Schedule form.
	slots     []int32 // dest index per slot, pass by pass
	passStart []int32 // first slot of each pass, plus len(slots) at the end
	// cur packs the kernel mark: slot<<1 | fresh. fresh=1: cl is the list head and cw is the pass of slot
	// (the state right after init or an edit). fresh=0: slot-1 (cyclically) is the last pick, cl and cw are its.
	cur atomic.Uint64

	// Walk form (schedule too large), guarded by mu.
	mu sync.Mutex
	cl int   // index of last pick, -1 for head
	cw int64 // current weight
}

func (s *wrrSched) Name() string { return "wrr" }

func (s *wrrSched) Pick(*Flow) *Dest {
	st := s.st.Load()
	if st.mw == 0 {
		return nil // err_noavail: no positive weight
	}
	if st.slots == nil {
		return st.walkPick()
	}
	n := len(st.slots)
	for {
		c := st.cur.Load()
		j := int(c >> 1)
		scan := n
		if !st.dests[st.slots[j]].Available() && !anyAvailable(st.dests) {
			scan = 0 // a whole-cycle scan would find nothing; skip it
		}
		for i := 0; i < scan; i++ {
			if d := st.dests[st.slots[j]]; d.Available() {
				next := j + 1
				if next == n {
					next = 0
				}
				if st.cur.CompareAndSwap(c, uint64(next)<<1) {
					return d
				}
				goto retry
			}
			if j++; j == n {
				j = 0
			}
		}
		// Nothing available. The kernel leaves its mark alone when it started inside the last pass (cw <= di)
		// after a pick, and otherwise ends on the list head with cw = mw.
		if c&1 == 1 || st.passOf(prevSlot(int(c>>1), n)) != len(st.passStart)-2 {
			if c != 1 && !st.cur.CompareAndSwap(c, 1) {
				continue
			}
		}
		return nil
	retry:
	}
}

func anyAvailable(dests []*Dest) bool {
	for _, d := range dests {
		if d.Available() {
			return true
		}
	}
	return false
}

func prevSlot(j, n int) int {
	if j == 0 {
		return n - 1
	}
	return j - 1
}

// passOf returns the pass that slot j belongs to.
func (st *wrrState) passOf(j int) int {
	return sort.Search(len(st.passStart)-1, func(k int) bool { return st.passStart[k+1] > int32(j) })
}

// markCW returns the kernel's cw for the current mark.
func (st *wrrState) markCW() int64 {
	if st.mw == 0 {
		return 0
	}
	if st.slots == nil {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.cw
	}
	c := st.cur.Load()
	j := int(c >> 1)
	if c&1 == 0 {
		j = prevSlot(j, len(st.slots))
	}
	return st.mw - int64(st.passOf(j))*st.di
}

// walkPick is ip_vs_wrr_schedule with live weights, for schedules too large to lay out. Passes in which no
// available server qualifies are skipped arithmetically instead of one by one; the kernel would walk them without
// a hit, so the choice is the same.
func (st *wrrState) walkPick() *Dest {
	st.mu.Lock()
	defer st.mu.Unlock()
	var top int64 // highest weight among available servers
	for _, d := range st.dests {
		if w := int64(d.weight.Load()); w > top && !d.overload.Load() {
			top = w
		}
	}
	if top == 0 {
		if st.cl == -1 || st.cw > st.di {
			st.cl, st.cw = -1, st.mw
		}
		return nil
	}
	for i := st.cl + 1; i < len(st.dests); i++ {
		if d := st.dests[i]; !d.overload.Load() && int64(d.weight.Load()) >= st.cw {
			st.cl = i
			return d
		}
	}
	// top was read from live servers; should they all become unavailable meanwhile, give up after two wraps
	// instead of walking forever.
	for wraps := 0; wraps < 2; {
		st.cw -= st.di
		if st.cw <= 0 {
			st.cw = st.mw
			wraps++
		}
		if st.cw > top {
			k := (st.mw - top + st.di - 1) / st.di
			st.cw = st.mw - k*st.di
		}
		for i, d := range st.dests {
			if !d.overload.Load() && int64(d.weight.Load()) >= st.cw {
				st.cl = i
				return d
			}
		}
	}
	return nil
}

// Update recomputes gcd and max weight and restarts from the list head with cw carried over as
// ip_vs_wrr_dest_changed does.
func (s *wrrSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unwatch(dests)

	st := &wrrState{dests: dests, cl: -1}
	weights := make([]int64, len(dests))
	var g, max int64
	for i, d := range dests {
		w := int64(d.weight.Load())
		weights[i] = w
		if w > 0 {
			g = gcd(w, g)
		}
		if w > max {
			max = w
		}
	}
	if g == 0 {
		g = 1
	}
	st.di = g
	st.mw = max - (g - 1)

	var cw int64
	if old := s.st.Load(); old != nil {
		cw = old.markCW()
	} else {
		cw = st.mw // init_svc
	}
	if cw > st.mw || cw == 0 {
		cw = st.mw
	} else if st.di > 1 {
		cw = (cw/st.di)*st.di + 1
	}
	st.cw = cw

	if st.mw > 0 {
		var total int64
		for _, w := range weights {
			if w > 0 {
				total += w / g
			}
		}
		if total <= wrrMaxSchedule {
			st.build(weights)
			k := (st.mw - cw) / st.di
			st.cur.Store(uint64(st.passStart[k])<<1 | 1)
		}
	}
	s.st.Store(st)
	return nil
}

// build lays out the passes: in pass k (cw = mw - k*di) every server with weight >= cw, in list order. A server
// of weight w joins at pass (max-w)/di and stays to the last pass, so servers are merged in by joining pass.
func (st *wrrState) build(weights []int64) {
	passes := int((st.mw + st.di - 1) / st.di) // max/di
	type join struct {
		pass int
		idx  int32
	}
	var joins []join
	for i, w := range weights {
		if w > 0 {
			k := st.mw - w
			if k < 0 {
				k = 0
			}
			joins = append(joins, join{int((k + st.di - 1) / st.di), int32(i)})
		}
	}
	slices.SortFunc(joins, func(a, b join) int { return a.pass - b.pass })
	st.passStart = make([]int32, 0, passes+1)
	var in []int32
	next := 0
	for k := 0; k < passes; k++ {
		added := false
		for next < len(joins) && joins[next].pass <= k {
			in = append(in, joins[next].idx)
			next++
			added = true
		}
		if added {
			slices.Sort(in)
		}
		st.passStart = append(st.passStart, int32(len(st.slots)))
		st.slots = append(st.slots, in...)
	}
	st.passStart = append(st.passStart, int32(len(st.slots)))
}
