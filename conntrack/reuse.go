package conntrack

import "github.com/xvs-project/xvs/flow"

// ReusableInputOnly reports whether a new connection attempt on c may replace
// it under IPVS's conn_reuse_mode bit 2: c is a TCP connection in FIN_WAIT
// that has seen no reply, as on DR and TUN, where FIN_WAIT is the last state
// a director that sees only the client's packets can know. Reusable covers
// the finished states every mode but 0 replaces.
func (c *Conn) ReusableInputOnly() bool {
	p := c.w[wPorts].Load()
	if p&typeMask != typeConn || uint8(p>>24) != flow.TCP {
		return false
	}
	ctl := c.w[wCtl].Load()
	return ctl&(ctlLive|ctlNoOutput) == ctlLive|ctlNoOutput && ctlState(ctl) == StateFinWait
}
