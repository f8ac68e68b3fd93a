package conntrack

import (
	"math/bits"
	"runtime"
)

// lookupGroup is how many keys LookupBatch carries through each stage
// together: enough to keep many cache misses in flight, few enough that the
// per-key state stays in registers and L1. At 10 M entries 32 took a third
// less time per key than 16, measured in batches of 32.
const lookupGroup = 32

// LookupBatch is Lookup for each of keys, with out[i] the result for
// keys[i] (out must be at least as long as keys). It overlaps the memory
// accesses of the keys: it hashes a group of keys, loads all their index
// buckets, then all their entries, and only then compares, so a batch of
// packets pays for its cache misses about once instead of once per packet.
// Like Lookup it takes no lock and does not allocate.
func (t *Table) LookupBatch(keys []Key, out []*Conn) {
	out = out[:len(keys)]
	for len(keys) > 0 {
		n := min(len(keys), lookupGroup)
		t.lookupGroup(keys[:n], out[:n])
		keys, out = keys[n:], out[n:]
	}
}

// LookupConns is LookupBatch for the keys of packets that are either a
// client's, found by their forward key, or a NAT real server's reply, found
// by the same tuple as a KindReply key. keys are KindConn keys (another
// Kind is looked up as it is). out[i] is the connection keys[i] names;
// when there is none and replies is true, it is the one keys[i] names as a
// reply key, and reply[i] is set. out and reply must be at least as long as
// keys. Only the keys that missed pay for a reply lookup, together. It
// takes no lock and does not allocate.
func (t *Table) LookupConns(keys []Key, out []*Conn, reply []bool, replies bool) {
	var rk [lookupGroup]Key
	var ri [lookupGroup]int
	var rc [lookupGroup]*Conn
	out, reply = out[:len(keys)], reply[:len(keys)]
	for len(keys) > 0 {
		n := min(len(keys), lookupGroup)
		t.lookupGroup(keys[:n], out[:n])
		m := 0
		for i := range keys[:n] {
			reply[i] = false
			if replies && out[i] == nil && keys[i].Kind == KindConn {
				rk[m] = keys[i]
				rk[m].Kind = KindReply
				ri[m] = i
				m++
			}
		}
		if m > 0 {
			t.lookupGroup(rk[:m], rc[:m])
			for j, c := range rc[:m] {
				if c != nil {
					out[ri[j]], reply[ri[j]] = c, true
				}
			}
		}
		keys, out, reply = keys[n:], out[n:], reply[n:]
	}
}

// groupState carries a group of keys through LookupBatch's stages.
type groupState struct {
	pr   [lookupGroup]probe
	hs   [lookupGroup]uint64
	shs  [lookupGroup]*shard
	bks  [lookupGroup]*bucket
	ents [lookupGroup]*Conn
}

func (t *Table) lookupGroup(keys []Key, out []*Conn) {
	var g groupState
	t.warmGroup(keys, &g)
	// 5: compare; anything the first candidate did not settle (a tag
	// collision, a probe past the home bucket) takes the ordinary path.
	now := t.now()
	for i := range keys {
		out[i] = nil
		if g.shs[i] == nil {
			continue
		}
		c, ctl, ok := g.ents[i], uint64(0), false
		if c != nil {
			ctl, ok = g.pr[i].match(c)
		}
		if !ok {
			if c, ctl = g.shs[i].find(&g.pr[i], g.hs[i]); c == nil {
				continue
			}
		}
		if keys[i].Kind == KindTemplate {
			if aliveTemplate(ctl, now) {
				out[i] = c
			}
		} else if alive(ctl, now) {
			out[i] = c
		}
	}
	runtime.KeepAlive(t) // the index and entries are outside the heap (see arena)
}

// Prefetch starts the cache misses that looking keys up will wait on (their
// index buckets and the entries those name), all together, and returns
// without comparing anything: a caller that goes on to handle the keys one
// by one with Lookup, and Observe, then finds them in cache. It is
// LookupBatch for callers whose handling of one key may change what the next
// finds (an insert, an expiry), where results taken up front could be
// stale. It takes no lock and does not allocate.
func (t *Table) Prefetch(keys []Key) {
	var g groupState
	for len(keys) > 0 {
		n := min(len(keys), lookupGroup)
		t.warmGroup(keys[:n], &g)
		keys = keys[n:]
	}
	runtime.KeepAlive(t)
}

// warmGroup runs LookupBatch's memory stages over a group of keys, leaving
// in g each key's probe, hash, shard, home bucket and first candidate
// entry.
func (t *Table) warmGroup(keys []Key, g *groupState) {
	// The stages touching memory are tight loops, so that the misses of the
	// whole group are in flight together (a loop body of many instructions
	// fills the CPU's reorder window with fewer of them). Atomic loads whose
	// values are not used are kept by the compiler: they start the misses.
	//
	// 1: hashes.
	for i := range keys {
		g.shs[i], g.bks[i], g.ents[i] = nil, nil, nil
		if hc, h, ok := t.probeOf(&keys[i], &g.pr[i]); ok {
			g.hs[i] = h
			g.shs[i] = t.shardOf(hc)
		}
	}
	// 2: the home buckets.
	for i, sh := range g.shs[:len(keys)] {
		if sh != nil {
			ix := sh.ix.Load()
			g.bks[i] = &ix.b[ix.home(g.hs[i])]
			g.bks[i].ctrl[0].Load()
		}
	}
	// 3: the first candidate slot of each bucket names an entry.
	for i, bk := range g.bks[:len(keys)] {
		if bk == nil {
			continue
		}
		tag := tagOf(g.hs[i])
		m := matchTag(bk.ctrl[0].Load(), tag)>>7 | matchTag(bk.ctrl[1].Load(), tag)>>3
		if m == 0 {
			continue
		}
		bit := uint(bits.TrailingZeros64(m))
		v := bk.slot[bit>>3+(bit&4)<<1].Load()
		cs := *g.shs[i].chunks.Load()
		local := slotLocal(v)
		if ci := int(local / chunkSize); v&slotCheck == slotHash(g.hs[i])|g.pr[i].reply && ci < len(cs) {
			g.ents[i] = &cs[ci].ents[local%chunkSize]
		}
	}
	// 4: every cache line of the entries. An entry is 104 bytes at any
	// offset within a line, so it spans two or three lines; words 0, 7 and
	// 12 are less than a line apart and touch each of them. The last line
	// holds what the packet reads and writes after the match: the real
	// server (wSvc, wGen) and the counters Observe adds to.
	for _, c := range g.ents[:len(keys)] {
		if c != nil {
			c.w[wSrc0].Load()
			c.w[wCtl].Load()
			c.w[wBytesOut].Load()
		}
	}
}
