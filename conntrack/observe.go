package conntrack

import (
	"runtime"

	"github.com/xvs-project/xvs/flow"
)

// Observe accounts one packet of connection c: it runs the state machine
// (TCP), refreshes the timeout, and counts packets and bytes per direction.
// It returns the new state. It is lock-free and does not allocate: the two
// workers that see the two directions of a NAT connection may call it at
// once. On a template or a removed entry it does nothing and returns
// StateNone.
func (t *Table) Observe(c *Conn, dir Dir, tcpFlags uint8, bytes int) State {
	p := c.w[wPorts].Load()
	if p&typeMask != typeConn {
		return StateNone
	}
	proto := uint8(p >> 24)
	now := t.now()
	var old, nw uint64
	var ns State
	for {
		old = c.w[wCtl].Load()
		if old&ctlLive == 0 {
			return StateNone
		}
		nw = old
		st := ctlState(old)
		switch proto {
		case flow.TCP:
			d := dir
			if old&ctlNoOutput != 0 {
				if dir == DirOutput {
					nw &^= ctlNoOutput
				} else {
					d = DirInputOnly
				}
			}
			ns = NextState(st, tcpFlags, d)
		default:
			ns = protoState(proto)
		}
		exp := now + t.timeouts[ns].Load()
		if ns == st && nw == old && int32(exp-ctlExpiry(old)) < refreshTicks {
			break // nothing worth a write
		}
		nw = withExpiry(nw&^(0xff<<32)|uint64(ns)<<32, exp)
		if c.w[wCtl].CompareAndSwap(old, nw) {
			break
		}
	}
	if bytes < 0 {
		bytes = 0
	}
	if dir == DirOutput {
		c.w[wGen].Add(1 << 32)
		c.w[wBytesOut].Add(uint64(bytes) << 16)
	} else {
		c.w[wTmpl].Add(1 << 32)
		c.w[wBytesIn].Add(uint64(bytes) << 16)
	}
	if st := ctlState(old); ns != st {
		t.moved(c, st, ns)
	}
	runtime.KeepAlive(t) // c is outside the heap (see arena)
	return ns
}

// moved accounts connection c's move from state st to ns: the eviction
// classes' counts, and the Activity hook when it changes activity.
func (t *Table) moved(c *Conn, st, ns State) {
	if ns == st {
		return
	}
	if cs, cn := stateClass[st], stateClass[ns]; cs != cn {
		t.class[cs].Add(-1)
		t.class[cn].Add(1)
	}
	if a := ns.Active(); a != st.Active() && t.hooks.Activity != nil {
		t.hooks.Activity(c, a)
	}
}
