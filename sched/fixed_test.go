package sched

import (
	"testing"

	"github.com/xvs-project/xvs/flow"
)

func mkDests(weights ...int32) []*Dest {
	ds := make([]*Dest, len(weights))
	for i, w := range weights {
		ds[i] = NewDest(uint32(i), v4(10, 0, 0, byte(i+1)), 80, w)
	}
	return ds
}

func mustNew(t *testing.T, name string, ds []*Dest, opts Options) Scheduler {
	t.Helper()
	s, err := New(name, ds, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return s
}

func ids(t *testing.T, s Scheduler, n int) []int {
	t.Helper()
	var out []int
	for i := 0; i < n; i++ {
		d := s.Pick(&Flow{Tuple: flow.Tuple{Proto: 6}, Family: 4})
		if d == nil {
			out = append(out, -1)
		} else {
			out = append(out, int(d.ID))
		}
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRoundRobinSequences pins the kernel's orders.
func TestRoundRobinSequences(t *testing.T) {
	tests := []struct {
		name    string
		sched   string
		weights []int32
		want    []int
	}{
		// Passes cw=4: A; cw=3: A B; cw=2: A B C; cw=1: A B C.
		{"wrr 4,3,2", "wrr", []int32{4, 3, 2}, []int{0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2}},
		// gcd 2: mw = 6-1 = 5, passes cw=5,3,1.
		{"wrr 6,4,2", "wrr", []int32{6, 4, 2}, []int{0, 0, 1, 0, 1, 2, 0, 0, 1}},
		{"wrr with quiescent", "wrr", []int32{2, 0, 1}, []int{0, 0, 2, 0, 0, 2}},
		{"wrr all zero", "wrr", []int32{0, 0}, []int{-1, -1}},
		{"rr", "rr", []int32{1, 1, 1}, []int{0, 1, 2, 0, 1, 2}},
		{"rr skips weight 0", "rr", []int32{1, 0, 5}, []int{0, 2, 0, 2}},
		{"rr all zero", "rr", []int32{0, 0}, []int{-1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.sched, mkDests(tt.weights...), Options{})
			if got := ids(t, s, len(tt.want)); !equalInts(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWRROverloadAndEdit: an overloaded server is skipped within the pass; an edit restarts from the list head
// with cw carried over (ip_vs_wrr_dest_changed).
func TestWRROverloadAndEdit(t *testing.T) {
	ds := mkDests(4, 3, 2)
	s := mustNew(t, "wrr", ds, Options{})
	if got := ids(t, s, 2); !equalInts(got, []int{0, 0}) { // cw=4: A, cw=3: A
		t.Fatalf("start: %v", got)
	}
	ds[1].SetThresholds(1, 0)
	ds[1].AddConn(true) // B overloaded
	if got := ids(t, s, 3); !equalInts(got, []int{0, 2, 0}) {
		t.Fatalf("B overloaded: %v", got) // cw=3: (B skipped), cw=2: A, C; cw=1: A
	}
	ds[1].RemoveConn(true)
	// Edit: cw stays 1 (di=1); the next pick starts from the head of pass cw=1.
	ds[2].SetWeight(2)
	if err := s.Update(ds); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, 4); !equalInts(got, []int{0, 1, 2, 0}) {
		t.Fatalf("after edit: %v", got)
	}
}

// TestLeastConnectionTies pins tie-breaking (first in list order wins) and the differences between the rules.
func TestLeastConnectionTies(t *testing.T) {
	type conns struct{ active, inactive int }
	tests := []struct {
		name    string
		sched   string
		weights []int32
		conns   []conns
		want    int
	}{
		{"lc all idle: first", "lc", []int32{1, 1, 1}, []conns{{}, {}, {}}, 0},
		{"lc active weighs 256 inactive", "lc", []int32{1, 1}, []conns{{1, 0}, {0, 255}}, 1},
		{"lc tie after 256 inactive: first", "lc", []int32{1, 1}, []conns{{1, 0}, {0, 256}}, 0},
		{"lc ignores weight", "lc", []int32{1, 100}, []conns{{0, 1}, {0, 2}}, 0},
		{"lc skips weight 0", "lc", []int32{0, 1}, []conns{{}, {5, 0}}, 1},
		{"wlc idle tie: first", "wlc", []int32{1, 2}, []conns{{}, {}}, 0},
		{"wlc ratio", "wlc", []int32{1, 2}, []conns{{1, 0}, {1, 0}}, 1},
		{"wlc equal ratio: first", "wlc", []int32{1, 2}, []conns{{1, 0}, {2, 0}}, 0},
		{"sed counts the new job", "sed", []int32{1, 2}, []conns{{}, {}}, 1},
		{"sed equal: first", "sed", []int32{1, 2}, []conns{{0, 0}, {1, 0}}, 0},
		{"sed ignores inactive", "sed", []int32{1, 1}, []conns{{0, 9}, {0, 0}}, 0},
		{"nq first idle", "nq", []int32{1, 3}, []conns{{}, {}}, 0},
		{"nq idle beats faster", "nq", []int32{1, 3}, []conns{{1, 0}, {0, 0}}, 1},
		{"nq idle wins late", "nq", []int32{5, 5, 1}, []conns{{1, 0}, {1, 0}, {0, 0}}, 2},
		{"nq no idle: sed", "nq", []int32{1, 3}, []conns{{1, 0}, {2, 0}}, 1},
		{"fo highest weight, first", "fo", []int32{2, 5, 5}, []conns{{}, {}, {}}, 1},
		{"ovf highest weight under its weight", "ovf", []int32{2, 5, 5}, []conns{{}, {5, 0}, {}}, 1},
		{"ovf overflow to next", "ovf", []int32{2, 5, 5}, []conns{{}, {6, 0}, {}}, 2},
		{"ovf overflow to lower weight", "ovf", []int32{2, 5, 5}, []conns{{}, {6, 0}, {6, 0}}, 0},
		{"ovf none left", "ovf", []int32{2, 5, 5}, []conns{{3, 0}, {6, 0}, {6, 0}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := mkDests(tt.weights...)
			s := mustNew(t, tt.sched, ds, Options{})
			for i, c := range tt.conns {
				for k := 0; k < c.active; k++ {
					ds[i].AddConn(true)
				}
				for k := 0; k < c.inactive; k++ {
					ds[i].AddConn(false)
				}
			}
			if got := ids(t, s, 1)[0]; got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestFailoverSkipsOverloaded: fo and the lc family skip a server whose threshold flag is set.
func TestFailoverSkipsOverloaded(t *testing.T) {
	for _, name := range []string{"fo", "wlc", "lc", "sed", "nq", "ovf"} {
		ds := mkDests(2, 5, 5)
		s := mustNew(t, name, ds, Options{})
		for _, d := range ds[:2] {
			d.SetThresholds(1, 0)
			d.AddConn(false)
		}
		if got := ids(t, s, 1)[0]; got != 2 {
			t.Fatalf("%s: got %d, want 2", name, got)
		}
		ds[2].SetWeight(0)
		if got := s.Pick(&Flow{}); got != nil {
			t.Fatalf("%s: got %d, want none", name, got.ID)
		}
	}
}

func srcFlow(src [16]byte, sport uint16) *Flow {
	return &Flow{Tuple: flow.Tuple{Proto: 6, Src: src, Dst: v4(198, 19, 0, 1), SrcPort: sport, DstPort: 80}, Family: 4}
}

// TestSourceHashing: the same source maps to the same server; without sh-fallback an unavailable server means no
// server; with it another available one is chosen, never the unavailable one.
func TestSourceHashing(t *testing.T) {
	for _, name := range []string{"sh", "mh"} {
		fallback := FlagSHFallback
		if name == "mh" {
			fallback = FlagMHFallback
		}
		ds := mkDests(1, 1, 1, 1)
		plain := mustNew(t, name, ds, Options{})
		fb := mustNew(t, name, ds, Options{Flags: fallback})
		seen := map[uint32]bool{}
		for i := 0; i < 200; i++ {
			src := v4(198, 18, byte(i), byte(i*7))
			a, b := plain.Pick(srcFlow(src, 1000)), plain.Pick(srcFlow(src, 2000))
			if a == nil || a != b || a != fb.Pick(srcFlow(src, 3)) {
				t.Fatalf("%s: source %v: %v %v", name, src[12:], a, b)
			}
			seen[a.ID] = true
		}
		if len(seen) != 4 {
			t.Fatalf("%s: 200 sources reached %d of 4 servers", name, len(seen))
		}
		src := v4(198, 18, 7, 7)
		victim := plain.Pick(srcFlow(src, 0))
		victim.SetWeight(0)
		if got := plain.Pick(srcFlow(src, 0)); got != nil {
			t.Fatalf("%s without fallback: got %d for a quiescent server", name, got.ID)
		}
		for i := 0; i < 200; i++ {
			got := fb.Pick(srcFlow(v4(198, 18, byte(i), byte(i*7)), 0))
			if got == nil || got == victim {
				t.Fatalf("%s fallback: got %v", name, got)
			}
		}
		for _, d := range ds {
			d.SetWeight(0)
		}
		if got := fb.Pick(srcFlow(src, 0)); got != nil {
			t.Fatalf("%s fallback with all quiescent: %d", name, got.ID)
		}
	}
}

// TestSourceHashPort: with sh-port (mh-port) the source port changes the choice for TCP/UDP/SCTP only.
func TestSourceHashPort(t *testing.T) {
	for _, c := range []struct {
		name string
		flag Flags
	}{{"sh", FlagSHPort}, {"mh", FlagMHPort}} {
		s := mustNew(t, c.name, mkDests(1, 1, 1, 1, 1, 1, 1, 1), Options{Flags: c.flag})
		src := v4(198, 18, 1, 1)
		moved := false
		for p := uint16(1); p < 64; p++ {
			if s.Pick(srcFlow(src, p)) != s.Pick(srcFlow(src, 0)) {
				moved = true
			}
			icmp := &Flow{Tuple: flow.Tuple{Proto: 1, Src: src, SrcPort: p}, Family: 4}
			if s.Pick(icmp) != s.Pick(&Flow{Tuple: flow.Tuple{Proto: 1, Src: src}, Family: 4}) {
				t.Fatalf("%s: ICMP choice depends on the port field", c.name)
			}
		}
		if !moved {
			t.Fatalf("%s: port never changed the choice", c.name)
		}
	}
}

// TestSHWeightedBuckets: sh gives each server weight consecutive buckets in turn (ip_vs_sh_reassign).
func TestSHWeightedBuckets(t *testing.T) {
	ds := mkDests(3, 1, 0)
	s := mustNew(t, "sh", ds, Options{}).(*shSched)
	want := []*Dest{ds[0], ds[0], ds[0], ds[1], ds[2]} // weight 0 still takes one bucket
	for i, b := range s.st.Load().buckets {
		if b != want[i%5] {
			t.Fatalf("bucket %d: %d, want %d", i, b.ID, want[i%5].ID)
		}
	}
}

// TestDestinationHashing: dh hashes the destination address; same destination, same server.
func TestDestinationHashing(t *testing.T) {
	ds := mkDests(1, 1, 1)
	s := mustNew(t, "dh", ds, Options{})
	for i := 0; i < 100; i++ {
		dst := v4(198, 19, byte(i), 1)
		a := s.Pick(&Flow{Tuple: flow.Tuple{Proto: 6, Dst: dst, Src: v4(1, 1, 1, byte(i))}, Family: 4})
		b := s.Pick(&Flow{Tuple: flow.Tuple{Proto: 17, Dst: dst, Src: v4(2, 2, 2, 2)}, Family: 4})
		if a == nil || a != b {
			t.Fatalf("dst %v: %v vs %v", dst[12:], a, b)
		}
	}
	d := s.Pick(&Flow{Tuple: flow.Tuple{Dst: v4(198, 19, 0, 1)}, Family: 4})
	d.SetThresholds(1, 0)
	d.AddConn(true)
	if got := s.Pick(&Flow{Tuple: flow.Tuple{Dst: v4(198, 19, 0, 1)}, Family: 4}); got != nil {
		t.Fatalf("overloaded server returned")
	}
}

// TestOverloadFlag walks the IP_VS_DEST_F_OVERLOAD rules.
func TestOverloadFlag(t *testing.T) {
	type op struct {
		do   func(d *Dest)
		want bool
	}
	add := func(active bool) func(*Dest) { return func(d *Dest) { d.AddConn(active) } }
	rem := func(active bool) func(*Dest) { return func(d *Dest) { d.RemoveConn(active) } }
	thr := func(u, l uint32) func(*Dest) { return func(d *Dest) { d.SetThresholds(u, l) } }
	tests := []struct {
		name string
		ops  []op
	}{
		{"no thresholds never", []op{{add(true), false}, {add(false), false}}},
		{"upper 4, no lower: clear below 3/4", []op{
			{thr(4, 0), false}, {add(true), false}, {add(false), false}, {add(true), false}, {add(true), true},
			{rem(true), true}, // 3*4 = 12, not < 12
			{rem(true), false},
		}},
		{"upper 3: 3/4 rounds up", []op{
			{thr(3, 0), false}, {add(true), false}, {add(true), false}, {add(true), true},
			{rem(true), false}, // 2*4 = 8 < 9
		}},
		{"lower threshold", []op{
			{thr(4, 2), false}, {add(true), false}, {add(true), false}, {add(true), false}, {add(true), true},
			{rem(true), true}, {rem(true), true}, {rem(true), false},
		}},
		{"state change does not re-evaluate", []op{
			{thr(2, 0), false}, {add(false), false}, {add(false), true},
			{func(d *Dest) { d.SetActive(true) }, true},
		}},
		{"templates re-evaluate but do not count", []op{
			{thr(1, 0), false}, {func(d *Dest) { d.AddPersist(3) }, false}, {add(true), true},
			{func(d *Dest) { d.SetThresholds(1, 0) }, true},  // same upper: kept
			{func(d *Dest) { d.SetThresholds(5, 0) }, false}, // raised: cleared
			{func(d *Dest) { d.SetThresholds(1, 0) }, false}, // lowered: stays clear until the next bind
			{func(d *Dest) { d.AddPersist(1) }, true},
			{func(d *Dest) { d.AddPersist(-1) }, true}, // unbind check: 1 conn, 1*4 < 1*3 is false
			{rem(true), false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDest(1, v4(10, 0, 0, 1), 80, 1)
			for i, o := range tt.ops {
				o.do(d)
				if got := d.Overloaded(); got != o.want {
					t.Fatalf("op %d: overloaded %v, want %v (a=%d i=%d)", i, got, o.want, d.ActiveConns(),
						d.InactiveConns())
				}
				if d.Available() != (!o.want && d.Weight() > 0) {
					t.Fatalf("op %d: Available disagrees", i)
				}
			}
		})
	}
}

// TestWeightClampAndLastWeight: negative weights store as 0; last_weight keeps the latest non-zero weight.
func TestWeightClampAndLastWeight(t *testing.T) {
	d := NewDest(1, v4(10, 0, 0, 1), 80, -3)
	if d.Weight() != 0 || d.lastWeight.Load() != 0 {
		t.Fatalf("weight %d last %d", d.Weight(), d.lastWeight.Load())
	}
	d.SetWeight(7)
	d.SetWeight(0)
	d.SetWeight(-1)
	if d.Weight() != 0 || d.lastWeight.Load() != 7 {
		t.Fatalf("weight %d last %d", d.Weight(), d.lastWeight.Load())
	}
}
