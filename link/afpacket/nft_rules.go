package afpacket

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// The nftables side of steering: rules in xvs's netdev table drop, at the
// ingress hook of each served interface, exactly the packets the socket
// filter copies to the queues, so the kernel never answers them (RST, port
// unreachable) nor forwards NAT replies itself. They are generated from the
// same compiled rule set as the socket filter, with the same structure:
//
//	chain ingress_<ifname> (hook ingress, priority -500, policy accept)
//	    meta protocol ip   jump v4
//	    meta protocol ip6  jump v6
//	chain v4
//	    not version 4 or IHL < 5              return
//	    fragment of TCP/UDP                   goto v4addr
//	    other fragment                        return
//	    ICMP error (type 3, 11, 12)           goto v4addr
//	    service rules (proto, daddr, dport)   drop
//	    daddr is a director address           return
//	    reply rules (proto, saddr, sport)     drop
//	chain v4addr (ICMP errors and fragments)
//	    daddr in a service prefix             drop
//	    daddr is a director address           return
//	    saddr in a real-server prefix         drop
//
// and the same for IPv6 (chains v6, v6addr; ICMPv6 types 1-4), where the
// protocol is meta l4proto and the transport header the one the kernel
// finds past the extension headers (ipv6_find_hdr), so a SYN behind a
// hop-by-hop or destination-options header is dropped like the socket
// filter steers it. Before those rules, the v6 chain returns what the
// filter's walk leaves to the kernel (a routing header with segments left,
// an AH header) and sends fragments of TCP/UDP (a Fragment header with an offset or M
// set) to v6addr. Ports are read at the transport header offset the kernel
// computed; fragments never reach a port match.

// Regular chains of the table.
const (
	chainV4     = "v4"
	chainV4Addr = "v4addr"
	chainV6     = "v6"
	chainV6Addr = "v6addr"

	// ingressPriority orders our base chains before the usual netdev
	// filter chains (priority 0); a drop anywhere wins anyway.
	ingressPriority = -500
)

// nftMatch compares bytes of the packet (or skb->protocol) with data.
type nftMatch struct {
	meta    bool   // meta protocol instead of a payload load
	l4proto bool   // meta l4proto (the kernel's upper-layer protocol)
	exthdr  uint8  // non-zero: a load from this IPv6 extension header (exthdr)
	base    uint32 // NFT_PAYLOAD_NETWORK_HEADER or NFT_PAYLOAD_TRANSPORT_HEADER
	off     uint32
	mask    []byte // optional: AND before comparing
	op      uint32 // NFT_CMP_*
	data    []byte
}

// nftRule is one rule: all matches, then a verdict.
type nftRule struct {
	chain   string
	matches []nftMatch
	verdict int32  // NF_DROP, NFT_RETURN, NFT_JUMP, NFT_GOTO
	target  string // chain of a jump or goto
}

func nh(off uint32, op uint32, data ...byte) nftMatch {
	return nftMatch{base: unix.NFT_PAYLOAD_NETWORK_HEADER, off: off, op: op, data: data}
}

func th(off uint32, op uint32, data ...byte) nftMatch {
	return nftMatch{base: unix.NFT_PAYLOAD_TRANSPORT_HEADER, off: off, op: op, data: data}
}

// l4 compares the upper-layer protocol the kernel found (meta l4proto).
func l4(op uint32, p byte) nftMatch {
	return nftMatch{l4proto: true, op: op, data: []byte{p}}
}

// ext6 compares bytes at off of the first IPv6 extension header of type
// typ; the rule does not match when the packet has no such header.
func ext6(typ uint8, off uint32, op uint32, data ...byte) nftMatch {
	return nftMatch{exthdr: typ, off: off, op: op, data: data}
}

// l4ProtoOff, as a protocol offset, selects meta l4proto instead of a
// network-header byte.
const l4ProtoOff = ^uint32(0)

// protoMatch compares the protocol at protoOff, or meta l4proto.
func protoMatch(protoOff uint32, p byte) nftMatch {
	if protoOff == l4ProtoOff {
		return l4(unix.NFT_CMP_EQ, p)
	}
	return nh(protoOff, unix.NFT_CMP_EQ, p)
}

func (m nftMatch) masked(mask ...byte) nftMatch { m.mask = mask; return m }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// baseRules are the rules of an interface's base chain.
func baseRules(chain string) []nftRule {
	return []nftRule{
		{chain: chain, matches: []nftMatch{{meta: true, op: unix.NFT_CMP_EQ, data: be16(etherIPv4)}}, verdict: unix.NFT_JUMP, target: chainV4},
		{chain: chain, matches: []nftMatch{{meta: true, op: unix.NFT_CMP_EQ, data: be16(etherIPv6)}}, verdict: unix.NFT_JUMP, target: chainV6},
	}
}

