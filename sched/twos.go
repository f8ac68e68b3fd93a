package sched

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// twosSched is ip_vs_twos: draw two servers at random with probability proportional to weight, keep the one with
// the lower overhead/weight. The kernel draws r = prandom_u32() % (sum+1) and walks the list subtracting weights
// until r <= 0; here a Fenwick tree of the servers' effective weights (weight when available, else 0), kept current
// by the Dest watchers with atomic adds, finds the same server in O(log n).
type twosSched struct {
	mu  sync.Mutex // serialises Update
	st  atomic.Pointer[twosState]
	rng func() uint32 // nil: math/rand/v2's per-thread generator; tests inject a deterministic one
}

type twosState struct {
	dests []*Dest
	fen   []atomic.Int64 // 1-based Fenwick tree of effective weights over top slots (the tail is zero)
	leaf  []atomic.Int64 // effective weight as last added to fen
	total atomic.Int64
	top   int // power of two >= len(dests); fen has 2*top entries, index 0 and those above top unused
}

func twosWeight(d *Dest) int64 {
	if d.overload.Load() {
		return 0
	}
	if w := d.weight.Load(); w > 0 {
		return int64(w)
	}
	return 0
}

// changed implements watcher: swap in the new effective weight and add the difference. The loop re-reads the
// Dest so that racing changes of one server settle on its latest state.
func (st *twosState) changed(idx int32) {
	d := st.dests[idx]
	for {
		w := twosWeight(d)
		if old := st.leaf[idx].Swap(w); old != w {
			st.add(int(idx), w-old)
		}
		if twosWeight(d) == w {
			return
		}
	}
}

func (st *twosState) add(i int, delta int64) {
	st.total.Add(delta)
	for j := i + 1; j <= st.top; j += j & -j {
		st.fen[j].Add(delta)
	}
}

// find returns the first index whose prefix sum of effective weights reaches r (1 <= r <= total), or -1 when
// the tree moved under us. The tree is padded to a power of two so that the descent has no bounds test, and each
// step is branch-free: the comparisons are data dependent and would mispredict half the time.
func (st *twosState) find(r int64) int {
	pos := 0
	fen := st.fen[:2*st.top]
	for step := st.top; step > 0; step >>= 1 {
		v := fen[pos+step].Load()
		lt := (v - r) >> 63 // -1 when v < r; both stay far below 2^62
		pos += step & int(lt)
		r -= v & lt
	}
	if pos >= len(st.dests) {
		return -1
	}
	return pos
}

func (s *twosSched) Name() string { return "twos" }

// draw returns prandom_u32() % n, as the kernel does for n up to 2^32; larger sums (which overflow the kernel's
// int) use 64 random bits.
func (s *twosSched) draw(n int64) int64 {
	if n <= 1<<32 {
		var r uint32
		if s.rng != nil {
			r = s.rng()
		} else {
			r = rand.Uint32()
		}
		return int64(uint64(r) % uint64(n))
	}
	var r uint64
	if s.rng != nil {
		r = uint64(s.rng())<<32 | uint64(s.rng())
	} else {
		r = rand.Uint64()
	}
	return int64(r % uint64(n))
}

func (s *twosSched) Pick(*Flow) *Dest {
	st := s.st.Load()
	total := st.total.Load()
	if total <= 0 {
		return nil
	}
	r1, r2 := s.draw(total+1), s.draw(total+1)
	i1, i2 := st.find(max(r1, 1)), st.find(max(r2, 1))
	if i1 < 0 || i2 < 0 {
		return s.walk(st)
	}
	d1, d2 := st.dests[i1], st.dests[i2]
	w1, w2 := twosWeight(d1), twosWeight(d2)
	if w1 == 0 || w2 == 0 {
		return s.walk(st) // the tree was behind a concurrent change
	}
	return twosChoose(d1, d2, w1, w2)
}

// twosChoose is the kernel's final comparison, weight2*overhead1 > weight1*overhead2 in 32-bit int.
func twosChoose(d1, d2 *Dest, w1, w2 int64) *Dest {
	if int32(w2)*d1.connOverhead() > int32(w1)*d2.connOverhead() {
		return d2
	}
	return d1
}

// walk is ip_vs_twos_schedule itself, with fresh draws; it runs only when the Fenwick tree was caught mid-change.
func (s *twosSched) walk(st *twosState) *Dest {
	var total int64
	for _, d := range st.dests {
		total += twosWeight(d)
	}
	if total == 0 {
		return nil
	}
	r1, r2 := s.draw(total+1), s.draw(total+1)
	var d1, d2 *Dest
	var w1, w2 int64
	for _, d := range st.dests {
		w := twosWeight(d)
		if w == 0 {
			continue
		}
		r1 -= w
		r2 -= w
		if r1 <= 0 && d1 == nil {
			d1, w1 = d, w
		}
		if r2 <= 0 && d2 == nil {
			d2, w2 = d, w
		}
		if d1 != nil && d2 != nil {
			break
		}
	}
	if d1 == nil || d2 == nil {
		return nil // weights changed under us; the caller may retry
	}
	return twosChoose(d1, d2, w1, w2)
}

func (s *twosSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	top := 1
	for top < len(dests) {
		top <<= 1
	}
	st := &twosState{
		dests: dests,
		fen:   make([]atomic.Int64, 2*top),
		leaf:  make([]atomic.Int64, len(dests)),
		top:   top,
	}
	watchAll(dests, st)
	for i := range dests {
		st.changed(int32(i))
	}
	old := s.st.Load()
	s.st.Store(st)
	if old != nil {
		releaseRemoved(old.dests, old)
	}
	return nil
}
