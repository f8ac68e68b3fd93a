package conntrack

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/internal/threadcpu"
)

// benchTables are built once per size: building 10 M entries takes seconds.
var benchTables sync.Map // size -> *benchTable

type benchTable struct {
	once   sync.Once
	tab    *Table
	sample []Key // random live keys, forward and reply mixed
	conns  []*Conn
	// failed says why the build stopped, so that the benchmarks after the
	// one that built it fail with the reason instead of an empty table.
	failed string
}

func getBenchTable(b *testing.B, n int) *benchTable {
	v, _ := benchTables.LoadOrStore(n, &benchTable{})
	bt := v.(*benchTable)
	bt.once.Do(func() {
		bt.failed = "build did not finish"
		bt.tab, _ = newTable(b, Config{Capacity: n})
		for i := range uint32(n) {
			k := clientKey(i, flow.TCP)
			rk := replyOf(k, real1, 80)
			if _, err := bt.tab.Insert(k, &rk, Value{Dest: i}); err != nil {
				bt.failed = fmt.Sprintf("insert %d: %v (%+v)", i, err, bt.tab.Stats())
				b.Fatal(bt.failed)
			}
		}
		r := rand.New(rand.NewPCG(1, 2))
		bt.sample = make([]Key, 1<<20)
		for i := range bt.sample {
			k := clientKey(uint32(r.IntN(n)), flow.TCP)
			if i%2 == 1 {
				k = replyOf(k, real1, 80)
			}
			bt.sample[i] = k
		}
		bt.conns = make([]*Conn, 1<<16)
		for i := range bt.conns {
			bt.conns[i] = bt.tab.Lookup(&bt.sample[i])
		}
		runtime.GC()
		bt.failed = ""
	})
	if bt.failed != "" {
		b.Fatalf("table of %d: %s", n, bt.failed)
	}
	return bt
}

// cpuMeter adds a cpu-ns/op metric to a single-goroutine benchmark: the CPU
// time of its thread per op. On a machine shared with other work, ns/op
// also counts the time the thread was not running; cpu-ns/op does not (it
// still counts the cache misses others cause). The kernel accounts thread
// time coarsely: trust it for runs of a second or so, not for -benchtime 1x.
type cpuMeter struct {
	start int64
	ok    bool
}

// startCPU locks the goroutine to its thread and starts the meter; call it
// before b.ResetTimer.
func startCPU() cpuMeter {
	runtime.LockOSThread()
	ns, ok := threadcpu.Now()
	return cpuMeter{ns, ok}
}

func (m cpuMeter) report(b *testing.B) {
	ns, ok := threadcpu.Now()
	runtime.UnlockOSThread()
	if m.ok && ok {
		b.ReportMetric(float64(ns-m.start)/float64(b.N), "cpu-ns/op")
	}
}

var benchSizes = []int{1_000, 100_000, 1_000_000, 10_000_000}

func sizeName(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

// BenchmarkLookup: hits, on one goroutine, over random keys of a table of
// NAT connections (half forward, half reply keys).
func BenchmarkLookup(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			bt := getBenchTable(b, n)
			mask := len(bt.sample) - 1
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			for i := range b.N {
				if bt.tab.Lookup(&bt.sample[i&mask]) == nil {
					b.Fatal("miss")
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkLookupParallel: the same on every P (b.RunParallel); compare its
// ns/op with BenchmarkLookup's for the scaling.
func BenchmarkLookupParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			bt := getBenchTable(b, n)
			mask := len(bt.sample) - 1
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(1) * 7919)
				for pb.Next() {
					if bt.tab.Lookup(&bt.sample[i&mask]) == nil {
						b.Fatal("miss")
					}
					i++
				}
			})
		})
	}
}

