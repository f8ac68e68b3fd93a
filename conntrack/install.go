package conntrack

import (
	"runtime"
	"time"
)

// Install puts a connection learnt from a sync message in the table, in
// state v.State (TCP; other protocols have their one state) with timeout
// left before it expires, as IPVS's backup does (ip_vs_proc_conn): the
// entry lives on its own timer until a packet or a later message moves it.
//
// When the forward key is held by a live connection to the same service and
// real server (Service, Dest and DestGen equal), that entry takes the new
// state and expiry, even an earlier one: the later message wins. A holder
// to another real server is returned with ErrExists, for the caller to
// expire or keep. Otherwise Install is Insert: ErrReplyClash, ErrFull and
// ErrTemplateGone mean what they mean there. A connection installed here is
// marked as learnt (LearntFromSync) until it is synced from this table.
func (t *Table) Install(fwd Key, reply *Key, v Value, timeout time.Duration) (*Conn, error) {
	st, err := connStart(&fwd, reply, v.State)
	if err != nil {
		return nil, err
	}
	ticks := toTicks(timeout)
	for try := 0; try < 4; try++ {
		if c := t.Lookup(&fwd); c != nil {
			if c.Service() != v.Service || c.Dest() != v.Dest || c.DestGen() != v.DestGen {
				return c, ErrExists
			}
			if t.restate(c, st, ticks) {
				return c, nil
			}
			continue // it went meanwhile: insert afresh
		}
		bits := uint64(ctlLearnt)
		if reply == nil {
			bits |= ctlNoOutput
		}
		c, err := t.insert(&fwd, reply, &v, typeConn, connCtl(st, 0, bits), ticks)
		if err == ErrExists && c != nil && c.Key() == fwd {
			continue // inserted by someone else meanwhile: update it
		}
		return c, err
	}
	return nil, ErrExists
}

// InstallTemplate puts a persistence template learnt from a sync message in
// the table, or refreshes the one there: it expires timeout from now unless
// a connection it controls outlives that. timeout is also what a
// connection leaving it restarts it with. A template to another real server
// is returned with ErrExists.
func (t *Table) InstallTemplate(k Key, v Value, timeout time.Duration) (*Conn, error) {
	if k.Kind != KindTemplate || v.Template != nil {
		return nil, ErrBadKey
	}
	if timeout <= 0 {
		return nil, ErrBadConfig
	}
	ticks := toTicks(timeout)
	for try := 0; try < 4; try++ {
		if c := t.Lookup(&k); c != nil {
			if c.Service() != v.Service || c.Dest() != v.Dest || c.DestGen() != v.DestGen {
				return c, ErrExists
			}
			if t.refreshTemplate(c, ticks) {
				return c, nil
			}
			continue
		}
		v.State = StateNone
		c, err := t.insert(&k, nil, &v, typeTmpl, tmplCtl(0, 0, 0), ticks)
		if err == ErrExists && c != nil {
			continue
		}
		return c, err
	}
	return nil, ErrExists
}

// restate moves connection c to state st, expiring ticks from now, keeping
// its other control bits; it marks c learnt. It reports false when c is no
// longer live.
func (t *Table) restate(c *Conn, st State, ticks uint32) bool {
	now := t.now()
	var old uint64
	for {
		old = c.w[wCtl].Load()
		if old&ctlLive == 0 || !before(now, ctlExpiry(old)) {
			return false
		}
		nw := withExpiry(old&^(0xff<<32)&^ctlSent|uint64(st)<<32|ctlLearnt, now+ticks)
		if c.w[wCtl].CompareAndSwap(old, nw) {
			break
		}
	}
	t.moved(c, ctlState(old), st)
	runtime.KeepAlive(t) // c is outside the heap (see arena)
	return true
}

// refreshTemplate sets template c's expiry ticks from now and the timeout
// its connections restart it with.
func (t *Table) refreshTemplate(c *Conn, ticks uint32) bool {
	now := t.now()
	c.w[wRep0].Store(uint64(ticks))
	for {
		old := c.w[wCtl].Load()
		if !aliveTemplate(old, now) {
			return false
		}
		if c.w[wCtl].CompareAndSwap(old, withExpiry(old, now+ticks)) {
			runtime.KeepAlive(t)
			return true
		}
	}
}
