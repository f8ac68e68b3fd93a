// Package encap owns the bytes on the wire: it parses Ethernet frames (802.1Q
// and QinQ tags, IPv4 with options, IPv6 with extension headers, TCP, UDP,
// ICMP and ICMPv6 including the packet quoted in an ICMP error) into a
// zero-copy [Packet] view, and rewrites frames in place for the three IPVS
// forwarding methods:
//
//   - NAT: [DNAT] (request, VIP → real server, with port mapping), [SNAT]
//     (reply, real server → VIP), and the ICMP error translations
//     [ICMPErrorToReal] and [ICMPErrorFromReal] that mirror the kernel's
//     ip_vs_nat_icmp.
//   - DR: [SetMACs] and [DecTTL].
//   - TUN: [PushTunnel] (IPIP or IPv6-in-IPv6 outer header, or GUE or GRE
//     as IPVS sends them, chosen by a [Tunnel], written into the headroom in
//     front of the frame), [PopTunnel] (its inverse), and
//     [TooBig], the "fragmentation needed" / "packet too big" answer for a
//     packet that no longer fits the egress MTU once encapsulated
//     ([NeedsTooBig] and [TooBigMTU] decide when and what to advertise), and
//     [FragmentIPv4] for a non-DF IPv4 packet that may be fragmented instead.
//
// Every rewrite keeps every checksum valid with incremental updates (RFC 1624,
// equation 3: HC' = ~(~HC + ~m + m')), so the cost does not depend on the
// payload size; the one exception is the optional GUE (UDP) and GRE checksum
// of an encapsulation, which covers the whole inner packet and is summed once.
// The incremental result is bit-identical to a full recompute
// (both yield the same representative of ones'-complement zero), which the
// tests check byte for byte against an independent slow implementation.
//
// Nothing here allocates, locks or logs: a worker calls [Parse] once per
// frame into a Packet it reuses, switches on the returned [Kind], and calls
// the rewrites it needs. [Check] then says whether the kernel's receive path
// would drop the packet (IPv4 header checksum and options, UDP length,
// martian addresses), so garbage is dropped before it makes state;
// [StripVLAN] and [PushVLAN] move a frame between VLANs. TCP/UDP checksums
// are not verified on the hot path; [VerifyChecksums] exists for tests and
// slow paths.
//
// Addresses are [16]byte everywhere; IPv4 addresses are stored v4-mapped
// (::ffff:a.b.c.d) so both families compare uniformly. The package knows
// nothing about services, connections or schedulers.
package encap
