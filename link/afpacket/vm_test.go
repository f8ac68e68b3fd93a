package afpacket

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link/afpacket/nft"
)

// runCBPF is a classic BPF interpreter with the kernel's semantics for the
// instructions a socket filter may use: a load beyond the packet ends the
// program with 0. It is the oracle the generated filters run on.
func runCBPF(prog []unix.SockFilter, pkt []byte) (uint32, error) {
	return runCBPFType(prog, pkt, unix.PACKET_HOST)
}

// runCBPFType runs prog on a packet of the given skb->pkt_type, which the
// ancillary load SKF_AD_PKTTYPE returns.
func runCBPFType(prog []unix.SockFilter, pkt []byte, pktType uint8) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	load := func(off uint32, size uint32) (uint32, bool) {
		if uint64(off)+uint64(size) > uint64(len(pkt)) {
			return 0, false
		}
		switch size {
		case 4:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return uint32(pkt[off]), true
	}
	sizes := map[uint16]uint32{unix.BPF_W: 4, unix.BPF_H: 2, unix.BPF_B: 1}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		cls := in.Code & 0x07
		switch cls {
		case unix.BPF_LD:
			size := sizes[in.Code&0x18]
			switch in.Code & 0xe0 {
			case unix.BPF_ABS:
				if in.K == adPktType && size == 1 {
					a = uint32(pktType)
					break
				}
				if in.K >= 0xfffff000 {
					return 0, fmt.Errorf("pc %d: unsupported ancillary load %#x", pc, in.K)
				}
				v, ok := load(in.K, size)
				if !ok {
					return 0, nil
				}
				a = v
			case unix.BPF_IND:
				v, ok := load(x+in.K, size)
				if !ok {
					return 0, nil
				}
				a = v
			case unix.BPF_IMM:
				a = in.K
			case unix.BPF_MEM:
				a = mem[in.K&15]
			case unix.BPF_LEN:
				a = uint32(len(pkt))
			default:
				return 0, fmt.Errorf("pc %d: bad ld mode %#x", pc, in.Code)
			}
		case unix.BPF_LDX:
			switch in.Code & 0xe0 {
			case unix.BPF_MSH:
				v, ok := load(in.K, 1)
				if !ok {
					return 0, nil
				}
				x = 4 * (v & 0x0f)
			case unix.BPF_IMM:
				x = in.K
			case unix.BPF_MEM:
				x = mem[in.K&15]
			case unix.BPF_LEN:
				x = uint32(len(pkt))
			default:
				return 0, fmt.Errorf("pc %d: bad ldx mode %#x", pc, in.Code)
			}
		case unix.BPF_ST:
			mem[in.K&15] = a
		case unix.BPF_STX:
			mem[in.K&15] = x
		case unix.BPF_ALU:
			v := in.K
			if in.Code&unix.BPF_X != 0 {
				v = x
			}
			switch in.Code & 0xf0 {
			case unix.BPF_ADD:
				a += v
			case unix.BPF_SUB:
				a -= v
			case unix.BPF_AND:
				a &= v
			case unix.BPF_OR:
				a |= v
			case unix.BPF_LSH:
				a <<= v
			case unix.BPF_RSH:
				a >>= v
			default:
				return 0, fmt.Errorf("pc %d: unsupported alu %#x", pc, in.Code)
			}
		case unix.BPF_JMP:
			if in.Code&0xf0 == unix.BPF_JA {
				pc += int(in.K)
				break
			}
			v := in.K
			if in.Code&unix.BPF_X != 0 {
				v = x
			}
			var t bool
			switch in.Code & 0xf0 {
			case unix.BPF_JEQ:
				t = a == v
			case unix.BPF_JGT:
				t = a > v
			case unix.BPF_JGE:
				t = a >= v
			case unix.BPF_JSET:
				t = a&v != 0
			default:
				return 0, fmt.Errorf("pc %d: bad jump %#x", pc, in.Code)
			}
			if t {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET:
			if in.Code&0x18 == unix.BPF_A {
				return a, nil
			}
			return in.K, nil
		case unix.BPF_MISC:
			if in.Code&0xf8 == unix.BPF_TXA {
				a = x
			} else {
				x = a
			}
		}
		if pc >= len(prog) {
			return 0, fmt.Errorf("pc %d: jumped past the end", pc)
		}
	}
	return 0, fmt.Errorf("fell off the end of the program")
}

// nftVerdict is the outcome of runNFT.
type nftVerdict int

const (
	nftAccepted nftVerdict = iota
	nftDropped
)

