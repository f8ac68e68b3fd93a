package sched

import (
	"sync"
	"sync/atomic"
)

// leastKind selects the rule of one scan-the-servers scheduler. Each kernel scheduler of this family walks the
// list and keeps the first server that no later server beats strictly; eligible and beats below are those rules,
// with the kernel's integer types.
type leastKind uint8

const (
	kindLC  leastKind = iota // ip_vs_lc: least (active<<8)+inactive, unsigned compare
	kindWLC                  // ip_vs_wlc: least overhead/weight, compared as s64 cross products
	kindSED                  // ip_vs_sed: least (active+1)/weight
	kindNQ                   // ip_vs_nq: first idle server, else least (active+1)/weight
	kindFO                   // ip_vs_fo: highest weight
	kindOVF                  // ip_vs_ovf: highest weight whose active connections do not exceed it
)

// eligible reports whether the kernel's scan would consider d at all.
func (k leastKind) eligible(d *Dest) bool {
	if d.overload.Load() {
		return false
	}
	w := d.weight.Load()
	if k == kindOVF {
		return w != 0 && d.active.Load() <= w
	}
	return w > 0
}

// beats reports whether b, later in the list, replaces the current choice a.
func (k leastKind) beats(b, a *Dest) bool {
	switch k {
	case kindLC:
		return uint32(b.connOverhead()) < uint32(a.connOverhead())
	case kindWLC:
		return int64(a.connOverhead())*int64(b.weight.Load()) > int64(b.connOverhead())*int64(a.weight.Load())
	case kindSED:
		return sedBeats(b, a)
	case kindNQ:
		if a.active.Load() == 0 {
			return false // the kernel returned a at once
		}
		if b.active.Load() == 0 {
			return true
		}
		return sedBeats(b, a)
	default: // kindFO, kindOVF
		return b.weight.Load() > a.weight.Load()
	}
}

// sedBeats compares (active+1)/weight; the overheads are unsigned int, the products s64.
func sedBeats(b, a *Dest) bool {
	ao := int64(uint32(a.active.Load() + 1))
	bo := int64(uint32(b.active.Load() + 1))
	return ao*int64(b.weight.Load()) > bo*int64(a.weight.Load())
}

// scan is the kernel's linear walk, used when a tree answer turns out stale.
func (k leastKind) scan(dests []*Dest) *Dest {
	var best *Dest
	for _, d := range dests {
		if !k.eligible(d) {
			continue
		}
		if best == nil || k.beats(d, best) {
			best = d
			if k == kindNQ && d.active.Load() == 0 {
				return d
			}
		}
	}
	return best
}

// leastTree is a tournament tree over the destination list: each internal node holds the winner of its two
// subtrees under the kind's rule, ties to the left (lower index), so the root is exactly the server the kernel's
// scan would find. Pick reads the root in O(1). Every counter, weight or overload change on a Dest refreshes the
// O(log n) nodes above its leaf.
//
// Refreshes run concurrently without locks: a node packs a version with the winner and is replaced by
// compare-and-swap; a refresher whose swap fails refreshes once more. The second attempt either succeeds with
// children read after its own change, or fails because another refresher swapped in a value computed from
// children read after that change (Jayanti's double refresh), so a quiescent tree is always exact.
type leastTree struct {
	kind  leastKind
	dests []*Dest
	size  int             // leaves, a power of two >= len(dests), >= 2
	nodes []atomic.Uint64 // 1..size-1; version<<32 | winner index (noWinner: none)
	pos   map[*Dest]int32 // list membership, for lblc/lblcr (nil otherwise)
}

const noWinner = 0xFFFFFFFF

func newLeastTree(kind leastKind, dests []*Dest) *leastTree {
	size := 2
	for size < len(dests) {
		size <<= 1
	}
	t := &leastTree{kind: kind, dests: dests, size: size, nodes: make([]atomic.Uint64, size)}
	for k := 1; k < size; k++ {
		t.nodes[k].Store(noWinner)
	}
	return t
}

func (t *leastTree) winner(k int) uint32 {
	if k >= t.size {
		i := k - t.size
		if i < len(t.dests) && t.kind.eligible(t.dests[i]) {
			return uint32(i)
		}
		return noWinner
	}
	return uint32(t.nodes[k].Load())
}

func (t *leastTree) refresh(k int) bool {
	old := t.nodes[k].Load()
	a, b := t.winner(2*k), t.winner(2*k+1)
	w := a
	if a == noWinner || (b != noWinner && t.kind.beats(t.dests[b], t.dests[a])) {
		w = b
	}
	return t.nodes[k].CompareAndSwap(old, (old>>32+1)<<32|uint64(w))
}

// changed implements watcher.
func (t *leastTree) changed(idx int32) {
	for k := (t.size + int(idx)) >> 1; k >= 1; k >>= 1 {
		if !t.refresh(k) {
			t.refresh(k)
		}
	}
}

func (t *leastTree) rebuild() {
	for k := t.size - 1; k >= 1; k-- {
		if !t.refresh(k) {
			t.refresh(k)
		}
	}
}

// pick returns the root's winner. If a concurrent change left it stale (no longer eligible), the kernel's scan
// answers instead, so a quiescent or overloaded server is never returned.
func (t *leastTree) pick() *Dest {
	w := uint32(t.nodes[1].Load())
	if w == noWinner {
		return nil
	}
	if d := t.dests[w]; t.kind.eligible(d) {
		return d
	}
	return t.kind.scan(t.dests)
}

// leastSched serves lc, wlc, sed, nq, fo and ovf.
type leastSched struct {
	name string
	kind leastKind
	mu   sync.Mutex // serialises Update
	st   atomic.Pointer[leastTree]
}

func newLeastSched(name string, kind leastKind) *leastSched {
	return &leastSched{name: name, kind: kind}
}

func (s *leastSched) Name() string { return s.name }

func (s *leastSched) Pick(*Flow) *Dest { return s.st.Load().pick() }

func (s *leastSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Store(installTree(s.kind, dests, s.st.Load(), false))
	return nil
}

// installTree builds a tree for dests, points the destinations at it, fills it from live counters (after
// re-pointing, so that no change is missed) and releases destinations that left.
func installTree(kind leastKind, dests []*Dest, old *leastTree, withPos bool) *leastTree {
	t := newLeastTree(kind, dests)
	if withPos {
		t.pos = make(map[*Dest]int32, len(dests))
		for i, d := range dests {
			t.pos[d] = int32(i)
		}
	}
	watchAll(dests, t)
	t.rebuild()
	if old != nil {
		releaseRemoved(old.dests, old)
	}
	return t
}
