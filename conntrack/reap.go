package conntrack

import (
	"context"
	"time"
)

// EvictReason says why an entry was dropped to make room. Under pressure the
// table evicts in this order and never evicts an ESTABLISHED connection
// while embryonic ones exist.
type EvictReason uint8

// Eviction reasons, in the order the table tries them.
const (
	// EvictEmbryonic: a TCP connection that never finished its handshake
	// (NONE, SYN_SENT, SYN_RECV, SYNACK, LISTEN) — what a SYN flood leaves.
	EvictEmbryonic EvictReason = iota
	// EvictClosing: a TCP connection on its way out (FIN_WAIT, TIME_WAIT,
	// CLOSE, CLOSE_WAIT, LAST_ACK).
	EvictClosing
	// EvictDatagram: a UDP or ICMP entry.
	EvictDatagram
	// EvictTemplate: a persistence template that controls no connection.
	EvictTemplate
	// EvictIdle: an ESTABLISHED connection that saw at most 8 input packets
	// and none for 60 s (the kernel's todrop_entry test; a flood of spoofed
	// ACKs in sloppy mode makes these). Only when no embryonic entry exists.
	EvictIdle
	// NumEvictReasons is the number of reasons.
	NumEvictReasons
)

var evictNames = [NumEvictReasons]string{"embryonic", "closing", "datagram", "template", "idle"}

// String names the reason for metrics labels.
func (r EvictReason) String() string {
	if r < NumEvictReasons {
		return evictNames[r]
	}
	return "unknown"
}

const (
	idleMinTicks   = uint32(60 * time.Second / time.Duration(tickNs))
	idleMaxInPkts  = 8
	evictShardScan = 4096 // most entries scanned per shard visit
)

// evict removes one entry to make room, trying the reasons in order. It
// takes one shard lock at a time (pref's first), so it may run before the
// caller locks its own shard.
func (t *Table) evict(pref *shard, now uint32) bool {
	for r := EvictEmbryonic; r < NumEvictReasons; r++ {
		var have int64
		switch r {
		case EvictEmbryonic:
			have = t.class[classEmbryonic].Load()
		case EvictClosing:
			have = t.class[classClosing].Load()
		case EvictDatagram:
			have = t.class[classDatagram].Load()
		case EvictTemplate:
			have = t.templates.Load()
		case EvictIdle:
			if t.class[classEmbryonic].Load() > 0 {
				return false
			}
			have = t.class[classEstablished].Load()
		}
		if have <= 0 {
			continue
		}
		// Scan long enough to find one of have among live entries.
		budget := min(max(4*t.live.Load()/have, evictShardScan), 1<<16)
		if t.evictScan(pref, r, now, int(budget)) {
			return true
		}
	}
	return false
}

// evictScan advances the shards' eviction clock hands looking for an entry
// to drop for reason r; an expired entry found on the way goes instead.
func (t *Table) evictScan(pref *shard, r EvictReason, now uint32, budget int) bool {
	mask := len(t.shards) - 1
	for i := 0; i < len(t.shards) && budget > 0; i++ {
		sh := &t.shards[(int(pref.id)+i)&mask]
		var rmBuf [1]removedEnt // the scan stops at the first removal
		rm := removed{ent: rmBuf[:]}
		found := false
		sh.mu.Lock()
		n := sh.n.Load()
		steps := min(budget, evictShardScan, int(n))
		budget -= max(steps, 1)
		pos := sh.evictPos
		for ; steps > 0; steps-- {
			if pos >= n {
				pos = 0
			}
			c := sh.entry(pos)
			ctl := c.w[wCtl].Load()
			if why, ok := t.evictable(c, ctl, r, now); ok && t.removeLocked(sh, c, pos, ctl, why, &rm) {
				found = true
				pos++
				break
			}
			pos++
		}
		sh.evictPos = pos
		sh.mu.Unlock()
		t.finish(sh, &rm)
		if found {
			return true
		}
	}
	return false
}