// nftRules generates the rules of the regular chains for c.
func nftRules(c *compiled) []nftRule {
	var out []nftRule
	add := func(chain string, v int32, target string, ms ...nftMatch) {
		out = append(out, nftRule{chain: chain, matches: ms, verdict: v, target: target})
	}
	const ret, goTo = unix.NFT_RETURN, unix.NFT_GOTO
	const eq, ne = unix.NFT_CMP_EQ, unix.NFT_CMP_NEQ

	// IPv4 (network-header offsets are from the start of the IP header).
	add(chainV4, ret, "", nh(0, ne, 0x40).masked(0xf0))
	add(chainV4, ret, "", nh(0, unix.NFT_CMP_LT, 5).masked(0x0f))
	for _, p := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		add(chainV4, goTo, chainV4Addr, nh(6, ne, 0, 0).masked(0x3f, 0xff), nh(9, eq, p))
	}
	add(chainV4, ret, "", nh(6, ne, 0, 0).masked(0x3f, 0xff))
	for _, t := range []byte{3, 11, 12} {
		add(chainV4, goTo, chainV4Addr, nh(9, eq, unix.IPPROTO_ICMP), th(0, eq, t))
	}
	addFamily(add, &c.v4, chainV4, chainV4Addr, 9, 12, 16)

	// IPv6.
	add(chainV6, ret, "", nh(0, ne, 0x60).masked(0xf0))
	add(chainV6, ret, "", ext6(unix.IPPROTO_ROUTING, 3, ne, 0))
	add(chainV6, ret, "", ext6(unix.IPPROTO_AH, 0, unix.NFT_CMP_GTE, 0)) // AH anywhere: the filter stops there
	for _, p := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		// The Fragment header's own Next Header, as the filter reads it
		// (meta l4proto would look past more headers of a first fragment).
		add(chainV6, goTo, chainV6Addr, ext6(unix.IPPROTO_FRAGMENT, 2, ne, 0, 0).masked(0xff, 0xf9), ext6(unix.IPPROTO_FRAGMENT, 0, eq, p))
	}
	add(chainV6, ret, "", ext6(unix.IPPROTO_FRAGMENT, 2, ne, 0, 0).masked(0xff, 0xf9))
	add(chainV6, goTo, chainV6Addr, l4(eq, unix.IPPROTO_ICMPV6), th(0, unix.NFT_CMP_GTE, 1), th(0, unix.NFT_CMP_LTE, 4))
	addFamily(add, &c.v6, chainV6, chainV6Addr, l4ProtoOff, 8, 24)
	return out
}

// addFamily adds the service, local and reply rules of one family to its
// chain and the address-only rules to its addr chain.
func addFamily(add func(string, int32, string, ...nftMatch), f *family, chain, addrChain string, protoOff, srcOff, dstOff uint32) {
	const ret, drop = unix.NFT_RETURN, nfDrop
	for _, g := range f.svc {
		for _, ms := range portMatches(g, protoOff, dstOff, 2) {
			add(chain, drop, "", ms...)
		}
	}
	for _, l := range f.local {
		add(chain, ret, "", prefixMatch(f.localPrefix(l), dstOff)...)
	}
	for _, g := range f.reply {
		for _, ms := range portMatches(g, protoOff, srcOff, 0) {
			add(chain, drop, "", ms...)
		}
	}
	for _, g := range f.svc {
		add(addrChain, drop, "", prefixMatch(g.prefix, dstOff)...)
	}
	for _, l := range f.local {
		add(addrChain, ret, "", prefixMatch(f.localPrefix(l), dstOff)...)
	}
	for _, g := range f.reply {
		add(addrChain, drop, "", prefixMatch(g.prefix, srcOff)...)
	}
}

// portMatches returns one match list per port range of g: protocol,
// address prefix and, unless every port, the port bounds at portOff of the
// transport header.
func portMatches(g group, protoOff, addrOff, portOff uint32) [][]nftMatch {
	var out [][]nftMatch
	pm := prefixMatch(g.prefix, addrOff)
	for _, p := range g.ports {
		ms := []nftMatch{protoMatch(protoOff, p.proto)}
		ms = append(ms, pm...)
		switch {
		case p.any():
		case p.lo == p.hi:
			ms = append(ms, th(portOff, unix.NFT_CMP_EQ, be16(p.lo)...))
		default:
			if p.lo > 0 {
				ms = append(ms, th(portOff, unix.NFT_CMP_GTE, be16(p.lo)...))
			}
			if p.hi < 0xffff {
				ms = append(ms, th(portOff, unix.NFT_CMP_LTE, be16(p.hi)...))
			}
		}
		out = append(out, ms)
	}
	return out
}

// prefixMatch compares the address at off with p: the whole bytes of the
// prefix, the last one masked when the length is not a multiple of 8. A
// zero-length prefix matches everything and needs no match.
func prefixMatch(p prefix, off uint32) []nftMatch {
	n := (p.bits + 7) / 8
	if n == 0 {
		return nil
	}
	m := nh(off, unix.NFT_CMP_EQ, p.addr[:n]...)
	if r := p.bits % 8; r != 0 {
		mask := make([]byte, n)
		for i := range mask {
			mask[i] = 0xff
		}
		mask[n-1] = byte(0xff << (8 - r))
		m = m.masked(mask...)
	}
	return []nftMatch{m}
}