// BenchmarkLookupBatch: hits in batches of 32 keys, as a worker would look
// up its receive batch; ns/op is per key.
func BenchmarkLookupBatch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			bt := getBenchTable(b, n)
			const batch = 32
			var out [batch]*Conn
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				j := i & (len(bt.sample) - 1) &^ (batch - 1)
				bt.tab.LookupBatch(bt.sample[j:j+batch], out[:])
				if out[0] == nil {
					b.Fatal("miss")
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkLookupBatchParallel: the same on every P.
func BenchmarkLookupBatchParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			bt := getBenchTable(b, n)
			const batch = 32
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var out [batch]*Conn
				i := int(seed.Add(1) * 7919 * batch)
				for {
					for k := 0; k < batch; k++ {
						if !pb.Next() {
							return
						}
					}
					j := i & (len(bt.sample) - 1) &^ (batch - 1)
					bt.tab.LookupBatch(bt.sample[j:j+batch], out[:])
					i += batch
				}
			})
		})
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	bt := getBenchTable(b, 1_000_000)
	miss := make([]Key, 1<<16)
	for i := range miss {
		miss[i] = clientKey(uint32(2_000_000+i), flow.TCP)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if bt.tab.Lookup(&miss[i&(len(miss)-1)]) != nil {
			b.Fatal("hit")
		}
	}
}

// BenchmarkObserve: the per-packet state update on established entries.
func BenchmarkObserve(b *testing.B) {
	bt := getBenchTable(b, 1_000_000)
	mask := len(bt.conns) - 1
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		bt.tab.Observe(bt.conns[i&mask], Dir(i&1), flow.TCPAck, 1500)
	}
}

// BenchmarkInsertExpire: a flow's whole life in the table on one goroutine:
// insert (NAT, two keys), first packet, expiry by the reaper. The clock runs
// so that a flow lives about 64 k inserts; after that the table is in a
// steady state where every insert reuses an expired flow's entry.
func BenchmarkInsertExpire(b *testing.B) {
	for _, tc := range []struct {
		proto uint8
		life  time.Duration // the first packet's state's timeout
	}{{flow.TCP, time.Minute}, {flow.UDP, 5 * time.Minute}} {
		b.Run(protoName(tc.proto), func(b *testing.B) {
			tab, clk := newTable(b, Config{Capacity: 1 << 20})
			tick := tc.life / 64 // per 1024 inserts
			b.ReportAllocs()
			cpu := startCPU()
			b.ResetTimer()
			for i := range b.N {
				k := clientKey(uint32(i), tc.proto)
				rk := replyOf(k, real1, 80)
				c, err := tab.Insert(k, &rk, Value{Dest: 1})
				if err != nil {
					b.Fatal(err)
				}
				tab.Observe(c, DirInput, flow.TCPSyn, 60)
				if i&1023 == 1023 {
					clk.Advance(tick)
					tab.Reap(2048)
				}
			}
			b.StopTimer()
			cpu.report(b)
			st := tab.Stats()
			b.ReportMetric(float64(st.Expired)/float64(b.N), "expired/op")
			b.ReportMetric(float64(st.SlabEntries), "slab")
		})
	}
}

// measureMemory fills a table sized for n entries (NAT: two keys each; DR:
// one) and returns the memory growth per entry: of the process's resident
// set where /proc tells it, since big tables live outside the Go heap (see
// arena), with the Go heap's free pages returned first so that only live
// memory counts; elsewhere of the Go heap, which then holds everything.
func measureMemory(tb testing.TB, n int, nat bool) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&before)
	rss0, huge0, procOK := residentBytes()
	tab, _ := newTable(tb, Config{Capacity: n})
	start := time.Now()
	for i := range uint32(n) {
		k := clientKey(i, flow.TCP)
		var rp *Key
		if nat {
			rk := replyOf(k, real1, 80)
			rp = &rk
		}
		if _, err := tab.Insert(k, rp, Value{Dest: i}); err != nil {
			tb.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	grown := heap
	rss1, huge1, _ := residentBytes()
	if procOK {
		grown = rss1 - rss0
	}
	per := float64(grown) / float64(n)
	st := tab.Stats()
	keys := n
	if nat {
		keys *= 2
	}
	tb.Logf("nat %v: %.1f bytes/entry (resident +%d MB of which huge pages +%d MB, Go heap +%d MB), "+
		"%d index slots (load %.2f), slab %d, fill %v (%.0f ns/insert)",
		nat, per, (rss1-rss0)>>20, (huge1-huge0)>>20, heap>>20, st.IndexSlots, float64(keys)/float64(st.IndexSlots),
		st.SlabEntries, elapsed.Round(time.Millisecond), float64(elapsed.Nanoseconds())/float64(n))
	k := clientKey(uint32(n/2), flow.TCP)
	if tab.Lookup(&k) == nil {
		tb.Error("lookup after fill")
	}
	// Unmap now rather than when the collector gets round to it, so that
	// the next measurement does not start with this table still resident.
	releaseTable(tableRes{tab.id, tab.arena})
	return per
}

// TestMemoryPerEntry: memory growth per entry over 10 M NAT connections (the
// larger kind) must stay within 128 bytes, index and entry included.
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("10 M entries: run without -short and -race")
	}
	if per := measureMemory(t, 10_000_000, true); per > 128 {
		t.Errorf("%.1f bytes per entry, want <= 128", per)
	}
}

