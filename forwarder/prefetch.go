package forwarder

import (
	"sync"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/internal/cpucache"
	"github.com/xvs-project/xvs/link"
)

// Batched lookups: a big connection table lives in DRAM, and a packet that
// looks its connection up and then updates it waits for two or three cache
// misses in turn. Before a batch is processed, the worker reads each
// frame's connection key and looks them all up at once
// (conntrack.Table.LookupConns), so the batch pays for its misses about
// once; each packet then takes its connection from those results instead
// of hashing and probing again.
//
// The results are what a lookup at the start of the batch finds. An
// earlier packet of the batch may create, end or replace the connection a
// later one belongs to, so they stay in use only while the worker has not
// changed the table: the first insert or expiry, and the first state
// change (which may shorten an entry's timeout), sends every later packet
// of the batch back to its own Lookup. Established flows change nothing,
// so in the common batch every packet uses them. (Other workers and the
// reaper change the table at any time; a result taken a batch earlier
// races with them exactly as a lookup does, and an entry is not reused
// within 50 ms of its removal, see conntrack.Conn.)

// From which table size a batch is looked up ahead: once the table no
// longer stays in the core's L2 cache beside the packet path. Below that a
// lookup hits cache anyway, and looking up ahead only costs: it reads
// every frame's key twice (Masq at 1 k flows, BenchmarkPipeline: 128 ns a
// packet without, 154 with). Above it a lookup misses, and more so in a
// real director than in that benchmark: the kernel's half of each frame
// (veth, the copy into the UMEM) goes through the same L2 between batches.
// At 10 k flows the in-memory pipeline was level (149 vs 152 ns), while in
// the lab (64 B / 10 k flows, AF_XDP, perf over the daemon) the lookups'
// share of its samples fell from 13 % (shard.find, probe.match, probeOf,
// Observe) to 5 % (warmGroup, prefetch, Observe) when the batch was looked
// up ahead.
//
// connFootprint is the cache a NAT connection's lookups keep: its 104-byte
// entry and the 64-byte index bucket of each of its two keys (buckets are
// picked by hash, so in a table this size no two keys share one). The
// table may have half the L2; the other half is the packets' and the
// code's.
const (
	connFootprint  = 104 + 2*64
	defaultL2Bytes = 1 << 20 // where sysfs does not say
)

// aheadMinFor returns the table size from which a worker looks its batches
// up ahead, on cores with l2 bytes of L2 cache (0: unknown).
func aheadMinFor(l2 int) int {
	if l2 <= 0 {
		l2 = defaultL2Bytes
	}
	return max(l2/2/connFootprint, 1)
}

// aheadMinHere is aheadMinFor this machine's L2, read once.
var aheadMinHere = sync.OnceValue(func() int {
	l2, _ := cpucache.Size(cpucache.SysfsRoot, 0, 2)
	return aheadMinFor(l2)
})

// aheadState is a batch's connections looked up ahead, per frame.
type aheadState struct {
	ok    bool             // the results are still what a lookup would find
	cur   int              // the frame being processed
	idx   [batchSize]int16 // frame -> its key in keys, or -1
	keys  [batchSize]conntrack.Key
	conns [batchSize]*conntrack.Conn
	reply [batchSize]bool // conns[i] was found by keys[i]'s reply key
	n     int             // keys in use
}

// result returns the connection looked up ahead for the current frame,
// whose key is k: fwd found by k, or, when none, reply by k's reply key.
// ok is false when there is no usable result and the caller must look up
// itself.
func (a *aheadState) result(k *conntrack.Key) (fwd, reply *conntrack.Conn, ok bool) {
	if !a.ok {
		return nil, nil, false
	}
	i := a.idx[a.cur]
	if i < 0 || a.keys[i] != *k {
		return nil, nil, false
	}
	if a.reply[i] {
		return nil, a.conns[i], true
	}
	return a.conns[i], nil, true
}

// done drops the batch's results: a *Conn is not kept past its batch.
func (a *aheadState) done() {
	a.ok = false
	clear(a.conns[:a.n])
	a.n = 0
}

// prefetch looks up the connections of rx's TCP and UDP frames ahead: each
// frame's connection key and, on a snapshot with NAT services, its reply
// key when the connection key found nothing (the packet may be a real
// server's answer). Looking up every reply key too cost a client's packet a
// second index miss. With the lookups' results used (instead of only
// warming the cache) Masq at 1 M flows went from 288 to 177 cpu-ns a packet
// (BenchmarkPipeline, minimum of 3).
func (w *worker) prefetch(rx []link.Frame) {
	a := &w.p.ahead
	if w.p.table.Len() < w.aheadMin {
		return
	}
	n := 0
	for i := range rx {
		a.idx[i] = -1
		switch encap.Parse(rx[i].Data(), &w.pfPkt) {
		case encap.KindTCP, encap.KindUDP:
		default:
			continue
		}
		a.idx[i] = int16(n)
		a.keys[n] = conntrack.ConnKey(&w.pfPkt.Tuple)
		n++
	}
	w.p.table.LookupConns(a.keys[:n], a.conns[:n], a.reply[:n], w.p.snap.hasNAT)
	a.n, a.ok = n, true
}
