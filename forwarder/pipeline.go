package forwarder

import (
	"sync/atomic"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/sched"
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

// pipeline is the per-packet logic of one worker: parse, look up or
// schedule, rewrite. It holds the worker's reusable scratch state, so it must
// not be shared between goroutines. Its steps are filed by subject: this file
// takes a frame in (process) and sends it on (emit, nextHop); lookup.go finds
// or makes the connection (scheduling, persistence); forward.go rewrites for
// NAT and DR and NAT's replies; tunnel.go encapsulates, fragments or answers
// "too big"; icmp.go handles ICMP errors; fragments.go follows fragments.
type pipeline struct {
	table  *conntrack.Table
	router Router
	reuse  ConnReuse
	ecmp   bool // Options.ECMP: mh services adopt mid-flow TCP (adoptsMidFlow)
	stats  *queueStats
	vlans  *atomic.Pointer[vlanTable] // the engine's; never holds nil
	sync   *syncWorker                // nil unless the engine is a sync master

	snap  *snapshot  // loaded once per batch
	ahead aheadState // the batch's connections, looked up before it (prefetch.go)
	hops  hopCache   // the batch's next hops (hops.go)
	pkt   encap.Packet
	key   conntrack.Key
	flow  sched.Flow
	ipID  uint16

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
	if hop.DstMAC == zeroMAC {
		// Parked tagged already: unpark only writes the MACs.
		if _, ok := p.tag(f, hop); !ok {
			return p.drop(DropVLAN)
		}
		p.parkDst = *dst
		return verdictPark
	}
	// The MACs go in before the tag: pushing it moves them along, and p.pkt
	// describes the untagged frame.
	encap.SetMACs(&p.pkt, hop.DstMAC, hop.SrcMAC)
	ifindex, ok := p.tag(f, hop)
	if !ok {
		return p.drop(DropVLAN)
	}
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
	hop := p.route(dst)
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
