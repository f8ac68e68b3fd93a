package forwarder

import (
	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
)

// maxFragments bounds the fragments of one tunnelled packet: a frame of at
// most 2 KB over a link of at least 576 bytes needs no more.
const maxFragments = 4

// tunnel encapsulates toward r, or answers "too big" as IPVS does when the
// encapsulated packet would not fit the egress MTU.
func (p *pipeline) tunnel(f *link.Frame, r *realState, hop *link.Hop) verdict {
	pkt := &p.pkt
	if pkt.IPLen+encap.TunnelOverhead(pkt.Family, r.tunnel) > hop.MTU {
		// Too long once encapsulated (the one test on the common path).
		if encap.NeedsTooBig(pkt, r.tunnel, hop.MTU) {
			return p.tooBig(r, hop)
		}
		// IPv4 that may be fragmented: the kernel fragments the outer
		// packet, and so does xvs.
		return p.fragmentTunnel(f, r, hop)
	}
	p.ipID++
	off, n, ok := encap.PushTunnel(f.Buf, f.Off, f.Len, pkt, r.tunnel, hop.Src, r.addr, p.ipID)
	if !ok {
		return p.drop(DropTooBig)
	}
	f.Off, f.Len = off, n
	return p.emit(f, hop, &r.addr)
}

// tooBig answers a packet that does not fit the tunnel with an ICMP "too
// big" (fragmentation needed, packet too big) to its sender, as IPVS does.
func (p *pipeline) tooBig(r *realState, hop *link.Hop) verdict {
	pkt := &p.pkt
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
	encap.SetMACs(pkt, hop.DstMAC, hop.SrcMAC) // PushTunnel left pkt.Frame on the new frame
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
