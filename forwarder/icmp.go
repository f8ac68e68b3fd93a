package forwarder

import (
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/service"
)

// icmpError handles an ICMP error that quotes a packet of a tracked flow: on
// NAT it is translated in either direction; on DR/TUN the client's errors go
// to the real server that sent the quoted reply.
func (p *pipeline) icmpError(f *link.Frame) verdict {
	pkt := &p.pkt
	k := &p.key
	// The quoted packet went the other way: swap its ends to get our key.
	*k = conntrack.Key{Tuple: pkt.Inner.Reverse(), Kind: conntrack.KindConn}
	if c := p.table.Lookup(k); c != nil {
		r := p.snap.real(c.Dest(), c.DestGen())
		if r == nil {
			return p.drop(DropNoService)
		}
		if r.method == service.MethodNAT {
			port := r.portFor(c.Key().DstPort)
			hop := p.nextHop(&r.addr)
			if hop == nil {
				return verdictDrop
			}
			encap.ICMPErrorToReal(pkt, r.addr, port)
			return p.emit(f, hop, &r.addr)
		}
		return p.forwardNew(f, r)
	}
	if !p.snap.hasNAT {
		return p.drop(DropNoService)
	}
	k.Kind = conntrack.KindReply
	c := p.table.Lookup(k)
	if c == nil {
		return p.drop(DropNoService)
	}
	if p.snap.real(c.Dest(), c.DestGen()) == nil {
		return p.drop(DropNoService)
	}
	fk := c.Key()
	hop := p.nextHop(&pkt.Dst)
	if hop == nil {
		return verdictDrop
	}
	encap.ICMPErrorFromReal(pkt, fk.Dst, fk.DstPort)
	return p.emit(f, hop, &pkt.Dst)
}
