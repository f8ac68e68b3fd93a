package conntrack

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// TestArenaBlocks: index blocks are reused first fit, only after the grace,
// and freed neighbours merge.
func TestArenaBlocks(t *testing.T) {
	a := &arena{}
	defer a.release()
	const page = blockPage
	now := int64(time.Hour)
	b1 := a.allocBlock(4*page, now)
	b2 := a.allocBlock(4*page, now)
	b3 := a.allocBlock(page, now)
	if len(b1) != 4*page || len(b2) != 4*page || len(b3) != page {
		t.Fatalf("sizes %d %d %d", len(b1), len(b2), len(b3))
	}
	if addrOf(b2) != addrOf(b1)+4*page || addrOf(b3) != addrOf(b2)+4*page {
		t.Fatal("fresh blocks are not carved in order")
	}
	a.freeBlock(b1, now)
	a.freeBlock(b2, now+1)
	if r := a.blocks[0]; len(r.free) != 1 || r.free[0] != (span{off: 0, size: 8 * page, freed: now + 1}) {
		t.Fatalf("free spans %+v, want one merged span", r.free)
	}
	if b := a.allocBlock(2*page, now+reuseGrace); addrOf(b) == addrOf(b1) {
		t.Fatal("reused a block before its grace")
	}
	b4 := a.allocBlock(6*page, now+1+reuseGrace)
	if addrOf(b4) != addrOf(b1) {
		t.Fatal("a rested span was not reused")
	}
	b5 := a.allocBlock(2*page, now+1+reuseGrace)
	if addrOf(b5) != addrOf(b1)+6*page || len(a.blocks[0].free) != 0 {
		t.Fatalf("the rest of the span was not reused: %+v", a.blocks[0].free)
	}
	// A block bigger than what is left of the region gets a new region.
	big := a.allocBlock(3*hugePage, now)
	if len(big) != 3*hugePage || len(a.blocks) != 2 {
		t.Fatalf("big block: %d bytes, %d regions", len(big), len(a.blocks))
	}
	big[len(big)-1] = 1 // mapped and writable to its end
}

func TestRegionSize(t *testing.T) {
	for n, want := range []int{2 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20, 64 << 20} {
		if got := regionSize(n); got != want {
			t.Errorf("regionSize(%d) = %d, want %d", n, got, want)
		}
	}
	if got := regionSize(1000); got != maxRegion {
		t.Errorf("regionSize(1000) = %d", got)
	}
}

// TestIndexOnReusedBlock: an index built in a block that held another one
// starts empty.
func TestIndexOnReusedBlock(t *testing.T) {
	a := &arena{}
	defer a.release()
	nb := 2 * minBlock / 64
	ix := newIndex(a, nb)
	if ix.blk == nil {
		t.Fatal("a large index is not in the arena")
	}
	for v := uint32(2); v < uint32(ix.limit); v += 2 {
		ix.insert(uint64(v)*0x9e3779b97f4a7c15, v)
	}
	a.freeBlock(ix.blk, coarseNow()-reuseGrace) // as if long rested
	iy := newIndex(a, nb)
	if addrOf(iy.blk) != addrOf(ix.blk) {
		t.Fatal("the freed block was not reused")
	}
	for v := uint32(2); v < uint32(ix.limit); v += 2 {
		if iy.has(uint64(v)*0x9e3779b97f4a7c15, v) {
			t.Fatalf("value %d of the old index found in the new one", v)
		}
	}
	iy.insert(12345, 4)
	if !iy.has(12345, 4) || iy.full != 1 || iy.used != 1 {
		t.Fatalf("new index: full %d used %d", iy.full, iy.used)
	}
}

// TestTableMemoryReleased: a big table's regions are unmapped, and its
// number freed, once it is collected.
func TestTableMemoryReleased(t *testing.T) {
	// The table is made and dropped in a function of its own, so that no
	// variable here keeps it.
	a, id := func() (*arena, uint32) {
		tab, _ := newTable(t, Config{Capacity: 40_000, Shards: 1})
		for i := range uint32(30_000) {
			mustInsert(t, tab, clientKey(i, flow.UDP), nil, Value{})
		}
		if tableByID(tab.id) != tab {
			t.Fatal("the registry does not know the table")
		}
		return tab.arena, tab.id
	}()
	a.mu.Lock()
	n := len(a.regions)
	a.mu.Unlock()
	if n == 0 {
		t.Fatal("30 k entries and no region")
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC()
		a.mu.Lock()
		n = len(a.regions)
		a.mu.Unlock()
		if n == 0 && tableByID(id) == nil {
			// A second release (a test's early one, then the cleanup's)
			// frees nothing twice.
			if freeCount(id) != 1 {
				t.Fatalf("number %d freed %d times", id, freeCount(id))
			}
			releaseTable(tableRes{id, a})
			if freeCount(id) != 1 {
				t.Errorf("number %d freed again by a second release", id)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the table was dropped: %d regions, registry %v", n, tableByID(id) != nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeCount is how many times the registry lists id as free.
func freeCount(id uint32) int {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	n := 0
	for _, f := range registry.free {
		if f == id {
			n++
		}
	}
	return n
}

// TestHugePages: where the kernel offers transparent huge pages, a big
// table's slab and index get them. It reads the kernel's own accounting of
// each region in /proc/self/smaps.
func TestHugePages(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector the table stays on the Go heap")
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("no transparent huge pages here (%q, %v)", mode, err)
	}
	tab, _ := newTable(t, Config{Capacity: 200_000, Shards: 2})
	for i := range uint32(150_000) {
		k := clientKey(i, flow.TCP)
		rk := replyOf(k, real1, 80)
		mustInsert(t, tab, k, &rk, Value{})
	}
	var ranges [][2]uintptr
	a := tab.arena
	a.mu.Lock()
	for _, r := range a.regions {
		ranges = append(ranges, [2]uintptr{addrOf(r.mem), addrOf(r.mem) + uintptr(len(r.mem))})
	}
	a.mu.Unlock()
	huge, rss := smapsHuge(t, ranges)
	t.Logf("%d regions: %d KB resident, %d KB of it in huge pages", len(ranges), rss>>10, huge>>10)
	if huge == 0 {
		t.Errorf("no huge pages in %d KB of table memory (THP mode %q)", rss>>10, strings.TrimSpace(string(mode)))
	}
	runtime.KeepAlive(tab)
}
