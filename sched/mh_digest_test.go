package sched

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMaglevOrderIndependent: the same servers handed over in any order (file order, xvsadm -a order) build the
// same table and digest, with fresh Dests as another director would have them.
func TestMaglevOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []int{251, 4093, 65537} {
		base := mhDests(40, func(i int) int32 { return int32(1 + i%5) })
		want := mustNew(t, "mh", base, Options{MHTableSize: m, Flags: FlagMHPort})
		wt, _ := MaglevTable(want)
		for range 5 {
			// Another director: its own Dests and ids, in another order.
			other := make([]*Dest, len(base))
			for i, d := range base {
				other[i] = NewDest(uint32(1000+i), d.Addr, d.Port, d.Weight())
			}
			r.Shuffle(len(other), func(i, j int) { other[i], other[j] = other[j], other[i] })
			s := mustNew(t, "mh", other, Options{MHTableSize: m, Flags: FlagMHPort})
			got, ok := MaglevTable(s)
			if !ok || got.Digest != wt.Digest {
				t.Fatalf("M=%d: digest %s, want %s", m, got.Digest, wt.Digest)
			}
			a, b := want.(*mhSched).st.Load(), s.(*mhSched).st.Load()
			for i := range a.lookup {
				if x, y := a.lookup[i], b.lookup[i]; (x < 0) != (y < 0) || x >= 0 && cmpDestAddr(a.dests[x], b.dests[y]) != 0 {
					t.Fatalf("M=%d: slot %d differs", m, i)
				}
			}
		}
	}
}

// TestMaglevDigestChanges: the digest follows every input of the table and the flags, and only those.
func TestMaglevDigestChanges(t *testing.T) {
	digest := func(ds []*Dest, o Options) string {
		t.Helper()
		tab, ok := MaglevTable(mustNew(t, "mh", ds, o))
		if !ok || len(tab.Digest) != 2*mhDigestLen {
			t.Fatalf("digest %q", tab.Digest)
		}
		return tab.Digest
	}
	ds := func() []*Dest { return mhDests(5, func(int) int32 { return 1 }) }
	base := digest(ds(), Options{})
	seen := map[string]string{base: "base"}
	distinct := func(what, d string) {
		t.Helper()
		if prev, dup := seen[d]; dup {
			t.Errorf("%s: digest %s equals %s's", what, d, prev)
		}
		seen[d] = what
	}
	moreWeight := ds()
	moreWeight[0].SetWeight(3)
	distinct("weight", digest(moreWeight, Options{}))
	otherPort := ds()
	otherPort[1] = NewDest(1, otherPort[1].Addr, 8080, 1)
	distinct("port", digest(otherPort, Options{}))
	distinct("one fewer", digest(ds()[1:], Options{}))
	distinct("size", digest(ds(), Options{MHTableSize: 251}))
	distinct("mh-port", digest(ds(), Options{Flags: FlagMHPort}))
	distinct("mh-fallback", digest(ds(), Options{Flags: FlagMHFallback}))
	distinct("empty", digest(nil, Options{}))
	// Ids are local: they do not count.
	renumbered := ds()
	for i, d := range renumbered {
		renumbered[i] = NewDest(uint32(77+i), d.Addr, d.Port, 1)
	}
	if d := digest(renumbered, Options{}); d != base {
		t.Errorf("renumbered: %s, want %s", d, base)
	}
}

// TestMaglevTableShares: the shares list every server in address order with its slot count, summing to M.
func TestMaglevTableShares(t *testing.T) {
	ds := mhDests(7, func(i int) int32 { return int32(1 + i%2) })
	slices.Reverse(ds)
	tab, _ := MaglevTable(mustNew(t, "mh", ds, Options{}))
	sum := 0
	for i, sh := range tab.Shares {
		sum += sh.Slots
		if i > 0 && cmpDestAddr(&Dest{Addr: tab.Shares[i-1].Addr, Port: tab.Shares[i-1].Port}, &Dest{Addr: sh.Addr, Port: sh.Port}) >= 0 {
			t.Fatalf("shares out of order at %d", i)
		}
	}
	if len(tab.Shares) != 7 || sum != tab.Size || tab.Size != mhDefaultSize {
		t.Fatalf("%d shares, %d slots of %d", len(tab.Shares), sum, tab.Size)
	}
	if _, ok := MaglevTable(mustNew(t, "rr", ds, Options{})); ok {
		t.Fatal("rr has a Maglev table")
	}
}

// BenchmarkMaglevDigest hashes a 65537-slot table (what xvsadm -L --mh costs the daemon once per change).
func BenchmarkMaglevDigest(b *testing.B) {
	s := mustNewB(b, mhDests(1000, func(int) int32 { return 1 }), Options{MHTableSize: 65537}).(*mhSched)
	st := s.st.Load()
	b.ReportAllocs()
	for b.Loop() {
		mhDigest(st, 0)
	}
}

func mustNewB(b *testing.B, ds []*Dest, o Options) Scheduler {
	s, err := New("mh", ds, o)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
