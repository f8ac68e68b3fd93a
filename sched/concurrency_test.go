package sched

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

// TestConcurrentPickUpdate: pickers bind, flip and release connections on what they pick while another goroutine
// edits weights and membership for the first half of the run. Every answer must be a server that was installed.
// The second half runs on a fixed list with concurrent counter changes only; once everything stops, the
// least-connection trees must agree exactly with the kernel's scan, and the twos sums with the servers' effective
// weights (the lock-free refresh loses nothing).
func TestConcurrentPickUpdate(t *testing.T) {
	pickers, rounds := 4, 3000
	if testing.Short() {
		rounds = 500
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			pool := mkDests(5, 3, 1, 0, 2, 4, 1, 1, 6, 2, 7, 3)
			valid := map[*Dest]bool{}
			for i, d := range pool {
				valid[d] = true
				if i%3 == 0 {
					d.SetThresholds(4, 2)
				}
			}
			s := mustNew(t, name, pool[:8], Options{MHTableSize: 251})
			var progress atomic.Int64
			var bad atomic.Pointer[string]
			fail := func(msg string) { bad.CompareAndSwap(nil, &msg) }

			var pickersWG, updaterWG sync.WaitGroup
			for p := 0; p < pickers; p++ {
				pickersWG.Add(1)
				go func(seed uint64) {
					defer pickersWG.Done()
					r := rand.New(rand.NewPCG(seed, 1))
					type held struct {
						d      *Dest
						active bool
					}
					var conns []held
					for i := 0; i < rounds; i++ {
						progress.Add(1)
						f := Flow{Tuple: flow.Tuple{Proto: 6, Src: v4(198, 18, byte(r.IntN(64)), 1), Dst: v4(198, 19, 0, byte(r.IntN(64))), SrcPort: uint16(r.IntN(1000))}, Family: 4}
						if d := s.Pick(&f); d != nil {
							if !valid[d] {
								fail("picked a server that was never installed")
								return
							}
							c := held{d, r.IntN(2) == 0}
							d.AddConn(c.active)
							conns = append(conns, c)
						}
						if len(conns) > 20 {
							k := r.IntN(len(conns))
							if r.IntN(3) == 0 {
								conns[k].active = !conns[k].active
								conns[k].d.SetActive(conns[k].active)
							} else {
								conns[k].d.RemoveConn(conns[k].active)
								conns[k] = conns[len(conns)-1]
								conns = conns[:len(conns)-1]
							}
						}
					}
					for _, c := range conns[:len(conns)/2] {
						c.d.RemoveConn(c.active)
					}
				}(uint64(p))
			}
			var final []*Dest
			updaterWG.Add(1)
			go func() {
				defer updaterWG.Done()
				r := rand.New(rand.NewPCG(99, 1))
				for progress.Load() < int64(pickers*rounds/2) {
					list := append([]*Dest(nil), pool...)
					r.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
					list = list[:4+r.IntN(len(list)-4)]
					list[0].SetWeight(int32(r.IntN(6)))
					if err := s.Update(list); err != nil {
						fail(err.Error())
						return
					}
					final = list
				}
			}()
			updaterWG.Wait()
			pickersWG.Wait()
			if msg := bad.Load(); msg != nil {
				t.Fatal(*msg)
			}
			if final == nil {
				t.Skip("the pickers finished before the first update")
			}
			checkQuiescent(t, name, s, final)
		})
	}
}

// checkQuiescent compares the settled state with the reference scan.
func checkQuiescent(t *testing.T, name string, s Scheduler, list []*Dest) {
	t.Helper()
	switch name {
	case "lc", "wlc", "sed", "nq", "fo", "ovf":
		ref := &refLeast{name: name}
		ref.update(list)
		tree := s.(*leastSched).st.Load()
		if got, want := tree.pick(), ref.pick(nil, 0); got != want {
			t.Fatalf("settled %s: got %v, want %v", name, got, want)
		}
		for k := 1; k < tree.size; k++ {
			before := tree.nodes[k].Load()
			tree.refresh(k)
			if uint32(tree.nodes[k].Load()) != uint32(before) {
				t.Fatalf("settled %s: node %d was stale", name, k)
			}
		}
	case "twos":
		st := s.(*twosSched).st.Load()
		var prefix int64
		for i, d := range st.dests {
			prefix += twosWeight(d)
			var fen int64
			for j := i + 1; j > 0; j -= j & -j {
				fen += st.fen[j].Load()
			}
			if fen != prefix {
				t.Fatalf("settled twos: prefix %d is %d, want %d", i, fen, prefix)
			}
		}
		if got := st.total.Load(); got != prefix {
			t.Fatalf("settled twos: total %d, want %d", got, prefix)
		}
	}
}
