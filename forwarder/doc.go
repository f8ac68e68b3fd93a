// Package forwarder owns xvs's data plane: the Engine that runs one worker per
// receive queue, the backends that move frames (AF_XDP with xvs's steering
// program, AF_PACKET as the fallback, and an in-memory backend for tests and
// benchmarks), next-hop resolution from the kernel's routes and neighbours, and
// per-queue statistics. It is also the library a Go program embeds to run xvs
// without the CLI.
//
// One packet's path through a worker:
//
//	Queue.Recv ─► encap.Parse ─► VLAN served? strip ─► encap.Check, TTL > 1
//	           ─► conntrack.Lookup ─┬─ hit ────────────────────────────────────┐
//	                                └─ miss: service lookup                    │
//	                                   ─► persistence template                 │
//	                                   ─► sched.Pick                           │
//	                                   ─► conntrack.Insert ────────────────────┤
//	        NAT: DNAT / reply SNAT │ DR: MAC │ TUN: push IPIP/IP6IP6 ◄─────────┘
//	                              ─► egress VLAN tag ─► Queue.Send (batched) ─► counters
//
// Garbage makes no state: a frame of a VLAN not served on its interface
// (see VLAN), one the kernel's receive path would drop (encap.Check: IPv4
// header checksum and options, UDP length, martian addresses), and one
// whose TTL or hop limit would expire here are dropped and counted, each
// with its own DropReason, before any connection is looked up or made.
//
// Workers read the configuration through an immutable snapshot that the
// control plane swaps atomically; a packet never waits for a lock.
//
// Nothing is dropped silently: Engine.Drops lists every loss as a (queue,
// reason, count) record — the workers' DropReasons, the AF_XDP sockets'
// kernel counters (XDP_STATISTICS) and transmit losses, the steering
// program's per-queue verdicts, the AF_PACKET rings' overruns and the
// connection table's evictions — and Engine.Stats carries the same figures
// in Stats.Drops for the metrics.
package forwarder
