package conntrack

import "time"

// Cursor is a position in a Walk; zero starts from the beginning.
type Cursor uint64

// ConnInfo is a snapshot of one entry, consistent within the entry.
type ConnInfo struct {
	Key      Key // forward key (client -> VIP), or the template key
	Reply    Key // NAT reply key, if HasReply
	HasReply bool

	Service, Dest, DestGen uint32
	State                  State         // StateNone for a template
	Expires                time.Duration // time left
	InPkts, OutPkts        uint64        // packet counts are kept modulo 2^32
	InBytes, OutBytes      uint64        // byte counts modulo 2^48

	Template   bool // this entry is a persistence template
	Controls   int  // template: connections it controls
	Controlled bool // connection: bound to a template
}

// Walk calls fn for up to max live entries (max <= 0: no limit) from cursor,
// in slab order, and returns where to go on from; done is true when the
// table has been walked to the end. fn returning false stops the walk. It
// takes no lock: entries that come or go meanwhile may or may not be seen,
// but each one seen is a consistent snapshot. Expired entries the reaper has
// not removed yet are skipped.
func (t *Table) Walk(cursor Cursor, max int, fn func(ConnInfo) bool) (next Cursor, done bool) {
	si, pos := int(cursor>>32), uint32(cursor)
	now := t.now()
	seen := 0
	for ; si < len(t.shards); si, pos = si+1, 0 {
		sh := &t.shards[si]
		for n := sh.n.Load(); pos < n; {
			if max > 0 && seen >= max {
				return Cursor(uint64(si)<<32 | uint64(pos)), false
			}
			c := sh.entry(pos)
			pos++
			info, ok := t.info(c, now)
			if !ok {
				continue
			}
			seen++
			if !fn(info) {
				return Cursor(uint64(si)<<32 | uint64(pos)), false
			}
		}
	}
	return 0, true
}

// info snapshots c; ok is false if it is not a live, current entry.
func (t *Table) info(c *Conn, now uint32) (ci ConnInfo, ok bool) {
	for try := 0; try < 4; try++ {
		p := c.w[wPorts].Load()
		ctl := c.w[wCtl].Load()
		tmpl := p&typeMask == typeTmpl
		if tmpl && !aliveTemplate(ctl, now) || !tmpl && !alive(ctl, now) {
			return ci, false
		}
		ci = ConnInfo{Key: c.Key(), Service: c.Service(), Dest: c.Dest(), Template: tmpl}
		gen := c.w[wGen].Load()
		ci.DestGen = uint32(gen)
		if left := ctlExpiry(ctl) - now; int32(left) > 0 {
			ci.Expires = fromTicks(left)
		}
		if tmpl {
			ci.Controls = int(ctlCount(ctl))
		} else {
			ci.State = ctlState(ctl)
			ci.Reply, ci.HasReply = c.replyKey()
			tw := c.w[wTmpl].Load()
			ci.Controlled = uint32(tw) != 0
			ci.InPkts, ci.OutPkts = tw>>32, gen>>32
			ci.InBytes, ci.OutBytes = c.w[wBytesIn].Load()>>16, c.w[wBytesOut].Load()>>16
		}
		if c.w[wPorts].Load() == p {
			return ci, true
		}
	}
	return ci, false
}
