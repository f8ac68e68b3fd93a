package conntrack

import (
	"runtime"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// Insert adds a connection under its forward key fwd (Kind KindConn) and, for
// NAT, its reply key (Kind KindReply, from the real server to the same client
// address and port, same protocol); reply is nil for DR and TUN. It returns
// ErrFull when the table is at capacity and nothing may be evicted, the live
// entry with ErrExists when the forward key is taken, and the live entry with
// ErrReplyClash (which also matches ErrExists) when the reply key is held by
// a connection that is not closing. An entry that holds a key but has expired
// is replaced. Insert does not allocate unless the shard has to grow.
//
// A reply key held by a closing TCP connection (FIN_WAIT, TIME_WAIT, CLOSE,
// CLOSE_WAIT, LAST_ACK) is taken over: the holder is expired. This is the
// common case of two NAT services on one real server: a client's new
// connection to the second VIP reuses the port of a finished connection to
// the first, and the real server sees the very same tuple again, so that
// tuple can only belong to the new connection now. (IPVS keeps both entries,
// because its table is keyed by the client tuple alone and replies are
// matched by walking a hash chain; which entry a reply then finds is the
// chain's order. A takeover gives replies one owner, and it is what
// nftables' NAT does for a SYN that meets a closing conntrack entry.)
func (t *Table) Insert(fwd Key, reply *Key, v Value) (*Conn, error) {
	st, err := connStart(&fwd, reply, v.State)
	if err != nil {
		return nil, err
	}
	bits := uint64(0)
	if reply == nil {
		bits = ctlNoOutput
	}
	return t.insert(&fwd, reply, &v, typeConn, connCtl(st, 0, bits), t.timeouts[st].Load())
}

// connStart checks a new connection's keys (see Insert) and returns the
// state it starts in: st for TCP, the protocol's one state otherwise.
func connStart(fwd, reply *Key, st State) (State, error) {
	if fwd.Kind != KindConn {
		return 0, ErrBadKey
	}
	if reply != nil && (reply.Kind != KindReply || reply.Dst != fwd.Src ||
		reply.DstPort != fwd.SrcPort || reply.Proto != fwd.Proto) {
		return 0, ErrBadKey
	}
	if fwd.Proto != flow.TCP {
		return protoState(fwd.Proto), nil
	}
	if int(st) >= numTCPStates {
		return 0, ErrBadConfig
	}
	return st, nil
}

// InsertTemplate adds a persistence template under k (Kind KindTemplate):
// the real server v.Dest for the client network in k. It lives timeout after
// its last use (a connection bound to it or leaving it) and never while
// connections it controls are live.
func (t *Table) InsertTemplate(k Key, v Value, timeout time.Duration) (*Conn, error) {
	if k.Kind != KindTemplate || v.Template != nil {
		return nil, ErrBadKey
	}
	if timeout <= 0 {
		return nil, ErrBadConfig
	}
	ticks := toTicks(timeout)
	v.State = StateNone
	return t.insert(&k, nil, &v, typeTmpl, tmplCtl(0, 0, 0), ticks)
}

// insert is Insert and InsertTemplate; ctl is the new control word but for
// its expiry, timeout ticks from now.
func (t *Table) insert(k *Key, reply *Key, v *Value, typ uint8, ctl uint64, timeout uint32) (*Conn, error) {
	var fp, rp probe
	hc, h, _ := t.probeOf(k, &fp)
	var hr uint64
	if reply != nil {
		_, hr, _ = t.probeOf(reply, &rp)
	}
	sh := t.shardOf(hc)
	sh.prefetch(h, hr, reply != nil)
	now := t.now()
	ctl = withExpiry(ctl, now+timeout)
	if !t.reserve(sh, now) {
		return nil, ErrFull
	}
	var rmBuf [2]removedEnt // the holders of fwd and reply
	rm := removed{ent: rmBuf[:]}
	sh.mu.Lock()
	if c, err := t.replaceLocked(sh, &fp, h, typ == typeTmpl, false, now, &rm); err != nil {
		return t.abort(sh, &rm, c, err)
	}
	if reply != nil {
		if c, err := t.replaceLocked(sh, &rp, hr, false, true, now, &rm); err != nil {
			return t.abort(sh, &rm, c, err)
		}
	}
	var ref uint32
	if tc := v.Template; tc != nil {
		ch := tc.chunk()
		if ch.tab != t.id || !t.bind(tc, now) {
			return t.abort(sh, &rm, nil, ErrTemplateGone)
		}
		ref = refOf(&t.shards[ch.shard], ch.base+uint32(tc.w[wBytesIn].Load()&0xffff))
	}
	local, c, ok := sh.alloc(t, coarseNow())
	if !ok {
		if ref != 0 {
			t.unbind(ref, now)
		}
		t.full.Add(1)
		return t.abort(sh, &rm, nil, ErrFull)
	}
	need := 1
	if reply != nil {
		need = 2
	}
	sh.ensureRoom(t, need)

	// Fill the entry; wPorts (with a new sequence) and wCtl go last. A
	// reused entry often keeps its VIP, real server and service.
	c.set(wSrc0, fp.a0)
	c.set(wSrc1, fp.a1)
	c.set(wDst0, fp.b0)
	c.set(wDst1, fp.b1)
	meta := typ | (uint8(c.w[wPorts].Load())+metaSeqOne)&^(metaSeqOne-1)
	var rport uint16
	switch {
	case reply != nil:
		c.set(wRep0, rp.b0)
		c.set(wRep1, rp.b1)
		rport = reply.SrcPort
		meta |= metaReply
	case typ == typeTmpl:
		c.set(wRep0, uint64(timeout))
		c.set(wRep1, 0)
	default:
		c.set(wRep0, 0)
		c.set(wRep1, 0)
	}
	c.set(wSvc, uint64(v.Service)<<32|uint64(v.Dest))
	c.set(wGen, uint64(v.DestGen))
	c.set(wTmpl, uint64(ref))
	c.set(wBytesIn, uint64(local%chunkSize))
	c.set(wBytesOut, 0)
	c.w[wPorts].Store(packPorts(k.SrcPort, k.DstPort, k.Proto, rport, meta))
	c.w[wCtl].Store(ctl)

	ix := sh.ix.Load()
	ix.insert(h, slotValue(local, false))
	if reply != nil {
		ix.insert(hr, slotValue(local, true))
	}
	sh.live++
	if typ == typeTmpl {
		t.templates.Add(1)
	} else {
		t.class[stateClass[ctlState(ctl)]].Add(1)
	}
	sh.inserts++
	sh.mu.Unlock()
	t.finish(sh, &rm)
	if t.hooks.Bound != nil {
		t.hooks.Bound(c)
	}
	runtime.KeepAlive(t) // c is outside the heap (see arena)
	return c, nil
}

// abort undoes insert's capacity reservation after an error, under the lock.
func (t *Table) abort(sh *shard, rm *removed, c *Conn, err error) (*Conn, error) {
	sh.mu.Unlock()
	t.live.Add(-1)
	t.finish(sh, rm)
	return c, err
}

// replaceLocked checks that p's key is free, removing an expired holder of
// it, and for a reply key (reply) also a closing TCP holder (see Insert).
func (t *Table) replaceLocked(sh *shard, p *probe, h uint64, tmpl, reply bool, now uint32, rm *removed) (*Conn, error) {
	c, ctl := sh.find(p, h)
	if c == nil {
		return nil, nil
	}
	why := removeExpired
	if (tmpl && aliveTemplate(ctl, now)) || (!tmpl && alive(ctl, now)) {
		if !reply {
			return c, ErrExists
		}
		if !closingTCP(c, ctl) {
			return c, ErrReplyClash
		}
		why = removeFlushed // taken over, as if Expire'd
	}
	if !t.removeLocked(sh, c, c.local(), ctl, why, rm) {
		// It changed under us (a lookup's Observe): judge it again on
		// the caller's retry rather than here.
		if reply {
			return c, ErrReplyClash
		}
		return c, ErrExists
	}
	return nil, nil
}

// closingTCP reports whether connection c, whose control word is ctl, is a
// TCP connection on its way out, whose tuple a new connection may take.
func closingTCP(c *Conn, ctl uint64) bool {
	p := c.w[wPorts].Load()
	return p&typeMask == typeConn && uint8(p>>24) == flow.TCP && stateClass[ctlState(ctl)] == classClosing
}

// reserve takes one unit of capacity, evicting to make room if need be.
func (t *Table) reserve(sh *shard, now uint32) bool {
	for try := 0; try < 8; try++ {
		if t.live.Add(1) <= t.capacity.Load() {
			return true
		}
		t.live.Add(-1)
		if !t.evict(sh, now) {
			break
		}
	}
	t.full.Add(1)
	return false
}

// bind makes template tc control one more connection and refreshes it.
func (t *Table) bind(tc *Conn, now uint32) bool {
	if !tc.IsTemplate() {
		return false
	}
	timeout := uint32(tc.w[wRep0].Load())
	for {
		old := tc.w[wCtl].Load()
		n := ctlCount(old)
		if old&(ctlLive|ctlOrphan) != ctlLive || n == maxControl ||
			(n == 0 && !before(now, ctlExpiry(old))) {
			return false // gone, going, or (expired and idle) about to go
		}
		nw := withExpiry(old&^(ctlCountMask<<32)|uint64(n+1)<<32, now+timeout)
		if tc.w[wCtl].CompareAndSwap(old, nw) {
			return true
		}
	}
}

// unbind releases one connection of the template ref; leaving counts as a
// use, so the template lives its timeout from now.
func (t *Table) unbind(ref uint32, now uint32) {
	tc := t.entryByRef(ref)
	timeout := uint32(tc.w[wRep0].Load())
	for {
		old := tc.w[wCtl].Load()
		n := ctlCount(old)
		if old&ctlLive == 0 || n == 0 {
			return
		}
		nw := withExpiry(old&^(ctlCountMask<<32)|uint64(n-1)<<32, now+timeout)
		if tc.w[wCtl].CompareAndSwap(old, nw) {
			return
		}
	}
}

// Why an entry is removed.
const (
	removeExpired = -1 - iota // its timeout passed
	removeFlushed             // Expire
	// 0..NumEvictReasons-1: evicted for room, by EvictReason
)

// removeLocked takes c out if its control word is still old: it dies, leaves
// the index, and releases its template. The caller holds sh.mu. Without an
// Unbound hook the entry is freed at once; otherwise rm collects it.
func (t *Table) removeLocked(sh *shard, c *Conn, local uint32, old uint64, why int, rm *removed) bool {
	if !c.w[wCtl].CompareAndSwap(old, 0) {
		return false
	}
	if old&ctlOrphan == 0 {
		h, hr, reply := t.entryHashes(c)
		ix := sh.ix.Load()
		ix.remove(h, slotValue(local, false))
		if reply {
			ix.remove(hr, slotValue(local, true))
		}
	}
	sh.live--
	t.live.Add(-1)
	if c.w[wPorts].Load()&typeMask == typeTmpl {
		t.templates.Add(-1)
	} else {
		t.class[stateClass[ctlState(old)]].Add(-1)
		if ref := uint32(c.w[wTmpl].Load()); ref != 0 {
			t.unbind(ref, t.now())
		}
	}
	switch {
	case why == removeExpired:
		sh.expired++
	case why == removeFlushed:
		sh.flushed++
	default:
		sh.evicted[why]++
	}
	if t.hooks.Unbound == nil {
		sh.free(local, c, freshNow())
		return true
	}
	rm.ent[rm.n] = removedEnt{local, old}
	rm.n++
	return true
}

// finish runs the Unbound hooks of entries removed from sh, outside any
// lock, and then frees them.
func (t *Table) finish(sh *shard, rm *removed) {
	if rm.n == 0 {
		return
	}
	for i := 0; i < rm.n; i++ {
		e := &rm.ent[i]
		c := sh.entry(e.local)
		wasActive := c.w[wPorts].Load()&typeMask == typeConn && ctlState(e.ctl).Active()
		t.hooks.Unbound(c, wasActive)
	}
	now := freshNow()
	sh.mu.Lock()
	for i := 0; i < rm.n; i++ {
		local := rm.ent[i].local
		sh.free(local, sh.entry(local), now)
	}
	sh.mu.Unlock()
	rm.n = 0
	runtime.KeepAlive(t) // the entries are outside the heap (see arena)
}

// Expire removes c now: its real server was deleted, a new SYN reuses its
// tuple, or UDP entries are flushed. A template that still controls
// connections leaves the index at once (lookups miss it, so a new one can
// be made) and is freed when its last connection goes.
func (t *Table) Expire(c *Conn) {
	if c == nil {
		return
	}
	ch := c.chunk()
	if ch.tab != t.id {
		return
	}
	sh := &t.shards[ch.shard]
	local := ch.base + uint32(c.w[wBytesIn].Load()&0xffff)
	var rmBuf [1]removedEnt
	rm := removed{ent: rmBuf[:]}
	sh.mu.Lock()
	for {
		ctl := c.w[wCtl].Load()
		if ctl&ctlLive == 0 {
			break
		}
		if c.IsTemplate() && ctlCount(ctl) > 0 {
			if ctl&ctlOrphan != 0 {
				break
			}
			if c.w[wCtl].CompareAndSwap(ctl, ctl|ctlOrphan) {
				h, _, _ := t.entryHashes(c)
				sh.ix.Load().remove(h, slotValue(local, false))
				break
			}
			continue
		}
		if t.removeLocked(sh, c, local, ctl, removeFlushed, &rm) {
			break
		}
	}
	sh.mu.Unlock()
	t.finish(sh, &rm)
	runtime.KeepAlive(t) // c is outside the heap (see arena)
}
