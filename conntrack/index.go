package conntrack

import (
	"math/bits"
	"sync/atomic"
)

// index is one shard's open-addressing hash index: buckets of 12 slots, each
// slot naming an entry by shard-local number, with a control byte per slot
// (Swiss-table style) so a probe rarely touches an entry that does not match.
// A bucket is 64 bytes, one cache line.
//
// Readers probe without locks: they load a bucket's control words, then the
// slots whose tag matches, then the entries, all atomically. Writers hold the
// shard lock and publish a slot before its control byte, and retire a slot by
// its control byte alone. Growth builds a new index and swaps the shard's
// pointer, so a reader finishes on whichever index it loaded.
type index struct {
	b     []bucket
	blk   []byte // the arena block under b, nil if b is on the heap
	nb    uint64 // len(b); any size, mapped with a multiply (not a power of two)
	used  int    // full + deleted slots; writers only
	full  int    // full slots; writers only
	limit int    // used may not exceed this (7/8 of the slots)
}

// bucket: control bytes 0-7 in ctrl[0], 8-11 in the low half of ctrl[1];
// the high half of ctrl[1] is padding that is neither free nor a tag.
type bucket struct {
	ctrl [2]atomic.Uint64
	slot [bucketSlots]atomic.Uint32
}

const (
	bucketSlots = 12
	ctrlEmpty   = 0x00
	ctrlDeleted = 0x01
	ctrlPad     = 0xffffffff << 32
	lsbs        = 0x0101010101010101
	msbs        = 0x8080808080808080
	low7s       = 0x7f7f7f7f7f7f7f7f
)

// A slot holds (local+1)<<1, | 1 for a reply key, in its low 26 bits, and
// six more bits of the key's hash above them (added by insert), so that a
// probe whose control byte matches by chance (1 in 127) seldom goes on to
// read an entry it does not want (1 in 8128): a cache miss saved for an
// insert's duplicate check and for a lookup that misses. Zero is never
// stored.
const (
	slotHashShift = 26
	slotLocalMask = 1<<slotHashShift - 1
	slotCheck     = ^uint32(slotLocalMask) | 1 // the bits a probe compares
)

func slotHash(h uint64) uint32 { return uint32(h>>32) << slotHashShift }

// slotLocal is the entry number of slot value v.
func slotLocal(v uint32) uint32 { return (v&slotLocalMask)>>1 - 1 }

func slotValue(local uint32, reply bool) uint32 {
	v := (local + 1) << 1
	if reply {
		v |= 1
	}
	return v
}

// tagOf is a full slot's control byte: high bit set, never the padding 0xff.
func tagOf(h uint64) uint8 { return 0x80 | uint8(h%127) }

// zeroBytes sets the high bit of exactly the bytes of x that are zero.
func zeroBytes(x uint64) uint64 {
	y := (x & low7s) + low7s
	return ^(y | x | low7s)
}

func matchTag(ctrl uint64, tag uint8) uint64 { return zeroBytes(ctrl ^ lsbs*uint64(tag)) }

// newIndex makes an empty index of at least nb buckets, in a's memory.
func newIndex(a *arena, nb int) *index {
	b, blk := a.newBuckets(max(nb, 1))
	nb = len(b)
	ix := &index{b: b, blk: blk, nb: uint64(nb), limit: nb * bucketSlots * 7 / 8}
	// An arena block may hold an old index, which a slow reader may still
	// be probing: rewrite every control word, atomically.
	for i := range ix.b {
		if blk != nil {
			ix.b[i].ctrl[0].Store(0)
		}
		ix.b[i].ctrl[1].Store(ctrlPad)
	}
	return ix
}

// bucketsFor returns how many buckets hold keys at full load.
func bucketsFor(keys int) int { return (keys*8 + bucketSlots*7 - 1) / (bucketSlots * 7) }

func (ix *index) home(h uint64) uint64 {
	hi, _ := bits.Mul64(h, ix.nb)
	return hi
}

func setByte(w uint64, i uint, b uint8) uint64 { return w&^(0xff<<(i*8)) | uint64(b)<<(i*8) }

// insert places v for hash h in the first free slot of its probe sequence.
// The caller holds the shard lock and has made room (used < limit).
func (ix *index) insert(h uint64, v uint32) {
	tag := tagOf(h)
	b := ix.home(h)
	for {
		bk := &ix.b[b]
		for w := range bk.ctrl {
			ctrl := bk.ctrl[w].Load()
			free := ^ctrl & msbs
			if free == 0 {
				continue
			}
			i := uint(bits.TrailingZeros64(free)) >> 3
			if byte(ctrl>>(i*8)) == ctrlEmpty {
				ix.used++
			}
			ix.full++
			bk.slot[uint(w)*8+i].Store(v | slotHash(h))
			bk.ctrl[w].Store(setByte(ctrl, i, tag))
			return
		}
		if b++; b == ix.nb {
			b = 0
		}
	}
}

// remove retires the slot holding v for hash h; it reports whether found.
func (ix *index) remove(h uint64, v uint32) bool {
	v |= slotHash(h)
	tag := tagOf(h)
	b := ix.home(h)
	for n := uint64(0); n < ix.nb; n++ {
		bk := &ix.b[b]
		c0, c1 := bk.ctrl[0].Load(), bk.ctrl[1].Load()
		hasEmpty := zeroBytes(c0)|zeroBytes(c1) != 0
		for w, ctrl := range [2]uint64{c0, c1} {
			for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
				i := uint(bits.TrailingZeros64(m)) >> 3
				if bk.slot[uint(w)*8+i].Load() != v {
					continue
				}
				// A bucket with an empty slot never made a probe go past
				// it, so the slot can be empty again; else a tombstone.
				mark := uint8(ctrlDeleted)
				if hasEmpty {
					mark = ctrlEmpty
					ix.used--
				}
				ix.full--
				bk.ctrl[w].Store(setByte(ctrl, i, mark))
				return true
			}
		}
		if hasEmpty {
			return false
		}
		if b++; b == ix.nb {
			b = 0
		}
	}
	return false
}
