// Package packettest owns the module's test frames and its steering model:
//
//   - [Packet] describes one frame (Ethernet, optional VLAN tags, IPv4 or
//     IPv6 with options, extension headers and fragments, TCP, UDP, ICMP,
//     ICMPv6 or any other payload, so also IPIP, GRE and GUE tunnels) and
//     builds it with gopacket, lengths and checksums filled in;
//   - [Steer] is the slow, obvious steering decision written from the
//     rules of package link: which frames a backend must hand to xvs for a
//     rule set. The XDP program and the AF_PACKET socket filter are both
//     compared with it;
//   - [SteerRules] and [SteerRows] are the fixtures (description, frame,
//     expected verdict) every steering implementation replays.
//
// It is imported only by tests and by the bench harness; it imports gopacket
// and the leaf package link, never encap or forwarder, so their internal
// tests may use it without an import cycle.
package packettest