// evictable says whether c may go for reason r, and how to count it.
func (t *Table) evictable(c *Conn, ctl uint64, r EvictReason, now uint32) (int, bool) {
	if ctl&ctlLive == 0 {
		return 0, false
	}
	if c.w[wPorts].Load()&typeMask == typeTmpl {
		if ctlCount(ctl) != 0 {
			return 0, false
		}
		if !before(now, ctlExpiry(ctl)) || ctl&ctlOrphan != 0 {
			return removeExpired, true
		}
		return int(r), r == EvictTemplate
	}
	if !before(now, ctlExpiry(ctl)) {
		return removeExpired, true
	}
	st := ctlState(ctl)
	switch r {
	case EvictEmbryonic:
		return int(r), stateClass[st] == classEmbryonic
	case EvictClosing:
		return int(r), stateClass[st] == classClosing
	case EvictDatagram:
		return int(r), stateClass[st] == classDatagram
	case EvictIdle:
		if st != StateEstablished || c.w[wTmpl].Load()>>32 > idleMaxInPkts {
			return 0, false
		}
		// Idle for 60 s: its expiry is at least that much short of a
		// fresh ESTABLISHED timeout.
		left := ctlExpiry(ctl) - now
		return int(r), int64(left)+int64(idleMinTicks) <= int64(t.timeouts[StateEstablished].Load())
	}
	return 0, false
}

// stale says whether the reaper should remove an entry: expired, or a template
// out of the index whose last connection has gone.
func stale(c *Conn, ctl uint64, now uint32) bool {
	if ctl&ctlLive == 0 {
		return false
	}
	if c.w[wPorts].Load()&typeMask == typeTmpl {
		if ctlCount(ctl) != 0 {
			return false
		}
		return ctl&ctlOrphan != 0 || !before(now, ctlExpiry(ctl))
	}
	return !before(now, ctlExpiry(ctl))
}

// Reap removes expired entries, examining at most max slab entries from
// where the last call stopped, and at most one pass over the table. It
// returns how many it removed. Scanning takes no lock; only the removals of
// a batch lock its shard.
func (t *Table) Reap(max int) int {
	if max <= 0 {
		return 0
	}
	t.reapMu.Lock()
	defer t.reapMu.Unlock()
	now := t.now()
	removed, examined := 0, 0
	for switches := 0; examined < max && switches <= len(t.shards); {
		sh := &t.shards[t.reapShard]
		n := sh.n.Load()
		if t.reapPos >= n {
			t.reapShard = (t.reapShard + 1) & (len(t.shards) - 1)
			t.reapPos = 0
			switches++
			continue
		}
		end := min(uint64(n), uint64(t.reapPos)+uint64(max-examined))
		var cand [removedBatch]uint32
		nc := 0
		pos := uint64(t.reapPos)
		for ; pos < end && nc < len(cand); pos++ {
			c := sh.entry(uint32(pos))
			if stale(c, c.w[wCtl].Load(), now) {
				cand[nc] = uint32(pos)
				nc++
			}
		}
		examined += int(pos - uint64(t.reapPos))
		t.reapPos = uint32(pos)
		if nc > 0 {
			removed += t.reapBatch(sh, cand[:nc], now)
		}
	}
	return removed
}

func (t *Table) reapBatch(sh *shard, cand []uint32, now uint32) int {
	// Start the index misses of the whole batch before the removals,
	// whose locked instructions would take them one at a time.
	ix := sh.ix.Load()
	for _, local := range cand {
		h, hr, reply := t.entryHashes(sh.entry(local))
		ix.b[ix.home(h)].ctrl[0].Load()
		if reply {
			ix.b[ix.home(hr)].ctrl[0].Load()
		}
	}
	var rmBuf [removedBatch]removedEnt
	rm := removed{ent: rmBuf[:len(cand)]}
	n := 0
	sh.mu.Lock()
	for _, local := range cand {
		c := sh.entry(local)
		ctl := c.w[wCtl].Load()
		why := removeExpired
		if ctl&ctlOrphan != 0 {
			why = removeFlushed // Expire'd while it controlled connections
		}
		if stale(c, ctl, now) && t.removeLocked(sh, c, local, ctl, why, &rm) {
			n++
		}
	}
	sh.mu.Unlock()
	t.finish(sh, &rm)
	return n
}

// reapInterval is how often Run reaps.
const reapInterval = 100 * time.Millisecond

// Run reaps expired entries until ctx is done. Each tick examines a slice of
// the slab sized to sweep the whole table in about 10 s, doubled while many
// of the examined entries are stale and halved back when few are.
func (t *Table) Run(ctx context.Context) {
	tk := time.NewTicker(reapInterval)
	defer tk.Stop()
	budget := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		slab := 0
		for i := range t.shards {
			slab += int(t.shards[i].n.Load())
		}
		base := max(1024, slab/100)
		budget = max(budget, base)
		n := t.Reap(budget)
		switch {
		case n*4 > budget:
			budget = min(2*budget, max(slab, base))
		case n*16 < budget:
			budget = max(budget/2, base)
		}
	}
}
