// Package afpacket owns xvs's raw-socket data path, for hosts where AF_XDP
// cannot run: packet sockets with memory-mapped rings that tap the service
// traffic, a classic BPF socket filter that selects it, and an nftables
// table that keeps the kernel from handling it too. Backend and Queue
// implement link.Backend and link.Queue directly: the worker gets the ring's
// frames as link.Frames, with no copy of the fields.
//
// # Receiving
//
// Per interface, Options.Sockets sockets (default one per CPU) bound to
// ETH_P_ALL on that ifindex form one PACKET_FANOUT_HASH group (flows keep
// to one socket; no defragmentation; the group id is chosen by the kernel
// with PACKET_FANOUT_FLAG_UNIQUEID, so it cannot collide with another
// process's group). Each socket is one Queue with a TPACKET_V2 receive ring
// of fixed-size frames (2 KiB at MTU 1500, BlockSize*Blocks bytes in all):
// the kernel hands each frame over, and wakes the worker's poll, as soon as
// it has written it, and Recv walks the frames in ring order (ring_rx2.go).
// A frame goes back to the kernel on its own release.
//
// Options.BlockRing selects the former TPACKET_V3 ring of blocks instead
// (ring_rx.go): the kernel hands a block over only when it is full or when
// the block retire timer fires (Options.RetireTimeout, 2 ms, a jiffy-based
// timer here), and wakes the reader only then, so an idle packet waits for
// the timer. Measured with TestIdleLatency (one UDP request at a time,
// reflected by a worker): p50 0.72 ms with V3 (the same with a 1 ms
// timeout) against 0.14 ms with V2; in `make bench` a NAT request passes
// the director twice, hence its 2.9 ms. The price is CPU when the worker
// keeps up: it is woken per frame rather than per block, so it handles
// small batches. BenchmarkRecvSend here (medians of 3, the sender the
// bottleneck): 187 k vs 182 k frames/s forwarded (V2 vs V3), but 3.1 vs
// 2.2 us of worker CPU per frame at 3 vs 61 frames per batch, and 1.7 vs
// 0.12 us receiving only. Under a load the worker cannot keep up with,
// batches fill either way.
//
// A V2 frame has a fixed size, so a GRO/TSO super-packet does not fit one:
// the kernel puts it in the ring truncated with TP_STATUS_COPY and, because
// the socket has PACKET_COPY_THRESH set and a receive buffer of 8 MiB,
// also queues the whole packet on the socket, in ring order. Recv reads it
// with one recvfrom into a worker-owned 64 KB buffer and cuts it into
// segments from there (segment.go), so bulk TCP still works with the
// kernel's offloads; if the receive buffer is full the kernel queues no
// copy and the frame is dropped as truncated. A socket gets its version,
// headroom, filter and ring before it is bound, so no unfiltered packet
// ever lands in a ring.
//
// Frames are handed out in place, not copied: PACKET_RESERVE (96 bytes
// with V2, 64 with V3) makes the kernel leave room before each packet, and
// the frame's own header and sockaddr_ll (read by Recv before the frame is
// handed out) add 66 (V2) or 82 (V3) more, so Frame.Off is at least
// MinHeadroom (142) even after a VLAN tag is put back: enough to push an
// IPv6 tunnel header in place, and with V2 clear of the frame's status
// word. A V3 block goes back to the kernel once it is walked and all its
// frames are released; blocks go back in ring order. The alternative, copying each
// frame into a worker-owned buffer with headroom, would free the ring at
// once for a copy per packet; the forwarder releases every batch right
// after sending it, so blocks are not held long, and BenchmarkRecvSend/copy
// showed no gain from copying (64-byte frames, within noise).
//
// What Recv fixes up on the way:
//   - VLAN: the kernel moves a VLAN tag out of the frame into metadata
//     before any tap sees it (skb_vlan_untag runs first in
//     __netif_receive_skb_core). Recv puts the tag back (802.1Q or, when the
//     kernel reports it, 802.1ad) so the worker sees the frame as it was on
//     the wire. The filter and the nftables rules see the untagged frame.
//   - Partial checksums: a frame from a local sender over veth carries only
//     the pseudo-header sum in its TCP/UDP checksum field
//     (TP_STATUS_CSUMNOTREADY). Recv completes it, or a forwarded copy would
//     leave with a wrong checksum.
//   - Offloaded super-packets: GRO aggregates of the receiving device and
//     TSO packets of a local sender over veth (TP_STATUS_GSO_TCP), TCP of up
//     to 64 KB in one frame, are cut into segments that fit the interface's
//     MTU (segment.go), so bulk TCP works with the kernel's default offloads.
//     A V2 ring gets them through the socket queue (above); the default
//     128 KiB V3 block holds such a frame whole.
//   - Dropped and counted: frames cut to fit a frame or block (tp_snaplen <
//     tp_len) and not copied whole;
//     super-packets whose segments do not fit a batch; and outgoing frames
//     (see below).
//
// Our own transmissions must never be tapped again: a DR-forwarded frame
// still goes to the VIP and port it was steered for, and would loop. The
// per-socket PACKET_IGNORE_OUTGOING does not apply to a fanout group, which
// receives through its own hook, so the group is created with
// PACKET_FANOUT_FLAG_IGNORE_OUTGOING, the filter rejects pkt_type
// PACKET_OUTGOING as well, and Recv drops any outgoing frame left.
//
// # Transmitting
//
// Each queue has its own TPACKET_V2 transmit ring per served interface, on a
// separate socket bound with protocol 0 (it never receives), so workers
// never share a transmit ring and Send takes no lock but the queue's own.
// Send copies each frame into the next free slot and kicks the kernel with
// one non-blocking sendto per batch and interface; a frame finding no free
// slot is counted (TxFull), not retried. V2 rather than V3: a V3 transmit
// ring exists since Linux 4.11 only and offers nothing more (fixed-size
// slots either way). PACKET_LOSS makes the kernel skip a malformed slot
// instead of stopping the ring. PACKET_QDISC_BYPASS (Options.QdiscBypass)
// is off by default: on veth (noqueue qdisc) it made no difference beyond
// run-to-run noise (about 2.5 us of worker CPU per forwarded frame either
// way, nearly all of it the kernel's transmit path and the veth peer's
// receive, at about 60 frames per sendto), and it hides the frames from
// taps such as tcpdump and from egress hooks.
//
// # Steering
//
// Backend.Steer compiles the rules once into a normalized set from which it
// generates both the socket filter and the nftables rules, so the two
// always select the same packets: exactly what the XDP steering program
// redirects (package internal/xdpprog), namely
//   - TCP/UDP to a service (proto, destination prefix, destination port
//     range; 0-0 is every port);
//   - TCP/UDP from a NAT real server (proto, source prefix, source port),
//     unless addressed to a director address (Rules.Local);
//   - ICMP errors (IPv4 types 3, 11, 12; ICMPv6 1-4) to a service address,
//     or from a real server and not to a director address;
//   - IPv4 and IPv6 fragments of TCP/UDP, matched by address like ICMP
//     errors;
//   - IPv6 behind up to six extension headers (hop-by-hop, destination
//     options, a routing header without segments left, atomic fragments),
//     walked like the XDP program walks them (filter6.go).
//
// Everything else stays with the kernel: ARP, neighbour discovery, echo,
// the director's own traffic, IPv6 with a routing header that has segments
// left or an AH header, malformed headers. An empty rule set accepts
// nothing. One difference is left: the kernel walks any number of IPv6
// extension headers, the filter six, so a TCP/UDP packet to a service
// behind seven or more is dropped by nftables and steered to no socket.
//
// The filter is classic BPF assembled here (filter.go, cbpf.go; there is no
// BPF assembler in go.mod). Host prefixes of IPv4 are dispatched with one
// comparison each; header fields are loaded once into scratch memory,
// because the kernel converts the program to eBPF, where a packet load
// costs about ten instructions, and charges the result to the socket's
// option memory (net.core.optmem_max, 128 KiB here), a tighter limit than
// the 4096 classic instructions. Conditional jumps farther than 255
// instructions get a trampoline. A rule set too large for either limit is
// refused with ErrTooManyRules. Measured here, the instruction limit binds
// first: 429 IPv4 services of one port fit, 357 of two ports, 183 IPv6
// services of one port.
//
// Rule changes never open a window in which the kernel drops traffic no
// socket taps: the sockets first get a filter for the union of the old and
// new sets (SO_ATTACH_FILTER replaces atomically), then the nftables rules
// change in one transaction, then the filters narrow to the new set.
//
// # Keeping the kernel out: nftables
//
// A packet socket only taps: the kernel would also answer steered packets
// (a RST for a SYN to a VIP port nobody listens on, port unreachable for
// UDP) or route NAT replies itself. The package therefore creates its own
// table, family netdev, named TablePrefix+"<pid>_<n>", with one base chain
// per served interface on the ingress hook (priority -500) that drops the
// steered traffic; see nft_rules.go for the layout. Subpackage nft talks
// nf_tables netlink itself: no nft binary and no nftables library is
// needed.
//
// Order of the receive path, in __netif_receive_skb_core: generic XDP, VLAN
// untagging, then the taps (ptype_all: packet sockets, including fanout
// groups), then tc ingress (sch_handle_ingress), then the netfilter netdev
// ingress hook (nf_ingress), then VLAN devices and rx handlers, then the
// protocol handlers (ip_rcv, whose NF_INET_PRE_ROUTING comes later still).
// Taps are delivered lazily (the last one is pending in pt_prev), but both
// sch_handle_ingress and nf_ingress deliver the pending tap before running
// their hook. So both the netdev ingress hook and prerouting see a packet
// only after every packet socket got its copy; the netdev hook is used
// because it is the earliest (no IP input, no conntrack) and belongs to the
// served interfaces only. TestBackend shows it: a SYN to a steered port
// reaches a queue and draws no RST. One exception: under memory pressure,
// skbs from pfmemalloc reserves skip the taps but not the hook, so such a
// packet is dropped unseen, like a ring drop.
//
// The table is created with NFT_TABLE_F_OWNER: it belongs to the netlink
// socket that created it, and the kernel deletes it when that socket
// closes, so a crashed or SIGKILLed daemon leaves nothing behind (Linux
// 5.12+; TestKilledProcessLeftovers). On an older kernel the table is
// created without the flag; then Cleanup, which Open also calls, removes
// tables of dead processes (recognized by the pid in the name). Close
// deletes the table before it closes the sockets, so the kernel has the
// traffic back before the taps go.
//
// # Concurrency
//
// One worker per Queue. Recv, Send and Release take the queue's mutex once
// per call (uncontended; it orders them against Close, which unmaps the
// rings). Steer, Stats and Close may run from other goroutines. Everything
// is created in the network namespace of the thread that calls Open.
//
// Opening needs CAP_NET_RAW and CAP_NET_ADMIN (root in tests); tests that
// need them skip with the reason otherwise.
package afpacket
