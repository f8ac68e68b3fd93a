package forwarder

import (
	"cmp"
	"slices"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/service"
)

// DropReporter is implemented by backends that keep loss counters of their
// own (ring overruns, transmit failures, the steering program's verdicts).
// The engine adds them to its Drops report; a backend without it reports
// nothing beyond what the workers count.
type DropReporter interface {
	// ReportDrops appends the backend's counters to r: losses to r.Drops,
	// the rest to r.Events. Zero counters may be left out.
	ReportDrops(r *service.DropReport)
}

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
	if br, ok := e.backend.(DropReporter); ok {
		br.ReportDrops(&r)
	}
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

// appendDrop appends a record unless its count is zero.
func appendDrop(d []service.Drop, queue, reason string, n uint64) []service.Drop {
	if n == 0 {
		return d
	}
	return append(d, service.Drop{Queue: queue, Reason: reason, Count: n})
}

// ReportDrops implements DropReporter with the AF_PACKET backend's totals
// (it keeps them for all queues together): the kernel's ring overruns
// ("afpacket-rx-ring-full", PACKET_STATISTICS drops), frames cut to fit a
// block, offloaded super-frames, and the transmit losses. Ring freezes,
// socket errors and the director's own outgoing frames the filter let
// through are Events.
func (b *AFPacketBackend) ReportDrops(r *service.DropReport) {
	s := b.b.Stats()
	for _, c := range []struct {
		name string
		n    uint64
	}{
		{"afpacket-rx-ring-full", s.RxDrops},
		{"afpacket-rx-truncated", s.RxTruncated},
		{"afpacket-rx-gso", s.RxGSO},
		{"afpacket-tx-full", s.TxFull},
		{"afpacket-tx-oversize", s.TxOversize},
		{"afpacket-tx-error", s.TxErrors},
		{"afpacket-tx-no-if", s.TxNoIf},
	} {
		r.Drops = appendDrop(r.Drops, "", c.name, c.n)
	}
	r.Events = appendDrop(r.Events, "", "afpacket-rx-freeze", s.RxFreezes)
	r.Events = appendDrop(r.Events, "", "afpacket-rx-poll-error", s.RxPollErr)
	r.Events = appendDrop(r.Events, "", "afpacket-rx-outgoing", s.RxOutgoing)
}