// encode appends the NEWRULE message of r for table.
func (r nftRule) encode(m *nlBuilder, table string) {
	m.msg(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_APPEND, "rule "+r.chain+": "+r.String())
	m.str(unix.NFTA_RULE_TABLE, table)
	m.str(unix.NFTA_RULE_CHAIN, r.chain)
	exprs := m.nest(unix.NFTA_RULE_EXPRESSIONS)
	for _, x := range r.matches {
		n := uint32(len(x.data))
		switch {
		case x.meta || x.l4proto:
			key := uint32(unix.NFT_META_PROTOCOL)
			if x.l4proto {
				key = unix.NFT_META_L4PROTO
			}
			expr(m, "meta", func() {
				m.u32(unix.NFTA_META_DREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_META_KEY, key)
			})
		case x.exthdr != 0:
			// NFTA_EXTHDR_OP absent: the IPv6 extension-header walk.
			expr(m, "exthdr", func() {
				m.u32(unix.NFTA_EXTHDR_DREG, unix.NFT_REG_1)
				m.attr(unix.NFTA_EXTHDR_TYPE, []byte{x.exthdr}) // NLA_U8
				m.u32(unix.NFTA_EXTHDR_OFFSET, x.off)
				m.u32(unix.NFTA_EXTHDR_LEN, n)
			})
		default:
			expr(m, "payload", func() {
				m.u32(unix.NFTA_PAYLOAD_DREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_PAYLOAD_BASE, x.base)
				m.u32(unix.NFTA_PAYLOAD_OFFSET, x.off)
				m.u32(unix.NFTA_PAYLOAD_LEN, n)
			})
		}
		if x.mask != nil {
			expr(m, "bitwise", func() {
				m.u32(unix.NFTA_BITWISE_SREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_BITWISE_DREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_BITWISE_LEN, n)
				dataAttr(m, unix.NFTA_BITWISE_MASK, x.mask)
				dataAttr(m, unix.NFTA_BITWISE_XOR, make([]byte, n))
			})
		}
		expr(m, "cmp", func() {
			m.u32(unix.NFTA_CMP_SREG, unix.NFT_REG_1)
			m.u32(unix.NFTA_CMP_OP, x.op)
			dataAttr(m, unix.NFTA_CMP_DATA, x.data)
		})
	}
	expr(m, "immediate", func() {
		m.u32(unix.NFTA_IMMEDIATE_DREG, unix.NFT_REG_VERDICT)
		d := m.nest(unix.NFTA_IMMEDIATE_DATA)
		v := m.nest(unix.NFTA_DATA_VERDICT)
		m.u32(unix.NFTA_VERDICT_CODE, uint32(r.verdict))
		if r.target != "" {
			m.str(unix.NFTA_VERDICT_CHAIN, r.target)
		}
		m.unnest(v)
		m.unnest(d)
	})
	m.unnest(exprs)
	m.end()
}

func expr(m *nlBuilder, name string, body func()) {
	e := m.nest(unix.NFTA_LIST_ELEM)
	m.str(unix.NFTA_EXPR_NAME, name)
	d := m.nest(unix.NFTA_EXPR_DATA)
	body()
	m.unnest(d)
	m.unnest(e)
}

func dataAttr(m *nlBuilder, typ uint16, value []byte) {
	a := m.nest(typ)
	m.attr(unix.NFTA_DATA_VALUE, value)
	m.unnest(a)
}

// String renders the rule in nft's raw-payload syntax, for errors and tests.
func (r nftRule) String() string {
	var sb strings.Builder
	for _, x := range r.matches {
		switch {
		case x.meta:
			sb.WriteString("meta protocol")
		case x.l4proto:
			sb.WriteString("meta l4proto")
		case x.exthdr != 0:
			fmt.Fprintf(&sb, "@exthdr%d,%d,%d", x.exthdr, 8*x.off, 8*len(x.data))
		default:
			b := "@nh"
			if x.base == unix.NFT_PAYLOAD_TRANSPORT_HEADER {
				b = "@th"
			}
			fmt.Fprintf(&sb, "%s,%d,%d", b, 8*x.off, 8*len(x.data))
		}
		if x.mask != nil {
			fmt.Fprintf(&sb, " & 0x%x", x.mask)
		}
		fmt.Fprintf(&sb, " %s 0x%x ", cmpNames[x.op], x.data)
	}
	switch r.verdict {
	case nfDrop:
		sb.WriteString("drop")
	case nfAccept:
		sb.WriteString("accept")
	case unix.NFT_RETURN:
		sb.WriteString("return")
	case unix.NFT_JUMP:
		sb.WriteString("jump " + r.target)
	case unix.NFT_GOTO:
		sb.WriteString("goto " + r.target)
	}
	return sb.String()
}

var cmpNames = map[uint32]string{
	unix.NFT_CMP_EQ: "==", unix.NFT_CMP_NEQ: "!=", unix.NFT_CMP_LT: "<",
	unix.NFT_CMP_LTE: "<=", unix.NFT_CMP_GT: ">", unix.NFT_CMP_GTE: ">=",
}
