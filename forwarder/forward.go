package forwarder

import (
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/service"
)

// forward sends a client's packet of connection c to its real server.
func (p *pipeline) forward(f *link.Frame, c *conntrack.Conn, r *realState) verdict {
	dir := conntrack.DirInput
	if r.method != service.MethodNAT {
		dir = conntrack.DirInputOnly
	}
	prev := c.State()
	st := p.table.Observe(c, dir, p.pkt.TCPFlags, p.pkt.IPLen)
	if st != prev {
		p.ahead.ok = false // a new state's timeout may end the entry sooner
	}
	if p.sync != nil {
		p.sync.after(c, r, p.pkt.Proto, prev, st)
	}
	return p.forwardNew(f, r)
}

// forwardNew rewrites and routes a client's packet toward r.
func (p *pipeline) forwardNew(f *link.Frame, r *realState) verdict {
	pkt := &p.pkt
	p.last, p.lastReply = r, false
	p.stats.count(r.id, pkt.IPLen, realIn)
	hop := p.nextHop(&r.addr)
	if hop == nil {
		return verdictDrop
	}
	switch r.method {
	case service.MethodNAT:
		encap.DNAT(pkt, r.addr, r.portFor(pkt.DstPort))
	case service.MethodTUN:
		return p.tunnel(f, r, hop)
	}
	return p.emit(f, hop, &r.addr)
}

// reply sends a NAT real server's reply back to the client as from the VIP.
func (p *pipeline) reply(f *link.Frame, c *conntrack.Conn, r *realState) verdict {
	pkt := &p.pkt
	prev := c.State()
	st := p.table.Observe(c, conntrack.DirOutput, pkt.TCPFlags, pkt.IPLen)
	if st != prev {
		p.ahead.ok = false // a new state's timeout may end the entry sooner
	}
	if p.sync != nil {
		p.sync.after(c, r, p.pkt.Proto, prev, st)
	}
	p.last, p.lastReply = r, true
	p.stats.count(r.id, pkt.IPLen, realOut)
	fk := c.Key()
	hop := p.nextHop(&pkt.Dst)
	if hop == nil {
		return verdictDrop
	}
	encap.SNAT(pkt, fk.Dst, fk.DstPort)
	return p.emit(f, hop, &pkt.Dst)
}
