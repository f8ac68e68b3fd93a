package conntrack

import (
	"sync"
	"sync/atomic"
	"time"
)

// shard owns a slice of the key space (chosen by the client's address and
// port): a slab of entries in chunks, a free list, and an index.
type shard struct {
	// mu serializes this shard's writers: index changes, slab growth, the
	// free list, and filling or removing entries. Lookups never take it.
	mu     sync.Mutex
	ix     atomic.Pointer[index]
	chunks atomic.Pointer[[]*chunk]
	n      atomic.Uint32 // slab entries handed out so far (written under mu)
	id     uint32

	// freeHead and freeTail are local+1 of the free list's ends, 0 when it
	// is empty. Guarded by mu; freeHead is atomic for prefetch.
	freeHead atomic.Uint32
	freeTail uint32

	// Guarded by mu.
	nFree    int
	live     int    // live entries of this shard
	evictPos uint32 // clock hand of the eviction scan

	// Counters, guarded by mu: Stats takes it to read them, which costs
	// less than a locked add on every insert and removal.
	inserts, expired, flushed uint64
	evicted                   [NumEvictReasons]uint64

	_ [64]byte // keep neighbouring shards' locks off this cache line
}

// reuseGrace is how long a removed entry rests before the slab hands it out
// again, unless the shard's slab may not grow. A worker that looked an entry
// up just before it was removed finishes its packet well within it.
const reuseGrace = int64(50 * time.Millisecond)

// entryBytes is the footprint of an entry that MemoryCap is divided by: the
// 104-byte entry plus up to two index slots and slack, rounded up.
const entryBytes = 128

func (sh *shard) init(id uint32) {
	sh.id = id
	cs := []*chunk{}
	sh.chunks.Store(&cs)
	sh.ix.Store(newIndex(nil, 1))
}

func (sh *shard) entry(local uint32) *Conn {
	cs := *sh.chunks.Load()
	return &cs[local/chunkSize].ents[local%chunkSize]
}

// slabLimit is how many entries this shard's slab may grow to: its share of
// the capacity with room for hash skew and entries resting after removal.
func (sh *shard) slabLimit(t *Table) uint32 {
	share := (t.capacity.Load() + int64(len(t.shards)) - 1) / int64(len(t.shards))
	lim := share + share/16 + chunkSize
	if lim > maxLocal {
		lim = maxLocal
	}
	return uint32(lim)
}

// maxLocal bounds a shard's entry numbers so a template reference (8 bits of
// shard, 24 of entry) and an index slot value fit 32 bits.
const maxLocal = 1<<24 - 1

// alloc hands out a free entry: a rested one from the free list, else a fresh
// one from the slab, else (slab at its limit) the longest-resting one.
func (sh *shard) alloc(t *Table, realNow int64) (uint32, *Conn, bool) {
	limit := sh.slabLimit(t)
	n := sh.n.Load()
	if head := sh.freeHead.Load(); head != 0 {
		local := head - 1
		c := sh.entry(local)
		if realNow-int64(c.w[wSvc].Load()) >= reuseGrace || n >= limit {
			next := uint32(c.w[wTmpl].Load())
			sh.freeHead.Store(next)
			if next == 0 {
				sh.freeTail = 0
			}
			sh.nFree--
			return local, c, true
		}
	}
	if n >= limit {
		return 0, nil, false
	}
	cs := *sh.chunks.Load()
	if int(n/chunkSize) >= len(cs) {
		// Entries learn their offset (wBytesIn) when first handed out, so
		// a new chunk's pages are not touched until used.
		ch := t.arena.newChunk()
		ch.tab, ch.shard, ch.base = t.id, sh.id, n
		ncs := append(cs[:len(cs):len(cs)], ch)
		sh.chunks.Store(&ncs)
	}
	sh.n.Store(n + 1)
	return n, sh.entry(n), true
}

// prefetch starts the cache misses an insert of keys hashed h (and hr, if
// two) will wait on: their home buckets and the entry the free list will
// hand out. Loaded here, before the insert's locked instructions, they are
// in flight together; loaded where they are used, each would wait for the
// one before (a locked instruction waits for every load before it). The
// loads' values are not used: they are atomic, so the compiler keeps them.
func (sh *shard) prefetch(h, hr uint64, two bool) {
	ix := sh.ix.Load()
	ix.b[ix.home(h)].ctrl[0].Load()
	if two {
		ix.b[ix.home(hr)].ctrl[0].Load()
	}
	if head := sh.freeHead.Load(); head != 0 {
		sh.entry(head - 1).w[wSvc].Load()
	}
}

// free puts a removed entry at the tail of the free list.
func (sh *shard) free(local uint32, c *Conn, realNow int64) {
	c.w[wSvc].Store(uint64(realNow))
	c.w[wTmpl].Store(0) // next link; a stale counter add touches only the high half
	if sh.freeTail == 0 {
		sh.freeHead.Store(local + 1)
	} else {
		sh.entry(sh.freeTail - 1).w[wTmpl].Or(uint64(local + 1))
	}
	sh.freeTail = local + 1
	sh.nFree++
}

// ensureRoom makes the index able to take need more keys, rebuilding it when
// full of keys or tombstones. Only this shard waits for a rebuild, and
// lookups go on meanwhile on the old index.
func (sh *shard) ensureRoom(t *Table, need int) {
	ix := sh.ix.Load()
	if ix.used+need <= ix.limit {
		return
	}
	keys := ix.full + need
	// Size for the shard's share of the capacity at full load, with the
	// keys-per-entry ratio seen so far (1 for DR/TUN, 2 for NAT), so a table
	// filled to capacity has a dense index; until then, double.
	share := int(t.capacity.Load()/int64(len(t.shards))) + 1
	perEntry256 := 256
	if sh.live > 0 {
		perEntry256 = min(max(keys*256/(sh.live+1), 256), 512)
	}
	capKeys := (share+share/16+16)*perEntry256/256 + need
	nb := min(bucketsFor(2*keys), bucketsFor(capKeys))
	nb = max(nb, bucketsFor(keys+keys/8+8))
	nix := newIndex(t.arena, nb)
	n := sh.n.Load()
	for local := uint32(0); local < n; local++ {
		c := sh.entry(local)
		ctl := c.w[wCtl].Load()
		if ctl&ctlLive == 0 || ctl&ctlOrphan != 0 {
			continue
		}
		h, hr, reply := t.entryHashes(c)
		nix.insert(h, slotValue(local, false))
		if reply {
			nix.insert(hr, slotValue(local, true))
		}
	}
	sh.ix.Store(nix)
	t.arena.freeBlock(ix.blk, freshNow())
}

// removed collects the entries of one shard taken out under its lock whose
// Unbound hooks must run after the lock is released; only then are they
// freed. ent is the caller's, as long as the most it removes under one lock
// (an insert two, the reaper a batch): zeroing a batch-sized array on every
// insert costs more than the insert's own stores. It holds entry numbers, no
// pointers, so that the caller's array stays on its stack.
type removed struct {
	n   int
	ent []removedEnt
}

type removedEnt struct {
	local uint32
	ctl   uint64 // its control word when it went
}

const removedBatch = 64
