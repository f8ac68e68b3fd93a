package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
)

// The connection table's memory per entry is not among conntrack's own
// benchmarks, so the bench measures it here through the package's public
// API, in a child process of its own so that a ten-million-entry table does
// not stay in the harness's memory: the process's resident memory after
// filling a table with n NAT connections (forward and reply keys), minus
// before, divided by n — resident, not Go heap, because the table keeps its
// slabs and indexes in huge-page regions outside the Go heap — and the mean
// time of a million random lookups in it.

// TableMemResult is one table size's figures.
type TableMemResult struct {
	Entries       int
	BytesPerEntry float64
	HeapBytes     uint64
	FillTime      time.Duration
	LookupNs      float64
	Error         string `json:",omitempty"`
}

const childCTMem = "__ctmem"

// tableKey is the i-th client's forward key to the VIP, and its NAT reply.
func tableKey(i int) (fwd, reply conntrack.Key) {
	src := netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}).As16()
	fwd = conntrack.Key{Tuple: flow.Tuple{Src: src, Dst: labVIP.As16(), SrcPort: 1024 + uint16(i&0xff), DstPort: 80, Proto: 6}, Kind: conntrack.KindConn}
	reply = conntrack.Key{Tuple: flow.Tuple{Src: realAddr(1 + i%3).As16(), Dst: src, SrcPort: 80, DstPort: fwd.SrcPort, Proto: 6}, Kind: conntrack.KindReply}
	return fwd, reply
}

// measureTable builds and measures one table of n connections.
func measureTable(n int) (TableMemResult, error) {
	res := TableMemResult{Entries: n}
	runtime.GC()
	before, err := residentBytes()
	if err != nil {
		return res, err
	}
	start := time.Now()
	// A frozen clock: filling ten million entries takes longer than a new
	// entry's first timeout, and expiry is not what is measured here.
	tab, err := conntrack.New(conntrack.Config{Capacity: n, Clock: func() int64 { return 1 }})
	if err != nil {
		return res, err
	}
	for i := range n {
		fwd, reply := tableKey(i)
		if _, err := tab.Insert(fwd, &reply, conntrack.Value{Dest: uint32(i % 3)}); err != nil {
			return res, fmt.Errorf("insert %d of %d: %w", i, n, err)
		}
	}
	res.FillTime = time.Since(start)
	runtime.GC()
	after, err := residentBytes()
	if err != nil {
		return res, err
	}
	res.HeapBytes = after - min(before, after)
	res.BytesPerEntry = float64(res.HeapBytes) / float64(n)

	const lookups = 1 << 20
	keys := make([]conntrack.Key, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		keys[i], _ = tableKey(r.IntN(n))
	}
	start = time.Now()
	miss := 0
	for i := range lookups {
		if tab.Lookup(&keys[i&(len(keys)-1)]) == nil {
			miss++
		}
	}
	res.LookupNs = float64(time.Since(start).Nanoseconds()) / lookups
	if miss > 0 {
		return res, fmt.Errorf("%d of %d lookups missed", miss, lookups)
	}
	runtime.KeepAlive(tab)
	return res, nil
}

// RunTableMem is the child's main: it measures each size in sizes and prints
// the results as one JSON array.
func RunTableMem(sizes []int, out io.Writer) error {
	var all []TableMemResult
	for _, n := range sizes {
		r, err := measureTable(n)
		if err != nil {
			r.Error = err.Error()
		}
		all = append(all, r)
		runtime.GC()
	}
	return json.NewEncoder(out).Encode(all)
}

// tableMemory runs the measurement in a child process.
func tableMemory(ctx context.Context, sizes []int) ([]TableMemResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := startProc(ctx, "conntrack memory", -1, []string{exe, childCTMem, mustJSON(sizes)}, false)
	if err != nil {
		return nil, err
	}
	var res []TableMemResult
	if err := p.readJSON(&res, 5*time.Minute); err != nil {
		_ = p.stop(time.Second)
		return nil, err
	}
	if err := p.stop(5 * time.Second); err != nil {
		return res, err
	}
	for _, r := range res {
		if r.Error != "" {
			return res, fmt.Errorf("conntrack table of %d: %s", r.Entries, r.Error)
		}
	}
	return res, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// residentBytes is the process's resident memory, from /proc/self/statm.
func residentBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}
