package sched

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// TestLocCollectionOracle fills the lblc/lblcr table past the kernel's max_size (16384) so that the timer's
// partial collection (entries idle for 6 minutes, bounded by a goal, resumed from the rover) and the full check
// every 30th tick both run, and compares choices and the entry count with the reference tick by tick.
func TestLocCollectionOracle(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var now int64
			base := time.Unix(1700000000, 0)
			list := []*Dest{
				NewDest(1, v4(10, 0, 0, 1), 80, 3),
				NewDest(2, v4(10, 0, 0, 2), 80, 2),
				NewDest(3, v4(10, 0, 0, 3), 80, 1),
			}
			opts := Options{Now: func() time.Time { return base.Add(time.Duration(now)) }, LBLCExpiration: 40 * time.Minute}
			s, err := New(name, list, opts)
			if err != nil {
				t.Fatal(err)
			}
			fast := s.(*locSched)
			ref := newRef(name, opts, nil)
			ref.update(list)
			var conns []*Dest
			pick := func(a [16]byte) {
				f := Flow{Tuple: flow.Tuple{Proto: 6, Dst: a}, Family: 4}
				got, want := fast.Pick(&f), ref.pick(&f, now)
				if got != want {
					t.Fatalf("t=%v dst %v: got %v, want %v", time.Duration(now), a[12:], got.ID, want.ID)
				}
				// Keep the least-connection choice moving so that cached entries matter.
				if got != nil {
					got.AddConn(true)
					conns = append(conns, got)
				}
				if len(conns) > 50 {
					k := r.IntN(len(conns))
					conns[k].RemoveConn(true)
					conns[k] = conns[len(conns)-1]
					conns = conns[:len(conns)-1]
				}
			}
			addr := func(i int) [16]byte { return v4(11, byte(i>>16), byte(i>>8), byte(i)) }
			const n = 18000
			for i := 0; i < n; i++ {
				now += int64(5 * time.Millisecond)
				pick(addr(i))
			}
			for tick := 0; tick < 70; tick++ {
				now += int64(61 * time.Second)
				for k := 0; k < 200; k++ {
					pick(addr(r.IntN(n + 2000)))
				}
				if got, want := int(fast.entries.Load()), ref.(*refLoc).entries; got != want {
					t.Fatalf("tick %d: %d entries, reference %d", tick, got, want)
				}
			}
			if e := fast.entries.Load(); e >= n {
				t.Fatalf("collection never ran: %d entries", e)
			}
		})
	}
}

// TestLocKeepsRemovedServers: an entry naming a server that left the service is not used (the kernel's
// IP_VS_DEST_F_AVAILABLE is clear in its trash) and is replaced on next use; a server re-added with the same *Dest
// is available again.
func TestLocKeepsRemovedServers(t *testing.T) {
	a, b := NewDest(1, v4(10, 0, 0, 1), 80, 1), NewDest(2, v4(10, 0, 0, 2), 80, 1)
	s, err := New("lblc", []*Dest{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := Flow{Tuple: flow.Tuple{Proto: 6, Dst: v4(198, 19, 0, 1)}, Family: 4}
	if got := s.Pick(&f); got != a {
		t.Fatalf("first pick %v, want a", got.ID)
	}
	b.AddConn(true) // b busier than a
	if err := s.Update([]*Dest{b}); err != nil {
		t.Fatal(err)
	}
	if got := s.Pick(&f); got != b {
		t.Fatalf("after removing a: %v, want b", got)
	}
	if err := s.Update([]*Dest{a, b}); err != nil {
		t.Fatal(err)
	}
	if got := s.Pick(&f); got != b {
		t.Fatalf("entry now names b, got %v", got.ID)
	}
}

// TestLBLCIgnoresThresholdFlagOnCachedServer pins a kernel quirk: ip_vs_lblc_schedule checks a cached server's
// weight and its own is_overloaded(), not IP_VS_DEST_F_OVERLOAD.
func TestLBLCIgnoresThresholdFlagOnCachedServer(t *testing.T) {
	a, b := NewDest(1, v4(10, 0, 0, 1), 80, 5), NewDest(2, v4(10, 0, 0, 2), 80, 5)
	s, err := New("lblc", []*Dest{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := Flow{Tuple: flow.Tuple{Proto: 6, Dst: v4(198, 19, 0, 1)}, Family: 4}
	if got := s.Pick(&f); got != a {
		t.Fatalf("got %v, want a", got.ID)
	}
	a.SetThresholds(1, 0)
	a.AddConn(true)
	if !a.Overloaded() {
		t.Fatal("a should be overloaded")
	}
	if got := s.Pick(&f); got != a {
		t.Fatalf("cached a: got %v", got.ID)
	}
	if got := s.Pick(&Flow{Tuple: flow.Tuple{Proto: 6, Dst: v4(198, 19, 0, 2)}, Family: 4}); got != b {
		t.Fatalf("new entry must skip overloaded a, got %v", got.ID)
	}
}
