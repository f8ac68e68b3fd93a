package conntrack

import (
	"runtime"
	"time"
)

// What a master's sync needs to remember per connection lives in bits 40-55
// of the control word, unused by connections (a template counts its
// connections there), so it moves with the state under the same CAS and
// costs no memory:
//
//	bits 40-53 when the connection was last synced, in stampUnit ticks
//	           (4.096 s), modulo 2^14 (18.6 hours)
//	bit  54    synced from this table at least once (the stamp is valid)
//	bit  55    learnt from a sync message (Install) and not synced since
//
// Observe keeps them; Insert starts them at zero.
const (
	ctlStampShift = 40
	ctlStampMask  = 1<<14 - 1
	ctlSent       = 1 << 54
	ctlLearnt     = 1 << 55
	stampUnit     = 1024 // ticks
)

// SinceSync returns how long ago MarkSynced last ran on connection c (to
// within 4.1 s, and only up to 9.3 hours: an older stamp reads as recent
// or far off by wrapping, which at worst sends a connection early or once
// late). ok is false for a connection never synced, and for a template or a
// removed entry.
func (t *Table) SinceSync(c *Conn) (d time.Duration, ok bool) {
	if c.w[wPorts].Load()&typeMask != typeConn {
		return 0, false
	}
	ctl := c.w[wCtl].Load()
	if ctl&(ctlLive|ctlSent) != ctlLive|ctlSent {
		return 0, false
	}
	stamp := uint32(ctl>>ctlStampShift) & ctlStampMask
	now := (t.now() / stampUnit) & ctlStampMask
	return fromTicks(((now - stamp) & ctlStampMask) * stampUnit), true
}

// MarkSynced records that connection c was sent to the backups now: it is
// no longer one learnt from a sync message, and SinceSync counts from now.
// It is lock-free and does not allocate; a template or removed entry is
// left alone.
func (t *Table) MarkSynced(c *Conn) {
	if c.w[wPorts].Load()&typeMask != typeConn {
		return
	}
	stamp := uint64((t.now()/stampUnit)&ctlStampMask) << ctlStampShift
	for {
		old := c.w[wCtl].Load()
		if old&ctlLive == 0 {
			return
		}
		nw := old&^(ctlStampMask<<ctlStampShift|ctlLearnt) | stamp | ctlSent
		if nw == old || c.w[wCtl].CompareAndSwap(old, nw) {
			break
		}
	}
	runtime.KeepAlive(t) // c is outside the heap (see arena)
}

// LearntFromSync reports whether connection c came from a sync message
// (Install) and has not been synced from this table since: a full-table
// dump leaves such entries out, so two directors that back each other up
// do not echo each other's connections back with older state.
func (c *Conn) LearntFromSync() bool {
	return c.w[wPorts].Load()&typeMask == typeConn && c.w[wCtl].Load()&ctlLearnt != 0
}

// InPkts returns the connection's client-to-server packet count (modulo
// 2^32), the count IPVS's sync threshold and period apply to.
func (c *Conn) InPkts() uint32 { return uint32(c.w[wTmpl].Load() >> 32) }

// Remaining returns how long entry c has left before it expires, 0 when it
// has expired or gone.
func (t *Table) Remaining(c *Conn) time.Duration {
	ctl := c.w[wCtl].Load()
	if ctl&ctlLive == 0 {
		return 0
	}
	left := ctlExpiry(ctl) - t.now()
	if int32(left) <= 0 {
		return 0
	}
	return fromTicks(left)
}

// StateTimeout returns the timeout of state s, what a packet in that
// state restarts a connection's timer with.
func (t *Table) StateTimeout(s State) time.Duration {
	if int(s) >= numStates {
		return 0
	}
	return fromTicks(t.timeouts[s].Load())
}

// TemplateOf returns the persistence template controlling connection c of
// t, or nil. It is Conn.Template without the registry's lock, for the
// packet path, which has the table at hand.
func (t *Table) TemplateOf(c *Conn) *Conn {
	ref := uint32(c.w[wTmpl].Load())
	if ref == 0 || c.IsTemplate() || c.chunk().tab != t.id {
		return nil
	}
	return t.entryByRef(ref)
}
