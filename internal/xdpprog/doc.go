// Package xdpprog owns xvs's two XDP programs and the Go code that loads,
// configures, attaches and detaches them. Both programs are generated
// instruction by instruction with cilium/ebpf's asm package: there is no C,
// no clang and no ELF object in the build.
//
// # Steering ("xvs_steer")
//
// One instance per interface the daemon serves. It runs on every received
// frame and redirects to the AF_XDP socket of the frame's RX queue (an XSKMAP
// indexed by rx_queue_index, with XDP_PASS as the fallback so a queue without a
// socket passes) only:
//
//   - TCP/UDP whose (proto, destination address, destination port) matches a
//     service [Rule];
//   - TCP/UDP whose (proto, source address, source port) matches a Reply rule
//     (a real server's answer on NAT), unless the destination is one of the
//     director's own addresses ([Config.Local]): the director's own health
//     checks to real servers must still reach its kernel;
//   - ICMP errors (IPv4 types 3, 11, 12; ICMPv6 types 1-4) whose outer
//     destination is a service address on any port, or whose outer source is
//     a real-server address and whose destination is not local;
//   - IPv4 fragments (MF set or a non-zero offset) and IPv6 fragments (a
//     Fragment header with an offset or M set) of TCP/UDP, matched by
//     address only in the same way as ICMP errors, because a non-first
//     fragment has no ports and all fragments of a datagram must take the same
//     path. The forwarder decides what to do with them.
//
// IPv6 extension headers are walked, at most six of them (the verifier wants
// a bounded, here unrolled, loop): hop-by-hop, destination options, routing
// headers without segments left and atomic fragments (RFC 6946) are skipped,
// as encap's parser skips them, so a SYN with a destination-options header
// reaches the workers instead of the director's kernel, which would reset it.
//
// Everything else passes to the kernel: ARP, neighbour discovery, echo, the
// director's own traffic, non-IP frames, truncated or malformed headers, and
// IPv6 packets with more extension headers, a routing header with segments
// left, or an upper layer other than TCP, UDP and ICMPv6. Ethernet with at
// most one 802.1Q or 802.1ad tag is parsed.
//
// A VLAN tag may not be in the frame at all: a NIC with rx-vlan-offload, and
// veth for every tag its peer sent with tx-vlan-offload (a bridge forwarding
// a tagged frame does), keep it as descriptor or skb metadata, and a frame
// redirected to AF_XDP would reach the worker untagged, its VLAN unknowable
// (the forwarder serves only configured VLANs). [NewSteeringFor] therefore
// also loads the program device-bound (BPF_F_XDP_DEV_BOUND_ONLY) with a call
// to the kfunc bpf_xdp_metadata_rx_vlan_tag before the redirect (frames that
// pass to the kernel never make it); a steered frame with an offloaded tag
// gets it back in front of its ethertype
// (bpf_xdp_adjust_head and a 12-byte move of the MAC addresses) just before
// the redirect, and loses it again if the redirect fails, so the kernel
// never sees it twice. Rules match the same either way. The kernel attaches
// device-bound programs only in native mode and cannot test-run them, so
// generic mode, a kernel without the kfunc and a driver without it (the
// kernel's netdev netlink family says which drivers have it) get the plain
// program, and the unit tests run a variant that reads the tag from the XDP
// metadata area.
//
// The rule set lives in one LPM trie (see rules.go for the key layout) that
// sits in the single slot of an ARRAY_OF_MAPS. The program fetches the trie
// once per packet and does all lookups in it, and [Steering.Update] builds a
// complete new trie and swaps it into the slot with one map update. A packet
// therefore sees either the whole old rule set or the whole new one, never a
// mix or an empty set, and the kernel waits for an RCU grace period on that
// update (it does for every map-in-map update), so when Update returns no
// program still uses the old trie and it is freed.
//
// The steering program is attached through a BPF link rather than netlink,
// so the kernel removes it when the daemon dies, even by SIGKILL, and nobody
// can replace it through netlink while it is attached. Detach closes the link,
// which cannot hang like a flag-less netlink detach of a generic program.
// Pinned on a bpffs (Steering.Pin, under DefaultPinDir), the link outlives
// the daemon instead, and a holding program (SteerOptions.Hold) drops the
// service traffic it cannot redirect rather than let the kernel answer it
// with resets; the next daemon takes the link over (Steering.Adopt) and
// swaps its own program in with one link update. ClearPins removes what a
// predecessor pinned on interfaces no longer served.
//
// # Decapsulation ("xvs_decap")
//
// For TUN real servers on kernels without the ipip/ip6tnl drivers. IPv4 proto
// 4 (IPIP) and proto 41 (IPv6 in IPv4), IPv6 next header 41 (IPv6 in IPv6)
// and 4 (IPv4 in IPv6) whose outer destination is a local address lose their
// outer header (bpf_xdp_adjust_head; the Ethernet header and an optional VLAN
// tag move forward and take the inner family's ethertype) and pass to the
// stack, which then delivers the inner packet to the VIP on lo. IPVS's other
// tunnel types go the same way with their tunnel header: GRE (protocol 47,
// version 0, no flags or only C, protocol type 0x0800 / 0x86DD) and GUE
// (UDP to one of the ports NewDecap was given, variant 0, no control
// message, options or flags, protocol 4 / 41); their checksums and the UDP
// length are not verified — the inner transport checksum still is, by the
// stack. Outer IPv4 fragments, IPv6 outers with extension headers, GRE with
// key/sequence/routing, GUE with options, and inner headers that are short
// or carry the wrong version pass untouched. The program is attached
// through netlink so it survives `xvs decap` exiting; [DetachDecap] removes
// it again, matching the attach mode the kernel reports.
//
// Loading and attaching need CAP_BPF and CAP_NET_ADMIN (root in tests).
package xdpprog
