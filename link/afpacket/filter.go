package afpacket

import "golang.org/x/sys/unix"

// Offsets in an untagged Ethernet frame. The kernel moves a VLAN tag out of
// the frame data before packet sockets see it (skb_vlan_untag runs before
// the taps), so the filter never has to skip one; see doc.go.
const (
	offEtherType = 12
	offL3        = 14
	offV4Proto   = offL3 + 9
	offV4Frag    = offL3 + 6
	offV4Src     = offL3 + 12
	offV4Dst     = offL3 + 16
	offV6Next    = offL3 + 6
	offV6Src     = offL3 + 8
	offV6Dst     = offL3 + 24
	offV6L4      = offL3 + 40

	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd

	// v4FragMask selects the MF flag and the fragment offset.
	v4FragMask = 0x3fff

	// acceptLen is what the filter returns for a steered packet: the
	// number of bytes to keep, i.e. all of them.
	acceptLen = 0x40000

	// adPktType is the ancillary load of skb->pkt_type (SKF_AD_OFF +
	// SKF_AD_PKTTYPE), which golang.org/x/sys does not define.
	adPktType = 0xfffff000 + 4
)

// Labels shared by the whole program.
const (
	lblAccept = "accept"
	lblReject = "reject"
)

// buildFilter generates the socket filter for c. It accepts exactly what the
// XDP steering program redirects (see the package doc), returning acceptLen,
// and returns 0 for everything else. An empty rule set accepts nothing.
func buildFilter(c *compiled) ([]unix.SockFilter, error) {
	a := newAsm()
	if c.empty() {
		a.emit(opRetK, 0)
		return a.assemble()
	}
	v4, v6 := lblReject, lblReject
	if len(c.v4.svc)+len(c.v4.reply) > 0 {
		v4 = "v4"
	}
	if len(c.v6.svc)+len(c.v6.reply) > 0 {
		v6 = "v6"
	}
	// Our own transmissions (and the host's) leave through the same
	// device; forwarding them again would loop. Fanout groups have their
	// own flag for this, but the filter must not depend on it.
	a.emit(opLdAbsB, adPktType)
	a.jump(opJeqK, unix.PACKET_OUTGOING, lblReject, "")
	a.emit(opLdAbsH, offEtherType)
	a.jump(opJeqK, etherIPv4, v4, "")
	a.jump(opJeqK, etherIPv6, v6, lblReject)
	if v4 != lblReject {
		a.label(v4)
		genV4(a, &c.v4)
	}
	if v6 != lblReject {
		a.label(v6)
		genV6(a, &c.v6)
	}
	a.label(lblReject)
	a.emit(opRetK, 0)
	a.label(lblAccept)
	a.emit(opRetK, acceptLen)
	return a.assemble()
}

// fam says where one family's fields are kept. Each header field the rules
// look at is loaded from the packet once and kept in the scratch memory M[]:
// the kernel converts a packet load into about ten eBPF instructions and a
// scratch load into one, and the converted program is charged to the
// socket's option memory (net.core.optmem_max, 128 KiB here), which limits
// a filter more than the 4096-instruction cap does.
type fam struct {
	v4               bool
	words            uint32 // address words
	proto, sport     uint32 // scratch slots
	dport, src, dst  uint32
	replyOK, addrLbl string
	srcOff, dstOff   uint32 // packet offsets of the addresses
}

var (
	famV4 = fam{v4: true, words: 1, proto: 0, sport: 1, dport: 2, src: 3, dst: 4,
		srcOff: offV4Src, dstOff: offV4Dst, replyOK: "v4local", addrLbl: "v4addr"}
	famV6 = fam{words: 4, proto: 0, sport: 1, dport: 2, src: 3, dst: 7,
		srcOff: offV6Src, dstOff: offV6Dst, replyOK: "v6local", addrLbl: "v6addr"}
)

// saveAddrs copies the source and destination addresses into M[].
func saveAddrs(a *asm, fm fam) {
	for w := uint32(0); w < fm.words; w++ {
		a.emit(opLdAbsW, fm.srcOff+4*w)
		a.emit(opSt, fm.src+w)
		a.emit(opLdAbsW, fm.dstOff+4*w)
		a.emit(opSt, fm.dst+w)
	}
}

