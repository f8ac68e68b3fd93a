package conntrack

import (
	"math/bits"
	"sync"
	"unsafe"
)

// An arena holds a table's big memory outside the Go heap.
//
// Ten million entries are a gigabyte of slab and a hundred megabytes of index,
// touched at random. With 4 KB pages nearly every lookup then misses the TLB
// on the bucket and again on the entry, and under nested paging each miss is
// a long walk. So once a table outgrows heapChunks chunks, its slab chunks and
// its large index blocks come from regions mapped 2 MB aligned and advised for
// transparent huge pages before their first touch (sysMap); the Go runtime
// does not advise its own heap, and THP in madvise mode gives huge pages only
// to memory so advised. A small table stays on the Go heap, where a huge page
// would cost more memory than it saves time.
//
// The regions hold no Go pointers — a chunk names its table by registry
// number and its shard by index — so the garbage collector neither scans nor
// knows them. They are unmapped when the Table is collected (see New), which
// is why a *Conn must not outlive its table's reachability, and why every
// Table method keeps t alive (runtime.KeepAlive) past its last touch of them.
type arena struct {
	mu sync.Mutex // guards everything below; taken on growth only

	regions  []region
	chunks   int    // chunks handed out, from the heap and from regions
	chunkMem []byte // unused rest of the newest chunk region
	nChunkRg int    // chunk regions mapped so far
	blocks   []*blockRegion

	// heapOnly keeps everything on the Go heap; tests set it to compare.
	heapOnly bool
	released bool
}

// region is one sysMap result: mapping to release, mem to carve.
type region struct{ mapping, mem []byte }

const (
	cacheLine = 64
	hugePage  = 2 << 20
	maxRegion = 64 << 20 // largest region mapped at once
	// heapChunks: a table's first chunks (2 MB) come from the Go heap.
	heapChunks = hugePage / chunkBytes
	// minBlock: indexes smaller than this come from the Go heap.
	minBlock  = 64 << 10
	blockPage = 4 << 10 // index blocks are carved in whole pages
)

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func alignUp[T ~int | ~uintptr](x T, a int) T { return (x + T(a) - 1) &^ (T(a) - 1) }

// regionSize is the size of the n-th region of a kind: 2 MB, doubling up to
// maxRegion.
func regionSize(n int) int { return hugePage << min(n, bits.Len(maxRegion/hugePage)-1) }

// mapRegion maps size bytes, or returns nil if the system refuses.
func (a *arena) mapRegion(size int) []byte {
	mapping, mem, err := sysMap(size, hugePage)
	if err != nil {
		return nil
	}
	a.regions = append(a.regions, region{mapping, mem})
	return mem
}

// newChunk returns a zeroed chunk.
func (a *arena) newChunk() *chunk {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.chunks++
	if a.chunks <= heapChunks || a.heapOnly {
		return new(chunk)
	}
	if len(a.chunkMem) < chunkBytes {
		// Regions double up to maxRegion, so a table that just passed
		// heapChunks maps 2 MB, and a big one a few dozen regions.
		mem := a.mapRegion(regionSize(a.nChunkRg))
		if mem == nil {
			return new(chunk) // correct, only slower
		}
		a.nChunkRg++
		a.chunkMem = mem
	}
	c := (*chunk)(unsafe.Pointer(unsafe.SliceData(a.chunkMem)))
	a.chunkMem = a.chunkMem[chunkBytes:]
	return c
}

// blockRegion is a region that index blocks are carved from: below top,
// the spans in free are free, the rest in use.
type blockRegion struct {
	mem  []byte
	top  int
	free []span // by offset; neighbours are merged
}

// span is a free range of a block region; freed is when (coarse clock) the
// last of it was freed.
type span struct {
	off, size int
	freed     int64
}

// newBuckets returns memory for at least nb buckets, and the block to give
// back with freeBlock when the index is replaced (nil for heap memory, which
// a nil arena always gives). The memory may hold an old index: the caller
// initializes every bucket.
func (a *arena) newBuckets(nb int) ([]bucket, []byte) {
	size := nb * int(unsafe.Sizeof(bucket{}))
	if size < minBlock || a == nil || a.heapOnly {
		return make([]bucket, nb), nil
	}
	size = alignUp(size, blockPage)
	a.mu.Lock()
	blk := a.allocBlock(size, coarseNow())
	a.mu.Unlock()
	if blk == nil {
		return make([]bucket, nb), nil
	}
	return unsafe.Slice((*bucket)(unsafe.Pointer(unsafe.SliceData(blk))), size/int(unsafe.Sizeof(bucket{}))), blk
}

// allocBlock is first fit over the free spans that have rested reuseGrace
// (a reader that loaded the old index before it was replaced may still be
// probing it; it would only miss, since entries are checked by key, but
// the grace keeps even that from happening), then the regions' tops. Index
// blocks of one table come in few sizes, shards growing alike, so freed
// blocks merge into spans that the next sizes fit.
func (a *arena) allocBlock(size int, now int64) []byte {
	for _, r := range a.blocks {
		for i := range r.free {
			s := &r.free[i]
			if s.size < size || now-s.freed < reuseGrace {
				continue
			}
			b := r.mem[s.off : s.off+size : s.off+size]
			s.off += size
			s.size -= size
			if s.size == 0 {
				r.free = append(r.free[:i], r.free[i+1:]...)
			}
			return b
		}
	}
	for _, r := range a.blocks {
		if len(r.mem)-r.top >= size {
			b := r.mem[r.top : r.top+size : r.top+size]
			r.top += size
			return b
		}
	}
	mem := a.mapRegion(max(alignUp(size, hugePage), regionSize(len(a.blocks))))
	if mem == nil {
		return nil
	}
	r := &blockRegion{mem: mem, top: size}
	a.blocks = append(a.blocks, r)
	return mem[:size:size]
}

// freeBlock gives back a block from newBuckets; nil is a no-op.
func (a *arena) freeBlock(b []byte, now int64) {
	if b == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := addrOf(b)
	for _, r := range a.blocks {
		base := addrOf(r.mem)
		if p < base || p >= base+uintptr(len(r.mem)) {
			continue
		}
		r.release(span{off: int(p - base), size: len(b), freed: now})
		return
	}
}

// release adds s to the free spans, merging it with its neighbours.
func (r *blockRegion) release(s span) {
	i := 0
	for i < len(r.free) && r.free[i].off < s.off {
		i++
	}
	if i < len(r.free) && s.off+s.size == r.free[i].off {
		s.size += r.free[i].size
		s.freed = max(s.freed, r.free[i].freed)
		r.free = append(r.free[:i], r.free[i+1:]...)
	}
	if i > 0 && r.free[i-1].off+r.free[i-1].size == s.off {
		p := &r.free[i-1]
		p.size += s.size
		p.freed = max(p.freed, s.freed)
		return
	}
	r.free = append(r.free, span{})
	copy(r.free[i+1:], r.free[i:])
	r.free[i] = s
}

// release unmaps every region, once: it reports whether this call did. It
// runs when the table is unreachable (or when a test is done with it).
func (a *arena) release() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.released {
		return false
	}
	a.released = true
	for _, r := range a.regions {
		if r.mapping != nil {
			sysUnmap(r.mapping)
		}
	}
	a.regions, a.blocks, a.chunkMem = nil, nil, nil
	return true
}
