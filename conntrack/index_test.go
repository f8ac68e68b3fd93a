package conntrack

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// has probes ix for value v under hash h the way find does.
func (ix *index) has(h uint64, v uint32) bool {
	tag := tagOf(h)
	b := ix.home(h)
	for n := uint64(0); n < ix.nb; n++ {
		bk := &ix.b[b]
		c0, c1 := bk.ctrl[0].Load(), bk.ctrl[1].Load()
		m := matchTag(c0, tag)>>7 | matchTag(c1, tag)>>3
		for ; m != 0; m &= m - 1 {
			bit := uint(bits.TrailingZeros64(m))
			if bk.slot[bit>>3+(bit&4)<<1].Load() == v|slotHash(h) {
				return true
			}
		}
		if zeroBytes(c0)|zeroBytes(c1) != 0 {
			return false
		}
		if b++; b == ix.nb {
			b = 0
		}
	}
	return false
}

// TestIndexOracle: random inserts and removals, with hashes crowded onto a
// few home buckets so probes cross buckets and leave tombstones, compared
// with a map.
func TestIndexOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, nb := range []int{1, 3, 8} {
		ix := newIndex(nil, nb)
		model := map[uint32]uint64{} // value -> hash
		for step := range 20000 {
			if len(model) < ix.limit-1 && (len(model) == 0 || r.IntN(3) > 0) {
				v := uint32(r.IntN(1<<20))<<1 | 2
				if _, ok := model[v]; ok {
					continue
				}
				// Hashes share a few homes and tags: many near-collisions.
				h := uint64(r.IntN(4))<<62 | uint64(r.IntN(3))
				if ix.used+1 > ix.limit {
					continue // the shard would rebuild here
				}
				ix.insert(h, v)
				model[v] = h
			} else {
				for v, h := range model {
					if !ix.remove(h, v) {
						t.Fatalf("nb %d step %d: remove %d not found", nb, step, v)
					}
					delete(model, v)
					break
				}
			}
			if ix.full != len(model) || ix.used < ix.full || ix.used > ix.limit {
				t.Fatalf("nb %d step %d: full %d used %d limit %d model %d", nb, step, ix.full, ix.used, ix.limit, len(model))
			}
			if step%97 == 0 {
				for v, h := range model {
					if !ix.has(h, v) {
						t.Fatalf("nb %d step %d: %d lost", nb, step, v)
					}
				}
				if ix.has(0, 1) {
					t.Fatal("found a value never inserted")
				}
			}
		}
		// Padding stays intact.
		for i := range ix.b {
			if ix.b[i].ctrl[1].Load()&ctrlPad != ctrlPad {
				t.Fatalf("bucket %d padding overwritten", i)
			}
		}
	}
}

func TestTagNeverPadding(t *testing.T) {
	for h := range uint64(1 << 12) {
		if tag := tagOf(h); tag < 0x80 || tag == 0xff {
			t.Fatalf("tagOf(%d) = %#x", h, tag)
		}
	}
}