func genV4(a *asm, f *family) {
	fm := famV4
	// Version 4 and a header length of at least 20 bytes.
	a.emit(opLdAbsB, offL3)
	a.emit(opAndK, 0xf0)
	a.jump(opJeqK, 0x40, "", lblReject)
	a.emit(opLdAbsB, offL3)
	a.emit(opAndK, 0x0f)
	a.jump(opJgeK, 5, "", lblReject)
	saveAddrs(a, fm)
	a.emit(opLdAbsB, offV4Proto)
	a.emit(opSt, fm.proto)
	// Fragments (MF or an offset) of TCP/UDP: addresses only, since a
	// non-first fragment has no ports.
	a.emit(opLdAbsH, offV4Frag)
	a.jump(opJsetK, v4FragMask, "v4frag", "")
	a.emit(opLdMem, fm.proto)
	a.jump(opJeqK, unix.IPPROTO_TCP, "v4l4", "")
	a.jump(opJeqK, unix.IPPROTO_UDP, "v4l4", "")
	a.jump(opJeqK, unix.IPPROTO_ICMP, "", lblReject)
	// ICMP errors: destination unreachable, time exceeded, parameter
	// problem.
	a.emit(opLdxMsh, offL3)
	a.emit(opLdIndB, offL3)
	a.jump(opJeqK, 3, fm.addrLbl, "")
	a.jump(opJeqK, 11, fm.addrLbl, "")
	a.jump(opJeqK, 12, fm.addrLbl, lblReject)
	a.label("v4frag")
	a.emit(opLdMem, fm.proto)
	a.jump(opJeqK, unix.IPPROTO_TCP, fm.addrLbl, "")
	a.jump(opJeqK, unix.IPPROTO_UDP, fm.addrLbl, lblReject)
	a.label("v4l4")
	// Both ports, behind a header of IHL*4 bytes (X); a packet too short
	// for them is rejected by the load.
	a.emit(opLdxMsh, offL3)
	a.emit(opLdIndH, offL3)
	a.emit(opSt, fm.sport)
	a.emit(opLdIndH, offL3+2)
	a.emit(opSt, fm.dport)
	genBody(a, f, fm)
}

func genV6(a *asm, f *family) {
	fm := famV6
	a.emit(opLdAbsB, offL3)
	a.emit(opAndK, 0xf0)
	a.jump(opJeqK, 0x60, "", lblReject)
	saveAddrs(a, fm)
	genV6Walk(a, fm)
	// ICMPv6 errors are types 1 to 4; X is the ICMPv6 header's offset.
	a.label("v6icmp")
	a.emit(opLdIndB, offL3)
	a.jump(opJgeK, 1, "", lblReject)
	a.jump(opJgtK, 4, lblReject, fm.addrLbl)
	a.label("v6l4")
	a.emit(opLdIndH, offL3)
	a.emit(opSt, fm.sport)
	a.emit(opLdIndH, offL3+2)
	a.emit(opSt, fm.dport)
	genBody(a, f, fm)
}

// genBody emits the TCP/UDP matching, the address-only matching of ICMP
// errors and fragments, and the local-address check of replies of one
// family.
func genBody(a *asm, f *family, fm fam) {
	replies := fm.addrLbl + "reply"
	genGroups(a, f.svc, fm, fm.dst, fm.dport, lblAccept, replies)
	a.label(replies)
	genGroups(a, f.reply, fm, fm.src, fm.sport, fm.replyOK, lblReject)

	a.label(fm.addrLbl)
	genAddrOnly(a, f.svc, fm, fm.dst, lblAccept)
	genAddrOnly(a, f.reply, fm, fm.src, fm.replyOK)
	a.ja(lblReject)

	// Last, since both paths above jump here: a reply (or an ICMP error
	// from a real server) addressed to the director itself is its own
	// traffic.
	a.label(fm.replyOK)
	for _, l := range f.local {
		next := a.newLabel()
		genPrefix(a, f.localPrefix(l), fm.dst, next)
		a.ja(lblReject)
		a.label(next)
	}
	a.ja(lblAccept)
}