// BenchmarkMemoryPerEntry reports bytes/entry at 10 M for NAT and DR.
func BenchmarkMemoryPerEntry(b *testing.B) {
	for _, nat := range []bool{true, false} {
		name := map[bool]string{true: "NAT", false: "DR"}[nat]
		b.Run(name, func(b *testing.B) {
			var per float64
			for range b.N {
				per = measureMemory(b, 10_000_000, nat)
			}
			b.ReportMetric(per, "bytes/entry")
			if per > 128 {
				b.Errorf("%.1f bytes per entry, want <= 128", per)
			}
		})
	}
}

// BenchmarkLookupPages: the same lookups in two tables of n NAT connections
// built alike, one kept on the Go heap (4 KB pages), one in huge-page regions
// (see arena), measured in alternating slices in one process, so that the
// comparison holds on a machine whose load comes and goes; the metrics are
// ns per lookup, one at a time and in batches of 32.
func BenchmarkLookupPages(b *testing.B) {
	for _, n := range benchSizes[2:] {
		b.Run(sizeName(n), func(b *testing.B) {
			var tabs [2]*Table
			for i, heap := range []bool{true, false} {
				tabs[i], _ = newTable(b, Config{Capacity: n})
				tabs[i].arena.heapOnly = heap
				for j := range uint32(n) {
					k := clientKey(j, flow.TCP)
					rk := replyOf(k, real1, 80)
					if _, err := tabs[i].Insert(k, &rk, Value{Dest: j}); err != nil {
						b.Fatal(err)
					}
				}
			}
			sample := make([]Key, 0, 1<<20)
			r := rand.New(rand.NewPCG(5, 6))
			for i := range 1 << 20 {
				k := clientKey(uint32(r.IntN(n)), flow.TCP)
				if i%2 == 1 {
					k = replyOf(k, real1, 80)
				}
				sample = append(sample, k)
			}
			runtime.GC()
			const slice = 1 << 16
			var single, batched [2]time.Duration
			var out [32]*Conn
			b.ReportAllocs()
			b.ResetTimer()
			for round := range b.N {
				base := round * slice & (len(sample) - 1)
				keys := sample[base : base+slice]
				for i, tab := range tabs {
					start := time.Now()
					for k := range keys {
						if tab.Lookup(&keys[k]) == nil {
							b.Fatal("miss")
						}
					}
					single[i] += time.Since(start)
					start = time.Now()
					for k := 0; k < len(keys); k += len(out) {
						tab.LookupBatch(keys[k:k+len(out)], out[:])
					}
					batched[i] += time.Since(start)
				}
			}
			ops := float64(b.N * slice)
			b.ReportMetric(float64(single[0].Nanoseconds())/ops, "heap-ns/lookup")
			b.ReportMetric(float64(single[1].Nanoseconds())/ops, "huge-ns/lookup")
			b.ReportMetric(float64(batched[0].Nanoseconds())/ops, "heap-ns/batched")
			b.ReportMetric(float64(batched[1].Nanoseconds())/ops, "huge-ns/batched")
		})
	}
}

var baselineSink uint64

// BenchmarkBaseline is the floor any index-then-entry table can reach on
// this machine: a random 4-byte index read, then a read of the 104-byte
// record it names, over the footprint of a table of n NAT connections.
// Compare BenchmarkLookup with it.
func BenchmarkBaseline(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			idx := make([]uint32, 2*n)
			recs := make([][13]uint64, n)
			r := rand.New(rand.NewPCG(3, 4))
			for i := range idx {
				idx[i] = uint32(r.IntN(n))
			}
			for i := range recs {
				recs[i][0] = uint64(i)
			}
			x, s := uint64(0), uint64(12345)
			b.ResetTimer()
			for range b.N {
				s = s*6364136223846793005 + 1442695040888963407
				x += recs[idx[(s>>20)%uint64(len(idx))]][0]
			}
			baselineSink = x
		})
	}
}
