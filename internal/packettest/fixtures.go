package packettest

import (
	"net/netip"

	"github.com/xvs-project/xvs/link"
)

// SteerRules covers every rule shape: single VIPs, a service group with a
// prefix and a port range, an any-port service, NAT reply rules and the
// director's own addresses. SteerRows are written against it.
var SteerRules = link.Rules{
	Rules: []link.Rule{
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 80, PortHi: 80},
		{Proto: 17, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 53, PortHi: 53},
		{Proto: 6, Prefix: netip.MustParsePrefix("2001:db8:10::1/128"), PortLo: 443, PortHi: 443},
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.11.0/24"), PortLo: 8000, PortHi: 8010},
		{Proto: 17, Prefix: netip.MustParsePrefix("198.18.12.1/32")},
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.20.0/24"), PortLo: 80, PortHi: 80, Reply: true},
		{Proto: 17, Prefix: netip.MustParsePrefix("2001:db8:20::/64"), Reply: true},
	},
	Local: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")},
}

// The fixtures' client addresses: on no rule's prefix.
var (
	client4 = a("198.18.30.9")
	client6 = a("2001:db8:30::9")
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

// SteerRow is one steering fixture: a frame and the verdict every steering
// implementation must reach for it under SteerRules.
type SteerRow struct {
	Name   string
	Packet Packet
	// Edit, when set, turns the built frame into the row's frame (a
	// malformed header, a cut) or, for a Packet without addresses, makes
	// it from nothing.
	Edit func([]byte) []byte
	Want string
}

// Frame builds the row's frame as a hook of kind l2 sees it: Untagged drops
// the VLAN tags the kernel would have moved to metadata (the verdict does
// not change, steering ignores the tag). A TCP segment is a SYN and every
// packet carries a short payload unless the row says otherwise.
func (r SteerRow) Frame(l2 L2) []byte {
	p := r.Packet
	if l2 == Untagged {
		p.VLANs = nil
	}
	if p.Proto == ProtoTCP && !p.ACK {
		p.SYN = true
	}
	if p.Payload == nil {
		p.Payload = []byte("payload!")
	}
	var f []byte
	if p.Src.IsValid() {
		f = p.Frame()
	}
	if r.Edit != nil {
		f = r.Edit(f)
	}
	return f
}

// SteerRows are the steering fixtures, one per rule shape and per header
// the walk must follow or refuse.
var SteerRows = []SteerRow{
	{"tcp4 service", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 40000, Dport: 80}, nil, SteerService},
	{"udp4 service", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 17, Sport: 40000, Dport: 53}, nil, SteerService},
	{"tcp4 wrong port", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 40000, Dport: 81}, nil, PassNoMatch},
	{"udp4 on tcp port", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 17, Sport: 40000, Dport: 80}, nil, PassNoMatch},
	{"tcp4 other address", Packet{Src: client4, Dst: a("198.18.10.2"), Proto: 6, Sport: 40000, Dport: 80}, nil, PassNoMatch},
	{"tcp6 service", Packet{Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 40000, Dport: 443}, nil, SteerService},
	{"tcp6 other address", Packet{Src: client6, Dst: a("2001:db8:10::2"), Proto: 6, Sport: 40000, Dport: 443}, nil, PassNoMatch},
	{"tcp6 wrong port", Packet{Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 40000, Dport: 80}, nil, PassNoMatch},
	{"group low end", Packet{Src: client4, Dst: a("198.18.11.0"), Proto: 6, Sport: 1, Dport: 8000}, nil, SteerService},
	{"group high end", Packet{Src: client4, Dst: a("198.18.11.255"), Proto: 6, Sport: 1, Dport: 8010}, nil, SteerService},
	{"group inside", Packet{Src: client4, Dst: a("198.18.11.77"), Proto: 6, Sport: 1, Dport: 8005}, nil, SteerService},
	{"group port above", Packet{Src: client4, Dst: a("198.18.11.77"), Proto: 6, Sport: 1, Dport: 8011}, nil, PassNoMatch},
	{"group port below", Packet{Src: client4, Dst: a("198.18.11.77"), Proto: 6, Sport: 1, Dport: 7999}, nil, PassNoMatch},
	{"group outside prefix", Packet{Src: client4, Dst: a("198.18.12.77"), Proto: 6, Sport: 1, Dport: 8005}, nil, PassNoMatch},
	{"any port low", Packet{Src: client4, Dst: a("198.18.12.1"), Proto: 17, Sport: 1, Dport: 1}, nil, SteerService},
	{"any port high", Packet{Src: client4, Dst: a("198.18.12.1"), Proto: 17, Sport: 1, Dport: 65535}, nil, SteerService},
	{"any port zero", Packet{Src: client4, Dst: a("198.18.12.1"), Proto: 17, Sport: 1, Dport: 0}, nil, SteerService},
	{"any port other proto", Packet{Src: client4, Dst: a("198.18.12.1"), Proto: 6, Sport: 1, Dport: 53}, nil, PassNoMatch},
	{"reply to client", Packet{Src: a("198.18.20.5"), Dst: client4, Proto: 6, Sport: 80, Dport: 40000}, nil, SteerReply},
	{"reply to local", Packet{Src: a("198.18.20.5"), Dst: a("198.18.0.1"), Proto: 6, Sport: 80, Dport: 40000}, nil, PassLocal},
	{"reply wrong port", Packet{Src: a("198.18.20.5"), Dst: client4, Proto: 6, Sport: 81, Dport: 40000}, nil, PassNoMatch},
	{"reply wrong proto", Packet{Src: a("198.18.20.5"), Dst: client4, Proto: 17, Sport: 80, Dport: 40000}, nil, PassNoMatch},
	{"reply6 any port", Packet{Src: a("2001:db8:20::5"), Dst: client6, Proto: 17, Sport: 1234, Dport: 5}, nil, SteerReply},
	{"reply6 to local", Packet{Src: a("2001:db8:20::5"), Dst: a("2001:db8::1"), Proto: 17, Sport: 1234, Dport: 5}, nil, PassLocal},
	{"director to real server", Packet{Src: a("198.18.0.1"), Dst: a("198.18.20.5"), Proto: 6, Sport: 40000, Dport: 80}, nil, PassNoMatch},
	{"icmp unreachable to vip", Packet{Src: a("198.18.40.1"), Dst: a("198.18.10.1"), Proto: 1, ICMPType: 3}, nil, SteerICMP},
	{"icmp time exceeded to group", Packet{Src: a("198.18.40.1"), Dst: a("198.18.11.9"), Proto: 1, ICMPType: 11}, nil, SteerICMP},
	{"icmp param problem to vip", Packet{Src: a("198.18.40.1"), Dst: a("198.18.10.1"), Proto: 1, ICMPType: 12}, nil, SteerICMP},
	{"icmp echo to vip", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 1, ICMPType: 8}, nil, PassOther},
	{"icmp echo reply to vip", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 1, ICMPType: 0}, nil, PassOther},
	{"icmp error from real server", Packet{Src: a("198.18.20.5"), Dst: client4, Proto: 1, ICMPType: 3}, nil, SteerICMP},
	{"icmp error from real server to local", Packet{Src: a("198.18.20.5"), Dst: a("198.18.0.1"), Proto: 1, ICMPType: 3}, nil, PassLocal},
	{"icmp error unrelated", Packet{Src: a("198.18.40.1"), Dst: a("198.18.0.1"), Proto: 1, ICMPType: 3}, nil, PassNoMatch},
	{"icmp6 unreachable to vip", Packet{Src: a("2001:db8:40::1"), Dst: a("2001:db8:10::1"), Proto: 58, ICMPType: 1}, nil, SteerICMP},
	{"icmp6 too big to vip", Packet{Src: a("2001:db8:40::1"), Dst: a("2001:db8:10::1"), Proto: 58, ICMPType: 2}, nil, SteerICMP},
	{"icmp6 param problem from real server", Packet{Src: a("2001:db8:20::5"), Dst: client6, Proto: 58, ICMPType: 4}, nil, SteerICMP},
	{"icmp6 echo to vip", Packet{Src: client6, Dst: a("2001:db8:10::1"), Proto: 58, ICMPType: 128}, nil, PassOther},
	{"icmp6 neighbour solicitation", Packet{Src: client6, Dst: a("2001:db8:10::1"), Proto: 58, ICMPType: 135}, nil, PassOther},
	{"vlan tcp4 service", Packet{VLANs: []uint16{42}, Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 1, Dport: 80}, nil, SteerService},
	{"vlan tcp6 service", Packet{VLANs: []uint16{42}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, SteerService},
	{"vlan reply", Packet{VLANs: []uint16{42}, Src: a("198.18.20.5"), Dst: client4, Proto: 6, Sport: 80, Dport: 1}, nil, SteerReply},
	{"vlan wrong port", Packet{VLANs: []uint16{42}, Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 1, Dport: 81}, nil, PassNoMatch},
	{"ipv4 options", Packet{IPv4Opts: 4, Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 1, Dport: 80}, nil, SteerService},
	{"ipv4 options wrong port", Packet{IPv4Opts: 4, Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 80, Dport: 81}, nil, PassNoMatch},
	{"first fragment to vip", Packet{MF: true, Src: client4, Dst: a("198.18.10.1"), Proto: 17, Sport: 1, Dport: 9}, nil, SteerFragment},
	{"later fragment to vip", Packet{FragOff: 100, Src: client4, Dst: a("198.18.10.1"), Proto: 17, Payload: []byte("continuation")}, nil, SteerFragment},
	{"fragment from real server", Packet{FragOff: 100, Src: a("198.18.20.5"), Dst: client4, Proto: 6}, nil, SteerFragment},
	{"fragment elsewhere", Packet{MF: true, Src: client4, Dst: a("198.18.0.1"), Proto: 17, Sport: 1, Dport: 53}, nil, PassNoMatch},
	{"icmp fragment", Packet{MF: true, Src: client4, Dst: a("198.18.10.1"), Proto: 1, ICMPType: 3}, nil, PassOther},
	{"ipv6 hop-by-hop", Packet{Ext6: []uint8{0}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, SteerService},
	{"ipv6 destination options", Packet{Ext6: []uint8{60}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, SteerService},
	{"ipv6 hop-by-hop wrong port", Packet{Ext6: []uint8{0}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 444}, nil, PassNoMatch},
	{"ipv6 five headers", Packet{Ext6: []uint8{0, 60, 43, 44, 60}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, SteerService},
	{"ipv6 six headers", Packet{Ext6: []uint8{0, 60, 60, 60, 60, 60}, Src: a("2001:db8:20::5"), Dst: client6, Proto: 17, Sport: 1, Dport: 2}, nil, SteerReply},
	{"ipv6 seven headers", Packet{Ext6: []uint8{0, 60, 60, 60, 60, 60, 60}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, PassOther},
	{"ipv6 routing done", Packet{Ext6: []uint8{43}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, SteerService},
	{"ipv6 routing segments left", Packet{Ext6: []uint8{43}, SegLeft: 1, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, PassOther},
	{"ipv6 atomic fragment", Packet{Ext6: []uint8{44}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, nil, SteerService},
	{"ipv6 first fragment", Packet{Ext6: []uint8{44}, Frag6: 1, Src: client6, Dst: a("2001:db8:10::1"), Proto: 17, Sport: 1, Dport: 9}, nil, SteerFragment},
	{"ipv6 later fragment", Packet{Ext6: []uint8{0, 44}, Frag6: 1448, Src: client6, Dst: a("2001:db8:10::1"), Proto: 17}, nil, SteerFragment},
	{"ipv6 fragment from real server", Packet{Ext6: []uint8{44}, Frag6: 1448 | 1, Src: a("2001:db8:20::5"), Dst: client6, Proto: 6}, nil, SteerFragment},
	{"ipv6 fragment to local from real server", Packet{Ext6: []uint8{44}, Frag6: 8, Src: a("2001:db8:20::5"), Dst: a("2001:db8::1"), Proto: 6}, nil, PassLocal},
	{"ipv6 fragment elsewhere", Packet{Ext6: []uint8{44}, Frag6: 8, Src: client6, Dst: a("2001:db8:99::1"), Proto: 17}, nil, PassNoMatch},
	{"ipv6 icmp fragment", Packet{Ext6: []uint8{44}, Frag6: 1, Src: client6, Dst: a("2001:db8:10::1"), Proto: 58, ICMPType: 1}, nil, PassOther},
	{"ipv6 icmp error after options", Packet{Ext6: []uint8{60}, Src: a("2001:db8:40::1"), Dst: a("2001:db8:10::1"), Proto: 58, ICMPType: 1}, nil, SteerICMP},
	{"ipv6 options cut short", Packet{Ext6: []uint8{60}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, func(f []byte) []byte {
		return f[:14+40+6]
	}, PassShort},
	{"ipv6 options longer than the packet", Packet{Ext6: []uint8{60}, Src: client6, Dst: a("2001:db8:10::1"), Proto: 6, Sport: 1, Dport: 443}, func(f []byte) []byte {
		f[14+40+1] = 200
		return f
	}, PassShort},
	{"gre to vip", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 47}, nil, PassOther},
	{"arp for vip", Packet{}, func([]byte) []byte { return ARP(MACSrc, a("198.18.40.1"), a("198.18.10.1")) }, PassOther},
	{"bad ihl", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 1, Dport: 80}, func(f []byte) []byte {
		f[14] = 0x44
		return f
	}, PassShort},
	{"ipv4 version 6 inside ethertype 0800", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 1, Dport: 80}, func(f []byte) []byte {
		f[14] = 0x65
		return f
	}, PassShort},
	{"ihl beyond frame", Packet{Src: client4, Dst: a("198.18.10.1"), Proto: 6, Sport: 1, Dport: 80}, func(f []byte) []byte {
		f[14] = 0x4f
		return f[:14+24]
	}, PassShort},
}
