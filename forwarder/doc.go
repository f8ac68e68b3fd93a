// Package forwarder owns xvs's data plane: the Engine that runs one worker per
// receive queue, the backends that move frames (AF_XDP with xvs's steering
// program, AF_PACKET as the fallback, and an in-memory backend for tests and
// benchmarks), next-hop resolution from the kernel's routes and neighbours, and
// per-queue statistics. It is also the library a Go program embeds to run xvs
// without the CLI.
//
// One packet's path through a worker:
//
//	Queue.Recv ─► encap.Parse ─► conntrack.Lookup ─┬─ hit ─────────────────────┐
//	                                               └─ miss: service lookup     │
//	                                                  ─► persistence template  │
//	                                                  ─► sched.Pick            │
//	                                                  ─► conntrack.Insert ─────┤
//	        NAT: DNAT / reply SNAT │ DR: MAC │ TUN: push IPIP/IP6IP6 ◄─────────┘
//	                              ─► Queue.Send (batched) ─► counters
//
// Workers read the configuration through an immutable snapshot that the
// control plane swaps atomically; a packet never waits for a lock.
package forwarder
