package forwarder

import (
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
)

// Batched lookups: a big connection table lives in DRAM, and a packet that
// looks its connection up and then updates it waits for two or three cache
// misses in turn. Before a batch is processed, the worker reads each
// frame's connection key and asks the table to start all their misses at
// once (conntrack.Table.Prefetch); the packets then find their buckets and
// entries in cache. The packets are still handled one by one, exactly as
// without it: an earlier packet of a batch may create, end or replace the
// connection a later one belongs to, so results taken up front could be
// stale, while warmed cache lines cannot.

// prefetchMinConns is the table size from which a batch is prefetched:
// below it the table stays in the CPU's caches and reading every frame's
// key twice would only cost.
const prefetchMinConns = 1 << 16

// prefetch warms the table for the TCP and UDP frames of rx: each frame's
// connection key and, on a snapshot with NAT services, its reply key too
// when the connection key has no candidate (the packet may be a real
// server's answer; conntrack.Table.PrefetchConns). Warming every reply key
// cost a client's packet a second index miss: Masq at 1 M flows went from
// 328 to 221 ns a packet without it.
func (w *worker) prefetch(rx []link.Frame) {
	if w.p.table.Len() < prefetchMinConns {
		return
	}
	nat := w.p.snap.hasNAT
	keys := w.pfKeys[:0]
	for i := range rx {
		switch encap.Parse(rx[i].Data(), &w.pfPkt) {
		case encap.KindTCP, encap.KindUDP:
		default:
			continue
		}
		keys = append(keys, conntrack.ConnKey(&w.pfPkt.Tuple))
	}
	if nat {
		w.p.table.PrefetchConns(keys)
	} else {
		w.p.table.Prefetch(keys)
	}
	w.pfKeys = keys[:0]
}
