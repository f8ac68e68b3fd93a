package forwarder

import (
	"errors"
	"sync/atomic"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// verdict is what a worker does with a frame after process.
type verdict uint8

const (
	verdictDrop      verdict = iota
	verdictForward           // send the (rewritten) frame on its Ifindex
	verdictReply             // the frame was answered: send the generated frame in the worker's scratch
	verdictPark              // rewritten, but the next hop's MAC is not known yet: hold it briefly
	verdictFragments         // the frame became the fragments in the pipeline's frags
)

// maxFragments bounds the fragments of one tunnelled packet: a frame of at
// most 2 KB over a link of at least 576 bytes needs no more.
const maxFragments = 4

// Connection flags stored in conntrack entries.
const (
	connNAT uint16 = 1 << iota
	connDR
	connTUN
)

func methodFlag(m service.Method) uint16 {
	switch m {
	case service.MethodNAT:
		return connNAT
	case service.MethodDR:
		return connDR
	}
	return connTUN
}

// pipeline is the per-packet logic of one worker: parse, look up or
// schedule, rewrite. It holds the worker's reusable scratch state, so it must
// not be shared between goroutines.
type pipeline struct {
	table  *conntrack.Table
	router Router
	sloppy bool
	reuse  ConnReuse
	stats  *queueStats
	vlans  *atomic.Pointer[vlanTable] // the engine's; never holds nil

	snap *snapshot // loaded once per batch
	pkt  encap.Packet
	key  conntrack.Key
	flow sched.Flow
	ipID uint16

	// answer holds a frame the pipeline generated (a too-big answer).
	answer    [1600]byte
	answerLen int
	answerIf  int
	// parkDst is the next-hop destination of a frame given verdictPark.
	parkDst [16]byte

	// frags holds the fragments of a frame given verdictFragments.
	frags     [maxFragments][1600]byte
	fragFrame [maxFragments]link.Frame
	nFrags    int

	// frag tracks fragmented datagrams (fragments.go); last and lastReply
	// say which real server, and which direction, the last forwarded or
	// replied packet went to, for the first fragment's entry.
	frag      fragState
	last      *realState
	lastReply bool
}

var zeroMAC [6]byte

// emit finishes a rewritten frame toward hop: MACs and egress interface. If
// the neighbour is not resolved yet the frame is parked, as the kernel queues
// packets for an incomplete neighbour, instead of costing the client a
// retransmission.
func (p *pipeline) emit(f *link.Frame, hop *link.Hop, dst *[16]byte) verdict {
	ifindex, ok := p.tag(f, hop)
	if !ok {
		return p.drop(DropVLAN)
	}
	if hop.DstMAC == zeroMAC {
		// Parked tagged already: unpark only writes the MACs.
		p.parkDst = *dst
		return verdictPark
	}
	setMACs(f.Data(), hop)
	f.Ifindex = ifindex
	return verdictForward
}

// tag pushes the VLAN tag of hop's interface when hop is on a VLAN device of
// a served interface, and returns the interface the frame leaves by. ok is
// false when the frame has no headroom for the tag.
func (p *pipeline) tag(f *link.Frame, hop *link.Hop) (ifindex int, ok bool) {
	t := p.vlans.Load()
	if len(t.out) == 0 {
		return hop.Ifindex, true
	}
	parent, id, isVLAN := t.egress(hop.Ifindex)
	if !isVLAN {
		return hop.Ifindex, true
	}
	off, n, ok := encap.PushVLAN(f.Buf, f.Off, f.Len, id)
	if !ok {
		return 0, false
	}
	f.Off, f.Len = off, n
	return parent, true
}

// egressIfindex is the interface a frame toward hop leaves by: the VLAN
// device's parent for a hop on a VLAN device, else hop's own.
func (p *pipeline) egressIfindex(hop *link.Hop) int {
	if parent, _, ok := p.vlans.Load().egress(hop.Ifindex); ok {
		return parent
	}
	return hop.Ifindex
}

// nextHop routes toward dst and spends one hop of the packet's TTL, as a
// router does. nil means the packet was dropped and counted. (A TTL that
// would reach zero was already refused by process, before any state; the
// check here stays as a guard.)
func (p *pipeline) nextHop(dst *[16]byte) *link.Hop {
	hop := p.router.Route(dst)
	if hop == nil {
		p.drop(DropNoRoute)
		return nil
	}
	if !encap.DecTTL(&p.pkt) {
		p.drop(DropTTL)
		return nil
	}
	return hop
}

// setMACs writes the Ethernet destination and source of frame.
func setMACs(frame []byte, hop *link.Hop) {
	copy(frame[0:6], hop.DstMAC[:])
	copy(frame[6:12], hop.SrcMAC[:])
}

// faultDrops maps what encap.Check finds to the drop reason counted.
var faultDrops = [...]DropReason{
	encap.FaultIPChecksum: DropBadIPChecksum,
	encap.FaultIPOptions:  DropBadIPOptions,
	encap.FaultUDPLength:  DropBadUDPLength,
	encap.FaultMartian:    DropMartian,
}

// process handles one frame in place. On verdictForward, f.Ifindex (and, for
// a tunnel or a VLAN, f.Off/f.Len) have been updated.
//
// Everything the kernel's receive path would drop is dropped here, before a
// connection is looked up, created or counted: frames of a VLAN the director
// is not on, bad IPv4 headers and options, bad UDP lengths, martians (see
// encap.Check), and — since every method forwards, and a forwarder spends a
// hop — a TTL or hop limit of 1 or 0 (IPVS's decrement_ttl in ip_vs_xmit.c
// drops these for NAT, DR and TUN alike, but only after the connection was
// made; xvs does it first so garbage makes no state).
func (p *pipeline) process(f *link.Frame) verdict {
	pkt := &p.pkt
	k := encap.Parse(f.Data(), pkt)
	if pkt.VLAN {
		if !p.vlanServed(f) {
			return p.drop(DropVLAN)
		}
		f.Off, f.Len = encap.StripVLAN(f.Buf, f.Off, f.Len, pkt)
	}
	if fault := encap.Check(pkt); fault != encap.FaultNone {
		return p.drop(faultDrops[fault])
	}
	switch k {
	case encap.KindTCP, encap.KindUDP, encap.KindICMPError, encap.KindFragment:
		// Every path below forwards (a first fragment makes a connection
		// too), and forwarding spends a hop.
		if pkt.TTL <= 1 {
			return p.drop(DropTTL)
		}
	}
	switch k {
	case encap.KindTCP, encap.KindUDP:
		// Senders with TX checksum offload (every veth and virtio device by
		// default) hand over partial checksums; finish them before any
		// incremental update or forwarding (encap/partial.go).
		encap.CompletePartialChecksum(pkt)
		return p.transport(f)
	case encap.KindICMPError:
		return p.icmpError(f)
	case encap.KindMalformed:
		return p.drop(DropMalformed)
	case encap.KindFragment:
		return p.fragment(f)
	}
	return p.drop(DropNotOurs)
}

// vlanServed reports whether the tagged frame f (parsed into p.pkt) is on a
// VLAN served on the interface it arrived on. Two tags are never served.
func (p *pipeline) vlanServed(f *link.Frame) bool {
	ids, n := encap.VLANIDs(&p.pkt)
	return n == 1 && p.vlans.Load().allowed(f.Ifindex, ids[0])
}

func (p *pipeline) drop(r DropReason) verdict {
	p.stats.drops[r].add(1)
	return verdictDrop
}

// transport handles a TCP or UDP packet: a client's packet to a service, or a
// real server's reply on NAT.
func (p *pipeline) transport(f *link.Frame) verdict {
	pkt := &p.pkt
	k := &p.key
	*k = conntrack.ConnKey(&pkt.Tuple)
	if c := p.table.Lookup(k); c != nil {
		if r := p.snap.real(c.Dest(), c.DestGen()); r != nil && !p.restart(c) {
			return p.forward(f, c, r)
		}
		// The real server is gone, or a new SYN reuses a closing entry:
		// expire it now and schedule afresh instead of black-holing.
		p.table.Expire(c)
	} else if p.snap.hasNAT {
		k.Kind = conntrack.KindReply
		if c := p.table.Lookup(k); c != nil {
			if r := p.snap.real(c.Dest(), c.DestGen()); r != nil {
				return p.reply(f, c, r)
			}
			p.table.Expire(c)
			return p.drop(DropNoService)
		}
	}
	svc := p.snap.lookupService(pkt.Proto, &pkt.Dst, pkt.DstPort)
	if svc == nil {
		return p.drop(DropNoService)
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
	if pkt.Proto == flow.TCP && pkt.TCPFlags&(flow.TCPSyn|flow.TCPAck|flow.TCPRst) != flow.TCPSyn && !p.sloppy {
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
	v := conntrack.Value{Service: svc.id, Dest: r.id, DestGen: r.gen, Flags: methodFlag(r.method), Template: tmpl}
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

// forward sends a client's packet of connection c to its real server.
func (p *pipeline) forward(f *link.Frame, c *conntrack.Conn, r *realState) verdict {
	dir := conntrack.DirInput
	if r.method != service.MethodNAT {
		dir = conntrack.DirInputOnly
	}
	p.table.Observe(c, dir, p.pkt.TCPFlags, p.pkt.IPLen)
	return p.forwardNew(f, r)
}

// forwardNew rewrites and routes a client's packet toward r.
func (p *pipeline) forwardNew(f *link.Frame, r *realState) verdict {
	pkt := &p.pkt
	p.last, p.lastReply = r, false
	rc := p.stats.realStats(r.id)
	rc.inPkts.add(1)
	rc.inBytes.add(uint64(pkt.IPLen))
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

// tunnel encapsulates toward r, or answers "too big" as IPVS does when the
// encapsulated packet would not fit the egress MTU.
func (p *pipeline) tunnel(f *link.Frame, r *realState, hop *link.Hop) verdict {
	pkt := &p.pkt
	over := encap.TunnelOverhead(pkt.Family, r.tunnel)
	if pkt.IPLen+over > hop.MTU {
		if pkt.Family == 4 && !pkt.DF {
			// IPv4 that may be fragmented: the kernel fragments the outer
			// packet, and so does xvs.
			return p.fragmentTunnel(f, r, hop)
		}
		back := p.router.Route(&pkt.Src)
		if back == nil || back.DstMAC == zeroMAC {
			return p.drop(DropNoRoute)
		}
		n := encap.TooBig(p.answer[:], pkt, back.Src, encap.TooBigMTU(pkt.Family, r.tunnel, hop.MTU))
		if n == 0 {
			return p.drop(DropTooBig)
		}
		ifindex := back.Ifindex
		if parent, id, ok := p.vlans.Load().egress(back.Ifindex); ok {
			// Back to a client on a VLAN: make room for its tag.
			if n+4 > len(p.answer) {
				return p.drop(DropTooBig)
			}
			copy(p.answer[4:n+4], p.answer[:n])
			_, n, _ = encap.PushVLAN(p.answer[:], 4, n, id)
			ifindex = parent
		}
		p.answerLen, p.answerIf = n, ifindex
		p.stats.tooBig.add(1)
		return verdictReply
	}
	p.ipID++
	off, n, ok := encap.PushTunnel(f.Buf, f.Off, f.Len, pkt, r.tunnel, hop.Src, r.addr, p.ipID)
	if !ok {
		return p.drop(DropTooBig)
	}
	f.Off, f.Len = off, n
	return p.emit(f, hop, &r.addr)
}

// fragmentTunnel encapsulates an IPv4 packet without DF toward r and splits
// the outer packet into fragments that fit the egress MTU.
func (p *pipeline) fragmentTunnel(f *link.Frame, r *realState, hop *link.Hop) verdict {
	pkt := &p.pkt
	if hop.DstMAC == zeroMAC {
		return p.drop(DropNoRoute)
	}
	l3 := pkt.L3
	p.ipID++
	off, n, ok := encap.PushTunnel(f.Buf, f.Off, f.Len, pkt, r.tunnel, hop.Src, r.addr, p.ipID)
	if !ok {
		return p.drop(DropTooBig)
	}
	f.Off, f.Len = off, n
	setMACs(f.Data(), hop)
	ifindex, ok := p.tag(f, hop)
	if !ok {
		return p.drop(DropVLAN)
	}
	l3 += f.Len - n // the tag pushed, if any, is part of each fragment's L2 header
	p.nFrags = 0
	for start := 0; ; {
		if p.nFrags == maxFragments {
			return p.drop(DropTooBig)
		}
		n, next := encap.FragmentIPv4(p.frags[p.nFrags][:], f.Data(), l3, hop.MTU, start)
		if n == 0 {
			return p.drop(DropTooBig)
		}
		p.fragFrame[p.nFrags] = link.Frame{Buf: p.frags[p.nFrags][:], Len: n, Ifindex: ifindex}
		p.nFrags++
		if next == 0 {
			return verdictFragments
		}
		start = next
	}
}

// reply sends a NAT real server's reply back to the client as from the VIP.
func (p *pipeline) reply(f *link.Frame, c *conntrack.Conn, r *realState) verdict {
	pkt := &p.pkt
	p.table.Observe(c, conntrack.DirOutput, pkt.TCPFlags, pkt.IPLen)
	p.last, p.lastReply = r, true
	rc := p.stats.realStats(r.id)
	rc.outPkts.add(1)
	rc.outBytes.add(uint64(pkt.IPLen))
	fk := c.Key()
	hop := p.nextHop(&pkt.Dst)
	if hop == nil {
		return verdictDrop
	}
	encap.SNAT(pkt, fk.Dst, fk.DstPort)
	return p.emit(f, hop, &pkt.Dst)
}

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
