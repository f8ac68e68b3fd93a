package afpacket

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link/afpacket/nft"
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

// TablePrefix starts the name of every nftables table of this package
// (family netdev): "xvs_afpacket_<pid>_<n>". Cleanup removes the ones whose
// process is gone.
const TablePrefix = nft.TablePrefix

// tableOwner makes tables with NFT_TABLE_F_OWNER, so the kernel deletes
// them with the process (see nft.Create). Tests clear it to simulate a
// kernel before 5.12.
var tableOwner = true

// createTable creates the backend's table: the regular chains, then a base
// chain on the ingress hook of each interface that jumps to them.
func createTable(ifaces []string) (*nft.Table, error) {
	chains := []nft.Chain{{Name: chainV4}, {Name: chainV4Addr}, {Name: chainV6}, {Name: chainV6Addr}}
	for _, ifname := range ifaces {
		ch := baseChainName(ifname)
		chains = append(chains, nft.Chain{Name: ch, Device: ifname, Priority: ingressPriority, Rules: baseRules(ch)})
	}
	return nft.Create(chains, tableOwner)
}

func baseChainName(ifname string) string { return "ingress_" + ifname }

// Cleanup removes, in the network namespace of the calling thread, the
// tables that runs of this package left behind (see nft.Cleanup). Open
// calls it too, so a restarted daemon replaces its crashed predecessor's
// table.
func Cleanup() error { return nft.Cleanup() }

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

func nh(off uint32, op uint32, data ...byte) nft.Match {
	return nft.Match{Base: unix.NFT_PAYLOAD_NETWORK_HEADER, Off: off, Op: op, Data: data}
}

func th(off uint32, op uint32, data ...byte) nft.Match {
	return nft.Match{Base: unix.NFT_PAYLOAD_TRANSPORT_HEADER, Off: off, Op: op, Data: data}
}

// l4 compares the upper-layer protocol the kernel found (meta l4proto).
func l4(op uint32, p byte) nft.Match {
	return nft.Match{L4Proto: true, Op: op, Data: []byte{p}}
}

// ext6 compares bytes at off of the first IPv6 extension header of type
// typ; the rule does not match when the packet has no such header.
func ext6(typ uint8, off uint32, op uint32, data ...byte) nft.Match {
	return nft.Match{ExtHdr: typ, Off: off, Op: op, Data: data}
}

// l4ProtoOff, as a protocol offset, selects meta l4proto instead of a
// network-header byte.
const l4ProtoOff = ^uint32(0)

// protoMatch compares the protocol at protoOff, or meta l4proto.
func protoMatch(protoOff uint32, p byte) nft.Match {
	if protoOff == l4ProtoOff {
		return l4(unix.NFT_CMP_EQ, p)
	}
	return nh(protoOff, unix.NFT_CMP_EQ, p)
}

func masked(m nft.Match, mask ...byte) nft.Match { m.Mask = mask; return m }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// baseRules are the rules of an interface's base chain.
func baseRules(chain string) []nft.Rule {
	return []nft.Rule{
		{Chain: chain, Matches: []nft.Match{{Meta: true, Op: unix.NFT_CMP_EQ, Data: be16(etherIPv4)}}, Verdict: unix.NFT_JUMP, Target: chainV4},
		{Chain: chain, Matches: []nft.Match{{Meta: true, Op: unix.NFT_CMP_EQ, Data: be16(etherIPv6)}}, Verdict: unix.NFT_JUMP, Target: chainV6},
	}
}

// nftRules generates the rules of the regular chains for c.
func nftRules(c *compiled) []nft.Rule {
	var out []nft.Rule
	add := func(chain string, v int32, target string, ms ...nft.Match) {
		out = append(out, nft.Rule{Chain: chain, Matches: ms, Verdict: v, Target: target})
	}
	const ret, goTo = unix.NFT_RETURN, unix.NFT_GOTO
	const eq, ne = unix.NFT_CMP_EQ, unix.NFT_CMP_NEQ

	// IPv4 (network-header offsets are from the start of the IP header).
	add(chainV4, ret, "", masked(nh(0, ne, 0x40), 0xf0))
	add(chainV4, ret, "", masked(nh(0, unix.NFT_CMP_LT, 5), 0x0f))
	for _, p := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		add(chainV4, goTo, chainV4Addr, masked(nh(6, ne, 0, 0), 0x3f, 0xff), nh(9, eq, p))
	}
	add(chainV4, ret, "", masked(nh(6, ne, 0, 0), 0x3f, 0xff))
	for _, t := range []byte{3, 11, 12} {
		add(chainV4, goTo, chainV4Addr, nh(9, eq, unix.IPPROTO_ICMP), th(0, eq, t))
	}
	addFamily(add, &c.v4, chainV4, chainV4Addr, 9, 12, 16)

	// IPv6.
	add(chainV6, ret, "", masked(nh(0, ne, 0x60), 0xf0))
	add(chainV6, ret, "", ext6(unix.IPPROTO_ROUTING, 3, ne, 0))
	add(chainV6, ret, "", ext6(unix.IPPROTO_AH, 0, unix.NFT_CMP_GTE, 0)) // AH anywhere: the filter stops there
	for _, p := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		// The Fragment header's own Next Header, as the filter reads it
		// (meta l4proto would look past more headers of a first fragment).
		add(chainV6, goTo, chainV6Addr, masked(ext6(unix.IPPROTO_FRAGMENT, 2, ne, 0, 0), 0xff, 0xf9), ext6(unix.IPPROTO_FRAGMENT, 0, eq, p))
	}
	add(chainV6, ret, "", masked(ext6(unix.IPPROTO_FRAGMENT, 2, ne, 0, 0), 0xff, 0xf9))
	add(chainV6, goTo, chainV6Addr, l4(eq, unix.IPPROTO_ICMPV6), th(0, unix.NFT_CMP_GTE, 1), th(0, unix.NFT_CMP_LTE, 4))
	addFamily(add, &c.v6, chainV6, chainV6Addr, l4ProtoOff, 8, 24)
	return out
}

// addFamily adds the service, local and reply rules of one family to its
// chain and the address-only rules to its addr chain.
func addFamily(add func(string, int32, string, ...nft.Match), f *family, chain, addrChain string, protoOff, srcOff, dstOff uint32) {
	const ret, drop = unix.NFT_RETURN, nft.Drop
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
func portMatches(g group, protoOff, addrOff, portOff uint32) [][]nft.Match {
	var out [][]nft.Match
	pm := prefixMatch(g.prefix, addrOff)
	for _, p := range g.ports {
		ms := []nft.Match{protoMatch(protoOff, p.proto)}
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
func prefixMatch(p prefix, off uint32) []nft.Match {
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
		m = masked(m, mask...)
	}
	return []nft.Match{m}
}