// runNFT evaluates the table's chains on an untagged Ethernet frame the way
// the netdev ingress hook does: skb->protocol is the EtherType, payload
// loads are relative to the network header, and transport loads work only
// when the kernel's IPv4/IPv6 header validation succeeded and the packet is
// not a non-first fragment.
func runNFT(rules []nft.Rule, frame []byte) (nftVerdict, error) {
	if len(frame) < 14 {
		return nftAccepted, nil
	}
	proto := frame[12:14]
	nhdr := frame[14:]
	thoff, l4ok := -1, false
	var l4proto byte
	l4set := false
	switch binary.BigEndian.Uint16(proto) {
	case etherIPv4:
		if len(nhdr) >= 20 && nhdr[0]>>4 == 4 && nhdr[0]&15 >= 5 {
			tot := int(binary.BigEndian.Uint16(nhdr[2:]))
			ihl := int(nhdr[0]&15) * 4
			if tot <= len(nhdr) && tot >= ihl {
				thoff = ihl
				l4proto, l4set = nhdr[9], true
				// Loads stop at skb->len, which still includes any
				// Ethernet padding: ip_rcv trims it later.
				l4ok = binary.BigEndian.Uint16(nhdr[6:])&0x1fff == 0
			}
		}
	case etherIPv6:
		if len(nhdr) >= 40 && nhdr[0]>>4 == 6 && 40+int(binary.BigEndian.Uint16(nhdr[4:])) <= len(nhdr) {
			if nh, off, fragoff, ok := findHdr6(nhdr, -1); ok {
				l4proto, l4set = nh, true
				thoff, l4ok = off, fragoff == 0
			}
		}
	}
	chains := map[string][]nft.Rule{}
	for _, r := range rules {
		chains[r.Chain] = append(chains[r.Chain], r)
	}
	type frameT struct {
		chain string
		pc    int
	}
	stack := []frameT{}
	cur := frameT{chain: "base"}
	for steps := 0; steps < 100000; steps++ {
		rs := chains[cur.chain]
		if cur.pc >= len(rs) {
			if len(stack) == 0 {
				return nftAccepted, nil
			}
			cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
			continue
		}
		r := rs[cur.pc]
		cur.pc++
		ok := true
		for _, m := range r.Matches {
			var v []byte
			switch {
			case m.Meta:
				v = proto
			case m.L4Proto:
				ok = l4set
				v = []byte{l4proto}
			case m.ExtHdr != 0:
				ok = false
				if binary.BigEndian.Uint16(proto) == etherIPv6 && len(nhdr) >= 40 {
					if _, off, _, found := findHdr6(nhdr, int(m.ExtHdr)); found && off+int(m.Off)+len(m.Data) <= len(nhdr) {
						ok = true
						v = nhdr[off+int(m.Off) : off+int(m.Off)+len(m.Data)]
					}
				}
			case m.Base == unix.NFT_PAYLOAD_NETWORK_HEADER:
				if int(m.Off)+len(m.Data) > len(nhdr) {
					ok = false
				} else {
					v = nhdr[m.Off : int(m.Off)+len(m.Data)]
				}
			case m.Base == unix.NFT_PAYLOAD_TRANSPORT_HEADER:
				if !l4ok || thoff+int(m.Off)+len(m.Data) > len(nhdr) {
					ok = false
				} else {
					v = nhdr[thoff+int(m.Off) : thoff+int(m.Off)+len(m.Data)]
				}
			default:
				return 0, fmt.Errorf("bad payload base %d", m.Base)
			}
			if !ok {
				break
			}
			if m.Mask != nil {
				w := make([]byte, len(v))
				for i := range v {
					w[i] = v[i] & m.Mask[i]
				}
				v = w
			}
			c := bytes.Compare(v, m.Data)
			switch m.Op {
			case unix.NFT_CMP_EQ:
				ok = c == 0
			case unix.NFT_CMP_NEQ:
				ok = c != 0
			case unix.NFT_CMP_LT:
				ok = c < 0
			case unix.NFT_CMP_LTE:
				ok = c <= 0
			case unix.NFT_CMP_GT:
				ok = c > 0
			case unix.NFT_CMP_GTE:
				ok = c >= 0
			}
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		switch r.Verdict {
		case nft.Drop:
			return nftDropped, nil
		case nft.Accept:
			return nftAccepted, nil
		case unix.NFT_RETURN:
			if len(stack) == 0 {
				return nftAccepted, nil
			}
			cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
		case unix.NFT_JUMP:
			stack = append(stack, cur)
			cur = frameT{chain: r.Target}
		case unix.NFT_GOTO:
			cur = frameT{chain: r.Target}
		default:
			return 0, fmt.Errorf("bad verdict %d", r.Verdict)
		}
	}
	return 0, fmt.Errorf("chain loop")
}

// findHdr6 models the kernel's ipv6_find_hdr as nftables calls it, on the
// IPv6 packet ip: with target -1 (and IP6_FH_F_AUTH, as
// nft_set_pktinfo_ipv6_validate passes) it returns the upper-layer protocol
// and its offset, stopping at AH and at a non-first fragment (offset 0
// then, with fragoff set); with a target it returns the offset of the first
// extension header of that type. ok is false where the kernel returns an
// error.
func findHdr6(ip []byte, target int) (nexthdr byte, off, fragoff int, ok bool) {
	isExt := func(nh byte) bool { return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 59 || nh == 60 }
	nh, start := ip[6], 40
	for {
		found := int(nh) == target
		if !isExt(nh) || nh == 59 {
			if target < 0 || found {
				return nh, start, 0, true
			}
			return 0, 0, 0, false
		}
		if start+2 > len(ip) {
			return 0, 0, 0, false
		}
		next, hl := ip[start], int(ip[start+1])
		var n int
		switch nh {
		case 44:
			if start+4 > len(ip) {
				return 0, 0, 0, false
			}
			if fo := int(binary.BigEndian.Uint16(ip[start+2:]) &^ 7); fo != 0 {
				if target < 0 && (!isExt(next) || next == 59) {
					return next, 0, fo, true
				}
				if !found {
					return 0, 0, 0, false
				}
				return nh, start, fo, true
			}
			n = 8
		case 51:
			if target < 0 {
				return nh, start, 0, true
			}
			n = (hl + 2) << 2
		default:
			n = (hl + 1) << 3
		}
		if found {
			return nh, start, 0, true
		}
		nh, start = next, start+n
	}
}

// tableRules returns the complete rule list of a table for runNFT: the base
// chain (named "base") and the regular chains.
func tableRules(c *compiled) []nft.Rule {
	return append(baseRules("base"), nftRules(c)...)
}
