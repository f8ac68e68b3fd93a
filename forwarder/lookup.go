package forwarder

import (
	"errors"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// transport handles a TCP or UDP packet: a client's packet to a service, or a
// real server's reply on NAT.
func (p *pipeline) transport(f *link.Frame) verdict {
	pkt := &p.pkt
	k := &p.key
	*k = conntrack.ConnKey(&pkt.Tuple)
	c, rc, ahead := p.ahead.result(k)
	if !ahead {
		c = p.table.Lookup(k)
	}
	if c != nil {
		if r := p.snap.real(c.Dest(), c.DestGen()); r != nil && !p.restart(c) {
			return p.forward(f, c, r)
		}
		// The real server is gone, or a new SYN reuses a closing entry:
		// expire it now and schedule afresh instead of black-holing.
		p.table.Expire(c)
		p.ahead.ok = false
	} else if p.snap.hasNAT {
		k.Kind = conntrack.KindReply
		if !ahead {
			rc = p.table.Lookup(k)
		}
		if rc != nil {
			if r := p.snap.real(rc.Dest(), rc.DestGen()); r != nil {
				return p.reply(f, rc, r)
			}
			p.table.Expire(rc)
			p.ahead.ok = false
			return p.drop(DropNoService)
		}
	}
	svc := p.snap.lookupService(pkt.Proto, &pkt.Dst, pkt.DstPort)
	if svc == nil {
		return p.drop(DropNoService)
	}
	if p.snap.standby(svc) {
		return p.drop(DropStandby)
	}
	return p.schedule(f, svc)
}

// restart reports whether a SYN arrives on an entry that is closing, so the
// flow should be scheduled afresh without IPVS's one-second stall; which
// closing states count is the conn_reuse_mode (see ConnReuse).
func (p *pipeline) restart(c *conntrack.Conn) bool {
	if p.reuse == ReuseNever || p.pkt.Proto != flow.TCP || p.pkt.TCPFlags&(flow.TCPSyn|flow.TCPAck) != flow.TCPSyn {
		return false
	}
	return c.Reusable() || (p.reuse == ReuseFinWait && c.ReusableInputOnly())
}

// schedule makes a new connection for a packet to svc.
func (p *pipeline) schedule(f *link.Frame, svc *serviceState) verdict {
	pkt := &p.pkt
	// What follows may insert or expire entries: the batch's results
	// looked up ahead are stale from here.
	p.ahead.ok = false
	// The table owns the rule (the kernel's tcp_conn_schedule): TCP needs a
	// SYN, or sloppy mode, and never a RST; ECMP mode widens it for mh.
	if !p.table.AcceptsNew(pkt.Proto, pkt.TCPFlags) && !p.adoptsMidFlow(svc) {
		return p.drop(DropNoConn)
	}
	var tmpl *conntrack.Conn
	var r *realState
	if svc.persistent {
		tmpl, r = p.persistentReal(svc)
	} else {
		r = p.pick(svc)
	}
	if r == nil {
		return p.drop(DropNoDest)
	}
	if svc.onePacket && pkt.Proto == flow.UDP {
		p.stats.realStats(r.id).conns.add(1)
		return p.forwardNew(f, r)
	}
	fwd := p.key
	fwd.Kind = conntrack.KindConn
	v := conntrack.Value{Service: svc.id, Dest: r.id, DestGen: r.gen, Template: tmpl}
	var c *conntrack.Conn
	var err error
	if r.method == service.MethodNAT {
		rk := p.replyKey(r)
		c, err = p.table.Insert(fwd, &rk, v)
	} else {
		c, err = p.table.Insert(fwd, nil, v)
	}
	if err != nil {
		return p.insertFailed(f, c, err)
	}
	p.stats.realStats(r.id).conns.add(1)
	return p.forward(f, c, r)
}

// adoptsMidFlow reports whether a TCP packet that AcceptsNew refused may
// open a connection anyway: in ECMP mode, for an mh service, any packet but
// a RST. Another director carried the flow until the router moved it here;
// the shared Maglev table gives the same real server, so tracking the flow
// from this packet on keeps it whole (IPVS's sloppy_tcp, per service).
func (p *pipeline) adoptsMidFlow(svc *serviceState) bool {
	return p.ecmp && svc.maglev && p.pkt.TCPFlags&flow.TCPRst == 0
}

// insertFailed handles a refused insert, counting a drop by its real cause.
// A forward key that another worker inserted meanwhile is that worker's
// connection: the packet follows it.
func (p *pipeline) insertFailed(f *link.Frame, c *conntrack.Conn, err error) verdict {
	switch {
	case errors.Is(err, conntrack.ErrFull):
		return p.drop(DropTableFull)
	case errors.Is(err, conntrack.ErrReplyClash):
		return p.drop(DropClash)
	case errors.Is(err, conntrack.ErrTemplateGone):
		return p.drop(DropTmplGone)
	case errors.Is(err, conntrack.ErrExists) && c != nil:
		if r := p.snap.real(c.Dest(), c.DestGen()); r != nil {
			return p.forward(f, c, r)
		}
		return p.drop(DropNoDest)
	}
	return p.drop(DropInsert)
}

// replyKey is the tuple of the real server's replies on NAT.
func (p *pipeline) replyKey(r *realState) conntrack.Key {
	pkt := &p.pkt
	return conntrack.ReplyKey(&pkt.Tuple, r.addr, r.portFor(pkt.DstPort))
}

func (p *pipeline) pick(svc *serviceState) *realState {
	pkt := &p.pkt
	p.flow = sched.Flow{Tuple: pkt.Tuple, Family: pkt.Family}
	d := svc.sched.Pick(&p.flow)
	if d == nil {
		return nil
	}
	return p.snap.realOfDest(d)
}

// persistentReal finds the client network's template or makes one.
func (p *pipeline) persistentReal(svc *serviceState) (*conntrack.Conn, *realState) {
	pkt := &p.pkt
	// Templates are per service, so the ports of a service group (or of a
	// port-0 service) share one choice.
	tk := conntrack.TemplateKey(svc.proto, &pkt.Src, &svc.persistMask, svc.id)
	if t := p.table.Lookup(&tk); t != nil {
		r := p.snap.real(t.Dest(), t.DestGen())
		if r != nil && (r.dest.Weight() > 0 || !svc.expireQuiesce) {
			return t, r
		}
		p.table.Expire(t)
	}
	r := p.pick(svc)
	if r == nil {
		return nil, nil
	}
	t, err := p.table.InsertTemplate(tk, conntrack.Value{Service: svc.id, Dest: r.id, DestGen: r.gen}, svc.persistTimeout)
	if err != nil {
		// No room for the template: the connection still works, it just
		// does not stick.
		return nil, r
	}
	return t, r
}
