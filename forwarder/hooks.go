package forwarder

import "github.com/xvs-project/xvs/conntrack"

// The table's hooks keep the real servers' connection counts, which the
// lc/wlc/sed/nq/ovf schedulers and the thresholds read.

func (e *Engine) destOf(c *conntrack.Conn) *realState {
	snap := e.snap.Load()
	if snap == nil {
		return nil
	}
	return snap.counted(c.Dest(), c.DestGen())
}

func (e *Engine) connBound(c *conntrack.Conn) {
	r := e.destOf(c)
	if r == nil {
		return
	}
	if c.IsTemplate() {
		r.dest.AddPersist(1)
		return
	}
	r.dest.AddConn(c.State().Active())
}

func (e *Engine) connActivity(c *conntrack.Conn, active bool) {
	if r := e.destOf(c); r != nil && !c.IsTemplate() {
		r.dest.SetActive(active)
	}
}

func (e *Engine) connUnbound(c *conntrack.Conn, wasActive bool) {
	r := e.destOf(c)
	if r == nil {
		return
	}
	if c.IsTemplate() {
		r.dest.AddPersist(-1)
		return
	}
	r.dest.RemoveConn(wasActive)
}
