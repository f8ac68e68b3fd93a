package vrrp

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/xvs-project/xvs/encap"
)

// A new master tells the link that its virtual addresses moved: for IPv4 a
// gratuitous ARP request per address (sender and target both the address,
// broadcast), for IPv6 an unsolicited neighbour advertisement to all nodes
// with the Override flag, as keepalived's vrrp_arp.c and vrrp_ndisc.c send.

var (
	broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodes  = netip.MustParseAddr("ff02::1")
)

// AppendGARP appends the Ethernet frame of a gratuitous ARP for the IPv4
// address vip owned by mac.
func AppendGARP(b []byte, mac net.HardwareAddr, vip netip.Addr) []byte {
	b = append(b, broadcast...)
	b = append(b, mac...)
	b = append(b, 0x08, 0x06)                // ARP
	b = append(b, 0, 1, 0x08, 0, 6, 4, 0, 1) // Ethernet, IPv4, sizes, request
	a := vip.Unmap().As4()
	b = append(b, mac...)
	b = append(b, a[:]...)
	b = append(b, broadcast...)
	return append(b, a[:]...)
}

// AppendUnsolicitedNA appends the Ethernet frame of an unsolicited
// neighbour advertisement for the IPv6 address vip owned by mac, from vip
// to ff02::1 (hop limit 255, Override set, Router set if router), with the
// target link-layer address option.
func AppendUnsolicitedNA(b []byte, mac net.HardwareAddr, vip netip.Addr, router bool) []byte {
	b = append(b, 0x33, 0x33, 0, 0, 0, 1)
	b = append(b, mac...)
	b = append(b, 0x86, 0xdd)
	const icmpLen = 32 // header 4, flags 4, target 16, option 8
	ip := len(b)
	b = append(b, 0x60, 0, 0, 0, 0, icmpLen, 58, 255)
	src, dst := vip.As16(), allNodes.As16()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	icmp := len(b)
	flags := uint32(1 << 29) // Override
	if router {
		flags |= 1 << 31
	}
	b = append(b, 136, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, flags)
	b = append(b, src[:]...)
	b = append(b, 2, 1) // target link-layer address, 8 bytes
	b = append(b, mac...)
	sum := encap.Checksum(b[icmp:], encap.PseudoHeaderSum(b[ip+8:ip+24], b[ip+24:ip+40], 58, icmpLen))
	binary.BigEndian.PutUint16(b[icmp+2:], sum)
	return b
}
