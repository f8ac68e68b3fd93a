package sched

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSipHashVectors checks the reference SipHash against the published SipHash-2-4 vectors (key 00..0f), then
// the hot-path hsiphash32 against the reference's SipHash-1-3 over random inputs.
func TestSipHashVectors(t *testing.T) {
	const k0, k1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	if got := refSipHash(2, 4, k0, k1, nil); got != 0x726fdb47dd0e0e31 {
		t.Fatalf("empty: %#x", got)
	}
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := refSipHash(2, 4, k0, k1, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("15 bytes: %#x", got)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 10000; i++ {
		v, k := r.Uint32(), r.Uint64()
		if got, want := hsiphash32(v, k), refHsip(v, k); got != want {
			t.Fatalf("hsiphash32(%#x, %#x) = %#x, want %#x", v, k, got, want)
		}
	}
}

func slotCounts(st *mhState) map[*Dest]int {
	c := map[*Dest]int{}
	for _, i := range st.lookup {
		if i >= 0 {
			c[st.dests[i]]++
		}
	}
	return c
}

func mhDests(n int, weight func(i int) int32) []*Dest {
	ds := make([]*Dest, n)
	for i := range ds {
		ds[i] = NewDest(uint32(i), v4(10, byte(i>>16), byte(i>>8), byte(i)), 80, weight(i))
	}
	return ds
}

// TestMaglevEqualShares: with equal weights every server owns floor(M/N) or ceil(M/N) slots.
func TestMaglevEqualShares(t *testing.T) {
	for _, c := range []struct{ m, n int }{{251, 7}, {4093, 10}, {4093, 4093}, {65537, 1000}} {
		ds := mhDests(c.n, func(int) int32 { return 5 })
		s := mustNew(t, "mh", ds, Options{MHTableSize: c.m}).(*mhSched)
		counts := slotCounts(s.st.Load())
		lo, hi := c.m/c.n, (c.m+c.n-1)/c.n
		for _, d := range ds {
			if k := counts[d]; k < lo || k > hi {
				t.Fatalf("M=%d N=%d: server %d owns %d slots, want %d..%d", c.m, c.n, d.ID, k, lo, hi)
			}
		}
	}
}

// TestMaglevDisruption removes 1% of 1000 servers at M=65537 and counts slots whose owner changed.
func TestMaglevDisruption(t *testing.T) {
	const m, n = 65537, 1000
	ds := mhDests(n, func(int) int32 { return 1 })
	s := mustNew(t, "mh", ds, Options{MHTableSize: m}).(*mhSched)
	before := s.st.Load()
	r := rand.New(rand.NewPCG(5, 6))
	removed := map[*Dest]bool{}
	for len(removed) < n/100 {
		removed[ds[r.IntN(n)]] = true
	}
	var kept []*Dest
	for _, d := range ds {
		if !removed[d] {
			kept = append(kept, d)
		}
	}
	if err := s.Update(kept); err != nil {
		t.Fatal(err)
	}
	after := s.st.Load()
	changed, orphaned, collateral := 0, 0, 0
	for i := range before.lookup {
		b, a := before.dests[before.lookup[i]], after.dests[after.lookup[i]]
		if a != b {
			changed++
			if removed[b] {
				orphaned++
			} else {
				collateral++
			}
		}
	}
	frac := float64(changed) / m
	t.Logf("M=%d N=%d, removed %d: %d slots changed (%.2f%%): %d were the removed servers' (%.2f%%), %d moved "+
		"between surviving servers (%.2f%%)", m, n, len(removed), changed, 100*frac, orphaned,
		100*float64(orphaned)/m, collateral, 100*float64(collateral)/m)
	if frac > 0.04 {
		t.Fatalf("%.2f%% of slots changed, want at most 4%%", 100*frac)
	}
}

// TestMaglevWeightedShares: slot counts follow the weights within 1%.
func TestMaglevWeightedShares(t *testing.T) {
	for _, c := range []struct {
		name   string
		m, n   int
		weight func(i int) int32
	}{
		{"1..4", 65537, 100, func(i int) int32 { return int32(1 + i%4) }},
		{"100..400 (gcd 100)", 65537, 100, func(i int) int32 { return int32(100 * (1 + i%4)) }},
		{"1..4 at 4093", 4093, 10, func(i int) int32 { return int32(1 + i%4) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := mhDests(c.n, c.weight)
			s := mustNew(t, "mh", ds, Options{MHTableSize: c.m}).(*mhSched)
			counts := slotCounts(s.st.Load())
			var sum float64
			for _, d := range ds {
				sum += float64(d.Weight())
			}
			worst := 0.0
			for _, d := range ds {
				want := float64(c.m) * float64(d.Weight()) / sum
				worst = math.Max(worst, math.Abs(float64(counts[d])-want)/want)
			}
			t.Logf("worst relative deviation from the weight ratio: %.3f%%", 100*worst)
			if worst > 0.01 {
				t.Fatalf("a server's share is %.2f%% off its weight ratio", 100*worst)
			}
		})
	}
}

// TestMaglevQuiescentKeepsSlots: weight 0 keeps a server's slots (last_weight), so other sources do not move.
func TestMaglevQuiescentKeepsSlots(t *testing.T) {
	ds := mhDests(5, func(int) int32 { return 1 })
	s := mustNew(t, "mh", ds, Options{}).(*mhSched)
	before := append([]int32(nil), s.st.Load().lookup...)
	ds[2].SetWeight(0)
	if err := s.Update(ds); err != nil {
		t.Fatal(err)
	}
	for i, v := range s.st.Load().lookup {
		if v != before[i] {
			t.Fatalf("slot %d moved from %d to %d", i, before[i], v)
		}
	}
}

// TestMaglevSizes validates table sizes and the destination bound.
func TestMaglevSizes(t *testing.T) {
	for _, m := range []int{251, 4093, 65521, 65537, 131071} {
		if _, err := New("mh", mkDests(1, 1), Options{MHTableSize: m}); err != nil {
			t.Errorf("size %d: %v", m, err)
		}
	}
	for _, m := range []int{1, 2, 4, 4094, 65535, 1 << 30} {
		if _, err := New("mh", nil, Options{MHTableSize: m}); !errorIs(err, ErrBadTableSize) {
			t.Errorf("size %d: %v, want ErrBadTableSize", m, err)
		}
	}
	if _, err := New("mh", mkDests(make([]int32, 252)...), Options{MHTableSize: 251}); !errorIs(err, ErrTooManyDests) {
		t.Errorf("252 servers in 251 slots: %v", err)
	}
}

// BenchmarkMaglevBuild is the table build Update runs for mh: M=65537 slots, 1000 servers of weights 1..3.
func BenchmarkMaglevBuild(b *testing.B) {
	ds := mhDests(1000, func(i int) int32 { return int32(1 + i%3) })
	b.ReportAllocs()
	for b.Loop() {
		mhBuild(ds, 65537)
	}
}