// genGroups matches (address, proto, port) against groups and jumps to
// success or fail; addr and port are scratch slots. IPv4 host prefixes are
// dispatched with one comparison each on a single load; since a packet
// equals at most one host address, a host group that fails goes on with the
// wider prefixes only.
func genGroups(a *asm, groups []group, fm fam, addr, port uint32, success, fail string) {
	i := 0
	if fm.v4 {
		for i < len(groups) && groups[i].prefix.host() {
			i++
		}
	}
	hosts, rest := groups[:i], groups[i:]
	wide := a.newLabel()
	if len(hosts) > 0 {
		names := make([]string, len(hosts))
		a.emit(opLdMem, addr)
		for j, g := range hosts {
			names[j] = a.newLabel()
			v, _ := g.prefix.word(0)
			a.jump(opJeqK, v, names[j], "")
		}
		a.ja(wide)
		for j, g := range hosts {
			a.label(names[j])
			genPorts(a, g.ports, fm, port, success)
			a.ja(wide)
		}
	}
	a.label(wide)
	for _, g := range rest {
		next := a.newLabel()
		genPrefix(a, g.prefix, addr, next)
		genPorts(a, g.ports, fm, port, success)
		a.label(next)
	}
	a.ja(fail)
}

// genPrefix falls through when the address in scratch slots slot... is
// inside p and jumps to fail otherwise.
func genPrefix(a *asm, p prefix, slot uint32, fail string) {
	for w := 0; w < p.words(); w++ {
		v, m := p.word(w)
		if m == 0 {
			continue
		}
		a.emit(opLdMem, slot+uint32(w))
		if m != 0xffffffff {
			a.emit(opAndK, m)
		}
		a.jump(opJeqK, v, "", fail)
	}
}

// genPorts jumps to success when the protocol and port match one of ports
// and falls through otherwise. ports is sorted by protocol: the port is
// loaded once per protocol and compared against each of its ranges.
func genPorts(a *asm, ports []portRange, fm fam, port uint32, success string) {
	for i := 0; i < len(ports); {
		j := i
		for j < len(ports) && ports[j].proto == ports[i].proto {
			j++
		}
		next := a.newLabel()
		a.emit(opLdMem, fm.proto)
		a.jump(opJeqK, uint32(ports[i].proto), "", next)
		all := false
		for _, p := range ports[i:j] {
			all = all || p.any()
		}
		if all {
			a.ja(success)
		} else {
			a.emit(opLdMem, port)
			for _, p := range ports[i:j] {
				if p.lo == p.hi {
					a.jump(opJeqK, uint32(p.lo), success, "")
					continue
				}
				nr := a.newLabel()
				if p.lo > 0 {
					a.jump(opJgeK, uint32(p.lo), "", nr)
				}
				if p.hi < 0xffff {
					a.jump(opJgtK, uint32(p.hi), nr, success)
				} else {
					a.ja(success)
				}
				a.label(nr)
			}
		}
		a.label(next)
		i = j
	}
}

// genAddrOnly jumps to success when the address in slot is inside one of
// the groups' prefixes, whatever the protocol and port, and falls through
// otherwise.
func genAddrOnly(a *asm, groups []group, fm fam, slot uint32, success string) {
	i := 0
	if fm.v4 {
		for i < len(groups) && groups[i].prefix.host() {
			i++
		}
		if i > 0 {
			a.emit(opLdMem, slot)
			for _, g := range groups[:i] {
				v, _ := g.prefix.word(0)
				a.jump(opJeqK, v, success, "")
			}
		}
	}
	for _, g := range groups[i:] {
		next := a.newLabel()
		genPrefix(a, g.prefix, slot, next)
		a.ja(success)
		a.label(next)
	}
}

// Filter is a compiled socket filter, ready for SO_ATTACH_FILTER.
type Filter []unix.SockFilter

// CompileFilter validates rs and generates its classic BPF socket filter.
// Backend.Steer does this itself; the function is exported for tools that
// want to inspect the program (its length, or a dump).
func CompileFilter(rs Rules) (Filter, error) {
	c, err := compile(rs)
	if err != nil {
		return nil, err
	}
	return buildFilter(c)
}
