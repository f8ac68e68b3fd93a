package forwarder

import (
	"cmp"
	"slices"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/service"
)

// Drops returns every loss counter of the engine as typed records: the
// workers' drops by reason and queue, the backend's own (for AF_XDP the
// sockets' XDP_STATISTICS and the steering program's counters per queue; for
// AF_PACKET its ring and transmit counters), and the connection table's
// evictions by reason ("evict-embryonic", ...; these count entries, not
// packets). Zero counters are left out. It implements control.DropReporter.
func (e *Engine) Drops() service.DropReport {
	var r service.DropReport
	for _, w := range e.workers {
		st := w.p.stats
		for reason := DropReason(0); reason < numDropReasons; reason++ {
			if n := st.drops[reason].load(); n > 0 {
				r.Drops = append(r.Drops, service.Drop{Queue: st.name, Reason: reason.String(), Count: n})
			}
		}
	}
	bs := e.backend.Stats()
	r.Drops = appendCounters(r.Drops, bs.Drops)
	r.Events = appendCounters(r.Events, bs.Events)
	ts := e.table.Stats()
	for reason, n := range ts.Evicted {
		if n > 0 {
			r.Drops = append(r.Drops, service.Drop{Reason: "evict-" + conntrack.EvictReason(reason).String(), Count: n})
		}
	}
	sortDrops(r.Drops)
	sortDrops(r.Events)
	return r
}

// sortDrops orders records by queue (totals first), then reason.
func sortDrops(d []service.Drop) {
	slices.SortFunc(d, func(a, b service.Drop) int {
		return cmp.Or(cmp.Compare(a.Queue, b.Queue), cmp.Compare(a.Reason, b.Reason))
	})
}

// appendCounters appends a backend's counters as records, leaving out zero
// ones.
func appendCounters(d []service.Drop, cs []link.Counter) []service.Drop {
	for _, c := range cs {
		if c.Count != 0 {
			d = append(d, service.Drop{Queue: c.Queue, Reason: c.Reason, Count: c.Count})
		}
	}
	return d
}
